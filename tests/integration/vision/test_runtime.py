"""onnxruntime sessions (vision/runtime.py): one per model and thread count in a process, threads as configured."""

from __future__ import annotations

from vision.models import resolve
from vision.runtime import session_for


def test_one_session_per_model_and_thread_count(models_present: None) -> None:
    """Asking twice gives the same session; another thread count gives another, configured as asked."""
    model = resolve("fr_feature")
    one = session_for(model, threads=1)
    assert session_for(model, threads=1) is one
    two = session_for(model, threads=2)
    assert two is not one
    assert one.get_session_options().intra_op_num_threads == 1
    assert two.get_session_options().intra_op_num_threads == 2
    assert one.get_providers() == ["CPUExecutionProvider"]
    # int8 weights are dequantised once at load, not on every run (see vision/runtime.py)
    assert one.get_session_options().get_session_config_entry("session.disable_quant_qdq") == "1"


def test_pipelines_share_sessions(pipeline) -> None:
    """Two pipelines with the same embedder use one session (one model load per process)."""
    assert pipeline("yunet", "sface").embedder.session is pipeline("fr_detect", "sface").embedder.session
