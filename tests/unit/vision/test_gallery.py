"""1:N search (vision/gallery.py, gallery_int8.py): equal to brute force with or without int8, bounds, refusals."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from tests.unit.vision.strategies import galleries, near_tie_galleries, unit_vectors
from vision.errors import TemplateError
from vision.gallery import Gallery, exact_scores
from vision.gallery_int8 import Int8Scorer
from vision.template import Template

SHA = "cd" * 32


def _brute_force(subjects: list[str], rows: np.ndarray, probe: np.ndarray, k: int, threshold: float | None):
    best: dict[str, float] = {}
    for s, row in zip(subjects, rows, strict=True):
        score = float(np.dot(row.astype(np.float64), probe.astype(np.float64)))
        best[s] = max(best.get(s, -np.inf), score)
    ranked = sorted(best.items(), key=lambda kv: -kv[1])
    if threshold is not None:
        ranked = [kv for kv in ranked if kv[1] >= threshold]
    return ranked[:k]


@given(galleries(), st.data(), st.integers(1, 15), st.none() | st.floats(-1, 1))
def test_search_equals_brute_force(gallery_rows, data: st.DataObject, k: int, threshold: float | None) -> None:
    """Top-k subjects and scores match a plain loop over every row (scores to float32 precision)."""
    subjects, rows = gallery_rows
    probe = data.draw(unit_vectors(rows.shape[1]))
    everyone = _brute_force(subjects, rows, probe, len(subjects), None)
    # float32 and float64 may disagree on a score within 1e-5 of the threshold: not what is tested here
    assume(threshold is None or all(abs(score - threshold) > 1e-5 for _, score in everyone))
    got = Gallery.from_matrix("sface", SHA, subjects, rows).search_vector(probe, k, threshold)
    want = _brute_force(subjects, rows, probe, k, threshold)
    assert [m.score for m in got] == pytest.approx([score for _, score in want], abs=1e-5)
    assert len({m.subject_id for m in got}) == len(got)
    ranked = [score for _, score in everyone][: k + 1]
    if all(abs(a - b) > 1e-5 for a, b in itertools.pairwise(ranked)):
        assert [m.subject_id for m in got] == [subject for subject, _ in want]  # without ties the order is fixed


@given(galleries(), st.data())
def test_search_many_equals_one_by_one(gallery_rows, data: st.DataObject) -> None:
    """Searching a batch of probes gives what searching each alone gives."""
    subjects, rows = gallery_rows
    gallery = Gallery.from_matrix("sface", SHA, subjects, rows)
    probes = [Template.from_values("sface", SHA, data.draw(unit_vectors(rows.shape[1]))) for _ in range(3)]
    batch = gallery.search_many(probes, k=4)
    for probe, got in zip(probes, batch, strict=True):
        single = gallery.search(probe, k=4)
        assert [m.score for m in got] == pytest.approx([m.score for m in single], abs=1e-5)
        # matrix-matrix and matrix-vector products round differently: equal scores may swap
        if all(abs(a.score - b.score) > 1e-5 for a, b in itertools.pairwise(single)):
            assert [m.subject_id for m in got] == [m.subject_id for m in single]


def _t(*values: float, backend: str = "sface", sha: str = SHA) -> Template:
    return Template.from_values(backend, sha, values)


def test_subject_ranked_by_best_template() -> None:
    """A subject enrolled twice appears once, with its better score."""
    g = Gallery.from_templates([("A", _t(1, 0)), ("B", _t(0.8, 0.6)), ("A", _t(0, 1))])
    got = g.search(_t(0, 1), k=5)
    assert [(m.subject_id, round(m.score, 4)) for m in got] == [("A", 1.0), ("B", 0.6)]


def test_threshold_drops_weak_matches() -> None:
    """Only subjects scoring at least the threshold come back; none is an empty list."""
    g = Gallery.from_templates([("A", _t(1, 0)), ("B", _t(0, 1))])
    assert [m.subject_id for m in g.search(_t(1, 0.1), k=5, threshold=0.5)] == ["A"]
    assert g.search(_t(-1, -1), k=5, threshold=0.5) == []


def test_equal_scores_come_in_enrolment_order() -> None:
    """Ties are broken by who was enrolled first, so results are reproducible."""
    g = Gallery.from_templates([("B", _t(1, 0)), ("A", _t(1, 0)), ("C", _t(1, 0))])
    assert [m.subject_id for m in g.search(_t(1, 0), k=3)] == ["B", "A", "C"]


def test_remove_drops_every_row_of_a_subject() -> None:
    """remove() takes all of a subject's templates and keeps the others searchable."""
    g = Gallery.from_templates([("A", _t(1, 0)), ("B", _t(0, 1)), ("A", _t(1, 1))])
    assert g.remove("A") == 2
    assert g.remove("A") == 0
    assert len(g) == 1 and g.subjects == ["B"]
    assert [m.subject_id for m in g.search(_t(1, 0), k=5)] == ["B"]


