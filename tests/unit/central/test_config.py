"""Central's configuration: TOML file, CORR_* overrides, errors that name the key and value, dump_toml."""

import base64
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from central.config import CentralConfig, ConfigError, dump_toml, load_config
from tests.unit.central.strategies import keys

KEY = base64.b64encode(bytes(range(32))).decode()
SECURITY_TOML = f'[security]\ndata_key = "{KEY}"\nhmac_key = "{KEY}"\naudit_key = "{KEY}"\n'
SECURITY_ENV = {
    "CORR_SECURITY__DATA_KEY": KEY,
    "CORR_SECURITY__HMAC_KEY": KEY,
    "CORR_SECURITY__AUDIT_KEY": KEY,
}


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "central.toml"
    path.write_text(text)
    return path


def _error(path: Path | None, environ: dict[str, str]) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path, environ)
    return str(info.value)


def test_minimal_file_gets_the_defaults(tmp_path):
    """A file with only the three keys loads, and every other key has its documented default."""
    cfg = load_config(_write(tmp_path, SECURITY_TOML), {})
    assert cfg.db_url == "sqlite:///central.db"
    assert (cfg.mqtt.host, cfg.mqtt.port, cfg.mqtt.client_id) == ("127.0.0.1", 1883, "central-ingest-1")
    assert (cfg.api.host, cfg.api.port) == ("127.0.0.1", 8080)
    assert cfg.mqtt.password_file is None
    assert cfg.security.key_bytes("data_key") == bytes(range(32))


def test_file_values_are_read(tmp_path):
    """Top-level keys and section keys in the file reach the model, converted to their types."""
    text = 'db_url = "postgresql+psycopg://c@db/corr"\n[mqtt]\nhost = "broker"\nport = 8883\n'
    text += 'password_file = "/etc/mosquitto/corr.passwd"\n' + SECURITY_TOML
    cfg = load_config(_write(tmp_path, text), {})
    assert cfg.db_url == "postgresql+psycopg://c@db/corr"
    assert (cfg.mqtt.host, cfg.mqtt.port) == ("broker", 8883)
    assert cfg.mqtt.password_file == Path("/etc/mosquitto/corr.passwd")


def test_environment_overrides_one_key_and_keeps_the_rest(tmp_path):
    """CORR_MQTT__PORT replaces [mqtt] port only; [mqtt] host from the file stays."""
    path = _write(tmp_path, '[mqtt]\nhost = "broker"\nport = 1884\n' + SECURITY_TOML)
    cfg = load_config(path, {"CORR_MQTT__PORT": "1885", "CORR_DB_URL": "sqlite:///other.db"})
    assert cfg.mqtt.port == 1885
    assert cfg.mqtt.host == "broker"
    assert cfg.db_url == "sqlite:///other.db"


def test_environment_alone_is_enough():
    """Without a file, CORR_* variables give a complete config (the keys are the only required ones)."""
    cfg = load_config(None, {**SECURITY_ENV, "CORR_SECURITY__MAX_FAILED_LOGINS": "3"})
    assert cfg.security.max_failed_logins == 3
    assert cfg.security.key_bytes("audit_key") == bytes(range(32))


def test_corr_config_names_the_file(tmp_path):
    """With no path given, CORR_CONFIG says which file to read (and is not taken as a config key)."""
    path = _write(tmp_path, "[api]\nport = 9000\n" + SECURITY_TOML)
    assert load_config(None, {"CORR_CONFIG": str(path)}).api.port == 9000


def test_explicit_path_wins_over_corr_config(tmp_path):
    """A path passed in (the -c option) is read even when CORR_CONFIG names another file."""
    path = _write(tmp_path, "[api]\nport = 9001\n" + SECURITY_TOML)
    assert load_config(path, {"CORR_CONFIG": str(tmp_path / "absent.toml")}).api.port == 9001


def test_models_dir_is_not_a_config_key():
    """CORR_MODELS_DIR belongs to the vision package and is not refused as an unknown key."""
    cfg = load_config(None, {**SECURITY_ENV, "CORR_MODELS_DIR": "/var/lib/corr/models"})
    assert cfg.api.port == 8080


def test_unrelated_variables_are_ignored():
    """Variables without the CORR_ prefix never reach the model."""
    cfg = load_config(None, {**SECURITY_ENV, "MQTT__PORT": "1", "PORT": "2", "corr_api__port": "3"})
    assert (cfg.mqtt.port, cfg.api.port) == (1883, 8080)


def test_other_roles_variables_are_ignored():
    """CORR_* variables whose first part is not one of central's keys belong to other roles and are skipped."""
    environ = {**SECURITY_ENV, "CORR_EDGE__CAMERA": "hall", "CORR_KIOSK_ID": "k1", "CORR_MQTT__PORT": "1999"}
    assert load_config(None, environ).mqtt.port == 1999


