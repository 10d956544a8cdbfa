"""Export: per-scale ONNX and TorchScript graphs, parity checks, and the Triton model repository."""
