"""Front-end libraries: a tarball is unpacked only when it has the pinned SHA-512, and only the listed files."""

from __future__ import annotations

import base64
import hashlib
import io
import tarfile
from pathlib import Path

import pytest

from central.web import assets
from central.web.assets import AssetError, Package, missing, unpack, verify_integrity


def tarball(files: dict[str, bytes]) -> bytes:
    """A .tgz like the npm registry serves (everything under package/)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def integrity(data: bytes) -> str:
    """The npm integrity string of `data`."""
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


PKG = Package("demo-lib", "1.0.0", "", (("package/dist/lib.js", "lib.js"), ("package/LICENSE", "LICENSE")), "demo")


def test_integrity_must_match_the_pinned_sha512() -> None:
    """One changed byte, or a weaker algorithm, is refused with both values named."""
    data = tarball({"package/dist/lib.js": b"ok"})
    verify_integrity(data, integrity(data), "demo-lib 1.0.0")
    with pytest.raises(AssetError, match=r"demo-lib 1.0.0: tarball SHA-512 is sha512-.* the pinned integrity is"):
        verify_integrity(data + b"\0", integrity(data), "demo-lib 1.0.0")
    with pytest.raises(AssetError, match="expected 'sha512-<base64>'"):
        verify_integrity(data, "sha1-abc", "demo-lib 1.0.0")


def test_unpack_writes_only_the_listed_files(tmp_path: Path) -> None:
    """Other files of the package (sources, a path trying to climb out) are never written."""
    data = tarball({"package/dist/lib.js": b"js", "package/LICENSE": b"MIT", "package/../../evil": b"x"})
    written = unpack(PKG, data, tmp_path / "demo")
    assert sorted(p.name for p in written) == ["LICENSE", "lib.js"]
    assert (tmp_path / "demo" / "lib.js").read_bytes() == b"js"
    assert not (tmp_path / "evil").exists() and not (tmp_path.parent / "evil").exists()


def test_unpack_names_a_missing_file(tmp_path: Path) -> None:
    """A tarball without a listed file fails naming it."""
    with pytest.raises(AssetError, match="tarball lacks package/LICENSE"):
        unpack(PKG, tarball({"package/dist/lib.js": b"js"}), tmp_path)


def test_fetch_installs_once_and_check_reports_what_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """fetch downloads a missing package once, verified; a second fetch does nothing."""
    data = tarball({"package/dist/lib.js": b"js", "package/LICENSE": b"MIT"})
    pkg = Package(PKG.name, PKG.version, integrity(data), PKG.files, PKG.dir)
    calls: list[str] = []

    def fake_download(url: str, timeout: float = 60.0) -> bytes:
        calls.append(url)
        return data

    monkeypatch.setattr(assets, "PACKAGES", (pkg,))
    monkeypatch.setattr(assets, "download", fake_download)
    assert missing(tmp_path) == ["demo-lib 1.0.0"]
    assert assets.fetch(tmp_path, log=False) == ["demo-lib 1.0.0"]
    assert missing(tmp_path) == [] and assets.fetch(tmp_path, log=False) == []
    assert calls == ["https://registry.npmjs.org/demo-lib/-/demo-lib-1.0.0.tgz"]
    (tmp_path / "demo" / "lib.js").unlink()
    assert missing(tmp_path) == ["demo-lib 1.0.0"]


def test_pinned_packages_name_sha512_integrity_and_their_licences() -> None:
    """Every pinned package ships its licence and carries a full SHA-512 integrity."""
    for p in assets.PACKAGES:
        assert p.integrity.startswith("sha512-") and len(base64.b64decode(p.integrity[7:])) == 64
        assert "LICENSE" in dict(p.files).values()
