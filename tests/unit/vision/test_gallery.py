"""1:N search (vision/gallery.py): equal to brute force, subjects ranked by their best template, threshold, refusals."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from tests.unit.vision.strategies import galleries, unit_vectors
from vision.errors import TemplateError
from vision.gallery import Gallery
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
    for i in range(100):
        g.add(f"S{i}", _t(1, i))
    assert len(g) == 100 and g.matrix.shape == (100, 2)
    assert g.search(_t(1, 99), k=1)[0].subject_id == "S99"


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
