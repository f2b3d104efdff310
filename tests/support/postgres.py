"""A real PostgreSQL cluster made with initdb in a temporary folder, on a free port.

PostgreSQL refuses to run as root, so when the tests run as root the cluster is
owned by and run as the `postgres` system user that Debian's package creates.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from tests.support.ports import free_port


def postgres_bindir() -> Path:
    """Folder holding initdb and pg_ctl (Debian keeps them out of PATH in /usr/lib/postgresql/<v>/bin)."""
    on_path = shutil.which("initdb")
    if on_path:
        return Path(os.path.realpath(on_path)).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if not candidates:
        raise RuntimeError("PostgreSQL server binaries not found: run `make setup` (it installs Debian's postgresql)")
    return Path(candidates[-1]).parent


class Postgres:
    """One throw-away cluster; `url(dbname)` gives a SQLAlchemy URL for psycopg 3."""

    def __init__(self, *, durable: bool = False) -> None:
        self.port = free_port()
        self.user = "corr"
        self.password = secrets.token_hex(12)
        self.durable = durable
        self.bindir = postgres_bindir()
        self.root = Path(tempfile.mkdtemp(prefix="corr-pg-"))
        self.datadir = self.root / "data"
        self.sockdir = self.root / "sock"
        self.logfile = self.root / "postgres.log"
        self._run_as: str | None = "postgres" if os.geteuid() == 0 else None

    def _cmd(self, args: list[str]) -> list[str]:
        if self._run_as is None:
            return args
        return ["runuser", "-u", self._run_as, "--", *args]

    def start(self) -> None:
        """initdb (first time) and start the server, waiting until it accepts connections."""
        if not self.datadir.exists():
            self.sockdir.mkdir(parents=True)
            pwfile = self.root / "pw"
            pwfile.write_text(self.password + "\n")
            if self._run_as is not None:
                pw = pwd.getpwnam(self._run_as)
                for p in (self.root, self.sockdir, pwfile):
                    os.chown(p, pw.pw_uid, pw.pw_gid)
            subprocess.run(
                self._cmd(
                    [
                        str(self.bindir / "initdb"),
                        "-D",
                        str(self.datadir),
                        "-U",
                        self.user,
                        "--pwfile",
                        str(pwfile),
                        "--auth",
                        "scram-sha-256",
                        "--encoding",
                        "UTF8",
                        "--locale",
                        "C",
                    ]
                ),
                check=True,
                capture_output=True,
            )
            pwfile.unlink()
        opts = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.sockdir} -c max_connections=200"
        if not self.durable:
            opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        subprocess.run(
            self._cmd(
                [
                    str(self.bindir / "pg_ctl"),
                    "-D",
                    str(self.datadir),
                    "-l",
                    str(self.logfile),
                    "-o",
                    opts,
                    "-w",
                    "-t",
                    "60",
                    "start",
                ]
            ),
            check=True,
            capture_output=True,
        )

    def stop(self) -> None:
        """Fast shutdown; the data folder is removed by `destroy`."""
        if self.datadir.exists():
            subprocess.run(
                self._cmd([str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "fast", "-w", "stop"]),
                capture_output=True,
            )

    def destroy(self) -> None:
        """Stop and delete the cluster."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, dbname: str = "postgres") -> str:
        """SQLAlchemy URL of a database in this cluster."""
        return f"postgresql+psycopg://{self.user}:{self.password}@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, name: str | None = None) -> str:
        """Create a fresh database and return its URL."""
        import psycopg

        name = name or f"t_{secrets.token_hex(6)}"
        deadline = time.monotonic() + 10
        while True:
            try:
                with psycopg.connect(
                    host="127.0.0.1",
                    port=self.port,
                    user=self.user,
                    password=self.password,
                    dbname="postgres",
                    autocommit=True,
                ) as conn:
                    conn.execute(f'CREATE DATABASE "{name}"')
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        return self.url(name)
