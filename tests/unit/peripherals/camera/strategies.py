"""Every hypothesis strategy of the camera suite: sources as text, stream URLs with credentials, tick times."""

from hypothesis import strategies as st

from peripherals.camera.config import URL_SCHEMES, VIDEO_SUFFIXES

device_indexes = st.integers(0, 10_000)
_word = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=12)
hosts = st.one_of(
    st.builds(lambda a, b: f"{a}.{b}", _word, _word),
    st.ip_addresses(v=4).map(str),
)
schemes = st.sampled_from(URL_SCHEMES)
passwords = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!$&'()*+,;=-._~", min_size=6, max_size=20)


@st.composite
def stream_urls(draw: st.DrawFn, with_password: bool = False) -> str:
    """An rtsp/http URL, optionally with user:password@ in it."""
    auth = f"{draw(_word)}:{draw(passwords)}@" if with_password else ""
    port = draw(st.none() | st.integers(1, 65535))
    path = draw(st.lists(_word, max_size=3))
    return f"{draw(schemes)}://{auth}{draw(hosts)}{'' if port is None else f':{port}'}/{'/'.join(path)}"


video_paths = st.builds(lambda stem, suffix: f"clips/{stem}{suffix}", _word, st.sampled_from(sorted(VIDEO_SUFFIXES)))
folder_paths = st.builds(lambda a, b: f"{a}/{b}", _word, _word)

# Increasing tick times: a first time and positive gaps.
gaps = st.lists(st.floats(0.001, 2.0, allow_nan=False), min_size=1, max_size=50)
