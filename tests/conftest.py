"""Fixtures shared by every suite: a real broker and real databases, started by the tests themselves."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import profiles

from central.security import use_password_parameters
from tests.support.mosquitto import Mosquitto
from tests.support.postgres import Postgres

# Seeding a central hashes a dozen passwords; with production argon2 parameters that is a second per test.
# Hashes made here carry their own (cheapest) parameters, so servers started by the tests verify them cheaply.
use_password_parameters(profiles.CHEAPEST)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    """A fresh Mosquitto on a free port (persistence, password file, ACL); no accounts yet."""
    b = Mosquitto(tmp_path / "broker")
    b.start()
    yield b
    b.kill()


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Postgres]:
    """One PostgreSQL cluster for the session; each test takes its own database in it."""
    pg = Postgres()
    pg.start()
    yield pg
    pg.destroy()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database URL, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'central.db'}"
    cluster: Postgres = request.getfixturevalue("pg_cluster")
    return cluster.create_database()
