"""Gallery sync against a real local HTTP(S) server: what is swapped in, what is refused, what survives a failure.

The server (`gallery_server.py`) speaks central's device-API contract; files are sealed with the
real `vision.gallery_file` under the key derived from the device secret. Every failure must leave
the previous gallery in use and the cache as it was.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from contracts import Gallery as GalleryCommand
from tests.unit.edge_agent.gallery_server import Behaviour, GalleryServer, make_tls_files, wait_until
from vision.gallery_file import gallery_key, seal_gallery
from vision.gallery_sync import (
    INDEX,
    Expected,
    FetchSettings,
    GalleryCache,
    GalleryHolder,
    GallerySync,
    GallerySyncError,
    Offer,
    refresh_url,
)
from vision.template import Template

DEVICE = "edge-haicang"
SECRET = "device-secret-7f3a"
SHA = "ab" * 32
OTHER_SHA = "cd" * 32
EXPECTED = Expected("sface", SHA, 128)


def templates(n: int, *, sha: str = SHA, seed: int = 0, prefix: str = "S-350205-") -> list[tuple[str, Template]]:
    """`n` subjects with one random unit template each."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        v = rng.standard_normal(128)
        out.append((f"{prefix}{i:04d}", Template.from_values("sface", sha, (v / np.linalg.norm(v)).tolist())))
    return out


def sealed(version: int, entries: list[tuple[str, Template]], secret: str = SECRET, device: str = DEVICE) -> bytes:
    """The file central would serve for `device`."""
    return seal_gallery(entries, version=version, device_id=device, key=gallery_key(secret))


def command(version: int, url: str, sha256: str, device: str = DEVICE) -> GalleryCommand:
    """The retained `gallery` command central publishes."""
    return GalleryCommand(
        event_id=uuid.uuid4(), device_id=device, device_time=datetime.now(UTC), version=version, url=url, sha256=sha256
    )


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1."""
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def server(tls: tuple[Path, Path, Path]) -> Iterator[GalleryServer]:
    """An HTTPS server holding nothing yet."""
    s = GalleryServer(DEVICE, SECRET, tls=(tls[1], tls[2])).start()
    yield s
    s.stop()


def make_sync(
    tmp_path: Path, tls: tuple[Path, Path, Path], *, secret: str = SECRET, holder: GalleryHolder | None = None, **limits
) -> GallerySync:
    """A sync for DEVICE verifying the test CA, with short timeouts and retries."""
    settings = FetchSettings(
        ca_file=tls[0],
        connect_timeout_s=limits.pop("connect_timeout_s", 2.0),
        read_timeout_s=limits.pop("read_timeout_s", 2.0),
        total_timeout_s=limits.pop("total_timeout_s", 10.0),
        max_bytes=limits.pop("max_bytes", 1024 * 1024),
        allow_http=limits.pop("allow_http", False),
    )
    return GallerySync(
        device_id=DEVICE,
        secret=secret,
        cache_dir=tmp_path / "cache",
        expected=EXPECTED,
        holder=holder or GalleryHolder(),
        settings=settings,
        retry_min_s=0.05,
        retry_max_s=0.2,
        **limits,
    )


def install(sync: GallerySync, server: GalleryServer, version: int, entries: list[tuple[str, Template]]) -> str:
    """Publish `entries` as `version` and have the sync take it; returns its sha256."""
    sha = server.publish(version, sealed(version, entries))
    sync.offer(command(version, server.url(version), sha))
    assert sync.sync_once()
    return sha


def assert_kept(sync: GallerySync, version: int, subjects: int) -> None:
    """The gallery in use is still `version` with `subjects` subjects, and the cache still holds that version."""
    gallery = sync.holder.get()
    assert gallery is not None
    assert (sync.holder.version, len(gallery.subjects)) == (version, subjects)
    cached = sync.cache.load()
    assert cached is not None
    assert cached[0].version == version


def test_a_good_download_is_checked_cached_encrypted_and_swapped_in(
    tmp_path: Path, tls: tuple[Path, Path, Path], server: GalleryServer
) -> None:
    """Version 1 over HTTPS: in use afterwards, cached byte for byte as served (encrypted), status says so."""
    sync = make_sync(tmp_path, tls)
    entries = templates(3)
    blob = sealed(1, entries)
    sha = server.publish(1, blob)
    sync.offer(command(1, server.url(1), sha))
    assert sync.sync_once()
    gallery = sync.holder.get()
    assert gallery is not None
    assert sorted(gallery.subjects) == [s for s, _ in entries]
    assert (sync.holder.version, sync.holder.source) == (1, "central")
    # Basic auth with the device id and its secret, and nothing fetched twice.
    basic = "Basic " + base64.b64encode(f"{DEVICE}:{SECRET}".encode()).decode()
    assert server.requests == [("/device-api/v1/gallery/1", basic)]
    files = {p.name: p.read_bytes() for p in (tmp_path / "cache").iterdir()}
    cached = [data for name, data in files.items() if name.endswith(".bin")]
    assert cached == [blob], "the cache holds exactly the encrypted file served"
    for _, template in entries:
        assert not any(template.vector in data or template.to_bytes() in data for data in files.values())
    assert json.loads(files[INDEX]) == {"version": 1, "sha256": sha, "file": f"gallery-1-{sha[:16]}.bin"}
    status = sync.status()
    assert status["gallery_version"] == 1
    assert status["gallery_sync"] == "current"
    assert status["gallery_error"] is None
    assert status["gallery_templates"] == 3


def test_a_newer_version_replaces_the_old_and_its_cached_file(
    tmp_path: Path, tls: tuple[Path, Path, Path], server: GalleryServer
) -> None:
    """Version 2 replaces 1 in memory and in the cache; the same command twice fetches nothing more."""
    sync = make_sync(tmp_path, tls)
    install(sync, server, 1, templates(2))
    sha2 = install(sync, server, 2, templates(5, seed=1))
    assert_kept(sync, 2, 5)
    assert [p.name for p in sorted((tmp_path / "cache").glob("*.bin"))] == [f"gallery-2-{sha2[:16]}.bin"]
    before = len(server.requests)
    sync.offer(command(2, server.url(2), sha2))
    assert sync.pending() is None
    assert sync.sync_once()
    assert len(server.requests) == before


def test_a_wrong_hash_is_refused_and_the_previous_gallery_kept(
    tmp_path: Path, tls: tuple[Path, Path, Path], server: GalleryServer
) -> None:
    """Bytes whose sha256 is not the command's never reach the gallery or the cache."""
    sync = make_sync(tmp_path, tls)
    install(sync, server, 1, templates(2))
    server.publish(2, sealed(2, templates(4, seed=2)))
    sync.offer(command(2, server.url(2), "0" * 64))
    with pytest.raises(
        GallerySyncError, match=r"sha256 of the \d+ bytes received is [0-9a-f]{64}, the command says 0{64}"
    ):
        sync.sync_once()
    assert_kept(sync, 1, 2)
    assert "sha256" in sync.status()["gallery_error"]
    assert sync.status()["gallery_sync"] == "retrying"
    assert sync.pending() is not None, "a hash mismatch may be a broken transfer: it is tried again"


