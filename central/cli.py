"""`corr-central`: database, jurisdiction tree, accounts, devices, API server, ingest worker, audit."""

from __future__ import annotations

import base64
import logging
import os
import secrets
import signal
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from central.config import ConfigError, load_config
from central.context import Central

app = typer.Typer(help="Central server of the community-corrections platform.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
nodes_app = typer.Typer(help="Jurisdiction tree.", no_args_is_help=True)
users_app = typer.Typer(help="Officer accounts.", no_args_is_help=True)
subjects_app = typer.Typer(help="Subjects under correction.", no_args_is_help=True)
devices_app = typer.Typer(help="Devices and their broker accounts.", no_args_is_help=True)
audit_app = typer.Typer(help="The audit trail.", no_args_is_help=True)
gallery_app = typer.Typer(help="Face galleries of kiosks and edge agents.", no_args_is_help=True)
for sub, name in (
    (db_app, "db"),
    (nodes_app, "nodes"),
    (users_app, "users"),
    (subjects_app, "subjects"),
    (devices_app, "devices"),
    (audit_app, "audit"),
    (gallery_app, "gallery"),
):
    app.add_typer(sub, name=name)

_state: dict[str, Any] = {}
ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="TOML config (default: $CORR_CONFIG)")]


@app.callback()
def _main(config: ConfigOpt = None, verbose: bool = typer.Option(False, "--verbose", "-v")) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    _state["config_path"] = config


def _central() -> Central:
    if "central" not in _state:
        try:
            cfg = load_config(_state.get("config_path"))
        except ConfigError as exc:
            typer.echo(f"configuration error:\n{exc}", err=True)
            raise typer.Exit(2) from exc
        _state["central"] = Central.from_config(cfg)
    central: Central = _state["central"]
    return central


def _fail(exc: Exception) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(1)


@app.command()
def keys() -> None:
    """Print a \\[security] section with fresh random keys (keep it secret, back it up)."""
    for name in ("data_key", "hmac_key", "audit_key"):
        typer.echo(f'{name} = "{base64.b64encode(secrets.token_bytes(32)).decode()}"')


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Migrate the database to the newest schema (or `revision`)."""
    from central.db.migrate import upgrade

    upgrade(_central().config.db_url, revision)
    typer.echo("database is at revision " + revision)


@nodes_app.command("add")
def nodes_add(
    code: str,
    name: Annotated[str, typer.Option()],
    level: Annotated[str, typer.Option()],
    parent: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Add a jurisdiction node (province, city, county or township)."""
    from central.nodes import add_node

    c = _central()
    try:
        with c.sessions.begin() as s:
            node = add_node(s, code, name, level, parent)
            typer.echo(f"node {node.code} at {node.path}")
    except Exception as exc:
        raise _fail(exc) from exc


@users_app.command("add")
def users_add(
    username: str,
    role: Annotated[str, typer.Option()],
    node: Annotated[str, typer.Option()],
    password: Annotated[str | None, typer.Option(help="default: $CORR_NEW_PASSWORD, else prompt")] = None,
    display_name: str = "",
    permission: Annotated[list[str] | None, typer.Option()] = None,
) -> None:
    """Create an officer account."""
    from central.users import create_user

    password = (
        password
        or os.environ.get("CORR_NEW_PASSWORD")
        or typer.prompt("password", hide_input=True, confirmation_prompt=True)
    )
    c = _central()
    try:
        with c.sessions.begin() as s:
            create_user(
                s,
                username=username,
                password=password,
                role=role,
                node_code=node,
                display_name=display_name,
                permissions=permission or [],
                audit_key=c.audit_key,
            )
    except Exception as exc:
        raise _fail(exc) from exc
    typer.echo(f"user {username} ({role}) at node {node}")


@subjects_app.command("add")
def subjects_add(
    subject_id: str,
    name: Annotated[str, typer.Option()],
    id_number: Annotated[str, typer.Option()],
    node: Annotated[str, typer.Option()],
    category: Annotated[str, typer.Option()],
    level: Annotated[str, typer.Option()],
    term_start: Annotated[str, typer.Option()],
    term_end: Annotated[str, typer.Option()],
    reporting_interval_h: int = 24,
) -> None:
    """Register a subject (name and ID number are encrypted at rest)."""
    from central.subjects import register_subject

    c = _central()
    try:
        with c.sessions.begin() as s:
            register_subject(
                s,
                c.cipher,
                c.hmac_key,
                c.audit_key,
                subject_id=subject_id,
                name=name,
                id_number=id_number,
                node_code=node,
                category=category,
                supervision_level=level,
                term_start=date.fromisoformat(term_start),
                term_end=date.fromisoformat(term_end),
                reporting_interval_h=reporting_interval_h,
            )
    except Exception as exc:
        raise _fail(exc) from exc
    typer.echo(f"subject {subject_id} registered at {node}")


