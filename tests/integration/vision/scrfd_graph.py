"""A tiny ONNX graph shaped like an SCRFD detector with landmarks, for testing the insightface pack path.

No SCRFD weights are available here (the buffalo packs are research-only and on no reachable
registry), so this graph stands in: nine outputs (score, box and landmark maps for strides 8, 16
and 32, two anchors each), as insightface's model zoo expects. It "detects" bright squares: the
score of a stride-32 cell is high where the cell's mean is near white, every other stride scores
zero, each box reaches one stride from the cell's anchor point on every side, and the five
landmarks sit at fixed offsets from it. That is enough to check that our wrapper hands
insightface the image and maps boxes and landmarks back to image pixels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ANCHORS = 2
STRIDES = (8, 16, 32)
# landmark offsets from the anchor point, in strides: eyes, nose, mouth corners
KPS_OFFSETS = np.array([[-0.4, -0.3], [0.4, -0.3], [0.0, 0.1], [-0.3, 0.5], [0.3, 0.5]], dtype=np.float32)


def write_scrfd_like(path: Path) -> Path:
    """Write the stand-in detector to `path`."""
    nodes, inits, outputs = [], [], []
    groups: dict[str, list[str]] = {"score": [], "bbox": [], "kps": []}
    for s in STRIDES:
        pooled = f"pool_{s}"
        nodes.append(helper.make_node("AveragePool", ["input.1"], [pooled], kernel_shape=[s, s], strides=[s, s]))
        for kind, channels in (("score", 1), ("bbox", 4), ("kps", 10)):
            w = np.zeros((ANCHORS * channels, 3, 1, 1), dtype=np.float32)
            b = np.zeros(ANCHORS * channels, dtype=np.float32)
            if kind == "score":
                # input is (x - 127.5) / 128: white ≈ +1 per channel, black ≈ -1
                w[:] = 8.0 if s == 32 else 0.0
                b[:] = -20.0 if s == 32 else -50.0
            elif kind == "bbox":
                b[:] = 1.0
            else:
                b[:] = np.tile(KPS_OFFSETS.reshape(-1), ANCHORS)
            inits += [numpy_helper.from_array(w, f"w_{kind}_{s}"), numpy_helper.from_array(b, f"b_{kind}_{s}")]
            conv = f"conv_{kind}_{s}"
            nodes.append(helper.make_node("Conv", [pooled, f"w_{kind}_{s}", f"b_{kind}_{s}"], [conv]))
            src = conv
            if kind == "score":
                nodes.append(helper.make_node("Sigmoid", [conv], [f"sig_{s}"]))
                src = f"sig_{s}"
            nodes.append(helper.make_node("Transpose", [src], [f"t_{kind}_{s}"], perm=[0, 2, 3, 1]))
            shape = f"shape_{kind}"
            if shape not in {i.name for i in inits}:
                inits.append(numpy_helper.from_array(np.array([-1, channels], dtype=np.int64), shape))
            name = f"{kind}_{s}"
            nodes.append(helper.make_node("Reshape", [f"t_{kind}_{s}", shape], [name]))
            groups[kind].append(name)
    for kind, channels in (("score", 1), ("bbox", 4), ("kps", 10)):
        for name in groups[kind]:
            outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, ["n", channels]))
    graph = helper.make_graph(
        nodes,
        "scrfd_like",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [1, 3, "height", "width"])],
        outputs,
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())
    return path