def test_add_grows_one_at_a_time() -> None:
    """Enrolling one template at a time keeps every row."""
    g = Gallery("sface", SHA, 2)
    # directions 0.06 rad apart: (1, i) for large i would be closer than float32 normalisation can tell
    angles = 0.06 * np.arange(100)
    for i in range(100):
        g.add(f"S{i}", _t(np.cos(angles[i]), np.sin(angles[i])))
    assert len(g) == 100 and g.matrix.shape == (100, 2)
    assert g.search(_t(np.cos(angles[99]), np.sin(angles[99])), k=1)[0].subject_id == "S99"


def test_other_backend_is_refused() -> None:
    """A probe or template of another backend or model is refused by name."""
    g = Gallery.from_templates([("A", _t(1, 0))])
    with pytest.raises(TemplateError, match="does not belong in a gallery of 'sface'"):
        g.search(_t(1, 0, backend="fr_feature"))
    with pytest.raises(TemplateError, match="does not belong"):
        g.add("B", _t(1, 0, sha="ef" * 32))
    with pytest.raises(TemplateError, match="dimension 3 in a gallery of dimension 2"):
        g.add("B", _t(1, 0, 0))


def test_empty_gallery_and_bad_k() -> None:
    """An empty gallery finds nobody; k below 1 and a template-less build are refused."""
    assert Gallery("sface", SHA, 2).search(_t(1, 0)) == []
    with pytest.raises(TemplateError, match="k = 0; expected at least 1"):
        Gallery("sface", SHA, 2).search(_t(1, 0), k=0)
    with pytest.raises(TemplateError, match="from no templates"):
        Gallery.from_templates([])


def test_from_matrix_checks_shape_and_rows() -> None:
    """Row count must match the ids; zero or non-finite rows are refused."""
    with pytest.raises(TemplateError, match="for 3 subject ids"):
        Gallery.from_matrix("sface", SHA, ["a", "b", "c"], np.ones((2, 4)))
    with pytest.raises(TemplateError, match="finite and non-zero"):
        Gallery.from_matrix("sface", SHA, ["a"], np.zeros((1, 4)))


def _exact_brute_force(subjects: list[str], rows: np.ndarray, probe: np.ndarray, k: int, threshold: float | None):
    """Every row scored exactly, subjects by best row, ties in order of first enrolment."""
    scores = exact_scores(rows, probe)
    best: dict[str, float] = {}
    for s, score in zip(subjects, scores, strict=True):
        best[s] = max(best.get(s, -np.inf), float(score))
    first = {s: subjects.index(s) for s in best}
    ranked = sorted(best.items(), key=lambda kv: (-kv[1], first[kv[0]]))
    if threshold is not None:
        ranked = [kv for kv in ranked if kv[1] >= threshold]
    return ranked[:k]


@given(near_tie_galleries(), st.integers(1, 8), st.none() | st.floats(-1, 1), st.booleans())
def test_int8_path_equals_brute_force(case, k: int, threshold: float | None, int8: bool) -> None:
    """With int8 forced on or off: same ids, order and scores as scoring every row, near-ties included."""
    subjects, rows, probe = case
    gallery = Gallery.from_matrix("sface", SHA, subjects, rows, int8_from_rows=0 if int8 else 10**9)
    got = gallery.search_vector(probe, k, threshold)
    want = _exact_brute_force(subjects, gallery.matrix, probe, k, threshold)
    assert [(m.subject_id, m.score) for m in got] == want
    float32 = gallery.matrix @ probe  # the plain float32 product agrees to float32 precision
    for m in got:
        rows_of = [i for i, s in enumerate(subjects) if s == m.subject_id]
        assert abs(m.score - float(float32[rows_of].max())) <= 1e-5


