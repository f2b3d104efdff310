"""Gallery sync: central's retained `gallery` command → HTTPS download → checks → encrypted cache → atomic swap.

Shared by the edge agent (edge_agent/agent.py, 1:N recognition) and the kiosk (kiosk/face_gallery.py,
1:1 verification): both receive the same sealed per-device file (vision/gallery_file.py) and keep it
current the same way, so the code lives here, next to the file format, rather than in either role.

Central announces each device's gallery with a retained `gallery` command (version, URL,
sha256). `GallerySync.offer` takes the command from the uplink's command thread and returns at
once; a worker thread then

1. downloads the file with `requests` (HTTP Basic auth: the device id and its secret, the same
   as its MQTT password; TLS verified against the configured CA file or the system's; no
   redirects, so the secret is only ever sent to the host central named; connect, read and total
   timeouts; a size cap checked on Content-Length and again while reading),
2. checks the sha256 of the bytes against the command,
3. opens the file in memory with `vision.gallery_file.open_gallery` under the key derived from
   the device secret, and checks every template was made by the device's own embedder (backend
   and model sha256) — a gallery for another model is refused, never half-used,
4. writes the still-encrypted file to the cache folder (temporary file, fsync, rename) and then
   the small index naming it, so a crash leaves the previous cached gallery usable,
5. swaps the in-memory `Gallery` in one reference assignment (`GalleryHolder`): a thread judging
   a face reads the reference once and sees the old or the new gallery whole.

Anything failing leaves the current gallery in use; the worker retries with exponential backoff
(a refused file — wrong model, wrong key — is not fetched again until central offers another
one). A 404 means central no longer serves that version: the worker asks
`GET <central>/device-api/v1/gallery` for the current {version, sha256, url} and fetches that.
At start the device opens the cached file of the last version it had, so a restart without
central still recognises people. Templates are never written in clear anywhere.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit, urlunsplit

import requests

from contracts import Gallery as GalleryCommand
from vision.atomic_file import atomic_write, remove_temp_files
from vision.errors import TemplateError
from vision.gallery import Gallery
from vision.gallery_file import GalleryFileError, gallery_key, open_gallery

log = logging.getLogger(__name__)

DEVICE_API = "/device-api/v1"
INDEX = "gallery.json"
_CHUNK = 64 * 1024

ErrorKind = Literal["url", "auth", "not_found", "http", "network", "size", "hash", "key", "model", "cache"]
# A file that does not open under our key, or holds another model's templates, does not change by fetching
# it again: the worker waits for central to offer another version instead of retrying.
REFUSALS: frozenset[str] = frozenset({"key", "model"})


class GallerySyncError(Exception):
    """One failed step of a gallery update; `kind` says which (for the status), the message says what."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class Offer:
    """A gallery version central offers: where to fetch it and the sha256 its bytes must have."""

    version: int
    url: str
    sha256: str

    @classmethod
    def from_command(cls, command: GalleryCommand) -> Offer:
        """The offer a `gallery` command makes."""
        return cls(version=command.version, url=command.url, sha256=command.sha256)


@dataclass(frozen=True)
class Expected:
    """What the agent's embedder makes: a gallery must hold templates of this backend and model."""

    backend: str
    model_sha256: str
    dim: int


@dataclass(frozen=True)
class FetchSettings:
    """Transport limits of one download (edge agent: `[gallery_sync]`; kiosk: `[kiosk.central]`, `[kiosk.gallery]`)."""

    ca_file: Path | None = None
    allow_http: bool = False
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 30.0
    total_timeout_s: float = 300.0
    max_bytes: int = 64 * 1024 * 1024


