"""Sightings against the clip's ground truth: recall, false identifications, duplicates."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from contracts import Sighting
from tests.integration.edge_agent.clip import Passage


@dataclass(frozen=True)
class Score:
    """How the sightings compare with the passages."""

    passages: int  # passages of enrolled subjects
    found: int  # of those, reported with the right subject
    duplicates: int  # extra sightings of a subject for a passage already reported
    false_identifications: int  # sightings naming someone not in view at that time
    unknown_reported: bool  # the unknown person's passage gave an unknown sighting
    sightings: int

    @property
    def recall(self) -> float:
        """Found / passages."""
        return self.found / self.passages if self.passages else 1.0


def _overlaps(s: Sighting, p: Passage, start: datetime, fps: float) -> bool:
    first = start + timedelta(seconds=p.first_frame / fps)
    last = start + timedelta(seconds=p.last_frame / fps)
    return s.first_seen <= last and s.last_seen >= first


def score(sightings: list[Sighting], truth: list[Passage], start: datetime, fps: float) -> Score:
    """Match each sighting to a passage in view at the same time, of the same subject."""
    hits: dict[int, int] = {}
    false_ids = 0
    unknown = False
    for s in sightings:
        if s.subject_id is None:
            unknown = unknown or any(p.subject_id is None and _overlaps(s, p, start, fps) for p in truth)
            continue
        match = [i for i, p in enumerate(truth) if p.subject_id == s.subject_id and _overlaps(s, p, start, fps)]
        if not match:
            false_ids += 1
            continue
        hits[match[0]] = hits.get(match[0], 0) + 1
    enrolled = [i for i, p in enumerate(truth) if p.subject_id is not None]
    return Score(
        passages=len(enrolled),
        found=sum(1 for i in enrolled if hits.get(i)),
        duplicates=sum(n - 1 for n in hits.values()),
        false_identifications=false_ids,
        unknown_reported=unknown,
        sightings=len(sightings),
    )
