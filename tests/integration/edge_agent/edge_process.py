"""The edge agent as a real `corr-edge` subprocess (tests can SIGKILL it); a central seeded with an edge device."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from central.config import CentralConfig
from central.context import Central
from central.seed import Seeded, seed
from edge_agent.config import to_toml
from tests.support.central import INGEST_ACCOUNT
from tests.support.mosquitto import Mosquitto
from vision.template import Template, TemplateCipher, write_sealed

EDGE = "edge-haicang"
KIOSK = "kiosk-haicang"
NODE = "350205001"


def seed_edge_on_broker(central: Central, broker: Mosquitto) -> tuple[Seeded, CentralConfig]:
    """The seeded tree with an edge device and a kiosk at the Haicang township, an ingest account, broker logins."""
    seeded = seed(
        central, "seeded-officer-pw", [(EDGE, "edge", NODE), (KIOSK, "kiosk", NODE), (INGEST_ACCOUNT, "central", "35")]
    )
    for device_id, secret in seeded.device_secrets.items():
        broker.add_account(device_id, secret, "central" if device_id == INGEST_ACCOUNT else "device")
    mqtt = central.config.mqtt.model_copy(
        update={
            "host": broker.host,
            "port": broker.port,
            "username": INGEST_ACCOUNT,
            "password": seeded.device_secrets[INGEST_ACCOUNT],
        }
    )
    return seeded, central.config.model_copy(update={"mqtt": mqtt})


def write_gallery_dir(folder: Path, entries: list[tuple[str, Template]], key_b64: str) -> Path:
    """An offline gallery folder: <subject id>/<n>.tpl, each sealed with `key_b64` (vision.template_key)."""
    cipher = TemplateCipher.from_base64(key_b64)
    for n, (subject_id, template) in enumerate(entries):
        write_sealed(folder / subject_id / f"{n:03d}.tpl", template, cipher, f"subject:{subject_id}/face")
    return folder


def corr_edge() -> list[str]:
    """The installed `corr-edge` console script beside this Python (the real entry point)."""
    script = Path(sys.executable).with_name("corr-edge")
    if not script.exists():
        raise RuntimeError(f"{script} is not installed: run `make setup` (pip install -e .)")
    return [str(script)]


class EdgeProcess:
    """`corr-edge -c edge.toml` as a child process, its log in a file; start again after a kill."""

    def __init__(self, config: dict[str, Any], workdir: Path) -> None:
        self.config_path = workdir / "edge.toml"
        self.config_path.write_text(to_toml(config), encoding="utf-8")
        os.chmod(self.config_path, 0o600)
        self.log = workdir / "edge.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.runs = 0

    def start(self) -> None:
        """Start (again)."""
        with self.log.open("ab") as out:
            out.write(f"---- run {self.runs + 1} ----\n".encode())
            out.flush()
            self.proc = subprocess.Popen(
                [*corr_edge(), "-c", str(self.config_path)],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.runs += 1

    def kill(self) -> None:
        """SIGKILL: open tracks and anything not yet in the outbox die with it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def stop(self, timeout: float = 60.0) -> int | None:
        """SIGTERM (the agent judges open tracks, drains for up to 10 s) and wait."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                return self.proc.wait(timeout=10)
        return self.proc.returncode

    @property
    def alive(self) -> bool:
        """True while the process runs."""
        return self.proc is not None and self.proc.poll() is None

    def output(self) -> str:
        """The log so far."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""
