"""kiosk/config.py: the [kiosk] table, CORR_KIOSK__* overrides, errors that name the key, secrets never shown."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from kiosk.config import ConfigError, decode_pin_hash, encode_pin_hash, load_settings, parse_settings
from kiosk.flows import PinHash

SECRET = "s3cret-device-password"


def document(tmp_path: Path, **kiosk: Any) -> dict[str, Any]:
    table: dict[str, Any] = {
        "device_id": "kiosk-haicang",
        "secret": SECRET,
        "state_dir": str(tmp_path / "state"),
        "central": {"url": "https://central.example:8443"},
        "uplink": {"host": "broker.example", "port": 8883},
    }
    table.update(kiosk)
    return {"kiosk": table, "devices": {"runtime_dir": str(tmp_path / "run")}}


def test_a_minimal_file_gives_defaults_and_derived_paths(tmp_path: Path) -> None:
    """Device id, secret, central and broker are all a kiosk needs; the rest has defaults under state_dir."""
    settings = parse_settings(document(tmp_path), environ={})
    k = settings.kiosk
    assert k.outbox_path == tmp_path / "state" / "outbox.db"
    assert k.gallery_dir == tmp_path / "state" / "gallery"
    assert k.cache_path == tmp_path / "state" / "subjects.db"
    assert k.speech.model == "vosk_small_cn"
    assert k.speech.build().reuse_audio_s == 600  # one recogniser kept warm between recordings
    assert settings.devices.commands_address == f"ipc://{tmp_path}/run/devices-commands"
    uplink = k.uplink_config({"kiosk": "1"})
    assert (uplink.device_id, uplink.username, uplink.password, uplink.port) == (
        "kiosk-haicang",
        "kiosk-haicang",
        SECRET,
        8883,
    )


def test_environment_overrides_nested_keys(tmp_path: Path) -> None:
    """CORR_KIOSK__<TABLE>__<KEY> overrides the file, the secret included."""
    env = {
        "CORR_KIOSK__SECRET": "from-the-env-file",
        "CORR_KIOSK__CENTRAL__URL": "https://other.example",
        "CORR_KIOSK__POLICY__FACE_TRIES": "2",
        "CORR_KIOSK_CONFIG": "/etc/corr/kiosk.toml",  # names the file: not a key
    }
    k = parse_settings(document(tmp_path), environ=env).kiosk
    assert k.secret.get_secret_value() == "from-the-env-file"
    assert k.central.url == "https://other.example"
    assert k.policy.face_tries == 2


def test_a_near_miss_variable_is_refused_by_name(tmp_path: Path) -> None:
    """One underscore too few would be silently ignored elsewhere: here it is an error that says how to write it."""
    with pytest.raises(ConfigError, match=r"CORR_KIOSK_CENTRAL__URL: not a key; nested keys take two underscores"):
        parse_settings(document(tmp_path), environ={"CORR_KIOSK_CENTRAL__URL": "https://x"})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"device_id": "kiosk/1"}, "key 'kiosk.device_id'"),
        ({"central": {"url": "ftp://central"}}, "key 'kiosk.central.url': must start with https://"),
        ({"central": {"url": "http://central"}}, "plain http, which would send the device secret"),
        ({"uplink": {"host": ""}}, "key 'kiosk.uplink.host'"),
        ({"unknown": 1}, "key 'kiosk.unknown': Extra inputs are not permitted"),
        ({"policy": {"pin_hash": "1234"}}, "key 'kiosk.policy.pin_hash'"),
        ({"speech": {"reuse_audio_s": -1}}, "key 'kiosk.speech.reuse_audio_s'"),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, change: dict[str, Any], message: str) -> None:
    """Each mistake is reported with its key (and the file), not as a stack trace."""
    with pytest.raises(ConfigError, match=message):
        parse_settings(document(tmp_path, **change), "kiosk.toml", environ={})


def test_secrets_are_never_echoed_in_errors(tmp_path: Path) -> None:
    """A bad secret or PIN hash is refused without showing the value."""
    with pytest.raises(ConfigError) as caught:
        parse_settings(document(tmp_path, secret="short", policy={"pin_hash": "pbkdf2_sha256$x$y$z"}), environ={})
    text = str(caught.value)
    assert "kiosk.secret" in text and "kiosk.policy.pin_hash" in text
    assert "short" not in text.replace("(value hidden", "") and "pbkdf2_sha256$x" not in text
    assert "value hidden: it is a secret" in text


def test_plain_http_is_allowed_only_when_asked_for(tmp_path: Path) -> None:
    """allow_http = true (demos, test benches) accepts an http:// central."""
    k = parse_settings(document(tmp_path, central={"url": "http://127.0.0.1:8000/", "allow_http": True}), environ={})
    assert k.kiosk.central.url == "http://127.0.0.1:8000"


def test_pin_hash_round_trip_and_policy() -> None:
    """The configuration's PIN hash string opens to a PinHash that checks the PIN; the policy gets it."""
    pin = PinHash.make("246810", os.urandom(16), iterations=20_000)
    text = encode_pin_hash(pin)
    assert text.startswith("pbkdf2_sha256$20000$")
    assert decode_pin_hash(text).matches("246810") and not decode_pin_hash(text).matches("246811")
    with pytest.raises(ValueError, match="at least 10000 iterations"):
        decode_pin_hash(encode_pin_hash(PinHash.make("1", b"12345678", iterations=10)))


def test_policy_thresholds_come_from_the_embedder_unless_configured(tmp_path: Path) -> None:
    """face/card thresholds: the calibrated value is used unless the file sets one."""
    k = parse_settings(document(tmp_path, policy={"card_threshold": 0.4}), environ={}).kiosk
    policy = k.policy.build(0.3273, 0.3273)
    assert (policy.face_threshold, policy.card_threshold) == (0.3273, 0.4)
    with pytest.raises(ConfigError, match=r"kiosk\.policy: policy recording limits"):
        parse_settings(
            document(tmp_path, policy={"min_record_s": 10, "max_record_s": 5}), environ={}
        ).kiosk.policy.build(0.3, 0.3)


def test_load_settings_reads_the_file_named_by_the_environment(tmp_path: Path) -> None:
    """$CORR_KIOSK_CONFIG names the file; a missing file or bad TOML is a ConfigError naming it."""
    path = tmp_path / "kiosk.toml"
    path.write_text(
        f"""
[kiosk]
device_id = "kiosk-huli"
secret = "{SECRET}"
state_dir = "{tmp_path}/state"
[kiosk.central]
url = "https://central.example"
[kiosk.uplink]
host = "broker"
[devices]
runtime_dir = "{tmp_path}/run"
""",
        encoding="utf-8",
    )
    assert load_settings(environ={"CORR_KIOSK_CONFIG": str(path)}).kiosk.device_id == "kiosk-huli"
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "missing.toml", environ={})
    path.write_text("[kiosk\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(path, environ={})
