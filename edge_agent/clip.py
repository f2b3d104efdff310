"""A synthetic camera clip built from ../shared/testdata photos, with its ground truth (tests, bench, demo).

Real photos of celeb5 people (their `val` photos; the gallery is enrolled from their `train`
photos) are pasted onto a heavily blurred face_api_demo group photo and moved across it:
entering and leaving at the edges, two people in view at once, one person who is not enrolled,
and one who stays in view for a long time. Accuracy figures from it are smoke tests, not a
benchmark of the models (see ../shared/testdata/README.md).

Who the enrolled people are is a `cast`: celeb5 person → subject id. The tests use
`S-<person>`; the demo maps them onto its seeded subjects (`demo.edge`). Their gallery is
enrolled from each person's `train` photos (`enrolment_photos`), never from the `val` photos the
clip shows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vision.models import REPO_ROOT
from vision.pipeline import FacePipeline, QualityRefused
from vision.template import Template

WIDTH, HEIGHT = 640, 480
ENROLLED = ("ben_afflek", "elton_john", "jerry_seinfeld", "madonna")
UNKNOWN = "mindy_kaling"
FACES_DIR = REPO_ROOT.parent / "shared" / "testdata" / "faces"


@dataclass(frozen=True)
class Passage:
    """One person crossing the picture: who (None: not enrolled), which photo, and where in which frames."""

    person: str
    subject_id: str | None
    photo: str
    first_frame: int
    last_frame: int
    start: tuple[float, float]  # face centre at first_frame, pixels
    end: tuple[float, float]  # face centre at last_frame
    height: int = 220  # the photo's height in the picture, pixels


def subject_id(person: str) -> str:
    """The subject id a celeb5 person is enrolled under."""
    return f"S-{person}"


def enrolment_photos(faces_dir: Path, person: str) -> list[Path]:
    """A person's celeb5 `train` photos, in name order (the clip shows only `val` photos)."""
    return sorted((faces_dir / "celeb5" / person).glob("*_train_*.jpg"))


def passages(cast: Mapping[str, str] | None = None) -> list[Passage]:
    """The script of the clip: 7 passages, 6 of enrolled subjects, one unknown person.

    `cast` maps each of ENROLLED to its subject id (default `S-<person>`).
    """
    p = Passage
    ben, elton, jerry, madonna = ((cast or {}).get(n) or subject_id(n) for n in ENROLLED)
    return [
        p("ben_afflek", ben, "ben_afflek_val_01.jpg", 0, 39, (-40, 200), (680, 220)),
        # two at once, in two lanes, walking the opposite ways
        p("elton_john", elton, "elton_john_val_01.jpg", 50, 95, (-40, 130), (680, 150)),
        p("jerry_seinfeld", jerry, "jerry_seinfeld_val_01.jpg", 55, 100, (680, 350), (-40, 340)),
        p(UNKNOWN, None, "mindy_kaling_val_01.jpg", 110, 150, (-40, 240), (680, 240)),
        # stays in view for 10 s at 10 fps, barely moving
        p("madonna", madonna, "madonna_val_01.jpg", 160, 260, (320, 240), (340, 250), 260),
        p("ben_afflek", ben, "ben_afflek_val_02.jpg", 270, 310, (680, 250), (-40, 230)),
        p("elton_john", elton, "elton_john_val_05.jpg", 315, 350, (320, -60), (320, 540)),
    ]


FRAMES = 360


def background(faces_dir: Path) -> np.ndarray:
    """A face_api_demo group photo, blurred until no face is left in it, at 640x480."""
    path = faces_dir / "face_api_demo" / "sample2.jpg"
    image = cv2.imread(str(path))
    if image is None:
        raise FileNotFoundError(f"clip background {path} cannot be read")
    image = cv2.resize(image, (WIDTH, HEIGHT), interpolation=cv2.INTER_AREA)
    return cv2.GaussianBlur(image, (0, 0), 25)


def sprite(faces_dir: Path, person: str, photo: str, height: int) -> np.ndarray:
    """The person's photo scaled to `height` pixels (celeb5 photos are tight face crops)."""
    path = faces_dir / "celeb5" / person / photo
    image = cv2.imread(str(path))
    if image is None:
        raise FileNotFoundError(f"clip photo {path} cannot be read")
    scale = height / image.shape[0]
    return cv2.resize(image, (max(1, round(image.shape[1] * scale)), height), interpolation=cv2.INTER_LINEAR)


def paste(canvas: np.ndarray, image: np.ndarray, centre: tuple[float, float]) -> None:
    """Paste `image` centred at `centre`, clipped at the canvas edges."""
    h, w = image.shape[:2]
    x0, y0 = round(centre[0] - w / 2), round(centre[1] - h / 2)
    cx0, cy0 = max(x0, 0), max(y0, 0)
    cx1, cy1 = min(x0 + w, canvas.shape[1]), min(y0 + h, canvas.shape[0])
    if cx1 <= cx0 or cy1 <= cy0:
        return
    canvas[cy0:cy1, cx0:cx1] = image[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]


def centre_at(passage: Passage, frame: int) -> tuple[float, float]:
    """Where the passage's face is at `frame` (linear walk)."""
    t = (frame - passage.first_frame) / max(passage.last_frame - passage.first_frame, 1)
    return (
        passage.start[0] + t * (passage.end[0] - passage.start[0]),
        passage.start[1] + t * (passage.end[1] - passage.start[1]),
    )


def render(faces_dir: Path, out_dir: Path, cast: Mapping[str, str] | None = None) -> list[Passage]:
    """Write the clip as numbered PNG frames in `out_dir`; return its ground truth."""
    out_dir.mkdir(parents=True, exist_ok=True)
    script = passages(cast)
    base = background(faces_dir)
    sprites = {p.photo: sprite(faces_dir, p.person, p.photo, p.height) for p in script}
    for frame in range(FRAMES):
        canvas = base.copy()
        for p in script:
            if p.first_frame <= frame <= p.last_frame:
                paste(canvas, sprites[p.photo], centre_at(p, frame))
        cv2.imwrite(str(out_dir / f"{frame:05d}.png"), canvas, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    return script


def enrolment_image(path: Path) -> np.ndarray:
    """celeb5 photos are small: scaled to 360 px high, as an enrolment desk's camera would give."""
    image = cv2.imread(str(path))
    if image is None:
        raise FileNotFoundError(f"enrolment photo {path} cannot be read")
    scale = max(1.0, 360 / image.shape[0])
    return cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)


def enrol_cast(
    pipeline: FacePipeline,
    faces_dir: Path,
    cast: Mapping[str, str] | None = None,
    per_subject: int = 6,
    persons: Sequence[str] = ENROLLED,
) -> list[tuple[str, Template]]:
    """(subject id, template) from the first `per_subject` `train` photos of each of `persons` that pass the gate.

    Raises ValueError when a person has fewer than 3 usable photos (or `per_subject` when it is smaller).
    """
    items: list[tuple[str, Template]] = []
    for person in persons:
        sid = (cast or {}).get(person) or subject_id(person)
        taken = 0
        for path in enrolment_photos(faces_dir, person):
            if taken == per_subject:
                break
            try:
                items.append((sid, pipeline.enrol(enrolment_image(path))))
                taken += 1
            except QualityRefused:
                continue
        if taken < min(3, per_subject):
            raise ValueError(f"{person}: only {taken} enrolment photos pass the quality gate")
    return items
