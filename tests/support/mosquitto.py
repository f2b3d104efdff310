"""A real Mosquitto broker on a free port, with persistence, a password file and an ACL.

Tests start, stop, restart and kill it; nothing relies on a broker that happens to run.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import subprocess
from collections.abc import Iterable
from pathlib import Path

from central.broker_auth import BrokerAccount, mosquitto_password_hash, write_broker_files
from tests.support.ports import free_port, wait_for_port


def mosquitto_binary() -> str:
    """Path of the mosquitto executable (Debian puts it in /usr/sbin, which is not on every PATH)."""
    found = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)
    if found is None:
        raise RuntimeError("mosquitto is not installed: run `make setup` (it installs Debian's mosquitto)")
    return found


class Mosquitto:
    """One broker process; its config, password file, ACL and persistence live in `workdir`."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self.conf = workdir / "mosquitto.conf"
        self.password_file = workdir / "passwd"
        self.acl_file = workdir / "acl"
        self.pid_file = workdir / "mosquitto.pid"
        self.log_file = workdir / "mosquitto.log"
        self.passwords: dict[str, str] = {}
        self._accounts: dict[str, BrokerAccount] = {}
        self._proc: subprocess.Popen[bytes] | None = None
        (workdir / "data").mkdir(parents=True, exist_ok=True)

    def add_account(self, username: str, password: str, role: str = "device") -> None:
        """Add a login (role `device` or `central`) and rewrite the password file and ACL."""
        self.passwords[username] = password
        self._accounts[username] = BrokerAccount(username, mosquitto_password_hash(password), role)  # type: ignore[arg-type]
        write_broker_files(self._accounts.values(), self.password_file, self.acl_file)
        if self.running:
            self.reload()

    def add_accounts(self, accounts: Iterable[tuple[str, str, str]]) -> None:
        """Add several (username, password, role) logins."""
        for username, password, role in accounts:
            self.add_account(username, password, role)

    def _write_conf(self) -> None:
        if not self.password_file.exists():
            write_broker_files([], self.password_file, self.acl_file)
        user = getpass.getuser()
        self.conf.write_text(
            "\n".join(
                [
                    f"listener {self.port} {self.host}",
                    "allow_anonymous false",
                    f"password_file {self.password_file}",
                    f"acl_file {self.acl_file}",
                    "persistence true",
                    f"persistence_location {self.workdir / 'data'}/",
                    "autosave_interval 1",
                    # Unlimited per-client queue: an offline ingest worker must not lose events.
                    "max_queued_messages 0",
                    "max_inflight_messages 0",
                    "max_packet_size 262144",
                    f"pid_file {self.pid_file}",
                    f"log_dest file {self.log_file}",
                    "log_type error",
                    "log_type warning",
                    "log_type notice",
                    "log_type information",
                    # Mosquitto drops root privileges to this user; keep the one that owns workdir.
                    f"user {user}",
                    "",
                ]
            )
        )

    @property
    def running(self) -> bool:
        """True while the broker process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Start the broker and wait until it accepts connections."""
        if self.running:
            return
        self._write_conf()
        self._proc = subprocess.Popen(
            [mosquitto_binary(), "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            wait_for_port(self.port)
        except TimeoutError as exc:
            raise RuntimeError(f"mosquitto did not start; its log:\n{self.log_text()}") from exc

    def stop(self) -> None:
        """Stop gracefully (SIGTERM): Mosquitto writes its persistence file on the way out."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            self._proc.wait(timeout=20)
        self._proc = None

    def kill(self) -> None:
        """Kill without warning (SIGKILL)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(timeout=10)
        self._proc = None

    def restart(self) -> None:
        """Graceful stop, then start again on the same port with the same persistence."""
        self.stop()
        self.start()

    def reload(self) -> None:
        """SIGHUP: re-read the password file and ACL."""
        if self._proc is not None and self._proc.poll() is None:
            os.kill(self._proc.pid, signal.SIGHUP)

    def log_text(self) -> str:
        """The broker's log so far (for failure messages)."""
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""