@devices_app.command("add")
def devices_add(
    device_id: str,
    kind: Annotated[str, typer.Option()],
    node: Annotated[str, typer.Option()],
    description: str = "",
    secret: Annotated[str | None, typer.Option(help="default: a random one")] = None,
    subject: Annotated[str | None, typer.Option(help="the subject who wears it (trackers)")] = None,
) -> None:
    """Register a device, print its secret once, and rewrite the broker's password file and ACL."""
    from central.devices import add_device, sync_broker

    c = _central()
    try:
        with c.sessions.begin() as s:
            new = add_device(
                s,
                c.audit_key,
                device_id=device_id,
                kind=kind,
                node_code=node,
                description=description,
                secret=secret,
                subject_id=subject,
                cipher=c.cipher,
            )
            reloaded = _sync(s, sync_broker)
    except Exception as exc:
        raise _fail(exc) from exc
    typer.echo(f"device {device_id} ({kind}) at {node}")
    typer.echo(f"secret: {new.secret}")
    if reloaded is not None:
        typer.echo("broker files rewritten" + (" and broker reloaded" if reloaded else " (broker not running)"))


def _sync(session: Any, sync_broker: Any) -> bool | None:
    mq = _central().config.mqtt
    if mq.password_file is None or mq.acl_file is None:
        return None
    return bool(sync_broker(session, mq.password_file, mq.acl_file, mq.pid_file))


@devices_app.command("rotate-secret")
def devices_rotate_secret(device_id: str) -> None:
    """Give a device a new secret (print it once): HTTPS, MQTT and gallery keys change; the old one stops working."""
    from central.devices import GALLERY_KINDS, rotate_secret, sync_broker
    from central.gallery import forget_gallery

    c = _central()
    try:
        with c.sessions.begin() as s:
            new = rotate_secret(s, c.cipher, c.audit_key, device_id)
            if new.device.kind in GALLERY_KINDS:
                forget_gallery(s, device_id)
            reloaded = _sync(s, sync_broker)
    except Exception as exc:
        raise _fail(exc) from exc
    typer.echo(f"device {device_id}: new secret")
    typer.echo(f"secret: {new.secret}")
    if reloaded is not None:
        typer.echo("broker files rewritten" + (" and broker reloaded" if reloaded else " (broker not running)"))
    else:
        typer.echo("broker files not configured: run `corr-central devices sync-broker` where they are")
    if new.device.kind in GALLERY_KINDS:
        typer.echo(f"configure the new secret on the device, then: corr-central gallery publish --device {device_id}")


@gallery_app.command("publish")
def gallery_publish(
    device: Annotated[str | None, typer.Option(help="only this device (default: every kiosk and edge agent)")] = None,
) -> None:
    """Rebuild galleries (a new version only where the enrolled faces changed) and publish the retained commands."""
    from central.commands import publish_galleries
    from central.gallery import gallery_devices, refresh_gallery

    c = _central()
    try:
        with c.sessions.begin() as s:
            targets = [device] if device else gallery_devices(s)
            infos = [refresh_gallery(s, c.cipher, c.hmac_key, target) for target in targets]
        publish_galleries(c.config, infos)
    except Exception as exc:
        raise _fail(exc) from exc
    for info in infos:
        state = "new" if info.changed else "unchanged"
        typer.echo(f"{info.device_id}: version {info.version} ({state}, {info.entries} faces) sha256 {info.sha256}")
    typer.echo(f"published {len(infos)} gallery command(s) to {c.config.mqtt.host}:{c.config.mqtt.port}")


@devices_app.command("place")
def devices_place(
    device_id: str,
    lat: Annotated[float | None, typer.Option(help="WGS-84 latitude of where the device stands")] = None,
    lon: Annotated[float | None, typer.Option(help="WGS-84 longitude")] = None,
    radius_m: Annotated[float, typer.Option(help="how far from that point it sees people")] = 30.0,
) -> None:
    """Record where a kiosk or centre camera stands, for 人机分离; without --lat/--lon, forget it."""
    from central.monitoring import set_device_place

    c = _central()
    try:
        with c.sessions.begin() as s:
            set_device_place(s, c.audit_key, device_id, lat=lat, lon=lon, radius_m=radius_m)
    except Exception as exc:
        raise _fail(exc) from exc
    where = f"at {lat}, {lon} (radius {radius_m:g} m)" if lat is not None else "no place"
    typer.echo(f"device {device_id}: {where}")


