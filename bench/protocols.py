"""Protocol figures: frames decoded per second for each byte protocol, and GT06 gateway positions/s.

    python bench/protocols.py [--trackers 1000] [--positions 20] [--seconds 1.0]

Frames decoded per second are measured on realistic mixes (a full ID-card read reply with its
text and photo blocks; fingerprint commands, acks and template data packets; GT06 positions,
heartbeats, an alarm), and again through each protocol's stream parser fed in serial- or
TCP-sized chunks. The gateway figure runs 1 000 simulated trackers on loopback against the
real gateway and central database (see bench/protocols_gt06.py). Results:
bench/results/protocols.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from peripherals import fingerprint, idcard

RESULTS = Path(__file__).parent / "results"


def _rate(frames: Sequence[bytes], decode: Callable[[bytes], object], seconds: float) -> float:
    """Frames per second through `decode`, looping over `frames` for about `seconds`."""
    done = 0
    began = time.perf_counter()
    while time.perf_counter() - began < seconds:
        for frame in frames:
            decode(frame)
        done += len(frames)
    return done / (time.perf_counter() - began)


def _stream_rate(frames: Sequence[bytes], parser_factory: Callable[[], object], chunk: int, seconds: float) -> float:
    """Frames per second cut out of one byte stream by a fresh parser, fed `chunk` bytes at a time."""
    stream = b"".join(frames)
    chunks = [stream[i : i + chunk] for i in range(0, len(stream), chunk)]
    done = 0
    began = time.perf_counter()
    while time.perf_counter() - began < seconds:
        parser = parser_factory()
        for part in chunks:
            parser.feed(part)  # type: ignore[attr-defined]
        done += len(frames)
    return done / (time.perf_counter() - began)


def idcard_frames() -> list[bytes]:
    """A card read as a reader exchanges it: find, select, read, and the 1 295-byte text + photo reply."""
    text = idcard.CardText(
        name="张三",
        sex_code="1",
        nation_code="01",
        birth_date=date(1990, 5, 12),
        address="福建省厦门市海沧区海沧街道测试路1号",
        id_number="35020519900512001X",
        issuing_authority="厦门市公安局海沧分局",
        valid_from=date(2020, 1, 1),
        valid_until=None,
    )
    record = idcard.CardRecord(idcard.encode_text(text), bytes(range(256)) * 4)
    commands = [idcard.encode(c) for c in (idcard.FIND_CARD, idcard.SELECT_CARD, idcard.READ_TEXT_PHOTO)]
    return [*commands, idcard.encode(record.to_reply())]


def fingerprint_frames() -> list[bytes]:
    """An enrol-and-search exchange: commands, acks, and a template uploaded as 128-byte data packets."""
    fp = fingerprint
    packets: list[object] = [
        fp.GenImg(),
        fp.Ack(code=fp.Confirmation(0)),
        fp.Img2Tz(buffer=1),
        fp.Ack(code=fp.Confirmation(0)),
        fp.Search(buffer=1, start=0, count=300),
        fp.Ack(code=fp.Confirmation(0), data=bytes([0, 7, 0, 120])),
        fp.UpChar(buffer=1),
        fp.Ack(code=fp.Confirmation(0)),
    ]
    template = bytes(i % 251 for i in range(512))
    for i in range(0, len(template), 128):
        packets.append(fp.Data(payload=template[i : i + 128], last=i + 128 >= len(template)))
    return [fp.encode(p) for p in packets]  # type: ignore[arg-type]


def main() -> None:
    """Measure, print and write bench/results/protocols.json."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trackers", type=int, default=1000)
    ap.add_argument("--positions", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=1.0)
    args = ap.parse_args()

    from bench.protocols_gt06 import decode_rate, gateway_rate

    id_frames = idcard_frames()
    fp_frames = fingerprint_frames()
    out: dict[str, object] = {
        "idcard_frames_per_s": round(_rate(id_frames, idcard.decode, args.seconds)),
        "idcard_stream_frames_per_s": round(_stream_rate(id_frames, idcard.FrameParser, 64, args.seconds)),
        "fingerprint_frames_per_s": round(_rate(fp_frames, fingerprint.decode, args.seconds)),
        "fingerprint_stream_frames_per_s": round(_stream_rate(fp_frames, fingerprint.PacketParser, 64, args.seconds)),
    }
    out.update(decode_rate(args.seconds))
    for key, value in out.items():
        print(f"  {key}: {value}")
    gateway = gateway_rate(trackers=args.trackers, positions=args.positions)
    for key, value in gateway.items():
        print(f"  {key}: {value}")
    out.update(gateway)
    out["machine"] = {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}
    out["measured_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "protocols.json").write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n")
    print("-> bench/results/protocols.json")


if __name__ == "__main__":
    main()
