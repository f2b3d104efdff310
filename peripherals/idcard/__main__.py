"""`python -m peripherals.idcard < hexlines`: one JSON object per frame, for people debugging a reader.

Each input line is one frame in hex (spaces allowed), of either direction. Blank lines and lines
starting with '#' are skipped, so a capture file with comments can be piped in as it is. A reply
that carries a card read is decoded down to the card's fields.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from peripherals.errors import ProtocolError
from peripherals.idcard.card import card_from_record
from peripherals.idcard.photo import PassThroughPhotoDecoder, PhotoDecoder, VendorLibraryPhotoDecoder
from peripherals.idcard.protocol import CardRecord, Command, Status, decode, hex_bytes

# Find, select and SAM-ID replies carry at most 16 bytes; a card read carries at least the text block.
_SMALLEST_READ = 4 + 256


def describe(line: str, decoders: Sequence[PhotoDecoder] | None = None) -> dict[str, Any]:
    """The JSON object for one hex line: {"ok": true, ...fields} or {"ok": false, "error": ...}."""
    try:
        frame = bytes.fromhex(line)
    except ValueError as exc:
        return {"ok": False, "error": f"line is not hex: {exc}, expected pairs of hex digits"}
    try:
        message = decode(frame)
        if isinstance(message, Command):
            return {
                "ok": True,
                "direction": "command",
                "command": message.name,
                "code": f"{message.code:02X} {message.parameter:02X}",
                "data": hex_bytes(message.data),
            }
        fields: dict[str, Any] = {
            "ok": True,
            "direction": "reply",
            "sw1": message.sw1,
            "sw2": message.sw2,
            "status": f"{message.status.value:02X}",
            "status_name": message.status.name.lower(),
            "message": message.message,
            "message_zh": message.message_zh,
            "data_length": len(message.data),
        }
        if message.status is Status.SUCCESS and len(message.data) >= _SMALLEST_READ:
            fields["card"] = card_from_record(CardRecord.from_reply(message), decoders).as_dict()
        elif message.data:
            fields["data"] = hex_bytes(message.data)
        return fields
    except ProtocolError as exc:
        return {"ok": False, "error": str(exc)}


def run(lines: TextIO, out: TextIO, decoders: Sequence[PhotoDecoder] | None = None) -> None:
    """Describe every frame line of `lines` on `out`, flushing each so a live capture can be piped in."""
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        out.write(json.dumps(describe(line, decoders), ensure_ascii=False) + "\n")
        out.flush()


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(
        prog="python -m peripherals.idcard", description="Decode ID-card reader frames, one hex frame per line."
    )
    parser.add_argument("--wlt-library", help="the reader vendor's WLT photo decoder (a shared library)")
    parser.add_argument("--wlt-function", default="unpack", help="its decoding function (default: unpack)")
    args = parser.parse_args(argv)
    decoders: list[PhotoDecoder] = []
    if args.wlt_library:
        try:
            decoders.append(VendorLibraryPhotoDecoder(args.wlt_library, args.wlt_function))
        except ValueError as exc:
            parser.error(str(exc))
    decoders.append(PassThroughPhotoDecoder())
    run(sys.stdin, sys.stdout, decoders)
    return 0


if __name__ == "__main__":
    sys.exit(main())
