"""Face pipeline on onnxruntime: detection, alignment, embedding, quality gate, 1:1 and 1:N (the vision issue)."""
