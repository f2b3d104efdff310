"""1:N search: a gallery of enrolled templates held as one normalised float32 matrix.

A subject may have several templates (enrolled at different times); a search ranks subjects by
their best-matching template, so the top k are k different people.

A search is exact but reads little: every row first gets an approximate score with a rigorous
error bound (from an int8 copy of the gallery once it has `int8_from_rows` rows, from a float32
matrix-vector product below that), the bounds rule out every row that cannot reach the top k, and
only the rows left are scored exactly. The exact score of a row is its float64 dot product with
the probe (within 1e-5 of the float32 one): it depends on the row alone, not on where the row sits
or which kernel ran, so equal rows score equally and near-ties come out in the same order every time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from vision.errors import TemplateError
from vision.gallery_int8 import Int8Scorer
from vision.template import Template
from vision.verify import as_array

INT8_FROM_ROWS = 20_000  # below this the float32 product is already fast and the int8 session not worth building
MAX_CANDIDATES = 20_000  # more rows left by the int8 bounds than this: the float32 bounds are tighter, use them
_EXACT_CHUNK = 2048  # rows scored exactly at a time, so the float64 products stay small
_U32 = 2.0**-24  # unit roundoff of float32


def exact_scores(rows: np.ndarray, probe: np.ndarray) -> np.ndarray:
    """Float64 scores of float32 rows against a float32 probe, each depending on its row's values only.

    Products of two float32 numbers are exact in float64 and numpy sums each row pairwise in a fixed
    order, so equal rows score equally wherever they sit; the error is below d·2⁻⁵³·‖p‖₂.
    """
    p = np.asarray(probe, dtype=np.float32).astype(np.float64)
    out = np.empty(rows.shape[0], dtype=np.float64)
    for start in range(0, rows.shape[0], _EXACT_CHUNK):
        chunk = rows[start : start + _EXACT_CHUNK].astype(np.float64)
        out[start : start + _EXACT_CHUNK] = np.sum(chunk * p, axis=1)
    return out


@dataclass(frozen=True)
class Match:
    """A subject and its best score against the probe."""

    subject_id: str
    score: float


class Gallery:
    """Templates of one backend and model, searchable by cosine similarity."""

    def __init__(
        self, backend: str, model_sha256: str, dim: int, *, int8_from_rows: int = INT8_FROM_ROWS, threads: int = 2
    ) -> None:
        """An empty gallery; the int8 copy is used from `int8_from_rows` rows on, with `threads` onnxruntime threads."""
        if int8_from_rows < 0 or threads < 1:
            raise TemplateError(
                f"int8_from_rows = {int8_from_rows}, threads = {threads}; expected int8_from_rows ≥ 0 and threads ≥ 1"
            )
        self.backend = backend
        self.model_sha256 = model_sha256
        self.dim = dim
        self._buffer = np.empty((0, dim), dtype=np.float32)
        self._rows = 0
        self._row_subject: list[str] = []
        self._labels: dict[str, int] = {}  # subject -> label index, in order of first enrolment
        self._label_names: list[str] = []  # label index -> subject
        self._label_of_row = np.empty(0, dtype=np.intp)
        self._int8_from_rows = int8_from_rows
        self._threads = threads
        self._int8: Int8Scorer | None = None  # covers rows [0, its row count); rows added since are scored in float32

    @classmethod
    def from_templates(
        cls, items: Iterable[tuple[str, Template]], *, int8_from_rows: int = INT8_FROM_ROWS, threads: int = 2
    ) -> Gallery:
        """A gallery from (subject_id, template) pairs; all templates must share backend and model."""
        gallery: Gallery | None = None
        for subject_id, template in items:
            if gallery is None:
                gallery = cls(
                    template.backend,
                    template.model_sha256,
                    template.dim,
                    int8_from_rows=int8_from_rows,
                    threads=threads,
                )
            gallery.add(subject_id, template)
        if gallery is None:
            raise TemplateError("cannot build a gallery from no templates: its backend and model would be unknown")
        return gallery

    @classmethod
    def from_matrix(
        cls,
        backend: str,
        model_sha256: str,
        subject_ids: Sequence[str],
        matrix: np.ndarray,
        *,
        int8_from_rows: int = INT8_FROM_ROWS,
        threads: int = 2,
    ) -> Gallery:
        """A gallery from an (N, d) array of embeddings, one row per subject id (rows are normalised)."""
        matrix = np.asarray(matrix, dtype=np.float32)
        if matrix.ndim != 2 or matrix.shape[0] != len(subject_ids):
            raise TemplateError(f"matrix of shape {matrix.shape} for {len(subject_ids)} subject ids; expected (N, d)")
        gallery = cls(backend, model_sha256, matrix.shape[1], int8_from_rows=int8_from_rows, threads=threads)
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
        self._int8 = None  # row numbers moved: the int8 copy is rebuilt at the next search that wants it
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
        vectors = np.stack([as_array(p) for p in probes])
        return self._search(vectors, k, threshold)

    def search_vector(self, probe: np.ndarray, k: int = 5, threshold: float | None = None) -> list[Match]:
        """As `search`, for a unit-length float32 vector already known to come from this gallery's model."""
        if k < 1:
            raise TemplateError(f"k = {k}; expected at least 1")
        if self._rows == 0:
            return []
        return self._search(np.asarray(probe, dtype=np.float32)[np.newaxis], k, threshold)[0]

    def _search(self, probes: np.ndarray, k: int, threshold: float | None) -> list[list[Match]]:
        """Top k per probe of (P, d) probes: bound every row, score exactly only those that may make the top k."""
        norms = np.linalg.norm(probes.astype(np.float64), axis=1)
        # the exact score's own float64 error: at most d·2⁻⁵³·‖v‖₂·‖p‖₂, far below this
        margin = 1e-12 + (self.dim + 2) * 2.0**-52 * norms
        gamma = self._float32_gamma(norms)
        int8 = self._rows >= self._int8_from_rows
        if int8:
            index = self._int8_index()
            approx, p_scale, p_l1 = index.approximate(probes)
            if index.rows < self._rows:  # rows enrolled since the int8 copy was built
                tail = (self._buffer[index.rows : self._rows] @ probes.T).T.astype(np.float64)
                approx = np.concatenate([approx, tail], axis=1)
        else:
            approx = (self.matrix @ probes.T).T.astype(np.float64)
        out = []
        for j in range(probes.shape[0]):
            if int8:

                def bound(rows: np.ndarray, j: int = j) -> np.ndarray:
                    e = np.full(rows.size, gamma[j])
                    built = rows < index.rows
                    e[built] = index.bound(rows[built], p_scale[j], p_l1[j])
                    return e

                worst = max(index.max_bound(p_scale[j], p_l1[j]), gamma[j])
                rows = self._candidates(approx[j], bound, worst + margin[j], margin[j], k, threshold)
            if not int8 or rows.size > MAX_CANDIDATES:
                # below the int8 size, or the int8 bounds too loose here: the float32 product's are tighter
                a32 = (self.matrix @ probes[j]).astype(np.float64) if int8 else approx[j]
                g = float(gamma[j])

                def same_bound(rows: np.ndarray, g: float = g) -> np.ndarray:
                    return np.full(rows.size, g)

                rows = self._candidates(a32, same_bound, g + margin[j], margin[j], k, threshold)
            out.append(self._rank(rows, exact_scores(self.matrix[rows], probes[j]), k, threshold))
        return out

    def _float32_gamma(self, norms: np.ndarray) -> np.ndarray:
        """|fl32(v·p) − v·p| ≤ γ_d·‖v‖₂·‖p‖₂ whatever the summation order, per probe norm."""
        # γ_d = d·u / (1 − d·u); (d + 2)·u covers it and ‖v‖₂ = 1 up to float32 rounding of the normalisation
        return (self.dim + 2) * _U32 * 1.001 * norms

    def _int8_index(self) -> Int8Scorer:
        """The int8 copy, rebuilt when missing or when too many rows were enrolled since it was built."""
        if self._int8 is None or self._rows - self._int8.rows > max(4096, self._int8.rows // 8):
            self._int8 = Int8Scorer(self.matrix, self._threads)
        return self._int8

    def _candidates(
        self,
        approx: np.ndarray,
        bound: Callable[[np.ndarray], np.ndarray],
        worst: float,
        margin: float,
        k: int,
        threshold: float | None,
    ) -> np.ndarray:
        """Rows whose exact score may reach the top k (and the threshold), ascending.

        If k different subjects each have a row whose score is at least `floor`, the k-th best subject
        scores at least `floor`, so a row whose upper bound is below it cannot be the best row of a
        subject in the top k. `worst` bounds every row's error: it first narrows the rows cheaply (those
        with approx below the k-th subject's approx − 2·worst cannot reach the floor), then `bound` gives
        the error of each row left.
        """
        distinct = len(self._labels) == self._rows
        rows = np.arange(self._rows)
        if len(self._labels) > k:
            floor = self._kth_subject_floor(approx, rows, k, distinct)
            rows = np.flatnonzero(approx >= floor - 2 * worst)
        if threshold is not None:
            rows = rows[approx[rows] + worst >= threshold]
        a = approx[rows]
        e = bound(rows) + margin
        floor = self._kth_subject_floor(a - e, rows, k, distinct)
        if threshold is not None:
            floor = max(floor, threshold)
        return rows[a + e >= floor]

    def _kth_subject_floor(self, values: np.ndarray, rows: np.ndarray, k: int, distinct: bool) -> float:
        """The k-th largest, over subjects, of a subject's best value among the given rows; −inf if fewer subjects."""
        n = values.size
        if distinct:
            return float(np.partition(values, n - k)[n - k]) if n >= k else -np.inf
        m = k
        while True:
            m = min(4 * m, n)
            top = np.argpartition(-values, m - 1)[:m] if m < n else np.arange(n)
            top = top[np.argsort(-values[top], kind="stable")]
            _, first = np.unique(self._label_of_row[rows[top]], return_index=True)
            if first.size >= k:
                return float(values[top[np.sort(first)[k - 1]]])
            if m == n:
                return -np.inf

    def _rank(self, rows: np.ndarray, scores: np.ndarray, k: int, threshold: float | None) -> list[Match]:
        """Top k subjects among the given rows and their exact scores."""
        labels = self._label_of_row[rows]
        if threshold is not None:
            keep = scores >= threshold
            labels, scores = labels[keep], scores[keep]
        by_label = np.lexsort((-scores, labels))
        labels, scores = labels[by_label], scores[by_label]
        first = np.ones(labels.size, dtype=bool)
        first[1:] = labels[1:] != labels[:-1]
        labels, scores = labels[first], scores[first]
        # best score first; equal scores in order of enrolment, so results are reproducible
        order = np.lexsort((labels, -scores))[:k]
        return [Match(subject_id=self._label_names[labels[i]], score=float(scores[i])) for i in order]

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
