"""Fence rule engine throughput: fixes/s through `central.rules.fence.evaluate` for 10 000 subjects.

Pure engine, no I/O: each subject has an allowed area (one of four district outlines shaped like
Haicang, compiled once and shared, as central shares them), two exclusion circles, and 2 % of
subjects an approved leave to Fuzhou with its travel corridor. Each subject sends 20 fixes 30 s
apart, interleaved as ingest would see them: mostly at and around home (5–50 m accuracy, 3 %
cell fixes of 1.5 km), 1 % of subjects on an excursion 3 km outside, 1 % walking into an exclusion
circle, 5 % delivering neighbouring fixes swapped, 1 % of fixes delivered twice.

Figures: one process; two processes with the subjects split between them (as ingest would
partition by subject), started together; and the two-process figure again with the state
serialised to JSON and read back around every fix (what a worker storing state per fix pays).
Results: bench/results/rules.json.

    python bench/rules.py [--subjects 10000] [--fixes-each 20]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from central.rules.base import FixObservation
from central.rules.fence import (
    FENCE_LEVELS,
    ExclusionCircle,
    FenceParams,
    FenceSet,
    FenceState,
    LeaveWindow,
    evaluate,
)
from central.rules.geometry import Area, LocalProjection, validate_geojson

RESULTS = Path(__file__).parent / "results"
T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
NOW = T0 + timedelta(days=1)

HAICANG = [
    (117.945, 24.535), (117.960, 24.552), (117.985, 24.560), (118.010, 24.556), (118.020, 24.552),
    (118.028, 24.530), (118.040, 24.524), (118.050, 24.536), (118.062, 24.535), (118.080, 24.528),
    (118.088, 24.512), (118.078, 24.495), (118.085, 24.478), (118.080, 24.458), (118.065, 24.445),
    (118.040, 24.438), (118.015, 24.432), (117.990, 24.436), (117.972, 24.445), (117.958, 24.460),
    (117.950, 24.480), (117.955, 24.500), (117.965, 24.510), (117.950, 24.520), (117.945, 24.535),
]  # fmt: skip
SHIFTS = [(0.0, 0.0), (0.16, 0.10), (0.30, 0.20), (0.10, 0.25)]  # four districts of that shape, side by side
FUZHOU = {
    "type": "Polygon",
    "coordinates": [[[119.255, 26.060], [119.300, 26.058], [119.320, 26.080], [119.315, 26.115], [119.280, 26.130],
                     [119.250, 26.110], [119.255, 26.060]]],
}  # fmt: skip


def _offset(where: tuple[float, float], east_m: float, north_m: float) -> tuple[float, float]:
    p = LocalProjection.at(*where)
    return where[0] + east_m / p.kx, where[1] + north_m / p.ky


def _districts() -> list[Area]:
    return [
        Area.compile(validate_geojson({"type": "Polygon", "coordinates": [[[x + dx, y + dy] for x, y in HAICANG]]}))
        for dx, dy in SHIFTS
    ]


def _inside(area: Area, rng: random.Random) -> tuple[float, float]:
    """A random position at least 500 m inside the area."""
    p = area.projection
    x0, y0, x1, y1 = area.polygon.bounds
    while True:
        x, y = rng.uniform(x0, x1), rng.uniform(y0, y1)
        lon, lat = x / p.kx + p.lon0, y / p.ky + p.lat0
        if area.classify(lon, lat, 500.0, 0.0) == 1:
            return lon, lat


def _subjects(first: int, count: int, districts: list[Area], seed: int) -> tuple[dict[str, FenceParams], list[str]]:
    rng = random.Random(seed)
    params: dict[str, FenceParams] = {}
    for n in range(first, first + count):
        subject = f"S-{n:06d}"
        area = districts[n % len(districts)]
        zones = [ExclusionCircle(f"z{k}", *_inside(area, rng), rng.choice([100.0, 200.0, 300.0])) for k in range(2)]
        leaves = []
        if n % 50 == 7:
            leaves.append(LeaveWindow("L" + subject, FUZHOU, T0 - timedelta(hours=1), T0 + timedelta(days=2)))
        params[subject] = FenceParams(FenceSet.compile(area, zones, leaves), FENCE_LEVELS["normal"])
    return params, list(params)


def _stream(subjects: list[str], params: dict[str, FenceParams], fixes_each: int, seed: int) -> list[FixObservation]:
    """Every subject's fixes, interleaved round by round, with swaps and redeliveries."""
    rng = random.Random(seed)
    per_subject: list[list[FixObservation]] = []
    for subject in subjects:
        fences = params[subject].fences
        home = _inside(fences.allowed, rng)
        zone = fences.exclusions[0].projection
        n = int(subject[2:])
        fixes = []
        for i in range(fixes_each):
            where = _offset(home, rng.gauss(0, 300), rng.gauss(0, 300))
            accuracy = rng.choice([5.0, 10.0, 10.0, 15.0, 30.0, 50.0])
            if rng.random() < 0.03:
                accuracy = 1500.0
            if n % 100 == 3 and 8 <= i < 15:  # an excursion 3 km west of the district
                x0 = fences.allowed.polygon.bounds[0]
                p = fences.allowed.projection
                where = ((x0 - 3000.0) / p.kx + p.lon0, where[1])
            if n % 100 == 5 and 5 <= i < 10:  # into an exclusion circle
                where = _offset((zone.lon0, zone.lat0), rng.gauss(0, 20), rng.gauss(0, 20))
                accuracy = 10.0
            fixes.append(
                FixObservation(
                    f"{subject}-{i}", subject, T0 + timedelta(seconds=30 * i), where[1], where[0], accuracy, "gnss"
                )
            )
        if n % 20 == 1:
            for i in range(0, fixes_each - 1, 4):
                fixes[i], fixes[i + 1] = fixes[i + 1], fixes[i]
        per_subject.append(fixes)
    stream = []
    for i in range(fixes_each):
        for fixes in per_subject:
            stream.append(fixes[i])
            if rng.random() < 0.01:
                stream.append(fixes[i])
    return stream


