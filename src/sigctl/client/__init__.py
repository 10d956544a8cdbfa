"""gRPC client for served sigctl models (tritonclient + numpy; no torch)."""

from sigctl.client.client import AsyncSigClient, ModelInfo, RequestRejected, ServerRequestError, SigClient

__all__ = ["AsyncSigClient", "ModelInfo", "RequestRejected", "ServerRequestError", "SigClient"]
