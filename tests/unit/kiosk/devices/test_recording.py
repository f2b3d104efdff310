"""Recordings on disk: complete WAV files under their final name only, sha256 of the whole file, a bounded store."""

from __future__ import annotations

import hashlib
import stat
import wave
from pathlib import Path

from kiosk.devices.recording import RecordingStore, WavWriter, sha256_of


def pcm(samples: int, value: int = 1000) -> bytes:
    return value.to_bytes(2, "little", signed=True) * samples


def test_a_finished_recording_is_a_16khz_mono_wav_with_its_digest(tmp_path: Path) -> None:
    writer = WavWriter(tmp_path / "rec", "r1")
    assert not writer.path.exists()  # only the .part file exists while recording
    writer.append(pcm(8000))
    writer.append(pcm(8000, -5))
    assert writer.seconds == 1.0
    done = writer.finish("command")
    assert done.path == tmp_path / "rec" / "r1.wav"
    assert not list((tmp_path / "rec").glob(".*.part"))
    with wave.open(str(done.path), "rb") as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth(), wav.getnframes()) == (16000, 1, 2, 16000)
        assert wav.readframes(16000) == pcm(8000) + pcm(8000, -5)
    data = done.path.read_bytes()
    assert done.sha256 == hashlib.sha256(data).hexdigest() == sha256_of(done.path)
    assert (done.size, done.duration_s, done.stopped_by, done.error) == (len(data), 1.0, "command", None)
    assert stat.S_IMODE(done.path.stat().st_mode) == 0o600


def test_a_discarded_recording_leaves_nothing(tmp_path: Path) -> None:
    writer = WavWriter(tmp_path, "r2")
    writer.append(pcm(10))
    writer.discard()
    assert list(tmp_path.iterdir()) == []


def test_the_store_keeps_the_newest_and_deletes_older_files(tmp_path: Path) -> None:
    store = RecordingStore(tmp_path, keep=2)
    made = []
    for name in ("a", "b", "c"):
        writer = WavWriter(tmp_path, name)
        writer.append(pcm(16))
        made.append(writer.finish("source_ended"))
        store.add(made[-1])
    assert store.count() == 2
    assert store.get(None) == made[2]
    assert store.get("b") == made[1]
    assert store.get("a") is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.wav", "c.wav"]


def test_files_of_an_earlier_run_are_taken_back_and_a_cut_short_one_is_finished(tmp_path: Path) -> None:
    done = WavWriter(tmp_path, "old")
    done.append(pcm(1600))
    finished = done.finish("command")
    crashed = WavWriter(tmp_path, "crashed")
    crashed.append(pcm(3200, 7))
    # the process dies here: the header's sizes are never written

    store = RecordingStore(tmp_path, keep=5)
    old = store.get("old")
    assert old is not None and (old.sha256, old.duration_s, old.stopped_by) == (finished.sha256, 0.1, "recovered")
    cut = store.get("crashed")
    assert cut is not None and cut.stopped_by == "source_failed" and cut.duration_s == 0.2
    assert cut.error is not None and "stopped during the recording" in cut.error
    with wave.open(str(cut.path), "rb") as wav:
        assert wav.readframes(wav.getnframes()) == pcm(3200, 7)
    assert not list(tmp_path.glob(".*.part"))
    assert stat.S_IMODE(cut.path.stat().st_mode) == 0o600
