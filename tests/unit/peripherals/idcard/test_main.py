"""`python -m peripherals.idcard`: one JSON object per frame line, ok or the decoder's error."""

from __future__ import annotations

import io
import json
import subprocess
import sys

from hypothesis import given
from hypothesis import strategies as st

from peripherals.idcard.__main__ import describe, run
from peripherals.idcard.protocol import FIND_CARD, CardRecord, Reply, Status, encode
from peripherals.idcard.text import encode_text
from tests.unit.peripherals.idcard.samples import FRAMES_FILE, REPO, ZHANG_SAN, captured_frames, tiny_jpeg
from tests.unit.peripherals.idcard.strategies import junk_frames, relaxed


def test_command_line():
    """A command decodes to its name and code."""
    assert describe(encode(FIND_CARD).hex()) == {
        "ok": True,
        "direction": "command",
        "command": "find card",
        "code": "20 01",
        "data": "",
    }


def test_reply_line_with_data():
    """A reply shows its status in English and Chinese, and its data as hex."""
    result = describe(encode(Reply(Status.CARD_FOUND, bytes(4))).hex(" "))
    assert result["status"] == "9F"
    assert result["message"] == "card found"
    assert result["message_zh"] == "寻找居民身份证成功"
    assert result["data"] == "00 00 00 00"


def test_read_reply_line_decodes_the_card():
    """A read reply is decoded down to the card's fields."""
    wire = encode(CardRecord(encode_text(ZHANG_SAN), tiny_jpeg()).to_reply())
    result = describe(wire.hex())
    assert result["ok"] is True
    assert result["card"]["name"] == "张三"
    assert result["card"]["id_number_valid"] is True
    assert result["card"]["photo_media_type"] == "image/jpeg"


def test_error_lines():
    """Bad hex and bad frames give ok false and the reason."""
    assert describe("zz") == {
        "ok": False,
        "error": "line is not hex: non-hexadecimal number found in fromhex() arg at position 0, "
        "expected pairs of hex digits",
    }
    assert describe("AAAAAA96690003200123") == {"ok": False, "error": "checksum: frame says 0x23, bytes give 0x22"}


def test_run_skips_comments_and_blank_lines():
    """Comment and blank lines produce no output; every frame line produces one JSON line."""
    out = io.StringIO()
    run(io.StringIO("# a comment\n\nAAAAAA96690003200122\nnot hex\n"), out)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["ok"] for line in lines] == [True, False]


def test_module_on_the_captured_frames_file():
    """`python -m peripherals.idcard < idcard_frames.txt` prints one ok object per frame."""
    frames = captured_frames()
    completed = subprocess.run(
        [sys.executable, "-m", "peripherals.idcard"],
        input=FRAMES_FILE.read_bytes(),
        capture_output=True,
        cwd=REPO,
        check=True,
        timeout=60,
    )
    lines = [json.loads(line) for line in completed.stdout.decode("utf-8").splitlines()]
    assert len(lines) == len(frames)
    assert all(line["ok"] for line in lines)


@relaxed
@given(junk_frames)
def test_describe_never_raises(junk):
    """Any bytes give a JSON object with ok true or false, never an exception."""
    result = describe(junk.hex())
    assert isinstance(result["ok"], bool)
    json.dumps(result, ensure_ascii=False)


@relaxed
@given(st.text(max_size=40))
def test_describe_any_text_never_raises(line):
    """Any text line, hex or not, gives a JSON object."""
    assert isinstance(describe(line)["ok"], bool)


def test_codec_and_command_line_do_not_need_pyserial():
    """Importing the package and its CLI loads no pyserial; the driver's names load it on first use."""
    code = (
        "import sys, peripherals.idcard, peripherals.idcard.__main__\n"
        "assert 'serial' not in sys.modules, 'serial imported'\n"
        "peripherals.idcard.IdCardReader\n"
        "assert 'serial' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, capture_output=True, timeout=60)
