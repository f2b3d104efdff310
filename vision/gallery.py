"""1:N search: a gallery of enrolled templates held as one normalised float32 matrix.

A subject may have several templates (enrolled at different times); a search ranks subjects by
their best-matching template, so the top k are k different people.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from vision.errors import TemplateError
from vision.template import Template
from vision.verify import as_array


@dataclass(frozen=True)
class Match:
    """A subject and its best score against the probe."""

    subject_id: str
    score: float


class Gallery:
    """Templates of one backend and model, searchable by cosine similarity."""

    def __init__(self, backend: str, model_sha256: str, dim: int) -> None:
        self.backend = backend
        self.model_sha256 = model_sha256
        self.dim = dim
        self._buffer = np.empty((0, dim), dtype=np.float32)
        self._rows = 0
        self._row_subject: list[str] = []
        self._labels: dict[str, int] = {}  # subject -> label index, in order of first enrolment
        self._label_names: list[str] = []  # label index -> subject
        self._label_of_row = np.empty(0, dtype=np.intp)

    @classmethod
    def from_templates(cls, items: Iterable[tuple[str, Template]]) -> Gallery:
        """A gallery from (subject_id, template) pairs; all templates must share backend and model."""
        gallery: Gallery | None = None
        for subject_id, template in items:
            if gallery is None:
                gallery = cls(template.backend, template.model_sha256, template.dim)
            gallery.add(subject_id, template)
        if gallery is None:
            raise TemplateError("cannot build a gallery from no templates: its backend and model would be unknown")
        return gallery

    @classmethod
    def from_matrix(cls, backend: str, model_sha256: str, subject_ids: Sequence[str], matrix: np.ndarray) -> Gallery:
        """A gallery from an (N, d) array of embeddings, one row per subject id (rows are normalised)."""
        matrix = np.asarray(matrix, dtype=np.float32)
        if matrix.ndim != 2 or matrix.shape[0] != len(subject_ids):
            raise TemplateError(f"matrix of shape {matrix.shape} for {len(subject_ids)} subject ids; expected (N, d)")
        gallery = cls(backend, model_sha256, matrix.shape[1])
        gallery._append(list(subject_ids), matrix)
        return gallery

    def __len__(self) -> int:
        """Number of templates (rows)."""
        return self._rows

    @property
    def subjects(self) -> list[str]:
        """Enrolled subject ids, in order of first enrolment."""
        return list(self._label_names)

    @property
    def matrix(self) -> np.ndarray:
        """The (N, d) matrix of unit-length rows (a view; do not modify)."""
        return self._buffer[: self._rows]

    def add(self, subject_id: str, template: Template) -> None:
        """Enrol one more template for a subject."""
        self._check(template)
        self._append([subject_id], as_array(template)[np.newaxis])

    def remove(self, subject_id: str) -> int:
        """Drop every template of a subject; returns how many rows went."""
        if subject_id not in self._labels:
            return 0
        keep = [i for i, s in enumerate(self._row_subject) if s != subject_id]
        kept_ids = [self._row_subject[i] for i in keep]
        kept_rows = self._buffer[keep].copy()
        removed = self._rows - len(keep)
        self._buffer = np.empty((0, self.dim), dtype=np.float32)
        self._rows = 0
        self._row_subject = []
        self._labels = {}
        self._label_names = []
        self._label_of_row = np.empty(0, dtype=np.intp)
        self._append(kept_ids, kept_rows)
        return removed

    def search(self, probe: Template, k: int = 5, threshold: float | None = None) -> list[Match]:
        """The k best subjects for a probe, best first; only those scoring at least `threshold` when given."""
        self._check(probe)
        return self.search_vector(as_array(probe), k, threshold)

    def search_many(self, probes: Sequence[Template], k: int = 5, threshold: float | None = None) -> list[list[Match]]:
        """`search` for several probes at once (all faces of a camera frame): the matrix is read once for all."""
        for probe in probes:
            self._check(probe)
        if not probes:
            return []
        if k < 1:
            raise TemplateError(f"k = {k}; expected at least 1")
        if self._rows == 0:
            return [[] for _ in probes]
        vectors = np.stack([as_array(p) for p in probes], axis=1)
        scores = self.matrix @ vectors
        return [self._rank(scores[:, j], k, threshold) for j in range(len(probes))]

    def search_vector(self, probe: np.ndarray, k: int = 5, threshold: float | None = None) -> list[Match]:
        """As `search`, for a unit-length float32 vector already known to come from this gallery's model."""
        if k < 1:
            raise TemplateError(f"k = {k}; expected at least 1")
        if self._rows == 0:
            return []
        return self._rank(self.matrix @ np.asarray(probe, dtype=np.float32), k, threshold)

    def _rank(self, scores: np.ndarray, k: int, threshold: float | None) -> list[Match]:
        if len(self._labels) == self._rows:
            # one row per subject: rows are subjects, label order is row order
            best = scores
        else:
            best = np.full(len(self._labels), -np.inf, dtype=np.float32)
            np.maximum.at(best, self._label_of_row, scores)
        candidates = np.arange(best.shape[0]) if threshold is None else np.flatnonzero(best >= threshold)
        if candidates.size > k:
            part = np.argpartition(-best[candidates], k - 1)[:k]
            candidates = candidates[part]
        # best score first; equal scores in order of enrolment, so results are reproducible
        order = np.lexsort((candidates, -best[candidates]))
        return [Match(subject_id=self._label_names[i], score=float(best[i])) for i in candidates[order]]

    def _check(self, template: Template) -> None:
        if template.backend != self.backend or template.model_sha256 != self.model_sha256:
            raise TemplateError(
                f"template made by '{template.backend}' (model {template.model_sha256[:12]}…) does not belong in a "
                f"gallery of '{self.backend}' (model {self.model_sha256[:12]}…): scores of different models are "
                "not comparable"
            )
        if template.dim != self.dim:
            raise TemplateError(f"template of dimension {template.dim} in a gallery of dimension {self.dim}")

    def _append(self, subject_ids: list[str], rows: np.ndarray) -> None:
        if rows.shape[1] != self.dim:
            raise TemplateError(f"rows of dimension {rows.shape[1]} in a gallery of dimension {self.dim}")
        norms = np.linalg.norm(rows, axis=1, keepdims=True)
        if not np.all(np.isfinite(norms)) or np.any(norms < 1e-12):
            raise TemplateError("gallery rows must be finite and non-zero")
        rows = rows / norms
        needed = self._rows + len(subject_ids)
        if needed > self._buffer.shape[0]:
            # grow geometrically so enrolling one template at a time stays linear overall
            grown = np.empty((max(needed, 2 * self._buffer.shape[0], 16), self.dim), dtype=np.float32)
            grown[: self._rows] = self._buffer[: self._rows]
            self._buffer = grown
        self._buffer[self._rows : needed] = rows
        self._rows = needed
        labels = []
        for s in subject_ids:
            if s not in self._labels:
                self._labels[s] = len(self._labels)
                self._label_names.append(s)
            labels.append(self._labels[s])
        self._row_subject.extend(subject_ids)
        self._label_of_row = np.concatenate([self._label_of_row, np.asarray(labels, dtype=np.intp)])
