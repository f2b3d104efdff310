"""A device in its own process, for tests that kill it.

Usage: `python -m tests.integration.uplink.device_process CONFIG MODE [N]`.

MODE `idle` connects, prints "connected" and waits to be killed; MODE `send` starts, prints
"sending" and sends N test fixes one by one, then prints "sent" and waits.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from tests.integration.uplink.helpers import fix, wait_until
from uplink.client import Uplink
from uplink.config import UplinkConfig


def main() -> None:
    """Run one device until the test kills it."""
    config = UplinkConfig.model_validate_json(Path(sys.argv[1]).read_text())
    mode = sys.argv[2]
    uplink = Uplink(config)
    uplink.start()
    if mode == "idle":
        if not wait_until(lambda: uplink.connected, 30):
            sys.exit(f"never connected: {uplink.stats()}")
        print("connected", flush=True)
    elif mode == "send":
        print("sending", flush=True)
        for i in range(int(sys.argv[3])):
            uplink.send(fix(config.device_id, i))
        print("sent", flush=True)
    else:
        sys.exit(f"unknown mode {mode!r}, expected 'idle' or 'send'")
    threading.Event().wait()


if __name__ == "__main__":
    main()
