"""The agent's configuration: a full file, and refusals that name the key and the value."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from edge_agent.__main__ import main
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


FULL: dict[str, Any] = {
    **MINIMAL,
    "uplink": {"host": "broker.local", "password": "file-secret", "outbox_path": "/var/lib/corr/edge.db"},
}


def test_environment_overrides_nested_keys_and_list_entries() -> None:
    """CORR_EDGE_UPLINK__PORT, CORR_EDGE_DETECT_EVERY and CORR_EDGE_CAMERAS__0__SOURCE__FPS override the file."""
    environ = {
        "CORR_EDGE_UPLINK__PORT": "8883",
        "CORR_EDGE_UPLINK__PASSWORD": "env-secret",
        "CORR_EDGE_DETECT_EVERY": "3",
        "CORR_EDGE_CAMERAS__0__SOURCE__FPS": "5",
        "CORR_EDGE_GALLERY_SYNC__ALLOW_HTTP": "true",
        "CORR_DB_URL": "sqlite:///central.db",  # central's: not ours, ignored
        "CORR_EDGE_CONFIG": "/etc/corr/edge.toml",  # the file's name, not a key
    }
    config = parse_config(FULL, environ=environ)
    assert config.uplink is not None
    assert (config.uplink.port, config.uplink.password.get_secret_value()) == (8883, "env-secret")
    assert config.detect_every == 3
    assert isinstance(config.cameras[0].source, ImageFolderCamera)
    assert config.cameras[0].source.fps == 5
    assert config.gallery_sync.allow_http is True


def test_a_json_value_replaces_a_whole_list() -> None:
    """CORR_EDGE_CAMERAS='[...]' gives the cameras without a file entry."""
    environ = {"CORR_EDGE_CAMERAS": '[{"id": "yard", "source": {"type": "url", "url": "rtsp://cam/1"}}]'}
    config = parse_config({"device_id": "edge-01"}, environ=environ)
    assert [c.id for c in config.cameras] == ["yard"]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("CORR_EDGE_UPLINK_PORT", "nested keys take two underscores, e.g. CORR_EDGE_UPLINK__PORT"),
        ("CORR_EDGE_GALLERY_SYNC_ALLOW_HTTP", "e.g. CORR_EDGE_GALLERY_SYNC__ALLOW_HTTP"),
        ("CORR_EDGE_DETECT_EVRY", "'detect_evry' is not a key of the edge agent's config"),
        ("CORR_EDGE_UPLINK____PORT", "empty key part"),
        ("CORR_EDGE_UPLINK___PORT", "key 'uplink._port': Extra inputs are not permitted"),
        ("CORR_EDGE_CAMERAS__3__ID", "cameras has 1 entries; '3' is not the index of one of them"),
    ],
)
def test_near_misses_in_the_environment_are_refused_by_name(name: str, message: str) -> None:
    """A CORR_EDGE_ variable that names no key is an error naming the variable, never ignored."""
    with pytest.raises(ConfigError, match=re.escape(message)) as info:
        parse_config(FULL, environ={name: "1"})
    assert name in str(info.value)


def test_an_unknown_nested_key_from_the_environment_names_the_variable() -> None:
    """CORR_EDGE_UPLINK__HOSTNAME: the uplink section refuses the key, and the message names the variable."""
    with pytest.raises(ConfigError, match=r"environment CORR_EDGE_UPLINK__HOSTNAME: key 'uplink.hostname'"):
        parse_config(FULL, environ={"CORR_EDGE_UPLINK__HOSTNAME": "b"})


def test_a_bad_secret_from_the_environment_is_not_shown() -> None:
    """A password that fails validation is named with the variable it came from, its value hidden."""
    with pytest.raises(ConfigError) as info:
        parse_config(
            {**FULL, "uplink": {**FULL["uplink"], "password": ""}}, environ={"CORR_EDGE_UPLINK__PASSWORD": "[1]"}
        )
    text = str(info.value)
    assert "environment CORR_EDGE_UPLINK__PASSWORD: key 'uplink.password'" in text
    assert text.endswith("(value hidden: it is a secret)")
    assert "[1]" not in text


def test_check_config_hides_secrets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--check-config prints the effective config: overrides applied, passwords and URL credentials hidden."""
    path = tmp_path / "edge.toml"
    path.write_text(
        """
device_id = "edge-haicang"
[uplink]
host = "broker.local"
password = "file-secret"
outbox_path = "/var/lib/corr/edge.db"
[[cameras]]
id = "hall"
source = { type = "url", url = "rtsp://viewer:cam-secret@10.0.3.21:554/s1" }
[vision]
template_key = "c2VjcmV0LWtleS1zZWNyZXQta2V5LXNlY3JldC1rZXk="
""",
        encoding="utf-8",
    )
    monkey = pytest.MonkeyPatch()
    monkey.setenv("CORR_EDGE_UPLINK__PASSWORD", "env-secret")
    monkey.setenv("CORR_EDGE_UPLINK__PORT", "8883")
    try:
        assert main(["-c", str(path), "--check-config"]) == 0
    finally:
        monkey.undo()
    out = capsys.readouterr().out
    data = json.loads(out)
    assert data["uplink"]["port"] == 8883
    assert data["uplink"]["password"] == "(hidden)"
    assert data["cameras"][0]["source"]["url"] == "rtsp://viewer:***@10.0.3.21:554/s1"
    assert data["effective"] == {"state_dir": "/var/lib/corr/edge-state", "gallery_sync": True}
    for secret in ("file-secret", "env-secret", "cam-secret", "c2VjcmV0LWtleS1"):
        assert secret not in out


def test_the_config_file_may_come_from_the_environment(tmp_path: Path) -> None:
    """CORR_EDGE_CONFIG names the file when no path is given; without either, a clear error."""
    path = tmp_path / "edge.toml"
    path.write_text('device_id = "edge-01"\n[[cameras]]\nid = "c"\nsource = { type = "images", path = "/x" }\n')
    assert load_config(None, {"CORR_EDGE_CONFIG": str(path)}).device_id == "edge-01"
    with pytest.raises(ConfigError, match=r"give -c edge\.toml or set CORR_EDGE_CONFIG"):
        load_config(None, {})


def test_gallery_sync_needs_the_uplink_and_yields_to_an_offline_folder() -> None:
    """Sync is active with an uplink; an offline gallery_dir turns it off; no uplink, no sync."""
    assert parse_config(FULL).gallery_sync_active()
    assert not parse_config({**FULL, "gallery_dir": "/var/lib/corr/gallery"}).gallery_sync_active()
    assert not parse_config(MINIMAL).gallery_sync_active()
    assert not parse_config({**FULL, "gallery_sync": {"enabled": False}}).gallery_sync_active()