def test_a_file_sealed_with_another_key_is_refused_and_not_fetched_again(
    tmp_path: Path, tls: tuple[Path, Path, Path], server: GalleryServer
) -> None:
    """A file that does not open under the device's key: refused, previous gallery kept, no retry of that version."""
    sync = make_sync(tmp_path, tls)
    install(sync, server, 1, templates(2))
    sha = server.publish(2, sealed(2, templates(3), secret="another-device-secret"))
    sync.offer(command(2, server.url(2), sha))
    with pytest.raises(GallerySyncError, match="does not open for device 'edge-haicang' version 2") as info:
        sync.sync_once()
    assert info.value.kind == "key"
    assert_kept(sync, 1, 2)
    assert sync.status()["gallery_sync"] == "refused"
    assert sync.pending() is None


def test_a_gallery_for_another_model_is_refused_with_a_clear_reason(
    tmp_path: Path, tls: tuple[Path, Path, Path], server: GalleryServer
) -> None:
    """Templates of another embedder model would give meaningless scores: the whole file is refused."""
    sync = make_sync(tmp_path, tls)
    install(sync, server, 1, templates(2))
    sha = server.publish(2, sealed(2, templates(2, seed=3) + templates(1, sha=OTHER_SHA, prefix="S-X-")))
    sync.offer(command(2, server.url(2), sha))
    with pytest.raises(
        GallerySyncError, match=r"holds templates of sface:cdcdcdcdcdcd .* this agent embeds with sface:abababababab"
    ):
        sync.sync_once()
    assert_kept(sync, 1, 2)
    assert "refused" in sync.status()["gallery_error"]


