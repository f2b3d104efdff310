"""1:1 verification: is this probe the person of that template?"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vision.template import Template, check_comparable


@dataclass(frozen=True)
class Verification:
    """Score (cosine similarity, −1..1), the threshold applied and the decision."""

    score: float
    threshold: float
    same_person: bool

    def as_dict(self) -> dict[str, float | bool]:
        """JSON-ready form."""
        return {"score": round(self.score, 4), "threshold": self.threshold, "same_person": self.same_person}


def as_array(template: Template) -> np.ndarray:
    """A template's embedding as a float32 array."""
    return np.frombuffer(template.vector, dtype="<f4").astype(np.float32)


def similarity(a: Template, b: Template) -> float:
    """Cosine similarity of two templates of the same backend and model (TemplateError otherwise)."""
    check_comparable(a, b)
    return float(np.dot(as_array(a), as_array(b)))


def verify(probe: Template, reference: Template, threshold: float) -> Verification:
    """Compare a probe with an enrolled template; same person when the score reaches the threshold."""
    score = similarity(probe, reference)
    return Verification(score=score, threshold=threshold, same_person=score >= threshold)
