"""Per-device galleries: built from enrolled templates, sealed per device, announced over a real broker."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

from fastapi.testclient import TestClient
from sqlalchemy import update

from central.db.models import Device, Subject
from tests.integration.central.conftest import Env
from tests.integration.central.device_support import (
    PUBLIC_URL,
    Subscriber,
    Wired,
    basic,
    face_template,
    template_body,
    wired,
)
from tests.support.mosquitto import Mosquitto
from tests.support.processes import write_config
from vision.gallery_file import GalleryFileError, gallery_key, open_gallery

GALLERY = "/device-api/v1/gallery"


def _fetch(client: TestClient, auth: tuple[str, str]) -> tuple[dict, bytes]:  # type: ignore[type-arg]
    meta = client.get(GALLERY, auth=auth)
    assert meta.status_code == 200, meta.text
    body = meta.json()
    url = urlsplit(body["url"])
    assert f"{url.scheme}://{url.netloc}" == PUBLIC_URL
    blob = client.get(url.path, auth=auth)
    assert blob.status_code == 200, blob.text
    assert blob.headers["content-type"] == "application/octet-stream"
    assert hashlib.sha256(blob.content).hexdigest() == body["sha256"]
    return body, blob.content


def _enrol(w: Wired, subject: str, seed: int, kiosk: str = "kiosk-haicang", staff: str = "haicang.town") -> dict:  # type: ignore[type-arg]
    r = w.client.post(
        f"/device-api/v1/subjects/{subject}/templates",
        json=template_body(face_template(seed), enrolled_by=staff),
        auth=basic(w.env, kiosk),
    )
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def test_gallery_built_sealed_and_announced(env: Env, broker: Mosquitto) -> None:
    """Enrolment → the galleries of the devices that see the subject get a new version, a retained command each."""
    with wired(env, broker) as w:
        edge = basic(env, "edge-haicang")
        first, blob = _fetch(w.client, edge)
        assert (first["version"], first["entries"]) == (1, 0)
        assert open_gallery(blob, version=1, device_id="edge-haicang", key=gallery_key(edge[1])) == []

        sub = Subscriber(broker, "edge-haicang", edge[1], "corr/v1/cmd/edge-haicang/gallery")
        try:
            assert sub.wait_subscribed()
            done = _enrol(w, "S-350205-0001", seed=1)
            assert done["publish_error"] is None
            assert {(g["device_id"], g["version"], g["published"]) for g in done["galleries"]} == {
                ("edge-haicang", 2, True),
                ("kiosk-haicang", 1, True),  # the kiosk's first gallery (it never asked before)
            }
            announced = sub.wait_for(lambda m: m["version"] == 2)
        finally:
            sub.close()
        assert announced["type"] == "gallery" and announced["device_id"] == "edge-haicang"
        assert announced["url"] == f"{PUBLIC_URL}/device-api/v1/gallery/2"

        meta, blob = _fetch(w.client, edge)
        assert (meta["version"], meta["sha256"], meta["entries"]) == (2, announced["sha256"], 1)
        entries = open_gallery(blob, version=2, device_id="edge-haicang", key=gallery_key(edge[1]))
        assert entries == [("S-350205-0001", face_template(1))]

        # A device that connects later still finds the announcement (retained), with its own login.
        late = Subscriber(broker, "edge-haicang", edge[1], "corr/v1/cmd/edge-haicang/gallery")
        try:
            retained = late.wait_for(lambda m: True)
        finally:
            late.close()
        assert retained["version"] == 2 and retained["sha256"] == meta["sha256"]


def test_each_device_gets_only_its_own_subjects(env: Env, broker: Mosquitto) -> None:
    """Haicang's edge holds Haicang's faces, not Huli's; a file for one device does not open on another."""
    with wired(env, broker) as w:
        _enrol(w, "S-350205-0001", seed=1)
        _enrol(w, "S-350206-0001", seed=4, kiosk="kiosk-huli", staff="huli.officer")
        edge = basic(env, "edge-haicang")
        huli = basic(env, "kiosk-huli")
        meta, blob = _fetch(w.client, edge)
        assert [
            sid
            for sid, _ in open_gallery(
                blob, version=meta["version"], device_id="edge-haicang", key=gallery_key(edge[1])
            )
        ] == ["S-350205-0001"]
        huli_meta, huli_blob = _fetch(w.client, huli)
        assert [
            sid
            for sid, _ in open_gallery(
                huli_blob, version=huli_meta["version"], device_id="kiosk-huli", key=gallery_key(huli[1])
            )
        ] == ["S-350206-0001"]
        try:
            open_gallery(blob, version=meta["version"], device_id="kiosk-huli", key=gallery_key(huli[1]))
            raise AssertionError("a gallery opened on another device")
        except GalleryFileError:
            pass
        # Asking for a version number that is not one's own current one is refused with the current one named.
        r = w.client.get(f"{GALLERY}/{huli_meta['version'] + 5}", auth=huli)
        assert r.status_code == 404
        assert r.json()["detail"] == (
            f"gallery version {huli_meta['version'] + 5} is no longer served, current is {huli_meta['version']}"
        )


