"""In-memory repairs so onnxruntime runs a published model whose file stays byte for byte as the manifest names it.

The file on disk is checked against its sha256 first; the repair is applied to the bytes in
memory, so the provenance check and the upstream file stay meaningful.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from vision.errors import ModelFileError

Repair = Callable[[bytes], bytes]


def yunet_for_onnxruntime(data: bytes) -> bytes:
    """YuNet int8bq made runnable by onnxruntime ≥ 1.2x, with a free input height and width.

    1. The block-quantised export gives 26 DequantizeLinear nodes a single scale (biases, and the
       1×64 weights of the cls/obj heads) together with `block_size`/`axis` attributes. ONNX
       Runtime reads a one-element scale as per-tensor and refuses any block size ("block_size must
       be 0 for per-tensor quantization"); OpenCV ignores it. With one scale there is one block, so
       dropping the attributes and making the scale (and zero point) a scalar changes no value.
    2. The graph is exported for 1×3×640×640, but nothing in it depends on that size (OpenCV runs
       it at any size that is a multiple of 32); naming the input's height and width lets a
       640×480 camera frame run as 640×480 instead of padded to a square.
    """
    try:
        import onnx  # only models that need a repair need onnx
    except ImportError as exc:
        raise ModelFileError(
            "the YuNet backend needs the 'onnx' package to prepare the model (pip install onnx)"
        ) from exc
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except Exception as exc:
        raise ModelFileError(f"YuNet model is not a readable ONNX file: {exc}") from exc
    initialisers = {init.name: init for init in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type != "DequantizeLinear" or len(node.input) < 2:
            continue
        scale = initialisers.get(node.input[1])
        if scale is None or int(np.prod(scale.dims)) != 1:
            continue
        kept = [a for a in node.attribute if a.name not in ("block_size", "axis")]
        del node.attribute[:]
        node.attribute.extend(kept)
        for name in node.input[1:]:
            if name in initialisers:
                del initialisers[name].dims[:]
    if len(model.graph.input) != 1:
        raise ModelFileError(f"YuNet model has {len(model.graph.input)} inputs; expected 1")
    dims = model.graph.input[0].type.tensor_type.shape.dim
    if len(dims) != 4:
        raise ModelFileError(f"YuNet model input has rank {len(dims)}; expected 4 (N, C, H, W)")
    for dim, symbol in ((dims[2], "height"), (dims[3], "width")):
        dim.ClearField("dim_value")
        dim.dim_param = symbol
    for output in model.graph.output:
        out_dims = output.type.tensor_type.shape.dim
        if len(out_dims) >= 2:
            out_dims[1].ClearField("dim_value")
            out_dims[1].dim_param = f"{output.name}_cells"
    repaired: bytes = model.SerializeToString()
    return repaired
