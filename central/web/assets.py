"""The officer UI's front-end libraries, fetched once at setup time, never from a CDN at run time.

Each library is an npm package pinned to one version; the tarball comes from the npm registry and
is refused unless its SHA-512 matches the `integrity` string the registry published for that
version (the same check `npm ci` does against a lock file). Only the files the UI serves are
unpacked, with their licence, into `central/web/static/vendor/<package>/` (git-ignored), so the
pages work without internet once `python -m central.web.assets fetch` has run.

    python -m central.web.assets fetch    # download what is missing or changed (does nothing twice)
    python -m central.web.assets check    # exit 1 naming what is missing
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import os
import sys
import tarfile
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REGISTRY = os.environ.get("CORR_NPM_REGISTRY", "https://registry.npmjs.org")
VENDOR_DIR = Path(__file__).resolve().parent / "static" / "vendor"
STAMP = "installed.json"
MAX_TARBALL = 20 * 1024 * 1024


@dataclass(frozen=True)
class Package:
    """One pinned npm package and the files of it the UI serves (tarball path → name under vendor/<dir>/)."""

    name: str
    version: str
    integrity: str  # "sha512-<base64>", as in the registry's `dist.integrity` and package-lock.json
    files: tuple[tuple[str, str], ...]
    dir: str

    @property
    def tarball_url(self) -> str:
        """Where the registry keeps this version's tarball."""
        base = self.name.rsplit("/", 1)[-1]
        return f"{REGISTRY}/{self.name}/-/{base}-{self.version}.tgz"


PACKAGES: tuple[Package, ...] = (
    Package(
        name="htmx.org",
        version="2.0.11",
        integrity="sha512-Thx/WtpeOQqSrqBCw/A1cwGJGg4UrVa3+sW0GmrM3p4gJgO89ecH4qtbnyzDDWFvBTqjnIMCgELTNt636dtamA==",
        files=(("package/dist/htmx.min.js", "htmx.min.js"), ("package/LICENSE", "LICENSE")),
        dir="htmx",
    ),
    Package(
        name="leaflet",
        version="1.9.4",
        integrity="sha512-nxS1ynzJOmOlHp+iL3FyWqK89GtNL8U8rvlMOsQdTTssxZwCXh8N2NB3GDQOL+YR3XnWyZAxwQixURb+FA74PA==",
        files=(
            ("package/dist/leaflet.js", "leaflet.js"),
            ("package/dist/leaflet.css", "leaflet.css"),
            ("package/dist/images/layers.png", "images/layers.png"),
            ("package/dist/images/layers-2x.png", "images/layers-2x.png"),
            ("package/dist/images/marker-icon.png", "images/marker-icon.png"),
            ("package/dist/images/marker-icon-2x.png", "images/marker-icon-2x.png"),
            ("package/dist/images/marker-shadow.png", "images/marker-shadow.png"),
            ("package/LICENSE", "LICENSE"),
        ),
        dir="leaflet",
    ),
)


class AssetError(RuntimeError):
    """A download failed or did not match its pinned integrity; the message says which and why."""


def verify_integrity(data: bytes, integrity: str, what: str) -> None:
    """Raise AssetError unless `data` has the SHA-512 named by an npm `integrity` string."""
    algo, _, expected = integrity.partition("-")
    if algo != "sha512" or not expected:
        raise AssetError(f"{what}: integrity {integrity!r}: expected 'sha512-<base64>'")
    actual = base64.b64encode(hashlib.sha512(data).digest()).decode()
    if actual != expected:
        raise AssetError(f"{what}: tarball SHA-512 is sha512-{actual}, the pinned integrity is {integrity}")


def unpack(package: Package, tarball: bytes, dest: Path) -> list[Path]:
    """Write the package's listed files from its (verified) tarball into `dest`; every listed file must be there."""
    wanted = dict(package.files)
    written: list[Path] = []
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as tar:
        for member in tar.getmembers():
            target_name = wanted.pop(member.name, None)
            if target_name is None or not member.isfile():
                continue
            source = tar.extractfile(member)
            assert source is not None  # a regular file always has content
            target = dest / target_name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read())
            written.append(target)
    if wanted:
        raise AssetError(f"{package.name} {package.version}: tarball lacks {', '.join(sorted(wanted))}")
    return written


def _installed(vendor: Path) -> dict[str, str]:
    try:
        data = json.loads((vendor / STAMP).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def missing(vendor: Path = VENDOR_DIR) -> list[str]:
    """What `fetch` still has to do: '<package> <version>' for each package absent, changed or incomplete."""
    stamp = _installed(vendor)
    out = []
    for p in PACKAGES:
        complete = all((vendor / p.dir / name).is_file() for _, name in p.files)
        if stamp.get(p.name) != f"{p.version} {p.integrity}" or not complete:
            out.append(f"{p.name} {p.version}")
    return out


def download(url: str, timeout: float = 60.0) -> bytes:
    """The body at `url` (HTTPS from the npm registry), at most MAX_TARBALL bytes."""
    if not url.startswith(("https://", "http://")):
        raise AssetError(f"{url}: expected an http(s) URL of the npm registry")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (scheme checked above)
            data: bytes = response.read(MAX_TARBALL + 1)
    except OSError as exc:
        raise AssetError(f"{url}: download failed: {exc}") from exc
    if len(data) > MAX_TARBALL:
        raise AssetError(f"{url}: larger than {MAX_TARBALL} bytes, refusing")
    return data


def fetch(vendor: Path = VENDOR_DIR, log: bool = True) -> list[str]:
    """Download, verify and unpack every package not installed at its pinned version; the ones fetched."""
    todo = set(missing(vendor))
    stamp = _installed(vendor)
    done = []
    for p in PACKAGES:
        if f"{p.name} {p.version}" not in todo:
            continue
        if log:
            print(f"web assets: fetching {p.name} {p.version} from {p.tarball_url}")
        data = download(p.tarball_url)
        verify_integrity(data, p.integrity, f"{p.name} {p.version}")
        unpack(p, data, vendor / p.dir)
        stamp[p.name] = f"{p.version} {p.integrity}"
        vendor.mkdir(parents=True, exist_ok=True)
        (vendor / STAMP).write_text(json.dumps(stamp, indent=1, sort_keys=True) + "\n")
        done.append(f"{p.name} {p.version}")
    return done


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: `fetch` or `check`."""
    ap = argparse.ArgumentParser(prog="python -m central.web.assets", description=__doc__.splitlines()[0])
    ap.add_argument("command", choices=("fetch", "check"))
    args = ap.parse_args(argv)
    if args.command == "check":
        gaps = missing()
        for gap in gaps:
            print(f"web assets: missing {gap}; run `python -m central.web.assets fetch`", file=sys.stderr)
        return 1 if gaps else 0
    try:
        fetched = fetch()
    except AssetError as exc:
        print(f"web assets: {exc}", file=sys.stderr)
        return 1
    if not fetched:
        print(f"web assets: up to date in {VENDOR_DIR}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