def test_version_changes_only_with_content(env: Env, broker: Mosquitto) -> None:
    """Refreshing an unchanged gallery keeps version and sha256; a release drops the face and bumps the version."""
    with wired(env, broker) as w:
        edge = basic(env, "edge-haicang")
        _enrol(w, "S-350205-0001", seed=1)
        _enrol(w, "S-350205-0002", seed=2)
        a, blob_a = _fetch(w.client, edge)
        b, blob_b = _fetch(w.client, edge)
        assert (a["version"], a["sha256"]) == (b["version"], b["sha256"]) and blob_a == blob_b
        # A fingerprint is not in the gallery: no new version.
        r = w.client.post(
            "/device-api/v1/subjects/S-350205-0001/templates",
            json=template_body(b"\x01" * 400, "fingerprint"),
            auth=basic(env, "kiosk-haicang"),
        )
        assert r.status_code == 201 and r.json()["galleries"] == []
        assert _fetch(w.client, edge)[0]["version"] == a["version"]
        with env.central.sessions.begin() as s:
            s.execute(update(Subject).where(Subject.id == "S-350205-0002").values(status="released"))
        c, blob_c = _fetch(w.client, edge)
        assert c["version"] == a["version"] + 1 and c["entries"] == 1
        old = w.client.get(f"{GALLERY}/{a['version']}", auth=edge)
        assert old.status_code == 404
        assert old.json()["detail"] == f"gallery version {a['version']} is no longer served, current is {c['version']}"
        assert [
            s for s, _ in open_gallery(blob_c, version=c["version"], device_id="edge-haicang", key=gallery_key(edge[1]))
        ] == ["S-350205-0001"]


def test_gallery_refused_to_other_kinds_and_keyless_devices(env: Env, broker: Mosquitto) -> None:
    """A central account gets 403; a device registered before galleries gets 409 telling how to fix it."""
    with wired(env, broker) as w:
        r = w.client.get(GALLERY, auth=("central-cmd", w.central_secret))
        assert r.status_code == 403
        with env.central.sessions.begin() as s:
            s.execute(update(Device).where(Device.id == "edge-haicang").values(gallery_key_enc=None))
        r = w.client.get(GALLERY, auth=basic(env, "edge-haicang"))
        assert r.status_code == 409
        assert "rotate-secret edge-haicang" in r.json()["detail"] and "re-register" in r.json()["detail"]


def _cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "central", "-c", str(config), *args], capture_output=True, text=True, timeout=120
    )


def test_cli_rotate_secret_and_publish(env: Env, broker: Mosquitto, tmp_path: Path) -> None:
    """`devices rotate-secret` fixes a keyless device (new HTTPS/MQTT/gallery secret); `gallery publish` announces."""
    with wired(env, broker) as w:
        _enrol(w, "S-350205-0001", seed=1)
        with env.central.sessions.begin() as s:
            s.execute(update(Device).where(Device.id == "edge-haicang").values(gallery_key_enc=None))
        conf = write_config(w.central.config, tmp_path / "central.toml")
        rotated = _cli(conf, "devices", "rotate-secret", "edge-haicang")
        assert rotated.returncode == 0, rotated.stderr
        assert "broker reloaded" in rotated.stdout
        found = re.search(r"^secret: (\S+)$", rotated.stdout, re.M)
        assert found is not None
        secret = found.group(1)
        assert w.client.get(GALLERY, auth=basic(env, "edge-haicang")).status_code == 401  # the old secret is gone

        published = _cli(conf, "gallery", "publish", "--device", "edge-haicang")
        assert published.returncode == 0, published.stderr
        line = re.search(r"^edge-haicang: version (\d+) \((new|unchanged)", published.stdout, re.M)
        assert line is not None and line.group(2) == "new"  # same faces, new key: a new version
        version = int(line.group(1))
        # The broker took the new MQTT password: the device reads its retained command with it.
        sub = Subscriber(broker, "edge-haicang", secret, "corr/v1/cmd/edge-haicang/gallery")
        try:
            announced = sub.wait_for(lambda m: m["version"] == version)
        finally:
            sub.close()
        meta, blob = _fetch(w.client, ("edge-haicang", secret))
        assert meta["sha256"] == announced["sha256"]
        assert [
            s for s, _ in open_gallery(blob, version=version, device_id="edge-haicang", key=gallery_key(secret))
        ] == ["S-350205-0001"]
        old = Subscriber(
            broker, "edge-haicang", env.seeded.device_secrets["edge-haicang"], "corr/v1/cmd/edge-haicang/#"
        )
        try:
            assert old.wait_connected() in ("Not authorized", "Bad user name or password")
        finally:
            old.close()

        again = _cli(conf, "gallery", "publish")
        assert again.returncode == 0, again.stderr
        assert f"edge-haicang: version {version} (unchanged" in again.stdout
        assert "kiosk-haicang: version" in again.stdout and "kiosk-huli: version" in again.stdout
