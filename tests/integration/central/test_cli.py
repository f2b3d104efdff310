"""`corr-central` as an operator uses it: clear errors, audit verification with exit codes, OpenAPI served."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.support.central import make_config
from tests.support.processes import write_config


def _cli(config: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "central", "-c", str(config), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


@pytest.fixture
def conf(tmp_path: Path) -> Path:
    path = write_config(make_config(f"sqlite:///{tmp_path / 'c.db'}"), tmp_path / "central.toml")
    assert _cli(path, "db", "upgrade").returncode == 0
    return path


def test_bad_requests_say_what_was_wrong(conf: Path) -> None:
    """Each refusal names the value and what was expected, and exits non-zero."""
    assert _cli(conf, "nodes", "add", "35", "--name", "省", "--level", "province").returncode == 0
    cases = [
        (
            ["nodes", "add", "3502", "--name", "市", "--level", "township", "--parent", "35"],
            "a township cannot sit under the province 35 (expected a city)",
        ),
        (["nodes", "add", "35", "--name", "again", "--level", "province"], "node 35 exists already"),
        (["nodes", "add", "bad/code", "--name", "x", "--level", "province"], "use 1-32 letters, digits or '-'"),
        (["users", "add", "x", "--role", "admin", "--node", "35", "--password", "long-enough-1"], "username 'x'"),
        (
            ["users", "add", "okname", "--role", "boss", "--node", "35", "--password", "long-enough-1"],
            "role 'boss': expected one of admin, officer, viewer",
        ),
        (["devices", "add", "kiosk+1", "--kind", "kiosk", "--node", "35"], "no '/', '+' or '#'"),
        (
            [
                "subjects",
                "add",
                "S-1",
                "--name",
                "x",
                "--id-number",
                "110105194912310021",
                "--node",
                "35",
                "--category",
                "probation",
                "--level",
                "normal",
                "--term-start",
                "2026-01-01",
                "--term-end",
                "2027-01-01",
            ],
            "check character is 1, the first 17 digits give X",
        ),
    ]
    for args, fragment in cases:
        r = _cli(conf, *args)
        assert r.returncode == 1, (args, r.stdout)
        assert fragment in r.stderr, (fragment, r.stderr)


def test_config_error_exits_2_naming_the_key(tmp_path: Path) -> None:
    """A broken config stops every command with exit 2 and the key that is wrong."""
    path = tmp_path / "broken.toml"
    path.write_text('db_url = "sqlite:///x.db"\n[security]\ndata_key = "short"\n')
    r = _cli(path, "db", "upgrade")
    assert r.returncode == 2
    assert "key 'security.data_key'" in r.stderr and "key 'security.hmac_key': Field required" in r.stderr


def test_audit_verify_exit_codes(conf: Path, tmp_path: Path) -> None:
    """`audit verify` prints the head and exits 0; after tampering it exits 1 and names the row."""
    assert _cli(conf, "nodes", "add", "35", "--name", "省", "--level", "province").returncode == 0
    for name in ("first.officer", "second.officer", "third.officer"):
        r = _cli(conf, "users", "add", name, "--role", "officer", "--node", "35", "--password", "long-enough-1")
        assert r.returncode == 0, r.stderr
    ok = _cli(conf, "audit", "verify")
    assert ok.returncode == 0 and "audit chain intact: 3 rows" in ok.stdout
    head = re.search(r"head (\d+:[0-9a-f]{64})", ok.stdout)
    assert head is not None
    engine = create_engine(f"sqlite:///{tmp_path / 'c.db'}")
    with engine.begin() as c:
        c.execute(text("DROP TRIGGER audit_no_update"))
        c.execute(text("UPDATE audit SET actor = 'nobody' WHERE id = 2"))
    engine.dispose()
    bad = _cli(conf, "audit", "verify")
    assert bad.returncode == 1 and "AUDIT CHAIN BROKEN: row 2: content does not match its hash" in bad.stderr


def test_openapi_served(conf: Path) -> None:
    """The API publishes its OpenAPI description and the /docs page."""
    from fastapi.testclient import TestClient

    from central.api.app import create_app
    from central.config import load_config
    from central.context import Central

    central = Central.from_config(load_config(conf, {}))
    try:
        with TestClient(create_app(central)) as client:
            spec = client.get("/openapi.json").json()
            assert "/api/v1/subjects" in spec["paths"] and "/api/v1/auth/login" in spec["paths"]
            assert client.get("/docs").status_code == 200
    finally:
        central.close()


def test_tracker_linked_by_cli_reports_through_the_gateway_command(conf: Path, tmp_path: Path) -> None:
    """`devices add --subject` links a tracker; `gt06-gateway` stores its positions against that subject."""
    from peripherals.tracker.sim import imei_for, run_fleet
    from tests.support.ports import free_port, wait_for_port
    from tests.support.processes import CentralProcess

    for args in (
        ["nodes", "add", "35", "--name", "省", "--level", "province"],
        ["nodes", "add", "3502", "--name", "市", "--level", "city", "--parent", "35"],
        [
            "subjects",
            "add",
            "S-1",
            "--name",
            "张伟",
            "--id-number",
            "11010519491231002X",
            "--node",
            "3502",
            "--category",
            "probation",
            "--level",
            "normal",
            "--term-start",
            "2026-01-01",
            "--term-end",
            "2027-01-01",
        ],
    ):
        assert _cli(conf, *args).returncode == 0
    imei = imei_for(7)
    refused = _cli(conf, "devices", "add", imei, "--kind", "tracker", "--node", "3502", "--subject", "S-404")
    assert refused.returncode == 1 and "no subject S-404" in refused.stderr
    assert _cli(conf, "devices", "add", imei, "--kind", "tracker", "--node", "3502", "--subject", "S-1").returncode == 0

    port = free_port()
    gateway = CentralProcess(conf, "gt06-gateway", "--host", "127.0.0.1", "--port", str(port), log=tmp_path / "gw.log")
    gateway.start()
    try:
        wait_for_port(port, timeout=30)
        report = run_fleet("127.0.0.1", port, 1, 5, first_index=7)
        assert report.completed == 1 and report.positions == 5, report.errors
    finally:
        assert gateway.stop() == 0, gateway.output()
    engine = create_engine(f"sqlite:///{tmp_path / 'c.db'}")
    with engine.connect() as c:
        rows = c.execute(text("SELECT subject_id, tracker_serial FROM fix")).all()
    engine.dispose()
    assert len(rows) == 5 and {tuple(r) for r in rows} == {("S-1", imei)}


def test_tick_runs_the_lost_contact_check(conf: Path) -> None:
    """`corr-central tick` on a database with no contact yet checks nobody and says so."""
    done = _cli(conf, "tick")
    assert done.returncode == 0, done.stderr
    assert "tick: 0 subjects checked, 0 lost-contact alerts opened" in done.stdout
