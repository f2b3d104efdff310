"""The synthetic camera clip and its ground truth: built by `edge_agent.clip` (shared with bench/ and demo/)."""

from edge_agent.clip import (
    ENROLLED,
    FACES_DIR,
    FRAMES,
    HEIGHT,
    UNKNOWN,
    WIDTH,
    Passage,
    enrolment_photos,
    passages,
    render,
    subject_id,
)

__all__ = [
    "ENROLLED",
    "FACES_DIR",
    "FRAMES",
    "HEIGHT",
    "UNKNOWN",
    "WIDTH",
    "Passage",
    "enrolment_photos",
    "passages",
    "render",
    "subject_id",
]
