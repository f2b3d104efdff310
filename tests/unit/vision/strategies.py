"""Every hypothesis strategy of the vision suite: embeddings, templates, galleries, boxes."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from vision.template import Template

backends = st.from_regex(r"[a-z0-9][a-z0-9_.:-]{0,20}", fullmatch=True)
shas = st.binary(min_size=32, max_size=32).map(bytes.hex)
dims = st.sampled_from([1, 2, 3, 8, 128, 512])


@st.composite
def unit_vectors(draw: st.DrawFn, dim: int | None = None) -> np.ndarray:
    """A float32 vector of unit length (never all zeros)."""
    d = draw(dims) if dim is None else dim
    seed = draw(st.integers(0, 2**32 - 1))
    v = np.random.default_rng(seed).standard_normal(d).astype(np.float32)
    return v / np.linalg.norm(v)


@st.composite
def templates(draw: st.DrawFn, backend: str | None = None, sha: str | None = None, dim: int | None = None) -> Template:
    """A valid template."""
    return Template.from_values(
        draw(backends) if backend is None else backend,
        draw(shas) if sha is None else sha,
        draw(unit_vectors(dim)),
    )


@st.composite
def galleries(draw: st.DrawFn) -> tuple[list[str], np.ndarray]:
    """(subject id per row, rows): a few subjects, some with several rows, some rows repeated exactly."""
    dim = draw(st.sampled_from([2, 3, 16]))
    n = draw(st.integers(1, 40))
    subjects = draw(st.lists(st.sampled_from([f"S{i}" for i in range(12)]), min_size=n, max_size=n))
    seed = draw(st.integers(0, 2**32 - 1))
    rows = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    for i in draw(st.lists(st.integers(0, n - 1), max_size=3)):
        rows[i] = rows[0]  # exact duplicates give tied scores
    return subjects, rows / np.linalg.norm(rows, axis=1, keepdims=True)


@st.composite
def boxes_and_scores(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    """Up to 30 boxes (x1, y1, x2, y2) of positive size with distinct scores."""
    n = draw(st.integers(0, 30))
    coords = st.floats(0, 500, allow_nan=False, width=32)
    out = []
    for _ in range(n):
        x, y = draw(coords), draw(coords)
        w, h = draw(st.floats(1, 200, width=32)), draw(st.floats(1, 200, width=32))
        out.append([x, y, x + w, y + h])
    scores = draw(st.lists(st.floats(0, 1, width=32), min_size=n, max_size=n, unique=True))
    return np.asarray(out, dtype=np.float32).reshape(n, 4), np.asarray(scores, dtype=np.float32)


@st.composite
def near_tie_galleries(draw: st.DrawFn) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(subject id per row, rows, probe): duplicate rows, rows a hair apart, and a probe close to some of them."""
    dim = draw(st.sampled_from([1, 2, 3, 16, 64, 512]))
    n = draw(st.integers(1, 60))
    subjects = draw(st.lists(st.sampled_from([f"S{i}" for i in range(20)]), min_size=n, max_size=n))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    rows = rng.standard_normal((n, dim)).astype(np.float32)
    noise = draw(st.sampled_from([0.0, 1e-7, 1e-6, 1e-4, 1e-2]))
    for i in draw(st.lists(st.integers(0, n - 1), max_size=n)):
        # copies of row 0, exact or off by tiny noise: scores tie or nearly tie
        rows[i] = rows[0] + noise * rng.standard_normal(dim).astype(np.float32)
    if draw(st.booleans()):
        rows[:, 1:] *= 1e-3  # one dominant component: a coarse int8 scale for the others
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    probe = rows[draw(st.integers(0, n - 1))] + draw(st.sampled_from([0.0, 1e-6, 1e-3, 1.0])) * rng.standard_normal(
        dim
    ).astype(np.float32)
    if not np.any(probe):
        probe[0] = 1.0
    return subjects, rows, (probe / np.linalg.norm(probe)).astype(np.float32)
