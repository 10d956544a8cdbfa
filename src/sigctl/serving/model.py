"""Triton python-backend model: validate, call the runtime, answer. Copied as VERSION/model.py.

The version folder carries the torch-free part of sigctl it was exported with (``VERSION/sigctl``),
so a published version behaves the same whatever sigctl the server has installed, and the server
needs only numpy and onnxruntime.

Statuses: a request that breaks a rule or the limits (sizes, counts, the work budget, option
bounds) or that the model ran out of memory for is INVALID_ARGUMENT with the reason (Triton
2.51's python backend has no RESOURCE_EXHAUSTED code); a request whose client went away or whose
deadline passed is stopped between chunks and scales and answered CANCELLED; anything else is a bug
(INTERNAL, with a traceback in the server log).
"""

import json
import os
import sys
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import triton_python_backend_utils as pb_utils  # noqa: E402  (provided by Triton's python backend)

from sigctl.errors import RequestCancelled, SigctlError  # noqa: E402
from sigctl.serving import contract  # noqa: E402
from sigctl.serving.runtime import ModelRuntime  # noqa: E402
from sigctl.serving.spec import ServedSpec  # noqa: E402


class TritonPythonModel:
    def initialize(self, args):
        folder = os.path.join(args["model_repository"], args["model_version"])
        use_gpu = args.get("model_instance_kind") == "GPU"
        device_id = int(args.get("model_instance_device_id") or 0)
        threads = int(os.environ.get("SIGCTL_RUNTIME_THREADS", "0"))
        self.runtime = ModelRuntime(folder, use_gpu=use_gpu, device_id=device_id, threads=threads, limits=_published_limits(args))

    def execute(self, requests):
        return [self._answer(request) for request in requests]

    def _answer(self, request):
        try:
            tensors = {}
            for name in contract.INPUTS_BY_NAME:
                tensor = pb_utils.get_input_tensor_by_name(request, name)
                if tensor is not None:
                    tensors[name] = tensor.as_numpy()
            images = self.runtime.handle(contract.parse_request(tensors), cancelled=_cancel_check(request))
            return pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor(contract.IMAGES, images)])
        except RequestCancelled as error:
            return pb_utils.InferenceResponse(error=pb_utils.TritonError(str(error), pb_utils.TritonError.CANCELLED))
        except SigctlError as error:
            return pb_utils.InferenceResponse(error=pb_utils.TritonError(str(error), pb_utils.TritonError.INVALID_ARG))
        except MemoryError:
            message = "the model ran out of memory reading this request; send fewer or smaller images"
            return pb_utils.InferenceResponse(error=pb_utils.TritonError(message, pb_utils.TritonError.INVALID_ARG))
        except Exception as error:  # noqa: BLE001 - a bug must fail this request only, and be visible in the log
            traceback.print_exc()
            return pb_utils.InferenceResponse(error=pb_utils.TritonError(f"internal error in sigctl model: {error!r}"))


def _published_limits(args):
    """The limits this model's config.pbtxt advertises are the ones it enforces (None: the version's own)."""
    parameters = json.loads(args.get("model_config") or "{}").get("parameters", {})
    published = {key: value.get("string_value", "") for key, value in parameters.items()}
    if "model_spec" not in published:
        return None
    return ServedSpec.from_config_parameters(published).limits


def _cancel_check(request):
    """Triton >= 23.10 tells a python model when the gRPC client cancelled or its deadline passed."""
    is_cancelled = getattr(request, "is_cancelled", None)
    return is_cancelled if callable(is_cancelled) else None
