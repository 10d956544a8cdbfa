"""Triton python-backend model ``sigctl_admission``: loads a pyramid on demand (see ``admission``).

Copied as VERSION/model.py into the serve process's own repository; it imports the sigctl the
server runs (the stub uses the server's Python), so it always matches the serve process.
"""

import json

import numpy as np
import triton_python_backend_utils as pb_utils  # provided by Triton's python backend

from sigctl.serving.admission import MODEL_INPUT, STATE_OUTPUT, Admission, AdmissionError, TritonRepository


class TritonPythonModel:
    def initialize(self, args):
        parameters = {key: value["string_value"] for key, value in json.loads(args["model_config"])["parameters"].items()}
        self.admission = Admission(TritonRepository(parameters["http_url"]), int(parameters["max_loaded"]),
                                   refused=json.loads(parameters["refused"]))

    def execute(self, requests):
        return [self._answer(request) for request in requests]

    def _answer(self, request):
        try:
            raw = pb_utils.get_input_tensor_by_name(request, MODEL_INPUT).as_numpy().reshape(-1)[0]
            model = raw.decode() if isinstance(raw, bytes) else str(raw)
            state = self.admission.admit(model)
            return pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor(STATE_OUTPUT, np.array([state.encode()], np.object_))])
        except AdmissionError as error:
            code = pb_utils.TritonError.NOT_FOUND if error.not_found else pb_utils.TritonError.INTERNAL
            return pb_utils.InferenceResponse(error=pb_utils.TritonError(str(error), code))
        except UnicodeDecodeError:
            return pb_utils.InferenceResponse(error=pb_utils.TritonError("the model name is not UTF-8 text", pb_utils.TritonError.INVALID_ARG))
