"""The WAV-file microphone on real Mandarin speech, and on files in the wrong format."""

from __future__ import annotations

import struct
import time
from pathlib import Path

import numpy as np
import pytest

from peripherals.audio.config import WavMicrophone
from peripherals.audio.errors import AudioFormatError
from peripherals.audio.level import DBFS_FLOOR, measure
from peripherals.audio.pcm import resample
from peripherals.audio.wav import WavSource, load_wav
from tests.integration.peripherals.audio.conftest import pcm_of, write_wav

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def test_every_speech_file_replays_byte_for_byte(speech: list[Path]) -> None:
    """Each real 16 kHz mono file needs no conversion and comes back as the same bytes in 100 ms chunks."""
    for path in speech:
        with WavSource(WavMicrophone(path=path, realtime=False)) as source:
            chunks = list(source.chunks())
            stats = source.stats()
        assert source.conversions == []
        assert b"".join(chunks) == pcm_of(path), path.name
        assert all(len(c) == 3200 for c in chunks[:-1])
        assert 0 < len(chunks[-1]) <= 3200
        assert (stats.state, stats.chunks, stats.dropped) == ("ended", len(chunks), 0)
        assert stats.seconds == pytest.approx(len(pcm_of(path)) / 32000, abs=0.001)


def test_speech_is_louder_than_its_pauses(utterance: Path) -> None:
    """Over an utterance the meter moves: the loudest chunk is well above the quietest, none clip."""
    with WavSource(WavMicrophone(path=utterance, realtime=False)) as source:
        levels = [measure(chunk) for chunk in source.chunks()]
    loud = max(level.dbfs for level in levels)
    quiet = min(level.dbfs for level in levels)
    assert -40 < loud <= 0
    assert loud - quiet > 15
    assert quiet > DBFS_FLOOR
    assert not any(level.clipped for level in levels)


def test_realtime_replay_drops_the_oldest_for_a_reader_that_never_comes(short_utterance: Path) -> None:
    """Paced like a microphone with nobody reading, the buffer keeps the newest second and counts the rest."""
    raw = pcm_of(short_utterance)
    total = -(-len(raw) // 3200)
    with WavSource(WavMicrophone(path=short_utterance, realtime=True, buffer_s=1.0)) as source:
        while source.state == "running":
            source.level()  # what a UI meter does meanwhile
            time.sleep(0.05)
        stats = source.stats()
        kept = list(source.chunks())
    assert (stats.chunks, stats.dropped) == (total, total - 10)
    assert b"".join(kept) == raw[(total - 10) * 3200 :]


def test_loop_plays_the_file_again(utterance: Path) -> None:
    """A looping WAV starts over at its end until stopped."""
    raw = pcm_of(utterance)
    source = WavSource(WavMicrophone(path=utterance, realtime=False, loop=True, chunk_ms=1000)).start()
    received = b""
    while len(received) < 2 * len(raw) + 32000:
        received += source.read(10.0) or b""
    source.stop()
    assert received.startswith(raw)
    assert raw[:32000] in received[len(raw) :]


def test_other_rate_and_stereo_are_converted(tmp_path: Path, utterance: Path) -> None:
    """Real speech taken to 44.1 kHz stereo comes back at 16 kHz mono, nearly the original samples."""
    original = np.frombuffer(pcm_of(utterance), dtype="<i2")
    high = resample(original, 16000, 44100)
    stereo = np.column_stack([high, high]).reshape(-1)
    path = write_wav(tmp_path / "stereo-44k.wav", stereo.astype("<i2"), 44100, channels=2)
    pcm, steps = load_wav(path)
    assert steps == ["mix 2 channels down to mono", "resample 44100 Hz to 16000 Hz"]
    back = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    assert abs(len(back) - len(original)) <= 1
    n = min(len(back), len(original))
    correlation = np.corrcoef(back[:n], original[:n].astype(np.float64))[0, 1]
    assert correlation > 0.99


def test_conversion_can_be_refused(tmp_path: Path) -> None:
    """With convert = false a 44.1 kHz file is refused, the message naming the rate and the fix."""
    path = write_wav(tmp_path / "cd.wav", np.zeros(4410, dtype="<i2"), 44100)
    with pytest.raises(AudioFormatError) as info:
        WavSource(WavMicrophone(path=path, convert=False)).start()
    assert str(info.value) == (
        f"WAV file {path}: 44100 Hz, 1 channel, expected 16000 Hz mono; set convert = true to resample "
        f"44100 Hz to 16000 Hz on reading, or convert the file, e.g. `sox {path} -r 16000 -c 1 out.wav`"
    )


@pytest.mark.parametrize(("width", "dtype"), [(1, np.uint8), (3, np.uint8), (4, "<i4")])
def test_other_sample_widths_are_refused(tmp_path: Path, width: int, dtype: object) -> None:
    """8-, 24- and 32-bit files are refused, naming the width, even when conversion is allowed."""
    samples = np.zeros(1600 * width // np.dtype(dtype).itemsize, dtype=dtype)  # type: ignore[call-overload]
    path = write_wav(tmp_path / f"{width}.wav", samples, 16000, width=width)
    with pytest.raises(AudioFormatError) as info:
        load_wav(path)
    assert str(info.value) == (
        f"WAV file {path}: {8 * width}-bit samples, expected 16-bit PCM; convert it, e.g. `sox {path} -b 16 out.wav`"
    )


def test_float_wav_is_refused(tmp_path: Path) -> None:
    """A 32-bit float WAV (format 3) is not plain PCM, and the message says so."""
    data = struct.pack("<4f", 0.0, 0.5, -0.5, 0.0)
    header = b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVE"
    fmt = b"fmt " + struct.pack("<IHHIIHH", 16, 3, 1, 16000, 64000, 4, 32)
    path = tmp_path / "float.wav"
    path.write_bytes(header + fmt + b"data" + struct.pack("<I", len(data)) + data)
    with pytest.raises(AudioFormatError) as info:
        load_wav(path)
    assert str(info.value) == (
        f"WAV file {path}: not a plain PCM WAV file (unknown format: 3); expected 16-bit PCM, 16000 Hz, mono"
    )


@pytest.mark.parametrize(
    ("make", "ending"),
    [
        (lambda p: p / "absent.wav", "does not exist"),
        (lambda p: p, "is a folder"),
        (lambda p: (p / "cut.wav", (p / "cut.wav").write_bytes(b"RIFF\x24\x00"))[0], "the header is cut short"),
        (
            lambda p: (p / "text.wav", (p / "text.wav").write_text("plain text, not audio at all"))[0],
            "not a plain PCM WAV file",
        ),
    ],
)
def test_unreadable_files_are_named(tmp_path: Path, make: object, ending: str) -> None:
    """A missing file, a folder, a cut header and a non-WAV each get a message naming the file."""
    assert callable(make)
    path = make(tmp_path)
    with pytest.raises(AudioFormatError) as info:
        load_wav(path)
    assert str(info.value).startswith(f"WAV file {path}: {ending}")