def test_wrong_credentials_get_401_and_say_so(
    tmp_path: Path, tls: tuple[Path, Path, Path], server: GalleryServer
) -> None:
    """A device secret central does not accept: the error names the 401 and the setting to check."""
    sync = make_sync(tmp_path, tls, secret="not-the-secret")
    sha = server.publish(1, sealed(1, templates(1)))
    sync.offer(command(1, server.url(1), sha))
    with pytest.raises(GallerySyncError, match=r"refused the device's credentials \(401\).*uplink.password") as info:
        sync.sync_once()
    assert info.value.kind == "auth"
    assert sync.holder.get() is None


def test_a_version_no_longer_served_is_replaced_by_the_current_one(
    tmp_path: Path, tls: tuple[Path, Path, Path], server: GalleryServer
) -> None:
    """404 for version 2 → GET /device-api/v1/gallery names version 3 → version 3 is fetched and used."""
    sync = make_sync(tmp_path, tls)
    install(sync, server, 1, templates(1))
    sha2 = server.publish(2, sealed(2, templates(2)))
    server.publish(3, sealed(3, templates(3, seed=4)))
    sync.offer(command(2, server.url(2), sha2))
    assert sync.sync_once()
    assert_kept(sync, 3, 3)
    paths = [p for p, _ in server.requests[-3:]]
    assert paths == ["/device-api/v1/gallery/2", "/device-api/v1/gallery", "/device-api/v1/gallery/3"]


def test_a_404_for_the_version_central_calls_current_is_an_error(
    tmp_path: Path, tls: tuple[Path, Path, Path], server: GalleryServer
) -> None:
    """Central answering 404 for the very version it calls current does not loop: one clear error."""
    sync = make_sync(tmp_path, tls)
    sha = server.publish(2, sealed(2, templates(1)))
    server.behaviour = Behaviour(status=404)  # /gallery still names version 2, /gallery/2 answers 404
    sync.offer(command(2, server.url(2), sha))
    with pytest.raises(GallerySyncError, match="central offers gallery version 2 but answers 404 for it"):
        sync.sync_once()


