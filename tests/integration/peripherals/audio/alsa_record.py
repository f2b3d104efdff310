"""Records through PyAudioSource and reports as JSON; run by test_driver.py in a child process.

The child's HOME holds an .asoundrc whose default PCM is ALSA's `file` plugin reading a raw
speech file as capture input, so PortAudio, ALSA and the callback path run for real on a
machine without a sound card. ALSA reads its configuration once per process, hence the child.

    python -m tests.integration.peripherals.audio.alsa_record OUT.raw CHUNKS
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from peripherals.audio import AudioDeviceError, PyAudioMicrophone, PyAudioSource


def main(out: Path, count: int) -> dict[str, object]:
    """Record `count` chunks into `out`, then let a small buffer overflow; return what happened."""
    # The file device is not paced by any clock: it delivers as fast as PortAudio asks. A large
    # buffer keeps the first chunks until this process has read them.
    source = PyAudioSource(PyAudioMicrophone(buffer_s=600))
    try:
        source.start()
    except AudioDeviceError as exc:
        return {"ok": False, "error": str(exc)}
    chunks = [source.read(10.0) or b"" for _ in range(count)]
    level = source.level()
    source.stop()
    out.write_bytes(b"".join(chunks))

    small = PyAudioSource(PyAudioMicrophone(buffer_s=0.5)).start()
    deadline = time.monotonic() + 10
    while small.stats().dropped == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    small_stats = small.stats()
    small.stop()
    return {
        "ok": True,
        "device": source.description,
        "chunk_sizes": sorted({len(c) for c in chunks}),
        "level_dbfs": level.dbfs,
        "small_buffer": {"max_chunks": small.max_chunks, "dropped": small_stats.dropped, "state": small_stats.state},
    }


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]), int(sys.argv[2]))))