@pytest.mark.parametrize(
    ("toml", "environ", "key", "shown"),
    [
        ("", {"CORR_MQTT__PORT": "abc"}, "mqtt.port", "'abc'"),
        ("", {"CORR_MQTT__PORT": "70000"}, "mqtt.port", "'70000'"),
        ("[api]\nport = -1\n", {}, "api.port", "-1"),
        ("", {"CORR_SECURITY__TOKEN_TTL_S": "59"}, "security.token_ttl_s", "'59'"),
        ("[ingest]\nbatch_max = 0\n", {}, "ingest.batch_max", "0"),
        ('[ingest]\nreceive_maximum = "many"\n', {}, "ingest.receive_maximum", "'many'"),
        ("[mqtt]\nhost = 5\n", {}, "mqtt.host", "5"),
    ],
)
def test_bad_value_names_key_and_value(tmp_path, toml, environ, key, shown):
    """A value of the wrong type or out of range fails with the dotted key and the value given."""
    message = _error(_write(tmp_path, toml + SECURITY_TOML), environ)
    assert f"key '{key}'" in message
    assert f"(got {shown})" in message


def test_error_names_the_file(tmp_path):
    """An error in a file starts with the file's path, so the operator knows where to look."""
    path = _write(tmp_path, "[api]\nport = 70000\n" + SECURITY_TOML)
    assert _error(path, {}).startswith(f"{path}: key 'api.port'")


def test_every_problem_is_reported_at_once(tmp_path):
    """Two bad keys give two lines, so a config is fixed in one pass."""
    path = _write(tmp_path, "[api]\nport = 70000\n[mqtt]\nport = 0\n" + SECURITY_TOML)
    lines = _error(path, {}).splitlines()
    assert len(lines) == 2
    assert {line.split("'")[1] for line in lines} == {"api.port", "mqtt.port"}


def test_missing_security_section_is_named():
    """With no keys at all, the error names the [security] section as required."""
    assert _error(None, {}) == (
        "environment: key 'security': Field required "
        "(needs data_key, hmac_key, audit_key: make them with `corr-central keys`)"
    )


@pytest.mark.parametrize("missing", ["data_key", "hmac_key", "audit_key"])
def test_each_missing_key_is_named(missing):
    """Leaving out one of the three keys names exactly that key, without a '(got …)' value."""
    environ = {k: v for k, v in SECURITY_ENV.items() if not k.endswith(missing.upper())}
    message = _error(None, environ)
    assert message == f"environment: key 'security.{missing}': Field required"


def test_key_that_is_not_base64_is_explained():
    """A key that is not base64 says so and points to the command that makes one."""
    message = _error(None, {**SECURITY_ENV, "CORR_SECURITY__HMAC_KEY": "not base64!"})
    assert "key 'security.hmac_key'" in message
    assert "must be base64 (make one with `corr-central keys`)" in message


@settings(max_examples=30)
@given(size=st.integers(0, 96).filter(lambda n: n != 32))
def test_key_of_wrong_length_is_explained(size):
    """A base64 key that does not decode to 32 bytes names the key and the length it has."""
    short = base64.b64encode(bytes(size)).decode()
    message = _error(None, {**SECURITY_ENV, "CORR_SECURITY__DATA_KEY": short})
    assert "key 'security.data_key'" in message
    assert f"must decode to 32 bytes, got {size}" in message


@pytest.mark.parametrize(
    ("toml", "environ", "key"),
    [
        ('colour = "red"\n', {}, "colour"),
        ("[mqtt]\nqos = 1\n", {}, "mqtt.qos"),
        ("[logging]\nlevel = 1\n", {}, "logging"),
        ("", {"CORR_API__PORT__X": "1"}, "api.port"),
        ("", {"CORR_SECURITY__PEPPER": "x"}, "security.pepper"),
    ],
)
def test_unknown_key_is_refused(tmp_path, toml, environ, key):
    """A misspelt key, in the file or the environment, fails and is named (extra keys are forbidden)."""
    message = _error(_write(tmp_path, toml + SECURITY_TOML), environ)
    assert f"key '{key}'" in message


def test_missing_file_is_named(tmp_path):
    """A config path that does not exist says so, with the path."""
    path = tmp_path / "nope.toml"
    assert _error(path, {}) == f"config file {path} does not exist"


def test_invalid_toml_is_named(tmp_path):
    """A file that is not TOML fails with its path and the parser's position."""
    path = _write(tmp_path, "[mqtt\nport = 1\n")
    message = _error(path, {})
    assert message.startswith(f"{path}: not valid TOML:")
    assert "line 1" in message


def test_every_field_has_a_title():
    """Config pages and error messages rely on a title for each key (sections carry their docstring)."""
    sections: list[type[BaseModel]] = [CentralConfig]
    for field in CentralConfig.model_fields.values():
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            sections.append(field.annotation)
    assert len(sections) == 7
    untitled = [
        f"{model.__name__}.{name}"
        for model in sections
        for name, field in model.model_fields.items()
        if not field.title and not (isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel))
    ]
    assert untitled == []


# Text TOML basic strings hold without escapes: no control characters (tab aside), no surrogates.
plain_texts = st.text(st.characters(exclude_categories=("Cc", "Cs")), max_size=30)
optional_paths = st.none() | st.from_regex(r"/[a-z0-9_-]{1,8}(/[a-z0-9_.-]{1,8}){0,3}", fullmatch=True).map(Path)


