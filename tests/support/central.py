"""Build a migrated central on a database URL, with keys made for the test."""

from __future__ import annotations

import base64
import secrets

from central.config import CentralConfig
from central.context import Central
from central.db.migrate import upgrade


def make_config(db_url: str, **mqtt: object) -> CentralConfig:
    """A valid config with fresh random keys."""
    keys = {k: base64.b64encode(secrets.token_bytes(32)).decode() for k in ("data_key", "hmac_key", "audit_key")}
    return CentralConfig.model_validate({"db_url": db_url, "security": keys, "mqtt": mqtt})


def migrated_central(db_url: str, **mqtt: object) -> Central:
    """Migrate the database to head and open a Central on it."""
    upgrade(db_url)
    return Central.from_config(make_config(db_url, **mqtt))