def _run(stream: list[FixObservation], params: dict[str, FenceParams], with_json: bool) -> tuple[float, int, list[int]]:
    """Evaluate the stream; (seconds, decisions, state JSON sizes at the end)."""
    states = {s: FenceState(s) for s in params}
    stored = {s: states[s].to_json() for s in params}
    decided = 0
    began = time.perf_counter()
    if with_json:
        for f in stream:
            state, decisions = evaluate(FenceState.from_json(stored[f.subject_id]), f, NOW, params[f.subject_id])
            stored[f.subject_id] = state.to_json()
            decided += len(decisions)
    else:
        for f in stream:
            states[f.subject_id], decisions = evaluate(states[f.subject_id], f, NOW, params[f.subject_id])
            decided += len(decisions)
    elapsed = time.perf_counter() - began
    sizes = [len(v) for v in stored.values()] if with_json else [len(s.to_json()) for s in states.values()]
    return elapsed, decided, sizes


def _worker(part: int, parts: int, subjects: int, fixes_each: int, with_json: bool, barrier: Any, queue: Any) -> None:
    districts = _districts()
    count = subjects // parts
    params, names = _subjects(part * count, count, districts, seed=part)
    stream = _stream(names, params, fixes_each, seed=100 + part)
    barrier.wait()
    elapsed, decided, sizes = _run(stream, params, with_json)
    queue.put((len(stream), elapsed, decided, sizes))


def _parallel(parts: int, subjects: int, fixes_each: int, with_json: bool) -> dict[str, float]:
    ctx = mp.get_context("fork")
    barrier, queue = ctx.Barrier(parts), ctx.Queue()
    workers = [
        ctx.Process(target=_worker, args=(i, parts, subjects, fixes_each, with_json, barrier, queue))
        for i in range(parts)
    ]
    for w in workers:
        w.start()
    results = [queue.get() for _ in workers]
    for w in workers:
        w.join()
    fixes = sum(r[0] for r in results)
    slowest = max(r[1] for r in results)
    sizes = [s for r in results for s in r[3]]
    return {
        "fixes": fixes,
        "fixes_per_s": round(fixes / slowest),
        "decisions": sum(r[2] for r in results),
        "state_json_bytes_median": statistics.median(sizes),
        "state_json_bytes_max": max(sizes),
    }


def main() -> None:
    """Run the figures and write bench/results/rules.json."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--subjects", type=int, default=10_000)
    ap.add_argument("--fixes-each", type=int, default=20)
    args = ap.parse_args()

    began = time.perf_counter()
    districts = _districts()
    compile_area_s = (time.perf_counter() - began) / len(districts)
    began = time.perf_counter()
    params, names = _subjects(0, args.subjects, districts, seed=0)
    compile_subject_ms = (time.perf_counter() - began) / args.subjects * 1000
    stream = _stream(names, params, args.fixes_each, seed=1)
    elapsed, decided, _ = _run(stream, params, with_json=False)
    one = round(len(stream) / elapsed)
    print(f"1 process: {len(stream)} fixes in {elapsed:.2f} s = {one} fixes/s, {decided} decisions")
    del params, stream

    two = _parallel(2, args.subjects, args.fixes_each, with_json=False)
    print(f"2 processes: {two['fixes_per_s']} fixes/s ({two['decisions']} decisions)")
    two_json = _parallel(2, args.subjects, args.fixes_each, with_json=True)
    print(f"2 processes, state through JSON per fix: {two_json['fixes_per_s']} fixes/s")

    out = {
        "fence_fixes_per_s_1_process": one,
        "fence_fixes_per_s_2_processes": two["fixes_per_s"],
        "fence_fixes_per_s_2_processes_state_json_per_fix": two_json["fixes_per_s"],
        "subjects": args.subjects,
        "fixes": two["fixes"],
        "decisions": two["decisions"],
        "state_json_bytes_median": two["state_json_bytes_median"],
        "state_json_bytes_max": two["state_json_bytes_max"],
        "compile_district_area_s": round(compile_area_s, 3),
        "compile_subject_fence_set_ms": round(compile_subject_ms, 2),
        "target_fixes_per_s": 20_000,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "rules.json").write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n")
    print("-> bench/results/rules.json")


if __name__ == "__main__":
    main()
