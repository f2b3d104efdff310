"""Face pipeline benchmark and threshold calibration; writes bench/results/vision.json and vision/thresholds.toml.

Per backend: detection time on a 640×480 frame, alignment + embedding time per face; genuine and
impostor score distributions on the shared test photos (../shared/testdata/faces) and on
augmented copies of them (flip, scale, brightness, blur, JPEG quality); the threshold chosen for
a target false-accept rate, with the FAR and FRR it gives; 1:N search time over galleries of
random unit vectors.

The photos hold 13 people (celeb5's five, Obama, Biden, the six in insightface's t1.jpg), so the
error rates are a smoke test of the models and of this code, not a measurement of the models.

    python bench/vision.py [--threads 2] [--target-far 0.001] [--no-write-thresholds] [--only search]

`--only search` runs the 1:N part alone and replaces only its figures (and the 1:N target) in the
existing bench/results/vision.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cv2
import numpy as np
import onnxruntime as ort  # type: ignore[import-untyped]

from vision.align import align
from vision.config import VisionConfig, parse_config
from vision.gallery import Gallery
from vision.image import load_image
from vision.pipeline import FacePipeline
from vision.template import Template
from vision.thresholds import THRESHOLDS_PATH

RESULTS = Path(__file__).parent / "results"
FACES = Path(__file__).resolve().parent.parent.parent / "shared" / "testdata" / "faces"
DETECTORS = ("yunet", "fr_detect")
EMBEDDERS = ("sface", "fr_feature")
CALIBRATION_DETECTOR = "yunet"  # the default detector; thresholds are calibrated on its crops
AUGMENTATIONS = ("flip", "scale_0.5", "dark_0.6", "bright_1.4", "blur_1.5", "jpeg_30")


@dataclass
class Sample:
    """One face image of a known person."""

    person: str
    source: str  # the original photo it came from
    variant: str  # "original" or an augmentation
    image: np.ndarray


def _augment(image: np.ndarray, how: str) -> np.ndarray:
    if how == "flip":
        return cv2.flip(image, 1)
    if how == "scale_0.5":
        return cv2.resize(image, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    if how.startswith(("dark_", "bright_")):
        gain = float(how.split("_")[1])
        scaled: np.ndarray = np.clip(image.astype(np.float32) * gain, 0, 255).astype(np.uint8)
        return scaled
    if how == "blur_1.5":
        return cv2.GaussianBlur(image, (0, 0), 1.5)
    if how == "jpeg_30":
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 30])
        decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR)
        assert ok and decoded is not None
        return decoded
    raise ValueError(how)


def photos() -> list[tuple[str, str, np.ndarray]]:
    """(person, source name, image) for every labelled single-person face; t1.jpg's faces are cut out."""
    out = []
    for folder in sorted((FACES / "celeb5").iterdir()):
        if folder.is_dir():
            out += [(folder.name, p.name, load_image(p)) for p in sorted(folder.glob("*.jpg"))]
    for name in ("obama", "obama2", "obama3"):
        out.append(("obama", name, load_image(FACES / "face_recognition" / f"{name}.jpg")))
    out.append(("biden", "biden", load_image(FACES / "face_recognition" / "biden.jpg")))
    return out


def t1_people(pipe: FacePipeline) -> list[tuple[str, str, np.ndarray]]:
    """The six people of insightface's t1.jpg, each cut out with a margin as a photo of its own."""
    image = load_image(FACES / "insightface" / "t1.jpg")
    out = []
    for i, face in enumerate(sorted(pipe.detect(image), key=lambda f: f.box[0])):
        x1, y1, x2, y2 = face.box
        w, h = x2 - x1, y2 - y1
        a, b = int(max(0, x1 - w)), int(max(0, y1 - h))
        c, d = int(min(image.shape[1], x2 + w)), int(min(image.shape[0], y2 + h))
        out.append((f"t1_person{i}", f"t1_{i}", np.ascontiguousarray(image[b:d, a:c])))
    return out


def _median_ms(fn, runs: int) -> float:
    fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return round(statistics.median(times), 2)


def _pipe(detector: str, embedder: str, threads: int) -> FacePipeline:
    cfg = parse_config(
        {
            "detector": {"type": detector},
            "embedder": {"type": embedder},
            "runtime": {"threads": threads},
            "threshold": 0.5,
        }
    )
    return FacePipeline(cfg)


