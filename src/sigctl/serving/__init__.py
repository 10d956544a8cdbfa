"""Serving: the request contract, the numpy/onnxruntime runtime, the Triton model, the server launcher.

``contract`` and ``runtime`` import numpy and onnxruntime only (never torch): they are copied into
every exported model version and run inside Triton's python backend.
"""
