"""onnxruntime sessions: one per model file and thread count in a process, CPU only, quiet, threads as configured."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import onnxruntime as ort  # type: ignore[import-untyped]
from pydantic import BaseModel, ConfigDict, Field

from vision.errors import ModelFileError
from vision.model_repair import Repair
from vision.models import ModelFile


class RuntimeConfig(BaseModel):
    """How models run: onnxruntime threads and warm-up."""

    model_config = ConfigDict(extra="forbid")

    threads: int = Field(
        default=2,
        ge=1,
        le=64,
        title="Threads",
        description="onnxruntime intra-op threads per model; the kiosk and edge boxes have 2 cores",
    )
    warmup: bool = Field(
        default=True,
        title="Warm-up",
        description="run each model once at start so the first real face is not slow",
    )


_sessions: dict[tuple[str, int, str], ort.InferenceSession] = {}
_lock = threading.Lock()


def session_for(model: ModelFile, threads: int, repair: Repair | None = None) -> ort.InferenceSession:
    """The process's session for this model file (shared by every backend that asks for it).

    `repair`, when given, rewrites the checked file's bytes in memory before onnxruntime sees them.
    """
    key = (model.sha256, threads, "" if repair is None else repair.__qualname__)
    with _lock:
        session = _sessions.get(key)
        if session is None:
            session = _open(model, threads, repair)
            _sessions[key] = session
        return session


def _open(model: ModelFile, threads: int, repair: Repair | None) -> ort.InferenceSession:
    options = ort.SessionOptions()
    # Intra-op threads do the work; inter-op threads only help graphs with parallel branches,
    # which these models do not have, so one keeps the process to the configured core count.
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3  # the shipped models trigger pages of harmless initializer warnings
    # YuNet and SFace are int8 block-quantised: weights stored as int8 plus DequantizeLinear nodes.
    # onnxruntime keeps those nodes to look for fused int8 kernels, finds none for blocked
    # quantisation, and so dequantises every weight on every run. With the QDQ transformer off the
    # dequantisation is constant-folded once at load: the same float weights OpenCV computes (outputs
    # equal to 1e-6 on the test photos), and SFace 35 → 17 ms, YuNet 12 → 4 ms per 640×480 frame.
    options.add_session_config_entry("session.disable_quant_qdq", "1")
    source: str | bytes = str(model.path)
    if repair is not None:
        try:
            source = repair(model.path.read_bytes())
        except OSError as exc:
            raise ModelFileError(f"model '{model.name}': cannot read {model.path}: {exc.strerror}") from exc
    try:
        return ort.InferenceSession(source, sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises several unrelated classes for a bad file
        raise ModelFileError(f"model '{model.name}': onnxruntime cannot load {model.path}: {exc}") from exc


def describe_io(session: ort.InferenceSession) -> tuple[list[tuple[str, list[Any]]], list[tuple[str, list[Any]]]]:
    """Names and shapes of a session's inputs and outputs, for checking a model is the kind a backend expects."""
    return (
        [(i.name, list(i.shape)) for i in session.get_inputs()],
        [(o.name, list(o.shape)) for o in session.get_outputs()],
    )


def run(session: ort.InferenceSession, model: ModelFile, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Run a session; a failure inside onnxruntime becomes a ModelFileError naming the model."""
    try:
        outputs: list[np.ndarray] = session.run(None, feeds)
    except Exception as exc:
        raise ModelFileError(f"model '{model.name}' ({model.path}) failed to run: {exc}") from exc
    return outputs
