"""A seeded central on SQLite and PostgreSQL, and an API client for it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from central.api.app import create_app
from central.context import Central
from central.seed import Seeded, seed
from tests.support.central import migrated_central

PASSWORD = "correct-horse-battery"
DEVICES = [
    ("kiosk-haicang", "kiosk", "350205001"),
    ("kiosk-huli", "kiosk", "350206001"),
    ("edge-haicang", "edge", "350205"),
]


@dataclass
class Env:
    """A seeded central and an HTTP client bound to it."""

    central: Central
    client: TestClient
    seeded: Seeded

    def login(self, username: str, password: str = PASSWORD) -> dict[str, str]:
        """Authorization header for a fresh login."""
        r = self.client.post("/api/v1/auth/login", json={"username": username, "password": password})
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['token']}"}


@pytest.fixture
def env(db_url: str) -> Iterator[Env]:
    """Seeded central (tree, officers, subjects, devices) on each database."""
    central = migrated_central(db_url)
    seeded = seed(central, PASSWORD, DEVICES)
    with TestClient(create_app(central)) as client:
        yield Env(central, client, seeded)
    central.close()