def test_a_server_that_stops_answering_times_out_and_the_gallery_is_kept(
    tmp_path: Path, tls: tuple[Path, Path, Path], server: GalleryServer
) -> None:
    """No headers within the read timeout, and a body that stalls half-way: both end in a timeout error."""
    sync = make_sync(tmp_path, tls, read_timeout_s=0.5)
    install(sync, server, 1, templates(2))
    blob = sealed(2, templates(2, seed=5))
    sha = server.publish(2, blob)
    server.behaviour = Behaviour(delay_s=3.0)
    sync.offer(command(2, server.url(2), sha))
    with pytest.raises(GallerySyncError, match="timed out") as info:
        sync.sync_once()
    assert info.value.kind == "network"
    server.behaviour = Behaviour(stall_after_bytes=len(blob) // 2, stall_s=3.0)
    with pytest.raises(GallerySyncError, match=r"timed out|transfer broke off"):
        sync.sync_once()
    assert_kept(sync, 1, 2)


def test_a_file_over_the_size_cap_is_refused_announced_or_not(
    tmp_path: Path, tls: tuple[Path, Path, Path], server: GalleryServer
) -> None:
    """Content-Length over max_bytes is refused before reading; a body without one is cut at the cap."""
    sync = make_sync(tmp_path, tls, max_bytes=4096)
    install(sync, server, 1, templates(2))
    big = sealed(2, templates(60, seed=6))
    assert len(big) > 4096
    sha = server.publish(2, big)
    sync.offer(command(2, server.url(2), sha))
    with pytest.raises(GallerySyncError, match=r"\d+ bytes announced, more than max_bytes = 4096"):
        sync.sync_once()
    server.behaviour = Behaviour(chunked=True)
    with pytest.raises(GallerySyncError, match="more than max_bytes = 4096 bytes sent; stopped") as info:
        sync.sync_once()
    assert info.value.kind == "size"
    assert_kept(sync, 1, 2)


def test_tls_is_verified_against_the_configured_ca(
    tmp_path: Path, tls: tuple[Path, Path, Path], server: GalleryServer
) -> None:
    """Without the test CA (system CAs only) the server's certificate is not trusted and nothing is sent."""
    sync = make_sync(tmp_path, tls)
    sync.settings = FetchSettings(ca_file=None, connect_timeout_s=2, read_timeout_s=2)
    sha = server.publish(1, sealed(1, templates(1)))
    sync.offer(command(1, server.url(1), sha))
    with pytest.raises(GallerySyncError, match="TLS verification failed"):
        sync.sync_once()
    assert server.requests == []


def test_plain_http_is_refused_unless_allowed(tmp_path: Path, tls: tuple[Path, Path, Path]) -> None:
    """An http:// URL would send the secret in clear: refused by default, fetched with allow_http."""
    plain = GalleryServer(DEVICE, SECRET).start()
    try:
        sha = plain.publish(1, sealed(1, templates(2)))
        sync = make_sync(tmp_path, tls)
        sync.offer(command(1, plain.url(1), sha))
        with pytest.raises(GallerySyncError, match="plain http, which would send the device secret in clear"):
            sync.sync_once()
        assert plain.requests == []
        allowed = make_sync(tmp_path / "allowed", tls, allow_http=True)
        allowed.offer(command(1, plain.url(1), sha))
        assert allowed.sync_once()
        assert allowed.holder.version == 1
    finally:
        plain.stop()


def test_a_redirect_is_not_followed(tmp_path: Path, tls: tuple[Path, Path, Path], server: GalleryServer) -> None:
    """The Basic credentials must reach only the host central named: a 302 is an error, not followed."""
    other = GalleryServer(DEVICE, SECRET, tls=(tls[1], tls[2])).start()
    try:
        sha = other.publish(1, sealed(1, templates(1)))
        server.behaviour = Behaviour(redirect_to=other.url(1))
        sync = make_sync(tmp_path, tls)
        sync.offer(command(1, server.url(1), sha))
        with pytest.raises(GallerySyncError, match="HTTP 302"):
            sync.sync_once()
        assert other.requests == []
    finally:
        other.stop()


def test_a_restart_opens_the_cached_gallery_without_central(
    tmp_path: Path, tls: tuple[Path, Path, Path], server: GalleryServer
) -> None:
    """After version 2 was cached, a new process with central unreachable recognises with version 2."""
    first = make_sync(tmp_path, tls)
    sha = install(first, server, 2, templates(4, seed=7))
    server.stop()
    restarted = make_sync(tmp_path, tls)
    assert restarted.load_cache()
    assert (restarted.holder.version, restarted.holder.source) == (2, "cache")
    gallery = restarted.holder.get()
    assert gallery is not None
    probe = templates(4, seed=7)[1]
    assert gallery.search(probe[1], k=1)[0].subject_id == probe[0]
    # The same command again after the restart: nothing to fetch.
    restarted.offer(command(2, server.url(2), sha))
    assert restarted.pending() is None


def test_a_damaged_cache_is_ignored_not_trusted(
    tmp_path: Path, tls: tuple[Path, Path, Path], server: GalleryServer
) -> None:
    """A cached file whose sha256 no longer matches its index is not used (the agent starts with no gallery)."""
    first = make_sync(tmp_path, tls)
    install(first, server, 1, templates(2))
    cached = next((tmp_path / "cache").glob("*.bin"))
    data = bytearray(cached.read_bytes())
    data[-1] ^= 0xFF
    cached.write_bytes(bytes(data))
    restarted = make_sync(tmp_path, tls)
    assert not restarted.load_cache()
    assert restarted.holder.get() is None


_INTERRUPTED_WRITE = """
import resource, signal, sys, json
from pathlib import Path
from vision.gallery_sync import GalleryCache, GallerySyncError, Offer
folder, version, sha, blob_path = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3], Path(sys.argv[4])
blob = blob_path.read_bytes()
cache = GalleryCache(folder)
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead of killing us
resource.setrlimit(resource.RLIMIT_FSIZE, (len(blob) // 2, len(blob) // 2))
try:
    cache.store(Offer(version, "", sha), blob)
except GallerySyncError as exc:
    print(json.dumps({"kind": exc.kind, "error": str(exc)}))
else:
    print(json.dumps({"kind": None}))
"""


def test_an_interrupted_cache_write_leaves_the_previous_file_intact(
    tmp_path: Path, tls: tuple[Path, Path, Path], server: GalleryServer
) -> None:
    """A write that fails half-way (file-size limit: EFBIG, like a full disk) leaves version 1 cached and usable."""
    sync = make_sync(tmp_path, tls)
    install(sync, server, 1, templates(2))
    before = {p.name: p.read_bytes() for p in (tmp_path / "cache").iterdir()}
    blob = sealed(2, templates(40, seed=8))
    (tmp_path / "v2.bin").write_bytes(blob)
    sha = hashlib.sha256(blob).hexdigest()
    done = subprocess.run(
        [sys.executable, "-c", _INTERRUPTED_WRITE, str(tmp_path / "cache"), "2", sha, str(tmp_path / "v2.bin")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=Path(__file__).resolve().parents[3],
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["kind"] == "cache", done.stdout + done.stderr
    assert "File too large" in result["error"]
    after = {p.name: p.read_bytes() for p in (tmp_path / "cache").iterdir()}
    assert after == before, "no half-written file, no temporary file left, index unchanged"
    restarted = make_sync(tmp_path, tls)
    assert restarted.load_cache()
    assert restarted.holder.version == 1


def test_leftovers_of_a_killed_write_are_removed_at_start(tmp_path: Path) -> None:
    """A temporary file a SIGKILL left behind is deleted when the cache opens; the index is untouched."""
    folder = tmp_path / "cache"
    folder.mkdir()
    (folder / ".tmp-gallery-3-abc.bin.x1y2").write_bytes(b"half a file")
    GalleryCache(folder)
    assert list(folder.iterdir()) == []


def test_the_worker_retries_with_backoff_until_central_answers(
    tmp_path: Path, tls: tuple[Path, Path, Path], server: GalleryServer
) -> None:
    """503s are retried in the background; once central answers, the new gallery is swapped in."""
    swapped: list[int] = []
    sync = make_sync(tmp_path, tls, on_swap=swapped.append)
    sha = server.publish(1, sealed(1, templates(3)))
    server.behaviour = Behaviour(status=503)
    sync.start()
    try:
        sync.offer(command(1, server.url(1), sha))
        assert wait_until(lambda: len(server.requests) >= 3), "retried"
        assert sync.holder.get() is None
        assert "HTTP 503" in sync.status()["gallery_error"]
        server.behaviour = Behaviour()
        assert wait_until(lambda: sync.holder.version == 1)
        assert swapped == [1]
        assert sync.status()["gallery_error"] is None
    finally:
        sync.stop()


def test_a_command_for_another_device_is_ignored(tmp_path: Path, tls: tuple[Path, Path, Path]) -> None:
    """The command's device_id is the target: one naming another device changes nothing."""
    sync = make_sync(tmp_path, tls)
    sync.offer(command(1, "https://127.0.0.1:1/device-api/v1/gallery/1", SHA, device="edge-huli"))
    assert sync.pending() is None


def test_readers_see_the_old_or_the_new_gallery_never_a_mix(
    tmp_path: Path, tls: tuple[Path, Path, Path], server: GalleryServer
) -> None:
    """While versions alternate, a reader always finds a gallery whole: all of one version's subjects."""
    sync = make_sync(tmp_path, tls)
    small, large = templates(2, prefix="S-A-"), templates(30, seed=9, prefix="S-B-")
    install(sync, server, 1, small)
    seen: set[tuple[str, ...]] = set()
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            gallery = sync.holder.get()
            assert gallery is not None
            seen.add(tuple(sorted(gallery.subjects)))

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for version in range(2, 8):
            install(sync, server, version, large if version % 2 == 0 else small)
    finally:
        stop.set()
        reader.join()
    assert seen <= {tuple(sorted(s for s, _ in small)), tuple(sorted(s for s, _ in large))}


def test_the_refresh_url_comes_from_the_offer_or_the_configured_central() -> None:
    """/device-api/v1/gallery at the offer's host (under any path prefix), or under central_url when set."""
    assert (
        refresh_url("https://c.example:8443/device-api/v1/gallery/7") == "https://c.example:8443/device-api/v1/gallery"
    )
    assert (
        refresh_url("https://c.example/corr/device-api/v1/gallery/7") == "https://c.example/corr/device-api/v1/gallery"
    )
    assert (
        refresh_url("https://c.example/x/7", "https://central.example/")
        == "https://central.example/device-api/v1/gallery"
    )


def test_offers_compare_by_version_and_hash() -> None:
    """An Offer from a command carries its version, URL and hash."""
    cmd = command(4, "https://c.example/device-api/v1/gallery/4", SHA)
    assert Offer.from_command(cmd) == Offer(4, "https://c.example/device-api/v1/gallery/4", SHA)