@devices_app.command("sync-broker")
def devices_sync() -> None:
    """Rewrite the broker's password file and ACL from the database."""
    from central.devices import sync_broker

    c = _central()
    with c.sessions.begin() as s:
        if _sync(s, sync_broker) is None:
            raise _fail(ValueError("set [mqtt] password_file and acl_file in the config"))
    typer.echo("broker files rewritten")


@audit_app.command("verify")
def audit_verify(
    expect_head: Annotated[str | None, typer.Option(help="ID:HASH recorded by an earlier check")] = None,
) -> None:
    """Walk the hash chain; exit 1 and say where when a row was edited, inserted or deleted."""
    from central.audit import verify

    expected = None
    if expect_head:
        head_id, _, head_hash = expect_head.partition(":")
        expected = (int(head_id), head_hash)
    c = _central()
    with c.sessions() as s:
        r = verify(s, c.audit_key, expect_head=expected)
    if r.ok:
        typer.echo(f"audit chain intact: {r.rows} rows, head {r.head_id}:{r.head_hash}")
        return
    typer.echo(f"AUDIT CHAIN BROKEN: {r.problem} (checked {r.rows} rows)", err=True)
    raise typer.Exit(1)


@app.command("gt06-gateway")
def gt06_gateway(
    host: Annotated[str, typer.Option(help="address to listen on")] = "0.0.0.0",  # noqa: S104
    port: Annotated[int, typer.Option(help="TCP port (5023 is the usual GT06 port)")] = 5023,
    utc_offset: Annotated[str, typer.Option(help="zone of tracker clocks whose login does not say")] = "+00:00",
) -> None:
    """Run the GT06 tracker gateway: positions and alarms into the event log, as ingest stores them."""
    import asyncio

    from central.gateways.gt06 import serve as serve_gateway
    from central.monitoring import tune_gc
    from peripherals.tracker.gt06 import parse_offset

    tune_gc()
    c = _central()
    try:
        offset = parse_offset(utc_offset)
    except ValueError as exc:
        raise _fail(exc) from exc

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve_gateway(c.sessions, host, port, offset, stop, c.audit_key)

    asyncio.run(run())


@app.command()
def serve(host: str | None = None, port: int | None = None) -> None:
    """Run the HTTP API (OpenAPI at /docs)."""
    import uvicorn

    from central.api.app import create_app

    c = _central()
    uvicorn.run(
        create_app(c),
        host=host or c.config.api.host,
        port=port if port is not None else c.config.api.port,
        log_level="info",
    )


@app.command()
def ingest() -> None:
    """Run an ingest worker: MQTT shared subscription → validate → store → ack after commit."""
    from central.ingest.worker import IngestWorker
    from central.monitoring import tune_gc

    tune_gc()
    worker = IngestWorker(_central())

    def _stop(_sig: int, _frame: object) -> None:
        worker.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    worker.run()
    typer.echo(
        f"ingest stopped: {worker.stored} stored, {worker.duplicates} duplicates, {worker.dead} dead-lettered",
        err=True,
    )


@app.command()
def tick() -> None:
    """Run the lost-contact check (脱管) once for every active subject (`monitor` does it every round)."""
    from datetime import UTC, datetime

    from central.scheduler import lost_contact

    c = _central()
    result = lost_contact(c.sessions, c.audit_key, datetime.now(UTC), c.config.monitor.page_size)
    typer.echo(f"tick: {result.subjects} subjects checked, {len(result.applied.opened)} lost-contact alerts opened")


@app.command()
def monitor(once: Annotated[bool, typer.Option(help="run one round and exit")] = False) -> None:
    """Run the periodic monitoring jobs (lost contact, scheduled location confirmations, positioning reminders)."""
    import threading

    from central.scheduler import Monitor

    runner = Monitor(_central())
    if once:
        r = runner.run_once()
        typer.echo(
            f"monitor: {r.ticked} subjects ticked, {r.lost_contact_opened} lost-contact opened, "
            f"{r.asked} confirmations asked, {r.answered} answered, {r.missed} missed, "
            f"{r.reminders_opened} positioning reminders opened, {r.reminders_closed} closed"
        )
        if r.failed:
            raise _fail(RuntimeError(f"jobs failed: {', '.join(r.failed)} (see the log above)"))
        return
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda _sig, _frame: stop.set())
    signal.signal(signal.SIGINT, lambda _sig, _frame: stop.set())
    runner.run(stop)
    typer.echo(f"monitor stopped after {runner.rounds} rounds", err=True)


def main() -> None:
    """Entry point."""
    app(prog_name="corr-central")


if __name__ == "__main__":
    main()
