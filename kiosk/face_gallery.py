"""The kiosk's face templates: central's sealed gallery for this kiosk, kept current and cached encrypted.

The fetching is the gallery sync the edge agent uses too (vision/gallery_sync.py), used as it is: the
retained `gallery` command → HTTPS download → sha256 check → open under the key derived from the
device secret → the still-encrypted file cached on disk → atomic swap; at start the cached file is
opened, so a kiosk restarted without central still verifies faces. This module adds what a kiosk
needs on top: 1:1 scores of a live face against one subject's templates, and a refresh on demand
(a subject enrolled a moment ago, whose gallery command has not arrived yet).

1:1 against a subject with several templates (front, left, right) takes the best of them, which is
what `Gallery.search` ranks subjects by; the search is exact, so the score is the same as
`vision.verify.similarity` against the best template.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from contracts import Gallery as GalleryCommand
from vision.config import VisionConfig
from vision.gallery import Gallery
from vision.gallery_sync import (
    Expected,
    FetchSettings,
    GalleryHolder,
    GallerySync,
    GallerySyncError,
    current_offer,
    refresh_url,
)
from vision.runtime import RuntimeConfig
from vision.template import Template
from vision.thresholds import threshold_for

log = logging.getLogger(__name__)


def embedder_identity(vision: VisionConfig) -> tuple[Expected, float]:
    """The embedder the device daemon runs (backend, model sha256, dim) and its same-person threshold.

    The daemon makes the live templates, so gallery templates must come from the same model file. The
    embedder is built once here to learn that identity (its model file is located and sha256-checked).
    """
    embedder = vision.embedder.build(RuntimeConfig(threads=1, warmup=False))
    expected = Expected(embedder.backend, embedder.model_sha256, embedder.dim)
    threshold = vision.threshold
    if threshold is None:
        threshold = threshold_for(embedder.backend, embedder.model_sha256).value
    return expected, threshold


class FaceGallery:
    """The gallery in use, its sync worker, and 1:1 scoring against it."""

    def __init__(
        self,
        *,
        device_id: str,
        secret: str,
        cache_dir: Path,
        expected: Expected,
        central_url: str,
        settings: FetchSettings,
        retry_min_s: float = 2.0,
        retry_max_s: float = 300.0,
    ) -> None:
        self.device_id = device_id
        self.expected = expected
        self.central_url = central_url
        self.settings = settings
        self.holder = GalleryHolder()
        self.sync = GallerySync(
            device_id=device_id,
            secret=secret,
            cache_dir=cache_dir,
            expected=expected,
            holder=self.holder,
            settings=settings,
            central_url=central_url,
            retry_min_s=retry_min_s,
            retry_max_s=retry_max_s,
        )
        self._auth = (device_id, secret)
        self._session = requests.Session()
        self._session.trust_env = False
        self._subjects: tuple[int, frozenset[str]] = (0, frozenset())

    def start(self) -> FaceGallery:
        """Open the cached gallery (if any) and start following central's offers."""
        self.sync.load_cache()
        self.sync.start()
        return self

    def stop(self) -> None:
        """Stop the sync worker."""
        self.sync.stop()
        self._session.close()

    def offer(self, command: Any) -> None:
        """Uplink handler of the `gallery` command."""
        self.sync.offer(command)

    @property
    def version(self) -> int | None:
        """The gallery version in use (None: none yet)."""
        return self.holder.version

    def _current(self) -> Gallery | None:
        return self.holder.get()

    def subjects(self) -> frozenset[str]:
        """Subjects with at least one face template in the gallery in use."""
        gallery = self._current()
        if gallery is None:
            return frozenset()
        key, known = self._subjects
        if key != id(gallery):
            known = frozenset(gallery.subjects)
            self._subjects = (id(gallery), known)
        return known

    def has(self, subject_id: str) -> bool:
        """Whether the subject's face can be verified here now."""
        return subject_id in self.subjects()

    def score(self, subject_id: str, probe: Template) -> float | None:
        """Best cosine similarity of the live face with the subject's templates; None when none is held.

        A probe of another model raises vision's TemplateError (scores of different models are not comparable).
        """
        gallery = self._current()
        if gallery is None or subject_id not in self.subjects():
            return None
        for match in gallery.search(probe, k=len(self.subjects())):
            if match.subject_id == subject_id:
                return match.score
        return None  # pragma: no cover - search ranks every subject when k covers them all

    def refresh_now(self, wait_s: float) -> bool:
        """Ask central for its current gallery and wait up to `wait_s` for it to be in use; True when it is."""
        if wait_s <= 0:
            return False
        url = refresh_url("", self.central_url)
        try:
            offer = current_offer(self._session, url, self._auth, self.settings)
        except GallerySyncError as exc:
            log.warning("gallery refresh: %s", exc)
            return False
        if self.holder.version == offer.version:
            return True
        command = GalleryCommand(
            event_id=uuid.uuid4(),
            device_id=self.device_id,
            device_time=datetime.now(UTC),
            version=offer.version,
            url=offer.url,
            sha256=offer.sha256,
        )
        self.sync.offer(command)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if self.holder.version == offer.version:
                return True
            time.sleep(0.05)
        return False

    def status(self) -> dict[str, Any]:
        """Gallery fields of the status message."""
        return self.sync.status()
