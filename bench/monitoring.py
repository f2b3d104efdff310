"""Monitoring end to end: fixes/s through the broker and ingest with fence evaluation, and fix → alert latency.

10 000 subjects, each with an allowed area: one of ten county-sized outlines (about 30 km across,
240 vertices each, spread over Fujian), stored per subject as central stores fences. 10 % of
subjects are at the strict level, 10 % lenient.

Each run: a fresh Mosquitto, a migrated database (SQLite file, or a fresh durable PostgreSQL
cluster: fsync on), the population inserted, `corr-central ingest` worker(s) as their own
processes sharing the MQTT 5 shared subscription, and four gateway devices publishing the
subjects' fixes with paho (QoS 1, payloads encoded beforehand).

1. warm-up (not measured): every subject's rule states as a running system holds them (its last
   32 fixes in the fence window, its last contact: computed with the pure engines and inserted),
   then one fix per subject through the workers, so each has compiled the county outlines;
2. **throughput**: 5 rounds of one fix per subject (50 000 fixes) published as fast as the
   gateways can; fixes/s = fixes / (first publish → last fix committed). 1 % of subjects walk
   out of their county in it (alerts are opened along the way);
3. **latency**: fixes published at a steady `--rate` (default 1 000/s: 10 000 subjects reporting
   every 10 s) for at least 5 rounds, with another 1 % walking out; for each alert, the
   time from publishing the fix that confirmed it to the alert row being visible in the
   database (polled every 5 ms from another connection). p50 / p99 / max.

The pure engine figure (no I/O) comes from bench/rules.py's last run (bench/results/rules.json).
An in-process figure (store_batch alone, no broker) shows what the worker could do with a core
to itself. Results: bench/results/monitoring.json.

    python bench/monitoring.py [--subjects 10000] [--workers 1 2] [--rate 1000] [--latency-s 20]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import Engine, create_engine, func, insert, select

from central.context import Central
from central.db.models import Alert, Fence, Fix, JurisdictionNode, RuleState, Subject, geojson_digest
from central.ingest.store import Incoming, store_batch
from central.monitoring import tune_gc
from central.rules import contact
from central.rules.base import FixObservation
from central.rules.contact import ContactState
from central.rules.fence import FENCE_LEVELS, FenceParams, FenceSet, FenceState, evaluate_batch
from central.rules.geometry import Area, validate_geojson
from central.seed import seed
from contracts import Fix as FixMsg
from contracts import encode, topic_for
from tests.support.central import migrated_central
from tests.support.mosquitto import Mosquitto
from tests.support.postgres import Postgres
from tests.support.processes import CentralProcess, write_config

RESULTS = Path(__file__).parent / "results"
GATEWAYS = ("gw-bench-1", "gw-bench-2", "gw-bench-3", "gw-bench-4")
INGEST = "central-ingest"
COUNTIES = 10
VERTICES = 240
RADIUS_M = 15_000.0
ROUNDS = 5
EARTH_M_PER_DEG = 111_320.0


# --- the population ---------------------------------------------------------------------------


def county(index: int) -> tuple[tuple[float, float], dict[str, Any]]:
    """(centre (lon, lat), GeoJSON Polygon) of a county-sized, irregular but simple outline."""
    rng = random.Random(1000 + index)
    lon0 = 117.0 + (index % 5) * 0.5
    lat0 = 24.6 + (index // 5) * 0.6
    phases = [rng.uniform(0, 2 * math.pi) for _ in range(3)]
    ring = []
    for k in range(VERTICES):
        theta = 2 * math.pi * k / VERTICES
        r = RADIUS_M * (
            1 + 0.15 * math.sin(3 * theta + phases[0]) + 0.08 * math.sin(7 * theta + phases[1])
            + 0.03 * math.sin(19 * theta + phases[2])
        )  # fmt: skip
        ring.append([
            round(lon0 + r * math.cos(theta) / (EARTH_M_PER_DEG * math.cos(math.radians(lat0))), 6),
            round(lat0 + r * math.sin(theta) / EARTH_M_PER_DEG, 6),
        ])  # fmt: skip
    ring.append(ring[0])
    return (lon0, lat0), {"type": "Polygon", "coordinates": [ring]}


def _at(centre: tuple[float, float], east_m: float, north_m: float) -> tuple[float, float]:
    lon0, lat0 = centre
    return (
        lon0 + east_m / (EARTH_M_PER_DEG * math.cos(math.radians(lat0))),
        lat0 + north_m / EARTH_M_PER_DEG,
    )


@dataclass
class Person:
    """A bench subject: id, county, home."""

    subject_id: str
    county: int
    level: str
    home: tuple[float, float]


def populate(central: Central, subjects: int) -> list[Person]:
    """Insert `subjects` subjects with their county as allowed area (bulk, around the ORM, digests set)."""
    rng = random.Random(7)
    shapes = [county(i) for i in range(COUNTIES)]
    people = []
    with central.sessions.begin() as s:
        nodes = {n.code: n for n in s.execute(select(JurisdictionNode)).scalars()}
        town = nodes["350205001"]
        subject_rows, fence_rows = [], []
        now = datetime.now(UTC)
        for n in range(subjects):
            sid = f"B-{n:06d}"
            c = n % COUNTIES
            level = "strict" if n % 10 == 1 else "lenient" if n % 10 == 2 else "normal"
            radius, angle = rng.uniform(0, 0.5 * RADIUS_M), rng.uniform(0, 2 * math.pi)
            home = _at(shapes[c][0], radius * math.cos(angle), radius * math.sin(angle))
            people.append(Person(sid, c, level, home))
            subject_rows.append(
                {
                    "id": sid,
                    "node_id": town.id,
                    "node_path": town.path,
                    "name_enc": central.cipher.encrypt_text(f"bench {n}", "subject.name"),
                    "id_number_enc": central.cipher.encrypt_text(f"{n:018d}", "subject.id_number"),
                    "id_number_hmac": uuid.uuid5(uuid.NAMESPACE_OID, sid).hex * 2,
                    "category": "probation",
                    "supervision_level": level,
                    "status": "active",
                    "term_start": date(2026, 1, 1),
                    "term_end": date(2027, 12, 31),
                    "reporting_interval_h": 24,
                    "created_at": now,
                }
            )
            fence_rows.append(
                {
                    "subject_id": sid,
                    "node_path": town.path,
                    "kind": "allowed",
                    "name": f"county {c}",
                    "geojson": shapes[c][1],
                    "digest": geojson_digest(shapes[c][1]),
                    "active": True,
                    "created_at": now,
                }
            )
        for start in range(0, subjects, 1000):
            s.execute(insert(Subject), subject_rows[start : start + 1000])
            s.execute(insert(Fence), fence_rows[start : start + 1000])
    return people


PREFILL = 32


def prefill(central: Central, people: list[Person], before: datetime) -> float:
    """Rule states as a running system holds them: each subject's last 32 fixes (a full fence window), its last contact.

    Computed with the pure engines from 32 fixes near home, 5 s apart, ending at `before`, and
    inserted in bulk; the seconds it took.
    """
    t = time.perf_counter()
    sets: dict[tuple[int, str], FenceSet] = {}
    rows = []
    now = datetime.now(UTC)
    for p in people:
        key = (p.county, p.level)
        if key not in sets:
            area = _areas.get(p.county) or Area.compile(validate_geojson(county(p.county)[1]))
            _areas[p.county] = area
            sets[key] = FenceSet.compile(area, (), (), FENCE_LEVELS[p.level])  # type: ignore[index]
        params = FenceParams(sets[key], FENCE_LEVELS[p.level])  # type: ignore[index]
        observations = []
        for i in range(PREFILL):
            lon, lat = position(p, 1000 + i, set())
            at = before - timedelta(seconds=5 * (PREFILL - i))
            observations.append(
                FixObservation(str(uuid.uuid4()), p.subject_id, at, lat, lon, 10.0, "gnss", GATEWAYS[0])
            )
        state, _ = evaluate_batch(FenceState(p.subject_id), observations, before, params)
        last = observations[-1]
        recent = tuple(o.event_id for o in observations[-contact.RECENT_IDS :])
        contact_state = ContactState(p.subject_id, last.device_time, last.event_id, before, None, recent)
        rows.append({"subject_id": p.subject_id, "rule": "fence", "state_json": state.to_json(), "updated_at": now})
        rows.append(
            {"subject_id": p.subject_id, "rule": "contact", "state_json": contact_state.to_json(), "updated_at": now}
        )
    with central.sessions.begin() as s:
        for start in range(0, len(rows), 2000):
            s.execute(insert(RuleState), rows[start : start + 2000])
    return time.perf_counter() - t


_areas: dict[int, Area] = {}


def position(p: Person, step: int, walkers: set[str]) -> tuple[float, float]:
    """Where a subject is at a step: near home, or, for walkers, 10 km outside the county from step 1 to 3."""
    rng = random.Random(hash((p.subject_id, step)))
    if p.subject_id in walkers and 1 <= step <= 3:
        centre = county(p.county)[0]
        return _at(centre, 1.6 * RADIUS_M * 1.3, rng.gauss(0, 200))
    return _at(p.home, rng.gauss(0, 150), rng.gauss(0, 150))


def fixes(people: list[Person], steps: range, start: datetime, walkers: set[str], gap_s: float) -> list[FixMsg]:
    """One fix per subject per step, round by round (subjects shuffled in each round)."""
    rng = random.Random(steps.start)
    out = []
    for step in steps:
        order = list(people)
        rng.shuffle(order)
        for i, p in enumerate(order):
            lon, lat = position(p, step - steps.start, walkers)
            out.append(
                FixMsg(
                    event_id=uuid.uuid4(),
                    device_id=GATEWAYS[i % len(GATEWAYS)],
                    device_time=start + timedelta(seconds=(step - steps.start) * gap_s),
                    subject_id=p.subject_id,
                    lat=round(lat, 6),
                    lon=round(lon, 6),
                    accuracy_m=rng.choice((5.0, 10.0, 15.0, 30.0)),
                    source="gnss",
                    battery_pct=80.0,
                )
            )
    return out


# --- publishing --------------------------------------------------------------------------------


class Gateway:
    """One gateway device's MQTT connection (QoS 1), recording when each event was published."""

    def __init__(self, device_id: str, secret: str, broker: Mosquitto) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=device_id, protocol=mqtt.MQTTv5)
        self.client.username_pw_set(device_id, secret)
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        self.acked = 0
        self.client.on_publish = self._on_publish
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()

    def _on_publish(self, *_args: object) -> None:
        self.acked += 1

    def publish(self, topic: str, payload: bytes) -> None:
        """QoS 1; returns at once (paho queues beyond the in-flight window)."""
        self.client.publish(topic, payload, qos=1)

    def close(self) -> None:
        """Disconnect."""
        self.client.disconnect()
        self.client.loop_stop()


