"""The daemon's configuration: defaults, the kiosk file's tables, CORR_* overrides, errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiosk.devices.config import ConfigError, check_address, default_runtime_dir, load_config, parse_config
from peripherals.audio import WavMicrophone
from peripherals.camera import ImageFolderCamera

ENV = {"XDG_RUNTIME_DIR": "/run/user/1000"}


def test_without_a_file_nothing_is_configured_and_sockets_go_under_the_runtime_folder() -> None:
    config = parse_config({}, environ=ENV)
    assert config.runtime_dir == Path("/run/user/1000/corr-kiosk")
    assert config.events_address == "ipc:///run/user/1000/corr-kiosk/devices-events"
    assert config.commands_address == "ipc:///run/user/1000/corr-kiosk/devices-commands"
    assert config.recordings_dir == Path("/run/user/1000/corr-kiosk/recordings")
    assert (config.idcard, config.fingerprint, config.camera, config.microphone) == (None, None, None, None)


def test_the_system_service_uses_run_corr_kiosk() -> None:
    assert default_runtime_dir({}) == Path("/run/corr-kiosk")
    assert parse_config({}, environ={}).events_address == "ipc:///run/corr-kiosk/devices-events"


def test_a_kiosk_file_with_every_device(tmp_path: Path) -> None:
    path = tmp_path / "kiosk.toml"
    path.write_text(
        """
[ui]
anything = "belongs to another process"

[devices]
runtime_dir = "/srv/k"
events = "tcp://127.0.0.1:5601"

[devices.idcard]
port = "/dev/ttyUSB0"
poll_interval_s = 0.2

[devices.fingerprint]
port = "/dev/ttyUSB1"
password = "0x1234"

[devices.camera]
type = "images"
path = "/srv/faces"
fps = 5

[devices.microphone]
type = "wav"
path = "/srv/report.wav"
realtime = false

