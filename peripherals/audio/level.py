"""Loudness of a chunk of 16-bit PCM, for the kiosk's level meter and a "speak louder" hint."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

FULL_SCALE = 32768.0
DBFS_FLOOR = -96.0
"""Level reported for digital silence: the dynamic range of 16-bit audio (JSON has no -infinity)."""


@dataclass(frozen=True, slots=True)
class Level:
    """RMS and peak of one chunk, relative to full scale."""

    rms: float
    """Root mean square, 0 (silence) to 1 (a full-scale square wave)."""
    peak: float
    """Largest absolute sample, 0 to 1."""
    dbfs: float
    """RMS in dB relative to full scale, from DBFS_FLOOR to 0."""
    clipped: bool
    """A sample hit the largest or smallest 16-bit value: the input gain is too high."""

    def meter(self, floor_db: float = -60.0) -> float:
        """Position of a level bar, 0 at `floor_db` dBFS or below, 1 at 0 dBFS, linear in dB between."""
        if floor_db >= 0:
            raise ValueError(f"floor_db {floor_db}: must be below 0 dBFS")
        return min(1.0, max(0.0, (self.dbfs - floor_db) / -floor_db))


SILENCE = Level(rms=0.0, peak=0.0, dbfs=DBFS_FLOOR, clipped=False)


def measure(pcm: bytes) -> Level:
    """The level of little-endian 16-bit PCM bytes; raises ValueError for a byte count that is not whole samples."""
    if len(pcm) % 2:
        raise ValueError(f"PCM chunk of {len(pcm)} bytes: not a whole number of 16-bit samples")
    if not pcm:
        return SILENCE
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    rms = min(1.0, math.sqrt(float(np.mean(samples * samples))) / FULL_SCALE)
    peak = float(np.max(np.abs(samples))) / FULL_SCALE
    dbfs = max(DBFS_FLOOR, 20 * math.log10(rms)) if rms > 0 else DBFS_FLOOR
    clipped = bool(np.any((samples >= 32767) | (samples <= -32768)))
    return Level(rms=rms, peak=peak, dbfs=min(0.0, dbfs), clipped=clipped)