class GalleryHolder:
    """The gallery recognition uses now; replaced whole, in one assignment, never modified in place."""

    def __init__(self, gallery: Gallery | None = None, version: int | None = None, source: str = "none") -> None:
        self._lock = threading.Lock()
        self._current: tuple[Gallery | None, int | None, str] = (gallery, version, source)

    def get(self) -> Gallery | None:
        """The current gallery (None: nobody is enrolled, every face is unknown)."""
        return self._current[0]

    def swap(self, gallery: Gallery | None, version: int | None, source: str) -> None:
        """Make `gallery` the current one; readers see the old one or this one, never a mix."""
        with self._lock:
            self._current = (gallery, version, source)

    @property
    def version(self) -> int | None:
        """The version in use (None: none from central)."""
        return self._current[1]

    @property
    def source(self) -> str:
        """Where the gallery in use came from: central, cache, folder, given or none."""
        return self._current[2]

    def __len__(self) -> int:
        gallery = self._current[0]
        return 0 if gallery is None else len(gallery)


# ---- the steps, each a function that raises GallerySyncError --------------------------------------


def check_url(url: str, allow_http: bool) -> None:
    """An https URL with a host (http only when allowed): the device secret goes with the request."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise GallerySyncError("url", f"gallery URL {url!r}: expected an https:// URL with a host")
    if parts.scheme == "http" and not allow_http:
        raise GallerySyncError(
            "url",
            f"gallery URL {url!r} is plain http, which would send the device secret in clear; "
            "set gallery_sync.allow_http = true only for a test bench or a one-machine demo",
        )


def refresh_url(offer_url: str, central_url: str | None = None) -> str:
    """Where central says which gallery is current: `<central>/device-api/v1/gallery`.

    From `central_url` when configured, else from the offer's URL (its part up to /device-api/v1).
    """
    if central_url:
        return central_url.rstrip("/") + DEVICE_API + "/gallery"
    parts = urlsplit(offer_url)
    path = parts.path
    base = path[: path.index(DEVICE_API)] if DEVICE_API in path else ""
    return urlunsplit((parts.scheme, parts.netloc, base + DEVICE_API + "/gallery", "", ""))


def _get(
    session: requests.Session, url: str, auth: tuple[str, str], settings: FetchSettings, accept: str
) -> requests.Response:
    check_url(url, settings.allow_http)
    verify: bool | str = str(settings.ca_file) if settings.ca_file is not None else True
    try:
        response = session.get(
            url,
            auth=auth,
            timeout=(settings.connect_timeout_s, settings.read_timeout_s),
            verify=verify,
            stream=True,
            allow_redirects=False,  # the Basic credentials must not follow a redirect anywhere
            headers={"Accept": accept},
        )
    except requests.exceptions.SSLError as exc:
        raise GallerySyncError("network", f"GET {url}: TLS verification failed: {_short(exc)}") from None
    except requests.exceptions.Timeout as exc:
        raise GallerySyncError("network", f"GET {url}: timed out: {_short(exc)}") from None
    except requests.exceptions.RequestException as exc:
        raise GallerySyncError("network", f"GET {url}: {_short(exc)}") from None
    if response.status_code == 200:
        return response
    response.close()
    if response.status_code == 401:
        raise GallerySyncError(
            "auth", f"GET {url}: central refused the device's credentials (401): check uplink.password"
        )
    if response.status_code == 404:
        raise GallerySyncError("not_found", f"GET {url}: central no longer serves it (404)")
    raise GallerySyncError("http", f"GET {url}: HTTP {response.status_code} {response.reason}")


def _short(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) <= 300 else text[:300] + "…"


def download(session: requests.Session, offer: Offer, auth: tuple[str, str], settings: FetchSettings) -> bytes:
    """The offered file's bytes, at most `max_bytes`, within the timeouts, with the offered sha256."""
    deadline = time.monotonic() + settings.total_timeout_s
    response = _get(session, offer.url, auth, settings, "application/octet-stream")
    with response:
        declared = response.headers.get("Content-Length")
        if declared is not None and declared.isdigit() and int(declared) > settings.max_bytes:
            raise GallerySyncError(
                "size", f"GET {offer.url}: {declared} bytes announced, more than max_bytes = {settings.max_bytes}"
            )
        digest = hashlib.sha256()
        parts: list[bytes] = []
        size = 0
        try:
            for chunk in response.iter_content(_CHUNK):
                size += len(chunk)
                if size > settings.max_bytes:
                    raise GallerySyncError(
                        "size", f"GET {offer.url}: more than max_bytes = {settings.max_bytes} bytes sent; stopped"
                    )
                if time.monotonic() > deadline:
                    raise GallerySyncError(
                        "network", f"GET {offer.url}: not complete after {settings.total_timeout_s:g} s; stopped"
                    )
                digest.update(chunk)
                parts.append(chunk)
        except requests.exceptions.RequestException as exc:
            raise GallerySyncError("network", f"GET {offer.url}: transfer broke off: {_short(exc)}") from None
    if digest.hexdigest() != offer.sha256:
        raise GallerySyncError(
            "hash",
            f"gallery version {offer.version}: sha256 of the {size} bytes received is {digest.hexdigest()}, "
            f"the command says {offer.sha256}",
        )
    return b"".join(parts)