[vision.detector]
type = "yunet"
score_threshold = 0.7
""",
        encoding="utf-8",
    )
    config = load_config(path, environ={})
    assert config.events_address == "tcp://127.0.0.1:5601"
    assert config.commands_address == "ipc:///srv/k/devices-commands"
    assert config.idcard is not None and config.idcard.poll_interval_s == 0.2
    assert config.fingerprint is not None and config.fingerprint.password_number() == 0x1234
    assert isinstance(config.camera, ImageFolderCamera) and config.camera.fps == 5
    assert isinstance(config.microphone, WavMicrophone) and not config.microphone.realtime
    assert config.vision.detector.score_threshold == 0.7


def test_environment_overrides_any_key(tmp_path: Path) -> None:
    path = tmp_path / "kiosk.toml"
    path.write_text('[devices.idcard]\nport = "/dev/ttyUSB0"\n', encoding="utf-8")
    config = load_config(
        path,
        environ={
            "CORR_DEVICES__IDCARD__PORT": "/dev/ttyACM3",
            "CORR_DEVICES__IDCARD__BAUDRATE": "9600",
            "CORR_DEVICES__RUNTIME_DIR": "/tmp/k",
            "CORR_VISION__RUNTIME__THREADS": "1",
            "CORR_DB_URL": "sqlite:///ignored.db",  # another role's key
        },
    )
    assert config.idcard is not None
    assert (config.idcard.port, config.idcard.baudrate) == ("/dev/ttyACM3", 9600)
    assert config.runtime_dir == Path("/tmp/k")
    assert config.vision.runtime.threads == 1


def test_the_file_comes_from_corr_kiosk_config(tmp_path: Path) -> None:
    path = tmp_path / "k.toml"
    path.write_text('[devices]\nruntime_dir = "/x"\n', encoding="utf-8")
    assert load_config(environ={"CORR_KIOSK_CONFIG": str(path)}).runtime_dir == Path("/x")


@pytest.mark.parametrize(
    ("document", "environ", "expected"),
    [
        ({"devices": {"idcard": {}}}, {}, "kiosk.toml: key 'devices.idcard.port': Field required"),
        (
            {"devices": {"idcard": {"port": "/dev/x", "pol_interval_s": 1}}},
            {},
            "kiosk.toml: key 'devices.idcard.pol_interval_s': Extra inputs are not permitted",
        ),
        (
            {"devices": {"camera": {"type": "webcam"}}},
            {},
            "kiosk.toml: key 'devices.camera': Input tag 'webcam' found using 'type' does not match",
        ),
        (
            {"devices": {"microphone": {"type": "wav"}}},
            {},
            "kiosk.toml: key 'devices.microphone.wav.path': Field required",
        ),
        (
            {},
            {"CORR_DEVICES__IDCARD__PORT": "/dev/x", "CORR_DEVICES__IDCARD__RETRIES": "many"},
            "environment CORR_DEVICES__IDCARD__RETRIES: key 'devices.idcard.retries': Input should be a valid integer",
        ),
        (
            {"devices": {"fingerprint": {"port": "/dev/x", "password": "secret-word"}}},
            {},
            "kiosk.toml: key 'devices.fingerprint.password': must be a number, e.g. 0 or 0x12345678 (value hidden",
        ),
        (
            {"devices": {"events": "tcp://0.0.0.0:5601"}},
            {},
            "kiosk.toml: key 'devices.events': address 'tcp://0.0.0.0:5601': tcp:// only on the loopback interface",
        ),
        (
            {"devices": {"events": "ipc:///run/a", "commands": "ipc:///run/a"}},
            {},
            "kiosk.toml: key 'devices': events and commands must be different addresses",
        ),
        (
            {"devices": {"supervision": {"restart_min_s": 5, "restart_max_s": 1}}},
            {},
            "kiosk.toml: key 'devices.supervision': restart_max_s (1.0) must be at least restart_min_s (5.0)",
        ),
        (
            {"vision": {"detector": {"type": "yunet", "landmark_model": "x"}}},
            {},
            "kiosk.toml: key 'vision.detector.yunet.landmark_model': Extra inputs are not permitted",
        ),
    ],
)
def test_a_mistake_names_where_it_came_from_and_the_key(document, environ, expected) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(document, "kiosk.toml", environ)
    assert str(caught.value).startswith(expected), str(caught.value)


def test_secrets_never_appear_in_errors() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"devices": {"fingerprint": {"port": "/dev/x", "password": "hunter2"}}}, "k", {})
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        (
            {"CORR_DEVICES_IDCARD__PORT": "/dev/x"},
            "environment CORR_DEVICES_IDCARD__PORT: not a key; nested keys take two",
        ),
        ({"CORR_DEVICES__IDCARD____PORT": "/dev/x"}, "environment CORR_DEVICES__IDCARD____PORT: empty key part"),
        (
            {"CORR_DEVICES__IDCARD___PORT": "/dev/x"},
            "environment CORR_DEVICES__IDCARD___PORT: key 'devices.idcard._port': Extra inputs are not permitted",
        ),
        (
            {"CORR_DEVICES__RUNTIME_DIR": "/x", "CORR_DEVICES__RUNTIME_DIR__SUB": "/y"},
            "'runtime_dir' is a value, not a table",
        ),
        ({"CORR_DEVICES__VISION__THRESHOLD": "0.3"}, "the face pipeline's keys go in the shared [vision] table"),
    ],
)
def test_a_misspelt_variable_is_refused(environ: dict[str, str], expected: str) -> None:
    with pytest.raises(ConfigError, match=expected.replace("[", r"\[").replace("]", r"\]")):
        parse_config({}, "k", environ)


def test_devices_vision_in_the_file_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"shared \[vision\] table"):
        parse_config({"devices": {"vision": {}}}, "k", {})


def test_file_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.toml", environ={})
    bad = tmp_path / "bad.toml"
    bad.write_text("[devices\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad, environ={})
    wrong = tmp_path / "wrong.toml"
    wrong.write_text('devices = "x"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="'devices' must be a table, got str"):
        load_config(wrong, environ={})


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("ipc://relative/path", "needs an absolute path"),
        ("ipc:///" + "x" * 120, "Unix sockets allow 107"),
        ("tcp://10.0.0.5:5601", "only on the loopback interface"),
        ("tcp://127.0.0.1", "needs a port"),
        ("tcp://127.0.0.1:notaport", "needs a port"),
        ("udp://127.0.0.1:5", "expected ipc:///path or tcp://127.0.0.1:port"),
        ("", "expected ipc:///path"),
    ],
)
def test_only_local_addresses(address: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        check_address(address)


@pytest.mark.parametrize(
    "address", ["ipc:///run/corr-kiosk/x", "tcp://127.0.0.1:5601", "tcp://[::1]:5601", "tcp://localhost:1"]
)
def test_local_addresses_pass(address: str) -> None:
    assert check_address(address) == address


def test_a_runtime_dir_too_long_for_a_socket_is_refused_naming_it() -> None:
    with pytest.raises(ConfigError, match="choose a shorter runtime_dir"):
        parse_config({"devices": {"runtime_dir": "/" + "r" * 110}}, "k", {})
