"""`python -m peripherals.fingerprint < hexlines`: one JSON object per packet, for debugging a sensor.

Each input line is one packet in hex (spaces allowed). Blank lines and lines starting with `#`
are skipped, so a capture file with comments can be piped in as it is.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from typing import Any, TextIO

from peripherals.errors import ProtocolError
from peripherals.fingerprint.protocol import Ack, Data, Packet, PacketType, decode


def describe(packet: Packet) -> dict[str, Any]:
    """The decoded fields of a packet as JSON-ready values."""
    fields: dict[str, Any] = {"address": f"{packet.address:08X}"}
    if isinstance(packet, Ack):
        return fields | {
            "pid": PacketType.ACK.name.lower(),
            "code": int(packet.code),
            "confirmation": packet.code.name,
            "message": packet.message,
            "data": packet.data.hex().upper(),
        }
    if isinstance(packet, Data):
        kind = PacketType.END_OF_DATA if packet.last else PacketType.DATA
        payload = packet.payload
        return fields | {"pid": kind.name.lower(), "length": len(payload), "payload": payload.hex().upper()}
    return fields | {
        "pid": PacketType.COMMAND.name.lower(),
        "instruction": packet.name,
        "code": int(packet.INSTRUCTION),
        **packet.params(),
    }


def decode_line(line: str) -> dict[str, Any]:
    """One hex line → `{"ok": true, ...fields}` or `{"ok": false, "error": ...}`."""
    text = "".join(line.split())
    try:
        frame = bytes.fromhex(text)
    except ValueError:
        return {"ok": False, "error": f"not hexadecimal: {text[:40]!r}, expected pairs of hex digits"}
    try:
        return {"ok": True, **describe(decode(frame))}
    except ProtocolError as error:
        return {"ok": False, "error": str(error)}


def main(lines: Iterable[str], out: TextIO) -> int:
    """Decodes every packet line; exit status 0 even when some fail, since each line says so."""
    for line in lines:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        out.write(json.dumps(decode_line(line), ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.stdin, sys.stdout))