def current_offer(session: requests.Session, url: str, auth: tuple[str, str], settings: FetchSettings) -> Offer:
    """`GET <central>/device-api/v1/gallery`: the version central serves now, as {version, sha256, url}."""
    response = _get(session, url, auth, settings, "application/json")
    with response:
        raw = response.raw.read(1024 * 1024 + 1, decode_content=True)
    try:
        body = json.loads(raw)
        version, sha256, target = body["version"], body["sha256"], body["url"]
        if not isinstance(version, int) or version < 1 or not isinstance(sha256, str) or not isinstance(target, str):
            raise ValueError("version must be a positive integer, sha256 and url strings")
    except (ValueError, KeyError, TypeError) as exc:
        raise GallerySyncError("http", f"GET {url}: not the expected {{version, sha256, url}} JSON: {exc}") from None
    return Offer(version=version, url=urljoin(url, target), sha256=sha256.lower())


def open_blob(blob: bytes, version: int, device_id: str, key: bytes, expected: Expected) -> Gallery:
    """The gallery in a sealed file, in memory; refused unless every template is the agent's own model's."""
    try:
        entries = open_gallery(blob, version=version, device_id=device_id, key=key)
    except GalleryFileError as exc:
        raise GallerySyncError("key", f"gallery version {version}: {exc}") from None
    for subject_id, template in entries:
        if (template.backend, template.model_sha256) != (expected.backend, expected.model_sha256):
            raise GallerySyncError(
                "model",
                f"gallery version {version} holds templates of {template.backend}:{template.model_sha256[:12]} "
                f"(e.g. {subject_id}) but this agent embeds with {expected.backend}:{expected.model_sha256[:12]}: "
                "refused; central must enrol for this agent's model, or the agent must run that model",
            )
    gallery = Gallery(expected.backend, expected.model_sha256, expected.dim, threads=1)
    try:
        for subject_id, template in entries:
            gallery.add(subject_id, template)
    except TemplateError as exc:
        raise GallerySyncError("model", f"gallery version {version}: {exc}") from None
    return gallery


# ---- the cache ----------------------------------------------------------------------------------


