"""The agent's configuration: a full file, and refusals that name the key and the value."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_agent.config import ConfigError, load_config, parse_config
from peripherals.camera import FileCamera, ImageFolderCamera

MINIMAL = {"device_id": "edge-haicang-01", "cameras": [{"id": "hall", "source": {"type": "images", "path": "/tmp"}}]}


def test_a_full_file_loads(tmp_path: Path) -> None:
    """Uplink, two cameras of different types, detection rate, tracker and vision sections are read."""
    path = tmp_path / "edge.toml"
    path.write_text(
        """
device_id = "edge-haicang-01"
detect_every = 3
[uplink]
host = "broker.local"
password = "secret"
outbox_path = "/var/lib/corr/edge.db"
[[cameras]]
id = "hall-entrance"
source = { type = "file", path = "demo/clips/hall.avi", loop = true }
[[cameras]]
id = "yard"
source = { type = "images", path = "demo/frames", fps = 5.0 }
[tracker]
max_missed = 8
[vision.runtime]
threads = 1
""",
        encoding="utf-8",
    )
    config = load_config(path)
    assert config.detect_every == 3
    assert isinstance(config.cameras[0].source, FileCamera)
    assert isinstance(config.cameras[1].source, ImageFolderCamera)
    assert config.tracker.max_missed == 8
    assert config.vision.runtime.threads == 1
    assert config.uplink is not None
    uplink = config.uplink.build(config.device_id, {"edge_agent": "0.1.0"})
    assert (uplink.device_id, uplink.password, uplink.port) == ("edge-haicang-01", "secret", 1883)


def test_an_unknown_key_is_refused_by_name() -> None:
    """A misspelt key is an error naming it."""
    with pytest.raises(ConfigError, match=r"key 'detect_evry': Extra inputs are not permitted"):
        parse_config({**MINIMAL, "detect_evry": 2})


def test_a_bad_value_is_named_with_the_value() -> None:
    """detect_every = 0 names the key and shows the 0."""
    with pytest.raises(ConfigError, match=r"key 'detect_every': .*greater than or equal to 1 \(got 0\)"):
        parse_config({**MINIMAL, "detect_every": 0})


def test_the_password_is_never_shown() -> None:
    """A wrong-typed password is reported without its value."""
    data = {**MINIMAL, "uplink": {"host": "b", "password": 12345, "outbox_path": "/tmp/o.db"}}
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    assert "uplink.password" in str(info.value)
    assert "12345" not in str(info.value)


def test_device_id_and_camera_ids_are_checked() -> None:
    """A device id with a slash, and two cameras with one id, are refused with the reason."""
    with pytest.raises(ConfigError, match="device_id 'edge/01'"):
        parse_config({**MINIMAL, "device_id": "edge/01"})
    twice = MINIMAL["cameras"] * 2  # type: ignore[operator]
    with pytest.raises(ConfigError, match="repeated: hall"):
        parse_config({**MINIMAL, "cameras": twice})


def test_a_camera_source_with_another_types_key_is_refused() -> None:
    """peripherals.camera's own models validate each source (here: `index` is a device key, not a folder's)."""
    with pytest.raises(ConfigError, match=r"cameras\.0\.source\.images\.index"):
        parse_config({**MINIMAL, "cameras": [{"id": "c", "source": {"type": "images", "path": "/x", "index": 0}}]})


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    """load_config on a path that does not exist says so."""
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")
