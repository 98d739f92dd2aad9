"""PyTorch checkpoint -> ONNX frame model with metadata (python -m export.onnx)."""
