"""contracts.env: CORR_* variables → key paths and tables, the same rules for central, edge agent, kiosk and daemon."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.env import EnvError, env_tables, key_path, merge_tables, section_near_miss, set_key


def test_nested_keys_become_tables_with_lower_case_names() -> None:
    """Two underscores nest; the value stays a string (pydantic converts it)."""
    environ = {
        "CORR_KIOSK__SECRET": "s",
        "CORR_KIOSK__CENTRAL__URL": "https://c",
        "CORR_KIOSK__POLICY__FACE_TRIES": "2",
        "PATH": "/usr/bin",
        "CORR_DEVICES__IDCARD__PORT": "/dev/x",  # another prefix: not ours
    }
    assert env_tables(environ, "CORR_KIOSK__") == {
        "secret": "s",
        "central": {"url": "https://c"},
        "policy": {"face_tries": "2"},
    }


def test_skipped_names_and_one_underscore_near_misses() -> None:
    """CORR_KIOSK_CONFIG names the file (skipped); CORR_KIOSK_CENTRAL__URL is refused with the hint."""
    hint = "nested keys take two underscores, e.g. CORR_KIOSK__CENTRAL__URL"
    assert env_tables({"CORR_KIOSK_CONFIG": "/etc/k.toml"}, "CORR_KIOSK__", skip={"CORR_KIOSK_CONFIG"}) == {}
    with pytest.raises(EnvError, match=r"^environment CORR_KIOSK_CENTRAL__URL: not a key; nested keys take two"):
        env_tables({"CORR_KIOSK_CENTRAL__URL": "x"}, "CORR_KIOSK__", near_miss_hint=hint)
    # Without a hint a prefix is only a filter.
    assert env_tables({"CORR_KIOSK_CENTRAL__URL": "x"}, "CORR_KIOSK__") == {}


def test_a_shared_prefix_takes_only_its_own_keys_and_refuses_section_near_misses() -> None:
    """Central's CORR_: other roles' variables are left alone; CORR_MQTT_PORT is refused with the right spelling."""
    keys, sections = {"db_url", "mqtt", "api"}, ["mqtt", "api"]
    environ = {"CORR_DB_URL": "sqlite://", "CORR_MQTT__PORT": "1884", "CORR_KIOSK__SECRET": "x", "CORR_CONFIG": "/c"}
    assert env_tables(environ, "CORR_", keys=keys, sections=sections) == {
        "db_url": "sqlite://",
        "mqtt": {"port": "1884"},
    }
    with pytest.raises(EnvError, match=r"CORR_MQTT_PORT: not a key; .* e\.g\. CORR_MQTT__PORT$"):
        env_tables({"CORR_MQTT_PORT": "1"}, "CORR_", keys=keys, sections=sections)
    assert env_tables({"CORR_DB_URL_X": "1"}, "CORR_", keys=keys, sections=sections) == {}  # db_url is no table


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"CORR_DEVICES__IDCARD____PORT": "x"}, "CORR_DEVICES__IDCARD____PORT: empty key part"),
        ({"CORR_DEVICES__": "x"}, "CORR_DEVICES__: empty key part"),
        ({"CORR_DEVICES__RUNTIME_DIR": "/x", "CORR_DEVICES__RUNTIME_DIR__SUB": "/y"}, "'runtime_dir' is a value"),
    ],
)
def test_malformed_names_are_refused_by_name(environ: dict[str, str], message: str) -> None:
    with pytest.raises(EnvError, match=message):
        env_tables(environ, "CORR_DEVICES__")


def test_key_path_and_section_near_miss_serve_the_edge_agent_s_path_form() -> None:
    """The edge agent keeps key paths (list entries by index) but takes the same names and near misses."""
    assert key_path("CORR_EDGE_CAMERAS__0__SOURCE__URL", "CORR_EDGE_") == ("cameras", "0", "source", "url")
    miss = section_near_miss("CORR_EDGE_UPLINK_PORT", "CORR_EDGE_", "uplink_port", ["cameras", "uplink"])
    assert miss is not None and str(miss).endswith("e.g. CORR_EDGE_UPLINK__PORT")
    assert section_near_miss("CORR_EDGE_DETECT_EVERY", "CORR_EDGE_", "detect_every", ["uplink"]) is None
    with pytest.raises(EnvError, match="empty key part"):
        key_path("CORR_EDGE_UPLINK____PORT", "CORR_EDGE_")


def test_merge_lays_overrides_on_tables_and_replaces_values() -> None:
    base = {"central": {"url": "a", "ca_file": "/ca"}, "secret": "s", "state_dir": "/var"}
    over = {"central": {"url": "b"}, "secret": {"odd": "table"}}
    merged = merge_tables(base, over)
    assert merged == {"central": {"url": "b", "ca_file": "/ca"}, "secret": {"odd": "table"}, "state_dir": "/var"}
    assert base["central"] == {"url": "a", "ca_file": "/ca"}  # the base is not changed


def test_set_key_makes_the_tables_on_the_way() -> None:
    tables: dict[str, object] = {}
    set_key(tables, "N", ("a", "b"), 1)
    set_key(tables, "M", ("a", "c"), 2)
    assert tables == {"a": {"b": 1, "c": 2}}


_PART = st.from_regex(r"[a-z][a-z0-9]{0,5}(_[a-z0-9]{1,4})?", fullmatch=True)


@given(st.dictionaries(st.tuples(_PART, _PART), st.text(max_size=5), max_size=6))
def test_every_variable_lands_at_its_path(paths: dict[tuple[str, str], str]) -> None:
    """Generated two-level names: each value is found at the path its name spells, nothing else appears."""
    environ = {f"CORR_T__{a.upper()}__{b.upper()}": v for (a, b), v in paths.items()}
    tables = env_tables(environ, "CORR_T__")
    assert {(a, b): tables[a][b] for a in tables for b in tables[a]} == paths


def test_the_roles_read_the_same_kind_of_name(tmp_path: Path) -> None:
    """Central, kiosk, device daemon and edge agent all take their overrides through this module."""
    from central.config import load_config as central_config
    from edge_agent.config import env_overrides as edge_overrides
    from kiosk.devices.config import parse_config as devices_config

    keys = {"data_key": "A" * 43 + "=", "hmac_key": "B" * 43 + "=", "audit_key": "C" * 43 + "="}
    env = {f"CORR_SECURITY__{k.upper()}": v for k, v in keys.items()}
    assert central_config(None, {**env, "CORR_MQTT__PORT": "1884"}).mqtt.port == 1884
    assert devices_config({}, "k", {"CORR_DEVICES__RUNTIME_DIR": str(tmp_path)}).runtime_dir == tmp_path
    assert edge_overrides({"CORR_EDGE_UPLINK__HOST": "b"}) == {("uplink", "host"): "b"}