def _encoded(messages: list[FixMsg]) -> list[tuple[str, str, bytes]]:
    return [(m.device_id, topic_for(m), encode(m)) for m in messages]


def reader(db_url: str) -> Engine:
    """A plain engine for the bench's polling: on SQLite central's engine starts every transaction with
    BEGIN IMMEDIATE (a write lock), which would make the watcher compete with the workers it measures."""
    return create_engine(db_url)


def _count_fixes(engine: Engine) -> int:
    with engine.connect() as c:
        return int(c.execute(select(func.count()).select_from(Fix)).scalar_one())


def _wait_stored(engine: Engine, total: int, timeout: float = 900) -> float:
    """When `total` fixes are committed. Polls max(id) (cheap) until it gets there, then counts (exact)."""
    deadline = time.monotonic() + timeout
    while True:
        with engine.connect() as c:
            highest = c.execute(select(func.coalesce(func.max(Fix.id), 0))).scalar_one()
        if highest >= total and _count_fixes(engine) >= total:
            return time.perf_counter()
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {_count_fixes(engine)} of {total} fixes stored after {timeout} s")
        time.sleep(0.02)


@dataclass
class AlertWatch:
    """Polls the alert table from its own connection and notes when each alert first became visible."""

    engine: Engine
    seen: dict[int, tuple[float, list[str]]] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        """Poll every 5 ms until stopped."""
        last = 0
        while not self.stop.is_set():
            with self.engine.connect() as c:
                rows = c.execute(select(Alert.id, Alert.evidence).where(Alert.id > last).order_by(Alert.id)).all()
            now = time.perf_counter()
            for alert_id, evidence in rows:
                self.seen[alert_id] = (now, list(evidence))
                last = max(last, alert_id)
            time.sleep(0.005)


