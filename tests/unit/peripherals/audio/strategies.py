"""Every hypothesis strategy of the audio suite: PCM chunks, WAV header values, device lists."""

import numpy as np
from hypothesis import strategies as st

from peripherals.audio.driver import AudioDevice

samples = st.lists(st.integers(-32768, 32767), max_size=400)
pcm_chunks = samples.map(lambda values: np.array(values, dtype="<i2").tobytes())
rates = st.sampled_from([8000, 11025, 16000, 22050, 32000, 44100, 48000, 96000]) | st.integers(1000, 200_000)
sample_widths = st.integers(1, 4)
channel_counts = st.integers(1, 8)

devices = st.builds(
    AudioDevice,
    index=st.integers(0, 30),
    name=st.text("abcdefghij USB", min_size=1, max_size=12),
    host_api=st.sampled_from(["ALSA", "OSS", "JACK"]),
    input_channels=st.integers(0, 4),
    default_rate=st.sampled_from([16000.0, 44100.0, 48000.0]),
)
device_lists = st.lists(devices, max_size=8, unique_by=lambda d: d.index)