@given(near_tie_galleries(), st.data())
def test_int8_path_after_add_and_remove(case, data: st.DataObject) -> None:
    """Rows enrolled after the int8 copy was built, and removals, are searched as if the gallery were new."""
    subjects, rows, probe = case
    split = data.draw(st.integers(1, len(subjects)))
    gallery = Gallery.from_matrix("sface", SHA, subjects[:split], rows[:split], int8_from_rows=0)
    gallery.search_vector(probe)  # builds the int8 copy of the first rows
    for s, row in zip(subjects[split:], rows[split:], strict=True):
        gallery.add(s, Template.from_values("sface", SHA, row))
    ids = list(subjects)
    if data.draw(st.booleans()):
        gone = data.draw(st.sampled_from(sorted(set(subjects))))
        gallery.remove(gone)
        ids = [s for s in subjects if s != gone]
    got = gallery.search_vector(probe, 5)
    # the gallery's own rows: add() normalises a template again, which may move its last bits
    assert [(m.subject_id, m.score) for m in got] == _exact_brute_force(ids, gallery.matrix, probe, 5, None)


@given(near_tie_galleries(), st.data())
def test_int8_search_many_equals_one_by_one(case, data: st.DataObject) -> None:
    """The int8 path gives a batch of probes exactly what it gives each probe alone."""
    subjects, rows, probe = case
    gallery = Gallery.from_matrix("sface", SHA, subjects, rows, int8_from_rows=0)
    probes = [Template.from_values("sface", SHA, probe)]
    probes += [Template.from_values("sface", SHA, data.draw(unit_vectors(rows.shape[1]))) for _ in range(2)]
    assert gallery.search_many(probes, k=3) == [gallery.search(p, k=3) for p in probes]


@given(near_tie_galleries(), st.data())
def test_int8_error_bound_holds(case, data: st.DataObject) -> None:
    """|v·p − approx| never exceeds the bound, for every row, against the float64 product."""
    _, rows, probe = case
    probes = np.stack([probe, data.draw(unit_vectors(rows.shape[1]))])
    scorer = Int8Scorer(rows, threads=1)
    approx, scale, l1 = scorer.approximate(probes)
    exact = probes.astype(np.float64) @ rows.astype(np.float64).T
    all_rows = np.arange(rows.shape[0])
    for j in range(2):
        bound = scorer.bound(all_rows, scale[j], l1[j])
        assert np.all(np.abs(exact[j] - approx[j]) <= bound)
        assert np.all(bound <= scorer.max_bound(scale[j], l1[j]))


def test_int8_knobs_are_checked() -> None:
    """A negative int8 size or no threads is refused by name."""
    with pytest.raises(TemplateError, match="int8_from_rows = -1, threads = 2"):
        Gallery("sface", SHA, 2, int8_from_rows=-1)


@pytest.mark.parametrize("max_candidates", [0, 20_000])
def test_int8_path_on_a_larger_gallery(monkeypatch: pytest.MonkeyPatch, max_candidates: int) -> None:
    """3 000 rows, subjects with several rows, clusters of near-duplicates; also with the float32 fallback forced."""
    monkeypatch.setattr("vision.gallery.MAX_CANDIDATES", max_candidates)
    rng = np.random.default_rng(7)
    rows = rng.standard_normal((3000, 128)).astype(np.float32)
    rows[100:400] = rows[0] + 1e-6 * rng.standard_normal((300, 128)).astype(np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    subjects = [f"S{i % 1200}" for i in range(3000)]
    gallery = Gallery.from_matrix("sface", SHA, subjects, rows, int8_from_rows=0)
    for probe in (rows[0], rows[5], rng.standard_normal(128).astype(np.float32)):
        probe = probe / np.linalg.norm(probe)
        for k, threshold in ((1, None), (5, None), (40, None), (5, 0.2)):
            got = gallery.search_vector(probe, k, threshold)
            assert [(m.subject_id, m.score) for m in got] == _exact_brute_force(
                subjects, gallery.matrix, probe, k, threshold
            )
