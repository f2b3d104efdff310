"""Hypothesis strategies for the device daemon's wire messages."""

from __future__ import annotations

from datetime import date
from typing import Any

from hypothesis import strategies as st

from kiosk.devices.protocol import DRIVERS, ERROR_CODES
from vision.template import Template

finite = st.floats(allow_nan=False, allow_infinity=False, width=32)
request_ids = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-", min_size=1, max_size=64
)
small_bytes = st.binary(min_size=1, max_size=600)
text = st.text(max_size=40)


@st.composite
def face_templates(draw: st.DrawFn) -> bytes:
    """A plain vision template of a random unit vector."""
    dim = draw(st.integers(min_value=1, max_value=16))
    values = draw(st.lists(st.floats(min_value=-1, max_value=1, allow_nan=False), min_size=dim, max_size=dim))
    if not any(abs(v) > 1e-3 for v in values):
        values[0] = 1.0
    return Template.from_values("sface", "ab" * 32, values).to_bytes()


def command_args() -> st.SearchStrategy[tuple[str, dict[str, Any]]]:
    """(command, args) pairs that are valid."""
    seconds = st.floats(min_value=0.1, max_value=60, allow_nan=False)
    pages = st.integers(min_value=0, max_value=65535)
    return st.one_of(
        st.just(("status", {})),
        st.builds(lambda w, p: ("read_card", {"wait_s": w, "include_photo": p}), st.floats(0, 300), st.booleans()),
        st.builds(
            lambda t, f, r, p, c: (
                "capture_face",
                {"timeout_s": t, "frames": f, "reference": r, "reference_photo": p, "include_crop": c},
            ),
            seconds,
            st.integers(1, 30),
            st.none() | face_templates(),
            st.none() | small_bytes,
            st.booleans(),
        ),
        st.builds(lambda p, t: ("enrol_finger", {"page": p, "timeout_s": t}), st.none() | pages, seconds),
        st.builds(
            lambda which, t, tpl, page: (
                "verify_finger",
                {"template": tpl, "timeout_s": t} if which else {"page": page, "timeout_s": t},
            ),
            st.booleans(),
            seconds,
            small_bytes,
            pages,
        ),
        st.builds(lambda m: ("start_recording", {"max_s": m}), st.floats(0.5, 3600)),
        st.builds(
            lambda r, a: ("stop_recording", {"recording_id": r, "include_audio": a}),
            st.none() | request_ids,
            st.booleans(),
        ),
    )


card_fields = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(["resident_id", "residence_permit"]),
        "name": text,
        "sex": st.sampled_from(["男", "女"]),
        "sex_code": st.sampled_from(["1", "2"]),
        "nation": st.none() | st.just("汉"),
        "nation_code": st.none() | st.just("01"),
        "birth_date": st.dates(min_value=date(1900, 1, 1)).map(date.isoformat),
        "address": text,
        "id_number": st.text(alphabet="0123456789X", min_size=18, max_size=18),
        "id_number_valid": st.booleans(),
        "id_number_problem": st.none() | text,
        "issuing_authority": text,
        "valid_from": st.dates().map(date.isoformat),
        "valid_until": st.none() | st.dates().map(date.isoformat),
        "long_term": st.booleans(),
        "problems": st.lists(text, max_size=3),
        "photo_decoder_available": st.booleans(),
        "photo_available": st.booleans(),
        "photo_unavailable": st.none() | text,
        "photo_media_type": st.none() | st.just("image/jpeg"),
        "photo": st.none() | small_bytes,
        "fingerprint_length": st.none() | st.integers(0, 1024),
    }
)

quality = st.fixed_dictionaries(
    {
        "score": st.floats(0, 1),
        "box": st.lists(st.integers(-100, 4000), min_size=4, max_size=4),
        "detector_score": st.floats(0, 1),
        "measures": st.dictionaries(st.sampled_from(["sharpness", "yaw", "pitch"]), finite),
    }
)
refusals = st.lists(st.fixed_dictionaries({"code": text, "message": text}), max_size=3)
states = st.sampled_from(["disabled", "starting", "ok", "failed", "restarting"])


def event_fields() -> st.SearchStrategy[tuple[str, dict[str, Any]]]:
    """(event name, fields) pairs that are valid."""
    phases = st.sampled_from(["idle", "enrol", "verify"])
    stopped = st.sampled_from(["command", "max_length", "source_ended", "source_failed"])
    ints = st.integers(0, 10_000)
    return st.one_of(
        st.builds(lambda c: ("card_inserted", {"card": c}), card_fields),
        st.builds(lambda i: ("card_removed", {"id_number": i}), st.none() | text),
        st.builds(lambda r: ("card_read_failed", {"reason": r}), text),
        st.builds(lambda d, s: ("finger_placed", {"during": d, "step": s}), phases, st.none() | st.integers(1, 2)),
        st.builds(lambda d, s: ("finger_removed", {"during": d, "step": s}), phases, st.none() | st.integers(1, 2)),
        st.builds(
            lambda n, w, h, p: (
                "frame_ready",
                {"frame_seq": n, "width": w, "height": h, "preview": p, "preview_width": w, "preview_height": h},
            ),
            ints,
            ints,
            ints,
            small_bytes,
        ),
        st.builds(
            lambda n, f, a, q, r: (
                "face_found",
                {"frame_seq": n, "faces": f, "accepted": a, "quality": q, "reasons": r},
            ),
            ints,
            st.integers(0, 9),
            st.booleans(),
            st.none() | quality,
            refusals,
        ),
        st.builds(
            lambda r, x, c, s: (
                "audio_level",
                {"recording_id": r, "rms": x, "peak": x, "dbfs": -x, "clipped": c, "meter": x, "seconds": s},
            ),
            request_ids,
            st.floats(0, 1),
            st.booleans(),
            st.floats(0, 3600),
        ),
        st.builds(
            lambda r, i, o, p: ("audio_chunk", {"recording_id": r, "index": i, "offset_s": o, "pcm": p}),
            request_ids,
            ints,
            st.floats(0, 3600),
            small_bytes,
        ),
        st.builds(
            lambda r, s, d: ("recording_stopped", {"recording_id": r, "stopped_by": s, "duration_s": d}),
            request_ids,
            stopped,
            st.floats(0, 3600),
        ),
        st.builds(
            lambda d, s, r, n: ("driver_state", {"driver": d, "state": s, "reason": r, "restarts": n}),
            st.sampled_from(DRIVERS),
            states,
            st.none() | text,
            ints,
        ),
        st.builds(
            lambda u, d: ("heartbeat", {"uptime_s": u, "drivers": d}),
            st.floats(0, 1e6),
            st.dictionaries(st.sampled_from(DRIVERS), states),
        ),
    )


error_codes = st.sampled_from(ERROR_CODES)
