"""`corr-kiosk-ui`: the kiosk runtime and its Kivy window.

    corr-kiosk-ui -c /etc/corr/kiosk.toml           # run until SIGTERM or the window closes
    corr-kiosk-ui -c /etc/corr/kiosk.toml --check   # validate the file, print the settings (no secrets), exit
    corr-kiosk-ui --hash-pin                        # make the staff PIN's pin_hash for [kiosk.policy]

`-c` defaults to $CORR_KIOSK_CONFIG. Exit status: 0 after SIGTERM or closing the window, 1 when the
kiosk cannot start, 2 for a configuration error.
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import signal
import sys
from pathlib import Path

from kiosk.config import ConfigError, encode_pin_hash, load_settings
from kiosk.flows import PinHash

log = logging.getLogger("kiosk.ui")


def _hash_pin() -> int:
    pin = getpass.getpass("staff PIN (4-12 digits): ")
    if not (pin.isdigit() and 4 <= len(pin) <= 12):
        print("corr-kiosk-ui: the PIN must be 4 to 12 digits (the PIN pad has digits only)", file=sys.stderr)
        return 2
    if getpass.getpass("again: ") != pin:
        print("corr-kiosk-ui: the two PINs differ", file=sys.stderr)
        return 2
    print(f'pin_hash = "{encode_pin_hash(PinHash.make(pin, os.urandom(16)))}"')
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the kiosk UI."""
    parser = argparse.ArgumentParser(prog="corr-kiosk-ui", description="The kiosk's touch UI and runtime.")
    parser.add_argument("-c", "--config", type=Path, help="the kiosk's TOML file (default: $CORR_KIOSK_CONFIG)")
    parser.add_argument("--check", action="store_true", help="validate the configuration, print it and exit")
    parser.add_argument("--hash-pin", action="store_true", help="print the pin_hash of a staff PIN and exit")
    parser.add_argument(
        "--log-level",
        default=os.environ.get("CORR_LOG_LEVEL", "INFO").upper(),
        type=str.upper,
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.hash_pin:
        return _hash_pin()
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(f"corr-kiosk-ui: configuration error:\n{exc}", file=sys.stderr)
        return 2
    if args.check:
        summary = settings.kiosk.model_dump(mode="json", exclude={"secret"})
        summary["policy"].pop("pin_hash", None)
        summary["devices"] = {"events": settings.devices.events_address, "commands": settings.devices.commands_address}
        print(json.dumps(summary, ensure_ascii=False, indent=2))
        return 0

    from kiosk.ui import configure

    configure(settings.kiosk.ui)
    from kiosk.runtime import Runtime
    from kiosk.ui.app import KioskApp

    try:
        runtime = Runtime.from_settings(settings).start()
    except Exception as exc:
        log.exception("the kiosk cannot start")
        print(f"corr-kiosk-ui: cannot start: {exc}", file=sys.stderr)
        return 1
    app = KioskApp(runtime, settings.kiosk.ui)
    signal.signal(signal.SIGTERM, lambda *_: app.stop())
    try:
        app.run()
    finally:
        runtime.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
