"""`corr-edge -c edge.toml` (or `python -m edge_agent`): run the edge agent until SIGTERM/SIGINT, or until every
file camera ended. `--check-config` prints the effective configuration (file + CORR_EDGE_* overrides), secrets
hidden, and exits."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from edge_agent.config import ENV_CONFIG, ConfigError, describe_config, load_config


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (2 for a bad configuration)."""
    parser = argparse.ArgumentParser(prog="corr-edge", description="camera edge agent: sightings over MQTT")
    parser.add_argument(
        "-c", "--config", type=Path, default=None, help=f"the agent's TOML file (default: ${ENV_CONFIG})"
    )
    parser.add_argument(
        "--check-config",
        action="store_true",
        help="print the effective configuration (secrets hidden) and exit: 0 if valid, 2 if not",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.check_config:
        print(describe_config(config))
        return 0

    # Imported here: --check-config and a bad file must answer without loading models.
    from edge_agent.agent import Agent

    done = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    agent = Agent(config).start()

    def until_ended() -> None:
        agent.wait_ended(None)
        done.set()

    threading.Thread(target=until_ended, daemon=True).start()
    done.wait()
    agent.stop(drain_timeout=10.0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
