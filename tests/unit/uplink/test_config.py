"""Uplink settings: defaults, the username default and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from uplink.config import UplinkConfig


def _config(**changes: object) -> UplinkConfig:
    fields: dict[str, object] = {
        "device_id": "kiosk-01",
        "host": "broker.local",
        "password": "secret",
        "outbox_path": Path("/var/lib/corr/outbox.db"),
    }
    fields.update(changes)
    return UplinkConfig.model_validate(fields)


def test_defaults() -> None:
    """Only the device, broker, password and outbox path are required."""
    cfg = _config()
    assert (cfg.port, cfg.keepalive_s, cfg.session_expiry_s, cfg.max_inflight) == (
        1883,
        30,
        7 * 24 * 3600,
        200,
    )
    assert (cfg.outbox_max_rows, cfg.outbox_synchronous, cfg.status_interval_s) == (100_000, "FULL", 30)


def test_username_defaults_to_device_id() -> None:
    """Without a username the device logs in as its own id, which the broker ACL expects."""
    assert _config().username == "kiosk-01"
    assert _config(username="other").username == "other"


def test_password_is_not_in_repr() -> None:
    """The password never shows up in logs of the config."""
    assert "secret" not in repr(_config())


def test_unknown_key_is_refused() -> None:
    """A misspelt key fails and is named."""
    with pytest.raises(ValidationError, match="keep_alive"):
        _config(keep_alive=10)


def test_device_id_must_be_one_topic_level() -> None:
    """A device id with a slash or wildcard would escape its topic; it is refused with the rule."""
    with pytest.raises(ValidationError, match="device_id 'a/b' is not valid, expected 1 to 64 letters"):
        _config(device_id="a/b")


def test_reconnect_range_must_be_ordered() -> None:
    """The longest reconnect delay may not be shorter than the first."""
    with pytest.raises(ValidationError, match=r"reconnect_max_s \(1.0\) must be at least reconnect_min_s \(5.0\)"):
        _config(reconnect_min_s=5, reconnect_max_s=1)


def test_every_field_has_a_title() -> None:
    """Config pages and error messages rely on a title for each field."""
    assert all(field.title for field in UplinkConfig.model_fields.values())
