"""The real AS608 packets of ../shared/testdata/protocols/fingerprint_frames.txt, each with its comment."""

from __future__ import annotations

from pathlib import Path

CAPTURE_FILE = (
    Path(__file__).resolve().parents[4].parent / "shared" / "testdata" / "protocols" / "fingerprint_frames.txt"
)


def load(path: Path = CAPTURE_FILE) -> list[tuple[str, bytes]]:
    """(description, frame) pairs: each hex line with the comment line just above it."""
    frames: list[tuple[str, bytes]] = []
    comment = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line.startswith("#"):
            comment = line.lstrip("# ")
        elif line:
            frames.append((comment, bytes.fromhex(line)))
    return frames


FRAMES = load()
