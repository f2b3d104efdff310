"""The one PCM format the kiosk records in (16 kHz, mono, 16-bit little-endian) and conversions into it.

16 kHz mono is what the Vosk models expect; a WAV file in another rate or channel count is
converted on reading when configured to, and refused otherwise. Other sample widths are always
refused: they are rare for speech, and guessing their scaling would hide a wrong file.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from peripherals.audio.errors import AudioFormatError

SAMPLE_RATE = 16_000
CHANNELS = 1
SAMPLE_WIDTH = 2
BYTES_PER_SECOND = SAMPLE_RATE * CHANNELS * SAMPLE_WIDTH
FORMAT_TEXT = "16-bit PCM, 16000 Hz, mono"

Samples = npt.NDArray[np.int16]
# Resampling is band-limited interpolation with a Kaiser-windowed sinc kernel (the method of
# libsamplerate's and resampy's sinc converters): flat to 95 % of the lower Nyquist frequency, so
# speech keeps its consonants, and about -80 dB beyond it, so nothing folds back when going down.
_ROLLOFF = 0.95
_ZERO_CROSSINGS = 16
_KAISER_BETA = 8.6
_BLOCK = 8192  # output samples computed at once: bounds the memory of the kernel matrix


def chunk_bytes(chunk_ms: int) -> int:
    """Bytes in one chunk of `chunk_ms` milliseconds of 16 kHz mono 16-bit audio."""
    if chunk_ms <= 0:
        raise ValueError(f"chunk_ms {chunk_ms}: must be more than 0")
    return SAMPLE_RATE * chunk_ms // 1000 * SAMPLE_WIDTH * CHANNELS


def plan_conversion(name: str, rate: int, sample_width: int, channels: int, *, convert: bool) -> list[str]:
    """The steps that bring a WAV file to 16 kHz mono 16-bit; raises AudioFormatError when it is refused.

    `name` is the file as it should appear in the message. An empty list means the file is
    already in the right format.
    """
    if sample_width != SAMPLE_WIDTH:
        raise AudioFormatError(
            f"WAV file {name}: {8 * sample_width}-bit samples, expected 16-bit PCM; "
            f"convert it, e.g. `sox {name} -b 16 out.wav`"
        )
    if channels < 1 or rate < 1:
        raise AudioFormatError(f"WAV file {name}: header says {channels} channels at {rate} Hz, expected {FORMAT_TEXT}")
    steps = []
    if channels != CHANNELS:
        steps.append(f"mix {channels} channels down to mono")
    if rate != SAMPLE_RATE:
        steps.append(f"resample {rate} Hz to {SAMPLE_RATE} Hz")
    if steps and not convert:
        raise AudioFormatError(
            f"WAV file {name}: {rate} Hz, {channels} channel{'s' if channels > 1 else ''}, expected {SAMPLE_RATE} Hz "
            f"mono; set convert = true to {' and '.join(steps)} on reading, or convert the file, "
            f"e.g. `sox {name} -r {SAMPLE_RATE} -c 1 out.wav`"
        )
    return steps


def to_mono(interleaved: Samples, channels: int) -> Samples:
    """Average interleaved channels into one; trailing samples that do not fill a frame are dropped."""
    if channels == 1:
        return interleaved.copy()
    frames = len(interleaved) // channels
    mixed = interleaved[: frames * channels].reshape(frames, channels).astype(np.int32).mean(axis=1)
    return np.asarray(np.round(mixed), dtype=np.int16)


def resample(samples: Samples, src_rate: int, dst_rate: int) -> Samples:
    """Change the sample rate by band-limited interpolation; going down, what the new rate cannot hold is removed.

    The result holds `len(samples) * dst_rate // src_rate` samples.
    """
    if src_rate <= 0 or dst_rate <= 0:
        raise ValueError(f"sample rates must be more than 0, got {src_rate} and {dst_rate}")
    if src_rate == dst_rate or len(samples) == 0:
        return samples.copy()
    signal = samples.astype(np.float64)
    count = len(samples) * dst_rate // src_rate
    # Output sample k sits at input position k * step / phases: only `phases` distinct fractional
    # offsets exist, so the kernel is computed once per offset (a polyphase filter bank).
    common = math.gcd(src_rate, dst_rate)
    step, phases = src_rate // common, dst_rate // common
    band = min(1.0, dst_rate / src_rate) * _ROLLOFF  # pass band, as a fraction of the input's Nyquist frequency
    half_width = _ZERO_CROSSINGS / band  # kernel half-width, in input samples
    reach = math.ceil(half_width)
    offsets = np.arange(-reach, reach + 1)
    used = np.unique(np.arange(min(count, phases), dtype=np.int64) * step % phases)
    bank = np.zeros((phases, len(offsets)), dtype=np.float64)
    distance = used[:, None] / phases - offsets[None, :]
    bank[used] = band * np.sinc(band * distance) * _kaiser(distance / half_width)
    out = np.empty(count, dtype=np.float64)
    for first in range(0, count, _BLOCK):
        position = np.arange(first, min(first + _BLOCK, count), dtype=np.int64) * step
        index = (position // phases)[:, None] + offsets[None, :]
        inside = (index >= 0) & (index < len(signal))
        values = np.where(inside, signal[np.clip(index, 0, len(signal) - 1)], 0.0)
        out[first : first + len(position)] = np.einsum("ij,ij->i", values, bank[position % phases])
    return np.clip(np.round(out), -32768, 32767).astype(np.int16)


def _kaiser(position: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    # the Kaiser window evaluated anywhere in [-1, 1], 0 outside
    inside = np.clip(1.0 - position * position, 0.0, None)
    window = np.i0(_KAISER_BETA * np.sqrt(inside)) / np.i0(_KAISER_BETA)
    return np.asarray(np.where(np.abs(position) <= 1.0, window, 0.0), dtype=np.float64)