def one_run(
    kind: str, db_url: str, workdir: Path, subjects: int, workers: int, rate: float, latency_s: float
) -> dict[str, Any]:
    """Set up, warm up, measure throughput, then latency at `rate`; the figures of one run."""
    broker = Mosquitto(workdir / "broker")
    broker.start()
    central = migrated_central(db_url)
    procs: list[CentralProcess] = []
    gateways: list[Gateway] = []
    polls = reader(db_url)
    watch = AlertWatch(polls)
    try:
        seeded = seed(
            central, "bench-officer-pw", [(g, "gateway", "350205001") for g in GATEWAYS] + [(INGEST, "central", "35")]
        )
        for device_id, secret in seeded.device_secrets.items():
            broker.add_account(device_id, secret, "central" if device_id == INGEST else "device")
        start = datetime.now(UTC) - timedelta(minutes=30)
        t = time.perf_counter()
        people = populate(central, subjects)
        populate_s = time.perf_counter() - t
        prefill_s = prefill(central, people, start - timedelta(seconds=1))
        base_cfg = central.config.model_copy(
            update={
                "mqtt": central.config.mqtt.model_copy(
                    update={
                        "host": broker.host,
                        "port": broker.port,
                        "username": INGEST,
                        "password": seeded.device_secrets[INGEST],
                    }
                )
            }
        )
        for w in range(workers):
            cfg = base_cfg.model_copy(
                update={"mqtt": base_cfg.mqtt.model_copy(update={"client_id": f"central-ingest-{w + 1}"})}
            )
            p = CentralProcess(
                write_config(cfg, workdir / f"central-{w}.toml"), "ingest", log=workdir / f"ingest-{w}.log"
            )
            p.start()
            procs.append(p)
        gateways = [Gateway(g, seeded.device_secrets[g], broker) for g in GATEWAYS]
        by_id = {g: gw for g, gw in zip(GATEWAYS, gateways, strict=True)}
        time.sleep(1.5)  # workers connected and subscribed

        rng = random.Random(11)
        walkers_a = {p.subject_id for p in people if rng.random() < 0.01}
        warm = _encoded(fixes(people, range(0, 1), start, set(), 5.0))
        for device_id, topic, payload in warm:
            by_id[device_id].publish(topic, payload)
        _wait_stored(polls, len(warm))

        measured = _encoded(fixes(people, range(1, 1 + ROUNDS), start + timedelta(seconds=5), walkers_a, 5.0))
        expected = len(warm) + len(measured)
        t0 = time.perf_counter()
        for device_id, topic, payload in measured:
            by_id[device_id].publish(topic, payload)
        published_s = time.perf_counter() - t0
        t1 = _wait_stored(polls, expected)
        elapsed = t1 - t0
        throughput = len(measured) / elapsed
        print(
            f"  {kind}, {workers} worker(s): {throughput:.0f} fixes/s "
            f"({len(measured)} in {elapsed:.2f} s; published in {published_s:.2f} s)"
        )

        # Latency at a steady rate, with another 1 % walking out.
        watcher = threading.Thread(target=watch.run, daemon=True)
        watcher.start()
        time.sleep(0.2)
        with central.sessions() as s:
            before = int(s.execute(select(func.coalesce(func.max(Alert.id), 0))).scalar_one())
        walkers_b = {p.subject_id for p in people if rng.random() < 0.01} - walkers_a
        rounds = max(5, math.ceil(rate * latency_s / len(people)))  # walkers need 4 rounds to go out and confirm
        steady_start = datetime.now(UTC)
        stream = fixes(people, range(100, 100 + rounds), steady_start, walkers_b, len(people) / rate)
        published: dict[str, float] = {}
        t0 = time.perf_counter()
        for i, m in enumerate(stream):
            due = t0 + i / rate
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            topic, payload = topic_for(m), encode(m)
            published[str(m.event_id)] = time.perf_counter()
            by_id[m.device_id].publish(topic, payload)
        sent_s = time.perf_counter() - t0
        _wait_stored(polls, expected + len(stream))
        time.sleep(0.3)
        watch.stop.set()
        watcher.join(5)
        latencies = []
        for alert_id, (seen_at, evidence) in watch.seen.items():
            if alert_id <= before:
                continue
            times = [published[e] for e in evidence if e in published]
            if times:
                latencies.append(seen_at - max(times))
        latencies.sort()
        if not latencies:
            raise RuntimeError("no alert opened during the latency phase")
        p99 = latencies[min(len(latencies) - 1, math.ceil(0.99 * len(latencies)) - 1)]
        print(
            f"  {kind}, {workers} worker(s): fix → alert at {len(stream) / sent_s:.0f} fixes/s: "
            f"p50 {statistics.median(latencies) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, "
            f"max {latencies[-1] * 1000:.0f} ms "
            f"({len(latencies)} alerts)"
        )
        with central.sessions() as s:
            alerts = int(s.execute(select(func.count()).select_from(Alert)).scalar_one())
        return {
            "fixes_per_s": throughput,
            "fixes": len(measured),
            "seconds": elapsed,
            "published_in_s": published_s,
            "latency_rate_fixes_per_s": len(stream) / sent_s,
            "latency_fixes": len(stream),
            "latency_alerts": len(latencies),
            "latency_p50_ms": statistics.median(latencies) * 1000,
            "latency_p99_ms": p99 * 1000,
            "latency_max_ms": latencies[-1] * 1000,
            "alerts_total": alerts,
            "populate_s": populate_s,
            "prefill_states_s": prefill_s,
        }
    finally:
        watch.stop.set()
        for g in gateways:
            g.close()
        for p in procs:
            p.stop()
        central.close()
        polls.dispose()
        broker.kill()