def timings(threads: int, runs: int) -> dict[str, dict[str, float]]:
    """Detection ms on 640×480 frames and align+embed ms per face, per backend."""
    frame = cv2.resize(load_image(FACES / "face_recognition" / "obama.jpg"), (640, 800))[80:560]  # one face
    group = cv2.resize(load_image(FACES / "face_api_demo" / "sample1.jpg"), (640, 427))
    group = cv2.copyMakeBorder(group, 0, 480 - 427, 0, 0, cv2.BORDER_CONSTANT)  # four faces
    out: dict[str, dict[str, float]] = {}
    for det in DETECTORS:
        pipe = _pipe(det, "sface", threads)
        out[f"detect_{det}"] = {
            "ms_640x480_one_face": _median_ms(lambda p=pipe: p.detect(frame), runs),
            "ms_640x480_four_faces": _median_ms(lambda p=pipe: p.detect(group), runs),
        }
    face = _pipe("yunet", "sface", threads).detect(frame)[0]
    for emb in EMBEDDERS:
        pipe = _pipe("yunet", emb, threads)
        out[f"embed_{emb}"] = {
            "ms_align": _median_ms(lambda: align(frame, face), runs),
            "ms_align_and_embed": _median_ms(lambda p=pipe: p.embedder.embed(align(frame, face)), runs),
        }
    for det in DETECTORS:
        for emb in EMBEDDERS:
            pipe = _pipe(det, emb, threads)

            def one_face(p: FacePipeline = pipe) -> None:
                f = p.detect(frame)[0]
                p.embedder.embed(align(frame, f))

            out[f"pipeline_{det}+{emb}"] = {"ms_detect_align_embed_one_face": _median_ms(one_face, runs)}
    return out


def embed_all(pipe: FacePipeline, samples: list[Sample]) -> tuple[list[Sample], np.ndarray, np.ndarray, dict[str, int]]:
    """Embeddings of the samples whose face is found, whether the gate accepts each, and refusal counts."""
    kept: list[Sample] = []
    vectors: list[np.ndarray] = []
    accepted: list[bool] = []
    refused: dict[str, int] = {}
    for s in samples:
        report = pipe.assess(s.image, expect_one=False)
        if report.face is None:
            refused["no_face"] = refused.get("no_face", 0) + 1
            continue
        for r in report.reasons:
            refused[r.code.value] = refused.get(r.code.value, 0) + 1
        kept.append(s)
        accepted.append(report.accepted)
        crop = report.aligned if report.aligned is not None else align(s.image, report.face)
        vectors.append(pipe.embedder.embed(crop))
    return kept, np.stack(vectors), np.asarray(accepted), refused


def pair_scores(kept: list[Sample], vectors: np.ndarray) -> dict[str, np.ndarray]:
    """Scores of every pair, split into genuine (same person, different photo), same-photo variants, impostor."""
    sims = vectors @ vectors.T
    genuine, same_photo, impostor = [], [], []
    for i, j in itertools.combinations(range(len(kept)), 2):
        a, b = kept[i], kept[j]
        if a.person != b.person:
            impostor.append(sims[i, j])
        elif a.source == b.source:
            same_photo.append(sims[i, j])
        else:
            genuine.append(sims[i, j])
    return {
        k: np.asarray(v, dtype=np.float64)
        for k, v in (("genuine", genuine), ("same_photo_variants", same_photo), ("impostor", impostor))
    }


def rates(genuine: np.ndarray, impostor: np.ndarray, t: float) -> tuple[float, float]:
    """(FAR, FRR) at threshold t: impostors at or above it, genuine pairs below it."""
    return float(np.mean(impostor >= t)), float(np.mean(genuine < t))


def choose_threshold(genuine: np.ndarray, impostor: np.ndarray, target_far: float) -> float:
    """Lowest threshold (4 decimals) whose FAR on these impostors is at most target_far."""
    ranked = np.sort(impostor)[::-1]
    allowed = int(np.floor(target_far * len(ranked)))  # impostor pairs that may score at or above
    t = float(np.ceil((ranked[allowed] + 1e-9) * 1e4) / 1e4) if allowed < len(ranked) else float(ranked[-1])
    while rates(genuine, impostor, t)[0] > target_far:  # rounding must never raise FAR past the target
        t = round(t + 1e-4, 4)
    return t


def eer(genuine: np.ndarray, impostor: np.ndarray) -> dict[str, float]:
    """Equal error rate and where it happens."""
    grid = np.linspace(-0.2, 1.0, 1201)
    far = np.array([np.mean(impostor >= t) for t in grid])
    frr = np.array([np.mean(genuine < t) for t in grid])
    i = int(np.argmin(np.abs(far - frr)))
    return {"eer": round(float((far[i] + frr[i]) / 2), 4), "at_threshold": round(float(grid[i]), 3)}


