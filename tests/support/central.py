"""Build a migrated central on a database URL, with keys made for the test."""

from __future__ import annotations

import base64
import secrets

from central.config import CentralConfig
from central.context import Central
from central.db.migrate import upgrade
from central.seed import Seeded, seed
from tests.support.mosquitto import Mosquitto


def make_config(db_url: str, **mqtt: object) -> CentralConfig:
    """A valid config with fresh random keys."""
    keys = {k: base64.b64encode(secrets.token_bytes(32)).decode() for k in ("data_key", "hmac_key", "audit_key")}
    return CentralConfig.model_validate({"db_url": db_url, "security": keys, "mqtt": mqtt})


def migrated_central(db_url: str, **mqtt: object) -> Central:
    """Migrate the database to head and open a Central on it."""
    upgrade(db_url)
    return Central.from_config(make_config(db_url, **mqtt))


INGEST_ACCOUNT = "central-ingest"


def seed_on_broker(
    central: Central, broker: Mosquitto, devices: list[str], node: str = "350205001"
) -> tuple[Seeded, CentralConfig]:
    """Seed the tree with kiosks `devices` and an ingest account, give them broker logins, point MQTT at the broker.

    Returns what was seeded (device secrets) and central's config with the broker filled in.
    """
    seeded = seed(
        central, "seeded-officer-pw", [(d, "kiosk", node) for d in devices] + [(INGEST_ACCOUNT, "central", "35")]
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