def in_process(db_url: str, subjects: int, batch: int = 500) -> dict[str, float]:
    """store_batch alone in this process (no broker, no other process): what one worker does with a core."""
    tune_gc()  # as `corr-central ingest` does
    central = migrated_central(db_url)
    try:
        seed(central, "bench-officer-pw", [(g, "gateway", "350205001") for g in GATEWAYS])
        people = populate(central, subjects)
        start = datetime.now(UTC) - timedelta(minutes=30)
        prefill(central, people, start - timedelta(seconds=1))
        rng = random.Random(3)
        walkers = {p.subject_id for p in people if rng.random() < 0.01}
        warm = [Incoming(t, b) for _, t, b in _encoded(fixes(people, range(0, 1), start, set(), 5.0))]
        measured = [
            Incoming(t, b)
            for _, t, b in _encoded(fixes(people, range(1, 1 + ROUNDS), start + timedelta(seconds=5), walkers, 5.0))
        ]
        for items, timed in ((warm, False), (measured, True)):
            t = time.perf_counter()
            decisions = 0
            for i in range(0, len(items), batch):
                with central.sessions.begin() as s:
                    decisions += store_batch(s, items[i : i + batch], audit_key=central.audit_key).decisions
            if timed:
                elapsed = time.perf_counter() - t
                return {"fixes_per_s": len(items) / elapsed, "fixes": len(items), "decisions": decisions}
        raise AssertionError("unreachable")
    finally:
        central.close()