def describe(x: np.ndarray) -> dict[str, float | int | list[int]]:
    """Summary and a histogram (bins of 0.05 from −0.3 to 1.0)."""
    if len(x) == 0:
        return {"n": 0}
    hist, _ = np.histogram(x, bins=np.linspace(-0.3, 1.0, 27))
    q = np.percentile(x, [1, 5, 25, 50, 75, 95, 99])
    return {
        "n": len(x),
        "mean": round(float(x.mean()), 4),
        "std": round(float(x.std()), 4),
        "min": round(float(x.min()), 4),
        "max": round(float(x.max()), 4),
        **{f"p{p}": round(float(v), 4) for p, v in zip((1, 5, 25, 50, 75, 95, 99), q, strict=True)},
        "histogram_-0.3_to_1.0_step_0.05": hist.tolist(),
    }


def scores(threads: int, target_far: float) -> tuple[dict[str, Any], dict[str, Any]]:
    """Distributions and thresholds per detector+embedder; returns (results, chosen thresholds per embedder)."""
    base = _pipe(CALIBRATION_DETECTOR, "sface", threads)
    people = photos() + t1_people(base)
    samples = [Sample(p, s, "original", img) for p, s, img in people]
    samples += [Sample(p, s, how, _augment(img, how)) for p, s, img in people for how in AUGMENTATIONS]
    results: dict[str, Any] = {
        "photos": len(people),
        "people": len({p for p, _, _ in people}),
        "samples_with_augmentations": len(samples),
        "augmentations": list(AUGMENTATIONS),
    }
    chosen: dict[str, Any] = {}
    for det in DETECTORS:
        for emb in EMBEDDERS:
            pipe = _pipe(det, emb, threads)
            entry: dict[str, Any] = {}
            found, all_vectors, accepted, refused = embed_all(pipe, samples)
            for gated in (True, False):
                keep = np.flatnonzero(accepted) if gated else np.arange(len(found))
                kept, vectors = [found[i] for i in keep], all_vectors[keep]
                pairs = pair_scores(kept, vectors)
                entry["gated" if gated else "ungated"] = {
                    "samples_used": len(kept),
                    "originals_used": sum(1 for s in kept if s.variant == "original"),
                    **{k: describe(v) for k, v in pairs.items()},
                    "eer": eer(pairs["genuine"], pairs["impostor"]),
                    "_pairs": pairs,
                }
            entry["samples_without_face"] = refused.pop("no_face", 0)
            entry["refusals_by_reason"] = refused
            results[f"{det}+{emb}"] = entry
    for emb in EMBEDDERS:
        cal = results[f"{CALIBRATION_DETECTOR}+{emb}"]["gated"]["_pairs"]
        t = choose_threshold(cal["genuine"], cal["impostor"], target_far)
        far, frr = rates(cal["genuine"], cal["impostor"], t)
        chosen[emb] = {
            "threshold": t,
            "far": far,
            "frr": frr,
            "genuine_pairs": len(cal["genuine"]),
            "impostor_pairs": len(cal["impostor"]),
        }
        for det in DETECTORS:
            for mode in ("gated", "ungated"):
                e = results[f"{det}+{emb}"][mode]
                far, frr = rates(e["_pairs"]["genuine"], e["_pairs"]["impostor"], t)
                e["at_chosen_threshold"] = {"threshold": t, "far": round(far, 5), "frr": round(frr, 4)}
    for entry in results.values():
        if isinstance(entry, dict):
            for mode in ("gated", "ungated"):
                entry.get(mode, {}).pop("_pairs", None)
    return results, chosen