@st.composite
def configs(draw: st.DrawFn) -> CentralConfig:
    """A valid central config with arbitrary values in every section."""

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode()

    return CentralConfig.model_validate(
        {
            "db_url": draw(plain_texts),
            "mqtt": {
                "host": draw(plain_texts),
                "port": draw(st.integers(1, 65535)),
                "username": draw(plain_texts),
                "password": draw(plain_texts),
                "client_id": draw(plain_texts),
                "session_expiry_s": draw(st.integers(0, 2**31)),
                "password_file": draw(optional_paths),
                "acl_file": draw(optional_paths),
                "pid_file": draw(optional_paths),
            },
            "security": {
                "data_key": b64(draw(keys)),
                "hmac_key": b64(draw(keys)),
                "audit_key": b64(draw(keys)),
                "token_ttl_s": draw(st.integers(60, 10**7)),
                "max_failed_logins": draw(st.integers(1, 100)),
                "lockout_s": draw(st.integers(1, 10**6)),
            },
            "ingest": {
                "batch_max": draw(st.integers(1, 10**5)),
                "batch_wait_ms": draw(st.integers(0, 10**4)),
                "receive_maximum": draw(st.integers(1, 65535)),
            },
            "api": {"host": draw(plain_texts), "port": draw(st.integers(0, 65535))},
            "device_api": {
                "public_url": draw(
                    st.none() | st.from_regex(r"https?://[a-z0-9.-]{1,20}(:[0-9]{1,5})?", fullmatch=True)
                ),
                "fingerprint_nodes": draw(st.lists(st.from_regex(r"[0-9]{2,9}", fullmatch=True), max_size=4)),
                "audio_max_bytes": draw(st.integers(1, 10**9)),
                "auth_cache_s": draw(st.integers(0, 10**5)),
            },
        }
    )


def _round_trip(cfg: CentralConfig) -> CentralConfig:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "central.toml"
        path.write_text(dump_toml(cfg))
        return load_config(path, {})


@settings(max_examples=60)
@given(cfg=configs())
def test_dump_toml_round_trips(cfg):
    """Whatever dump_toml writes, load_config reads back as the same config."""
    assert _round_trip(cfg) == cfg


def test_dump_toml_leaves_out_unset_paths():
    """Unset optional keys are not written (TOML has no null), set ones are."""
    cfg = load_config(None, {**SECURITY_ENV, "CORR_MQTT__ACL_FILE": "/etc/mosquitto/corr.acl"})
    text = dump_toml(cfg)
    assert 'acl_file = "/etc/mosquitto/corr.acl"' in text
    assert "password_file" not in text
    assert "pid_file" not in text


def test_dump_toml_escapes_quotes_and_backslashes():
    """A password with quotes and backslashes survives the round trip."""
    cfg = load_config(None, {**SECURITY_ENV, "CORR_MQTT__PASSWORD": "a\"b\\c'd"})
    assert _round_trip(cfg).mqtt.password == "a\"b\\c'd"


@pytest.mark.parametrize("password", ["line1\nline2", "bell\x07", "del\x7f"])
def test_dump_toml_escapes_control_characters(password):
    """A password holding a control character survives the round trip (TOML needs it escaped)."""
    cfg = load_config(None, {**SECURITY_ENV, "CORR_MQTT__PASSWORD": password})
    assert _round_trip(cfg).mqtt.password == password


def test_secret_values_never_appear_in_errors(tmp_path):
    """A bad key is named, its value is not echoed (errors reach logs and the journal)."""
    text = SECURITY_TOML.replace(SECURITY_TOML.split('data_key = "')[1].split('"')[0], "c2hvcnQ=")
    message = _error(_write(tmp_path, text), {})
    assert "key 'security.data_key'" in message and "c2hvcnQ=" not in message and "value hidden" in message


def test_error_names_the_environment_variable_it_came_from(tmp_path):
    """When a bad value comes from CORR_*, the error names that variable, not the file."""
    message = _error(_write(tmp_path, SECURITY_TOML), {"CORR_MQTT__PORT": "70000"})
    assert message.startswith("environment CORR_MQTT__PORT: key 'mqtt.port'")


@pytest.mark.parametrize("name", ["CORR_MQTT_PORT", "CORR_SECURITY_DATA_KEY", "CORR_API_PORT"])
def test_single_underscore_near_miss_is_refused(tmp_path, name):
    """CORR_MQTT_PORT looks like central's but would be ignored: it is refused with the right spelling."""
    message = _error(_write(tmp_path, SECURITY_TOML), {name: "1"})
    assert "two underscores" in message and "__" in message.split("e.g. ")[1]


def test_repr_hides_secrets(tmp_path):
    """repr() of the config (e.g. in a traceback) shows no key and no password."""
    cfg = load_config(_write(tmp_path, SECURITY_TOML), {"CORR_MQTT__PASSWORD": "hunter2-secret"})
    shown = repr(cfg)
    assert "hunter2-secret" not in shown and cfg.security.data_key not in shown
