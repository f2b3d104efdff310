"""Real Mandarin speech from ../shared/testdata/audio (16 kHz mono 16-bit WAV, see its README), read in place."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

SPEECH_DIR = Path(__file__).resolve().parents[4].parent / "shared" / "testdata" / "audio"


def speech_files() -> list[Path]:
    """The speech WAVs present, by name (empty when the shared test data is not there)."""
    return sorted(SPEECH_DIR.glob("*.wav")) if SPEECH_DIR.is_dir() else []


def pcm_of(path: Path) -> bytes:
    """A WAV file's frames as stored."""
    with wave.open(str(path), "rb") as wav:
        return wav.readframes(wav.getnframes())


def write_wav(path: Path, samples: np.ndarray, rate: int, channels: int = 1, width: int = 2) -> Path:
    """A PCM WAV file of interleaved samples (already in the sample width's integer type)."""
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(width)
        wav.setframerate(rate)
        wav.writeframes(samples.tobytes())
    return path


@pytest.fixture
def speech() -> list[Path]:
    """Every speech WAV of the shared test data; skips when it is absent."""
    files = speech_files()
    if not files:
        pytest.skip(f"no speech WAVs in {SPEECH_DIR} (the shared test data, read in place, never copied)")
    return files


@pytest.fixture
def utterance(speech: list[Path]) -> Path:
    """One short read-speech utterance, AISHELL-1 "广州市房地产中介协会分析" when present."""
    preferred = [p for p in speech if p.name == "aishell-BAC009S0724W0121.wav"]
    return (preferred or speech)[0]


@pytest.fixture
def short_utterance(speech: list[Path]) -> Path:
    """The shortest speech file (for tests that replay in real time)."""
    return min(speech, key=lambda p: p.stat().st_size)
