"""Mosquitto password file and ACL, rendered from central's list of broker accounts.

Central is the only writer of these files: `corr-central devices add` stores the
account in the database and rewrites both files atomically, so the broker's view
can always be rebuilt from the database.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from vision.atomic_file import atomic_write

# Mosquitto 2.0's "$7$" format: PBKDF2-HMAC-SHA512, 12-byte salt, 64-byte hash.
_PBKDF2_ITERATIONS = 101
_SALT_BYTES = 12

BrokerRole = Literal["device", "central"]


def mosquitto_password_hash(password: str, *, salt: bytes | None = None, iterations: int = _PBKDF2_ITERATIONS) -> str:
    """Hash a password the way `mosquitto_passwd` does, for the broker's password file."""
    salt = salt if salt is not None else secrets.token_bytes(_SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, dklen=64)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


@dataclass(frozen=True)
class BrokerAccount:
    """One broker login: a device (kiosk, edge agent, gateway) or a central process."""

    username: str
    password_hash: str
    role: BrokerRole


def acl_lines(account: BrokerAccount) -> list[str]:
    """ACL entries for one account: a device writes only its own uplink and reads only its own commands."""
    name = account.username
    if account.role == "device":
        return [
            f"user {name}",
            f"topic write corr/v1/dev/{name}/#",
            f"topic read corr/v1/cmd/{name}/#",
        ]
    return [
        f"user {name}",
        "topic read corr/v1/dev/#",
        "topic read $share/central/corr/v1/dev/#",
        "topic write corr/v1/cmd/#",
    ]


def render_password_file(accounts: Iterable[BrokerAccount]) -> str:
    """The password file text, one `user:hash` line per account, sorted for stable diffs."""
    return "".join(f"{a.username}:{a.password_hash}\n" for a in sorted(accounts, key=lambda a: a.username))


def render_acl_file(accounts: Iterable[BrokerAccount]) -> str:
    """The ACL file text; anything not granted here is denied by Mosquitto."""
    blocks = ["\n".join(acl_lines(a)) for a in sorted(accounts, key=lambda a: a.username)]
    return "# written by corr-central; edit with `corr-central devices ...`\n\n" + "\n\n".join(blocks) + "\n"


def write_broker_files(accounts: Iterable[BrokerAccount], password_file: Path, acl_file: Path) -> None:
    """Atomically rewrite the broker's password file and ACL (`reload_broker` then tells the broker)."""
    accounts = list(accounts)
    # Mosquitto may run as its own user in the file's group: 0640, not atomic_write's 0600.
    atomic_write(password_file, render_password_file(accounts).encode(), mode=0o640)
    atomic_write(acl_file, render_acl_file(accounts).encode(), mode=0o640)


def reload_broker(pid_file: Path | None) -> bool:
    """Ask a running Mosquitto to re-read its password file and ACL (SIGHUP); False when none is running."""
    import signal

    if pid_file is None or not pid_file.exists():
        return False
    try:
        pid = int(pid_file.read_text().strip())
    except ValueError:
        return False
    if pid <= 1:
        # 0 would signal our own process group, -1 every process we may signal, 1 is init.
        return False
    try:
        os.kill(pid, signal.SIGHUP)
    except (ProcessLookupError, PermissionError):
        return False
    return True
