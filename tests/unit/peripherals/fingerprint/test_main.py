"""The hex-lines CLI: one JSON object per packet line, errors as objects too."""

from __future__ import annotations

import io
import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from peripherals.fingerprint.__main__ import decode_line, main
from peripherals.fingerprint.protocol import Ack, Confirmation, Data, encode
from tests.unit.peripherals.fingerprint.frames import CAPTURE_FILE


def run(text: str) -> list[dict[str, Any]]:
    """The JSON objects main() prints for `text` on stdin."""
    out = io.StringIO()
    assert main(io.StringIO(text), out) == 0
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_capture_file_piped_as_it_is():
    """Comments and blank lines are skipped; every frame of the capture file is ok."""
    objects = run(CAPTURE_FILE.read_text(encoding="utf-8"))
    assert [o["instruction"] for o in objects] == ["GenImg", "Img2Tz", "Img2Tz", "DownChar"]
    assert objects[1] == {
        "ok": True,
        "address": "FFFFFFFF",
        "pid": "command",
        "instruction": "Img2Tz",
        "code": 2,
        "buffer": 1,
    }


def test_ack_and_data_fields():
    """Acks show code, name and message; data packets their length and payload."""
    ack = encode(Ack(code=Confirmation.NO_FINGER)).hex(" ")
    data = encode(Data(payload=b"\x01\x02", last=True)).hex()
    assert run(f"{ack}\n{data}\n") == [
        {
            "ok": True,
            "address": "FFFFFFFF",
            "pid": "ack",
            "code": 2,
            "confirmation": "NO_FINGER",
            "message": "no finger on the sensor",
            "data": "",
        },
        {"ok": True, "address": "FFFFFFFF", "pid": "end_of_data", "length": 2, "payload": "0102"},
    ]


def test_errors_are_objects_not_crashes():
    """Bad hex and bad packets each give ok false with the reason."""
    assert run("zz\nEF01FFFFFFFF010003010006\n") == [
        {"ok": False, "error": "not hexadecimal: 'zz', expected pairs of hex digits"},
        {"ok": False, "error": "checksum: packet says 0x0006, bytes give 0x0005"},
    ]


@given(st.text(max_size=80))
def test_any_line_gives_one_object(line):
    """Whatever the line holds, the answer is one object with ok and either fields or an error."""
    result = decode_line(line)
    assert isinstance(result["ok"], bool)
    assert result["ok"] or result["error"]
    json.dumps(result)