class GalleryCache:
    """The last good gallery file, still encrypted, and an index naming it (version, sha256, file)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o700)
        removed = remove_temp_files(folder)
        if removed:
            log.warning("gallery cache %s: removed %d unfinished file(s) of an interrupted write", folder, removed)

    def load(self) -> tuple[Offer, bytes] | None:
        """The cached file and what it is (the URL is empty); None when there is none or it is damaged."""
        index_path = self.folder / INDEX
        try:
            index = json.loads(index_path.read_text(encoding="utf-8"))
            version, sha256, name = int(index["version"]), str(index["sha256"]), str(index["file"])
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.error("gallery cache index %s cannot be read (%s): ignored", index_path, exc)
            return None
        if Path(name).name != name:
            log.error("gallery cache index %s names %r, not a file of the cache folder: ignored", index_path, name)
            return None
        try:
            blob = (self.folder / name).read_bytes()
        except OSError as exc:
            log.error("gallery cache file %s cannot be read (%s): ignored", self.folder / name, exc)
            return None
        if hashlib.sha256(blob).hexdigest() != sha256:
            log.error("gallery cache file %s does not have the sha256 its index records: ignored", self.folder / name)
            return None
        return Offer(version=version, url="", sha256=sha256), blob

    def store(self, offer: Offer, blob: bytes) -> None:
        """Keep `blob` (encrypted, as downloaded) as the cached gallery; the previous one stays until this succeeded."""
        name = f"gallery-{offer.version}-{offer.sha256[:16]}.bin"
        try:
            atomic_write(self.folder / name, blob)
            index = {"version": offer.version, "sha256": offer.sha256, "file": name}
            atomic_write(self.folder / INDEX, json.dumps(index).encode())
        except OSError as exc:
            raise GallerySyncError(
                "cache", f"gallery cache {self.folder}: cannot write version {offer.version}: {exc}"
            ) from None
        for old in self.folder.glob("gallery-*.bin"):
            if old.name != name:
                old.unlink(missing_ok=True)


# ---- the worker ---------------------------------------------------------------------------------


@dataclass
class SyncStatus:
    """What the status message says about the gallery."""

    state: str = "idle"  # idle, downloading, current, retrying, refused
    wanted: int | None = None
    last_error: str | None = None
    last_error_kind: str | None = None
    last_success: datetime | None = None
    attempts: int = 0


class GallerySync:
    """Keeps the agent's gallery the one central offers; never leaves it worse than before."""

    def __init__(
        self,
        *,
        device_id: str,
        secret: str,
        cache_dir: Path,
        expected: Expected,
        holder: GalleryHolder,
        settings: FetchSettings | None = None,
        central_url: str | None = None,
        retry_min_s: float = 2.0,
        retry_max_s: float = 300.0,
        on_swap: Callable[[int], None] | None = None,
    ) -> None:
        self.device_id = device_id
        self._auth = (device_id, secret)
        self._key = gallery_key(secret)
        self.cache = GalleryCache(cache_dir)
        self.expected = expected
        self.holder = holder
        self.settings = settings or FetchSettings()
        self.central_url = central_url
        self.retry_min_s = retry_min_s
        self.retry_max_s = retry_max_s
        self._on_swap = on_swap
        self._session = requests.Session()
        self._session.trust_env = False  # no proxy or netrc from the environment gets the device secret
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._wanted: Offer | None = None
        self._current: Offer | None = None
        self._refused: Offer | None = None
        self._status = SyncStatus()
        self._thread: threading.Thread | None = None

    # ---- start-up: the cached gallery --------------------------------------------------------

    def load_cache(self) -> bool:
        """Open the cached gallery, if any, and make it current; True when it was usable."""
        cached = self.cache.load()
        if cached is None:
            return False
        offer, blob = cached
        try:
            gallery = open_blob(blob, offer.version, self.device_id, self._key, self.expected)
        except GallerySyncError as exc:
            log.error("cached gallery version %d not used: %s", offer.version, exc)
            self._note_error(exc)
            return False
        with self._lock:
            self._current = offer
        self.holder.swap(gallery, offer.version, "cache")
        log.info("gallery version %d from the cache: %d templates", offer.version, len(gallery))
        return True

    # ---- commands ------------------------------------------------------------------------------

    def offer(self, command: Any) -> None:
        """Uplink command handler for `gallery`: note what central offers and wake the worker (returns at once)."""
        if not isinstance(command, GalleryCommand):
            log.error("gallery handler got a %s command; ignored", getattr(command, "type", type(command).__name__))
            return
        if command.device_id != self.device_id:
            log.error("gallery command for device %s reached %s; ignored", command.device_id, self.device_id)
            return
        offer = Offer.from_command(command)
        with self._lock:
            current = self._current
            self._wanted = offer
            self._status.wanted = offer.version
        if current is not None and (current.version, current.sha256) == (offer.version, offer.sha256):
            log.info("gallery version %d offered again: already in use", offer.version)
        elif current is not None and offer.version < current.version:
            log.warning(
                "central offers gallery version %d, older than %d in use: taking it", offer.version, current.version
            )
        self._wake.set()

    # ---- the worker ----------------------------------------------------------------------------

    def start(self) -> GallerySync:
        """Start the worker thread."""
        self._thread = threading.Thread(target=self._run, name="gallery-sync", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the worker (a download in progress ends at its next chunk or timeout)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._session.close()

    def pending(self) -> Offer | None:
        """The offer not yet in use and not refused, if any."""
        with self._lock:
            wanted, current, refused = self._wanted, self._current, self._refused
        if wanted is None:
            return None
        if any(o is not None and (o.version, o.sha256) == (wanted.version, wanted.sha256) for o in (current, refused)):
            return None
        return wanted

    def sync_once(self) -> bool:
        """One attempt at the pending offer: True when it is in use afterwards (or nothing was pending).

        Raises GallerySyncError when the attempt failed; the current gallery is untouched then.
        """
        offer = self.pending()
        if offer is None:
            return True
        with self._lock:
            self._status.state = "downloading"
            self._status.attempts += 1
        try:
            try:
                blob = download(self._session, offer, self._auth, self.settings)
            except GallerySyncError as exc:
                if exc.kind != "not_found":
                    raise
                url = refresh_url(offer.url, self.central_url)
                log.warning("%s; asking central for its current gallery at %s", exc, url)
                fresh = current_offer(self._session, url, self._auth, self.settings)
                if (fresh.version, fresh.sha256) == (offer.version, offer.sha256):
                    raise GallerySyncError(
                        "not_found", f"central offers gallery version {offer.version} but answers 404 for it"
                    ) from None
                with self._lock:
                    if self._wanted == offer:  # a newer command that arrived meanwhile wins
                        self._wanted = fresh
                        self._status.wanted = fresh.version
                offer = fresh
                blob = download(self._session, offer, self._auth, self.settings)
            gallery = open_blob(blob, offer.version, self.device_id, self._key, self.expected)
            self.cache.store(offer, blob)
        except GallerySyncError as exc:
            if exc.kind in REFUSALS:
                with self._lock:
                    self._refused = offer
            self._note_error(exc)
            raise
        self.holder.swap(gallery, offer.version, "central")
        with self._lock:
            self._current = offer
            self._status.state = "current"
            self._status.last_error = None
            self._status.last_error_kind = None
            self._status.last_success = datetime.now(UTC)
        log.info("gallery version %d in use: %d templates", offer.version, len(gallery))
        if self._on_swap is not None:
            self._on_swap(offer.version)
        return True

    def status(self) -> dict[str, Any]:
        """Status fields: gallery version and source, sync state, the version wanted and the last error."""
        with self._lock:
            s = self._status
            return {
                "gallery_version": self.holder.version,
                "gallery_source": self.holder.source,
                "gallery_templates": len(self.holder),
                "gallery_sync": s.state,
                "gallery_wanted": s.wanted,
                "gallery_error": s.last_error,
            }

    def _run(self) -> None:
        delay = self.retry_min_s
        while not self._stop.is_set():
            if self.pending() is None:
                self._wake.wait()
                self._wake.clear()
                continue
            self._wake.clear()
            try:
                self.sync_once()
                delay = self.retry_min_s
                continue
            except GallerySyncError as exc:
                if exc.kind in REFUSALS:
                    log.error("gallery refused, keeping the current one until central offers another: %s", exc)
                    delay = self.retry_min_s
                    continue
                log.error("gallery update failed, keeping the current one; retrying in %.0f s: %s", delay, exc)
            except Exception as exc:
                log.exception("gallery update failed unexpectedly; retrying in %.0f s", delay)
                self._note_error(GallerySyncError("cache", f"unexpected: {exc!r}"))
            with self._lock:
                self._status.state = "retrying"
            self._wake.wait(delay)  # a new command wakes it early
            delay = min(delay * 2, self.retry_max_s)

    def _note_error(self, exc: GallerySyncError) -> None:
        with self._lock:
            self._status.state = "refused" if exc.kind in REFUSALS else "retrying"
            self._status.last_error = str(exc)
            self._status.last_error_kind = exc.kind