def _database(kind: str, workdir: Path) -> tuple[str, Postgres | None]:
    if kind == "sqlite":
        return f"sqlite:///{workdir / 'central.db'}", None
    pg = Postgres(durable=True)
    pg.start()
    return pg.create_database(), pg


def main() -> None:
    """Run every database × worker count and write bench/results/monitoring.json."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--subjects", type=int, default=10_000)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--databases", nargs="+", default=["sqlite", "postgres"])
    ap.add_argument("--rate", type=float, default=1000.0, help="fixes/s during the latency phase")
    ap.add_argument("--latency-s", type=float, default=20.0)
    ap.add_argument("--in-process-only", action="store_true", help="only the in-process figure (for profiling)")
    args = ap.parse_args()
    print(f"monitoring benchmark: {args.subjects} subjects, {COUNTIES} county outlines of {VERTICES} vertices")
    in_proc: dict[str, Any] = {}
    for kind in args.databases:
        workdir = Path(tempfile.mkdtemp(prefix=f"corr-bench-mon-{kind}-"))
        pg = None
        try:
            url, pg = _database(kind, workdir)
            in_proc[kind] = in_process(url, args.subjects)
            print(f"  {kind}: store_batch in-process {in_proc[kind]['fixes_per_s']:.0f} fixes/s")
        finally:
            if pg is not None:
                pg.destroy()
            shutil.rmtree(workdir, ignore_errors=True)
    if args.in_process_only:
        return
    runs: dict[str, dict[str, Any]] = {}
    for kind in args.databases:
        for workers in args.workers:
            workdir = Path(tempfile.mkdtemp(prefix=f"corr-bench-mon-{kind}-"))
            pg = None
            try:
                url, pg = _database(kind, workdir)
                runs[f"{kind}_{workers}_workers"] = one_run(
                    kind, url, workdir, args.subjects, workers, args.rate, args.latency_s
                )
            finally:
                if pg is not None:
                    pg.destroy()
                shutil.rmtree(workdir, ignore_errors=True)
    rules = json.loads((RESULTS / "rules.json").read_text()) if (RESULTS / "rules.json").exists() else {}
    best = {
        kind: max((r for k, r in runs.items() if k.startswith(kind)), key=lambda r: r["fixes_per_s"])
        for kind in args.databases
    }
    out = {
        "pure_engine_fixes_per_s": rules.get("fence_fixes_per_s_2_processes"),
        "pure_engine_source": f"bench/results/rules.json, measured {rules.get('measured_at')}",
        **{f"{kind}_end_to_end_fixes_per_s": round(best[kind]["fixes_per_s"], 1) for kind in best},
        **{f"{kind}_p99_fix_to_alert_ms": round(best[kind]["latency_p99_ms"], 1) for kind in best},
        "targets": {"pure_engine_fixes_per_s": 20000, "end_to_end_fixes_per_s": 5000, "p99_fix_to_alert_ms": 1000},
        "subjects": args.subjects,
        "county_outlines": COUNTIES,
        "vertices_per_outline": VERTICES,
        "latency_rate_fixes_per_s": args.rate,
        "runs": runs,
        "in_process_store_batch": in_proc,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "monitoring.json").write_text(json.dumps(out, indent=2) + "\n")
    print(
        json.dumps({k: v for k, v in out.items() if k not in ("runs", "in_process_store_batch", "machine")}, indent=2)
    )
    print("-> bench/results/monitoring.json")


if __name__ == "__main__":
    main()