def search_times(runs: int) -> dict[str, dict[str, float]]:
    """1:N search ms per probe over random unit vectors, one probe at a time and in batches of 8."""
    rng = np.random.default_rng(5)
    out: dict[str, dict[str, float]] = {}
    for dim in (128, 512):
        for n in (1_000, 10_000, 100_000):
            m = rng.standard_normal((n, dim)).astype(np.float32)
            gallery = Gallery.from_matrix("bench", "0" * 64, [f"S{i:06d}" for i in range(n)], m)
            probe = rng.standard_normal(dim).astype(np.float32)
            probe /= np.linalg.norm(probe)
            probes = rng.standard_normal((8, dim)).astype(np.float32)
            probes /= np.linalg.norm(probes, axis=1, keepdims=True)
            batch_of_8 = [Template.from_values("bench", "0" * 64, p) for p in probes]
            gallery.search_vector(probe, 5)  # builds the int8 copy (100 k × 512: about a second), not timed

            def batch(g: Gallery = gallery, b: list[Template] = batch_of_8) -> None:
                g.search_many(b, 5)

            out[f"dim{dim}_n{n}"] = {
                "ms_per_probe_top5": _median_ms(lambda g=gallery, p=probe: g.search_vector(p, 5), runs),
                "ms_per_probe_top5_threshold_0.4": _median_ms(
                    lambda g=gallery, p=probe: g.search_vector(p, 5, 0.4), runs
                ),
                "ms_per_probe_in_batches_of_8": round(_median_ms(batch, max(5, runs // 4)) / 8, 3),
            }
    return out


def write_thresholds(chosen: dict[str, Any], target_far: float, results: dict[str, Any]) -> None:
    """vision/thresholds.toml, read by vision.thresholds."""
    lines = [
        "# Same-person thresholds (cosine similarity) per embedder, written by bench/vision.py.",
        f"# Calibrated {datetime.now(UTC).date().isoformat()} on {results['scores']['photos']} photos of "
        f"{results['scores']['people']} people (../shared/testdata/faces) plus augmented copies,",
        f"# faces found by {CALIBRATION_DETECTOR} and passed by the default quality gate: the lowest threshold whose "
        f"false-accept rate is at most {target_far}.",
        "# Few people: a smoke test, not a measurement of the models. Recalibrate on your own photos.",
        "",
    ]
    for emb, c in chosen.items():
        pipe = _pipe(CALIBRATION_DETECTOR, emb, 1)
        lines += [
            f"[{emb}]",
            f'model_sha256 = "{pipe.embedder.model_sha256}"',
            f"threshold = {c['threshold']}",
            f"target_far = {target_far}",
            f"far = {round(c['far'], 6)}",
            f"frr = {round(c['frr'], 4)}",
            f"genuine_pairs = {c['genuine_pairs']}",
            f"impostor_pairs = {c['impostor_pairs']}",
            f'detector = "{CALIBRATION_DETECTOR}"',
            "",
        ]
    THRESHOLDS_PATH.write_text("\n".join(lines), encoding="utf-8")


def search_target(search: dict[str, dict[str, float]]) -> dict[str, bool]:
    """Whether one probe at 100 k rows takes under 5 ms, per dimension."""
    return {f"dim{d}": search[f"dim{d}_n100000"]["ms_per_probe_top5"] < 5 for d in (128, 512)}


def only_search(runs: int) -> None:
    """Measure 1:N search alone and replace those figures in the existing results, keeping the rest."""
    path = RESULTS / "vision.json"
    results = json.loads(path.read_text(encoding="utf-8"))
    results["search_1_to_n_ms"] = search_times(runs)
    results["search_1_to_n_measured"] = datetime.now(UTC).isoformat(timespec="seconds")
    results["targets"]["search_100k_under_5ms_per_probe"] = search_target(results["search_1_to_n_ms"])
    path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({"search_1_to_n_ms": results["search_1_to_n_ms"], "targets": results["targets"]}, indent=1))


def main() -> None:
    """Run everything, print the headline figures, write the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=VisionConfig().runtime.threads)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--target-far", type=float, default=0.001)
    parser.add_argument("--no-write-thresholds", action="store_true")
    parser.add_argument("--only", choices=["search"], help="run the 1:N part alone and update its figures")
    args = parser.parse_args()
    if args.only == "search":
        only_search(args.runs)
        return
    started = time.perf_counter()
    results: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "onnxruntime": ort.__version__,
            "opencv": cv2.__version__,
            "numpy": np.__version__,
            "threads_per_model": args.threads,
        },
        "note": "medians; the machine is shared with other work, so times vary between runs",
    }
    results["timings_ms"] = timings(args.threads, args.runs)
    results["search_1_to_n_ms"] = search_times(args.runs)
    results["scores"], chosen = scores(args.threads, args.target_far)
    results["thresholds"] = {
        emb: {"detector": CALIBRATION_DETECTOR, "target_far": args.target_far, **c} for emb, c in chosen.items()
    }
    per_face = {
        k: v["ms_detect_align_embed_one_face"] for k, v in results["timings_ms"].items() if k.startswith("pipeline_")
    }
    results["targets"] = {
        "detect_plus_embed_under_60ms_per_face": {k: v < 60 for k, v in per_face.items()},
        "search_100k_under_5ms_per_probe": search_target(results["search_1_to_n_ms"]),
    }
    results["seconds"] = round(time.perf_counter() - started, 1)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "vision.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    if not args.no_write_thresholds:
        write_thresholds(chosen, args.target_far, results)
    print(
        json.dumps(
            {
                "timings_ms": results["timings_ms"],
                "thresholds": results["thresholds"],
                "search_100k": {k: v for k, v in results["search_1_to_n_ms"].items() if "100000" in k},
                "targets": results["targets"],
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
