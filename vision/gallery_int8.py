"""Approximate cosine scores from an int8 copy of a gallery, each with a rigorous error bound.

Each row v (and each probe p) is quantised symmetrically on its own scale: s = max|v| / 127 and
q = round(v / s), so every component is off by at most s/2. With v̂ = s_v·q_v and p̂ = s_p·q_p,

    v·p − v̂·p̂ = (v − v̂)·p + v̂·(p − p̂)
    |v·p − v̂·p̂| ≤ (s_v/2)·‖p‖₁ + (s_p/2)·‖v̂‖₁,   with ‖v̂‖₁ = s_v·Σ|q_v| known exactly.

(Bounding ‖v̂‖₁ by ‖v‖₁ + n·s_v/2 gives the looser textbook form with the n·s_v·s_p/4 term.)
The integer dot product q_v·q_p is exact in int32 (|q| ≤ 127, n ≤ 130 000). The bound is
computed in float64 and widened by a relative 1e-9 for its own rounding and that of v/s.

The int8 product runs in onnxruntime's MatMulInteger with the gallery as a constant initializer,
so MLAS packs it once when the session is built and a probe then streams a quarter of the bytes
of the float32 matrix; that is what makes 100 000 × 512 fast, the work being bound by memory.
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort  # type: ignore[import-untyped]
from onnx import TensorProto, helper, numpy_helper

_WIDEN = 1.0 + 1e-9


def quantise(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(q, s): int8 rows q = round(v / s) with s = max|v| / 127 per row (float64; 1 for an all-zero row)."""
    q = np.empty(rows.shape, dtype=np.int8)
    scale = np.empty(rows.shape[0], dtype=np.float64)
    for start in range(0, rows.shape[0], 4096):  # chunks keep the float64 temporaries small
        x = np.asarray(rows[start : start + 4096], dtype=np.float64)
        s = np.abs(x).max(axis=1) / 127.0
        s[s == 0] = 1.0
        q[start : start + 4096] = np.clip(np.rint(x / s[:, None]), -127, 127)
        scale[start : start + 4096] = s
    return q, scale


class Int8Scorer:
    """An int8 copy of (n, d) rows inside one onnxruntime session: approximate scores, and bounds on their error."""

    def __init__(self, rows: np.ndarray, threads: int = 2) -> None:
        q, scale = quantise(rows)
        self.rows, self.dim = q.shape
        self._scale = scale
        self._l1 = scale * np.abs(q).astype(np.int32).sum(axis=1)  # ‖v̂‖₁, exact up to one rounding
        self._max_scale = float(scale.max(initial=0.0))
        self._max_l1 = float(self._l1.max(initial=0.0))
        graph = helper.make_graph(
            [helper.make_node("MatMulInteger", ["probes", "gallery", "zero"], ["dots"])],
            "gallery_int8",
            [helper.make_tensor_value_info("probes", TensorProto.UINT8, ["P", self.dim])],
            [helper.make_tensor_value_info("dots", TensorProto.INT32, ["P", self.rows])],
            initializer=[
                # (d, n) as the B operand: MLAS packs a constant B once, when the session is built
                numpy_helper.from_array(np.ascontiguousarray(q.T), "gallery"),
                numpy_helper.from_array(np.array(128, dtype=np.uint8), "zero"),
            ],
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
        model.ir_version = 8
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])

    def approximate(self, probes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(approx (P, n), probe scales, probe L1 norms) for (P, d) probes; the last two feed `bound`."""
        q, scale = quantise(probes)
        # u8 activations with zero point 128 take MLAS's fast u8×s8 kernel; s8×s8 is several times slower here
        shifted = (q.astype(np.int16) + 128).astype(np.uint8)
        (dots,) = self._session.run(None, {"probes": shifted})
        approx = dots * scale[:, None] * self._scale[None, :]
        return approx, scale, np.abs(np.asarray(probes, dtype=np.float64)).sum(axis=1)

    def bound(self, rows: np.ndarray, probe_scale: float, probe_l1: float) -> np.ndarray:
        """|v·p − approx| ≤ bound for the given rows and one probe (its scale and L1 norm)."""
        bound: np.ndarray = (self._scale[rows] * probe_l1 + self._l1[rows] * probe_scale) * (0.5 * _WIDEN)
        return bound

    def max_bound(self, probe_scale: float, probe_l1: float) -> float:
        """A bound valid for every row at once."""
        return (self._max_scale * probe_l1 + self._max_l1 * probe_scale) * (0.5 * _WIDEN)
