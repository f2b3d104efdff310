"""In-memory model repair (vision/model_repair.py) on a small graph built like the YuNet int8bq export."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort  # type: ignore[import-untyped]
import pytest
from onnx import TensorProto, helper, numpy_helper

from vision.errors import ModelFileError
from vision.model_repair import yunet_for_onnxruntime

BIAS = np.array([10, -20, 30], dtype=np.int8)
SCALE = 0.5


def _graph() -> bytes:
    """input [1,3,32,32] + dequantised bias, with a one-element scale and a block size, as the export has it."""
    inits = [
        numpy_helper.from_array(BIAS, "q_bias"),
        numpy_helper.from_array(np.array([SCALE], dtype=np.float32), "scale"),
        numpy_helper.from_array(np.array([0], dtype=np.int8), "zero"),
        numpy_helper.from_array(np.array([1, 3, 1, 1], dtype=np.int64), "shape"),
    ]
    nodes = [
        helper.make_node("DequantizeLinear", ["q_bias", "scale", "zero"], ["bias"], axis=0, block_size=64),
        helper.make_node("Reshape", ["bias", "shape"], ["bias4"]),
        helper.make_node("Add", ["input", "bias4"], ["out"]),
    ]
    graph = helper.make_graph(
        nodes,
        "yunet_like",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 32, 32])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 3, 32, 32])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    model.ir_version = 10
    data: bytes = model.SerializeToString()
    return data


def _session(data: bytes) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = 1
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])


def test_published_form_fails_in_onnxruntime() -> None:
    """The unrepaired graph is refused by onnxruntime (the reason the repair exists)."""
    with pytest.raises(Exception, match="block_size must be 0 for per-tensor quantization"):
        _session(_graph()).run(None, {"input": np.zeros((1, 3, 32, 32), dtype=np.float32)})


@pytest.mark.parametrize(("h", "w"), [(32, 32), (48, 64)])
def test_repaired_graph_runs_with_the_same_values_at_any_size(h: int, w: int) -> None:
    """After the repair the graph runs, dequantises exactly as before, and takes any height and width."""
    session = _session(yunet_for_onnxruntime(_graph()))
    x = np.random.default_rng(0).standard_normal((1, 3, h, w)).astype(np.float32)
    (out,) = session.run(None, {"input": x})
    want = x + (BIAS.astype(np.float32) * SCALE).reshape(1, 3, 1, 1)
    np.testing.assert_allclose(out, want, rtol=0, atol=1e-6)


def test_repair_leaves_other_nodes_alone() -> None:
    """Only one-element scales lose their block size; the rest of the graph is unchanged."""
    before = onnx.load_from_string(_graph())
    after = onnx.load_from_string(yunet_for_onnxruntime(_graph()))
    assert [n.op_type for n in after.graph.node] == [n.op_type for n in before.graph.node]
    deq = after.graph.node[0]
    assert {a.name for a in deq.attribute} == set()
    dims = after.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == [1, 3, "height", "width"]


def test_garbage_is_a_model_error() -> None:
    """Bytes that are not ONNX are refused by name."""
    with pytest.raises(ModelFileError, match="not a readable ONNX file"):
        yunet_for_onnxruntime(b"\x00\x01garbage" * 10)
