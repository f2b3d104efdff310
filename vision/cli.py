"""`python -m vision`: detect, embed and compare from the command line, one JSON object on stdout.

    python -m vision detect photo.jpg
    python -m vision embed photo.jpg [--no-gate]
    python -m vision compare probe.jpg reference.jpg
    python -m vision keygen                       # a new template key for the configuration

Options before the command: --config FILE (TOML, its [vision] table), --detector, --embedder,
--threads, --threshold. Exit status: 0 done, 1 refused (bad image, no usable face, missing
model; the JSON says why), 2 bad command line.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vision.errors import VisionError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m vision", description="Face detection and verification.")
    parser.add_argument("--config", type=Path, help="TOML file holding a [vision] table (or vision keys at top level)")
    parser.add_argument("--detector", choices=["yunet", "fr_detect", "buffalo"], help="detector backend")
    parser.add_argument("--embedder", choices=["sface", "fr_feature", "buffalo"], help="embedder backend")
    parser.add_argument("--threads", type=int, help="onnxruntime threads per model")
    parser.add_argument("--threshold", type=float, help="same-person threshold (default: calibrated)")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("detect", help="faces in an image: boxes, landmarks, scores, quality")
    p.add_argument("image", type=Path)
    p = sub.add_parser("embed", help="the template of the one face in an image")
    p.add_argument("image", type=Path)
    p.add_argument("--no-gate", action="store_true", help="embed the largest face even if the quality gate refuses")
    p = sub.add_parser("compare", help="score and decision for two images of one face each")
    p.add_argument("image", type=Path)
    p.add_argument("reference", type=Path)
    sub.add_parser("keygen", help="print a new base64 template key")
    return parser


def _pipeline(args: argparse.Namespace) -> Any:
    from vision.config import load_config, parse_config  # keygen needs none of this
    from vision.pipeline import FacePipeline

    config = load_config(args.config)
    data = config.model_dump()
    if args.detector and args.detector != config.detector.type:
        data["detector"] = {"type": args.detector}
    if args.embedder and args.embedder != config.embedder.type:
        data["embedder"] = {"type": args.embedder}
    if args.threads is not None:
        data["runtime"]["threads"] = args.threads
    if args.threshold is not None:
        data["threshold"] = args.threshold
    if config.template_key is not None:
        data["template_key"] = config.template_key.get_secret_value()
    return FacePipeline(parse_config(data, source="command line"))


def _run(args: argparse.Namespace) -> dict[str, Any]:
    if args.command == "keygen":
        return {"ok": True, "template_key": base64.b64encode(os.urandom(32)).decode()}
    from vision.image import load_image
    from vision.pipeline import QualityRefused
    from vision.verify import verify

    pipe = _pipeline(args)
    max_pixels = pipe.config.max_image_pixels
    info = {"detector": pipe.detector.backend, "embedder": pipe.embedder.backend}
    if args.command == "detect":
        image = load_image(args.image, max_pixels=max_pixels)
        faces = []
        for face in pipe.detect(image):
            report = pipe.gate.check_face(image, face)
            faces.append(
                face.to_dict()
                | {
                    "quality": report.measures.as_dict() if report.measures else None,
                    "refused": [r.code.value for r in report.reasons],
                }
            )
        return {
            "ok": True,
            **info,
            "image": str(args.image),
            "width": image.shape[1],
            "height": image.shape[0],
            "faces": faces,
        }
    if args.command == "embed":
        image = load_image(args.image, max_pixels=max_pixels)
        if args.no_gate:
            faces = pipe.detect(image)
            if not faces:
                return {"ok": False, **info, "error": "no face found", "reasons": ["no_face"]}
            face = max(faces, key=lambda f: min(f.width, f.height))
            template = pipe.template(image, face)
        else:
            try:
                probe = pipe.probe(image)
            except QualityRefused as exc:
                return _refused(exc, info, str(args.image))
            face, template = probe.face, probe.template
        return {
            "ok": True,
            **info,
            "image": str(args.image),
            "face": face.to_dict(),
            "model_sha256": template.model_sha256,
            "dim": template.dim,
            "embedding": [round(v, 6) for v in template.values()],
        }
    # compare
    templates = []
    for path in (args.image, args.reference):
        try:
            templates.append(pipe.probe(load_image(path, max_pixels=max_pixels)).template)
        except QualityRefused as exc:
            return _refused(exc, info, str(path))
    result = verify(templates[0], templates[1], pipe.threshold)
    return {"ok": True, **info, "image": str(args.image), "reference": str(args.reference), **result.as_dict()}


def _refused(exc: Any, info: dict[str, str], image: str) -> dict[str, Any]:
    return {
        "ok": False,
        **info,
        "image": image,
        "error": str(exc),
        "reasons": [r.code.value for r in exc.report.reasons],
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        result = _run(args)
    except VisionError as exc:
        result = {"ok": False, "error": str(exc)}
    print(json.dumps(result, ensure_ascii=False))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
