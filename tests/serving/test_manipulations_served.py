"""Every manipulation through the real server equals the in-process result (within one level)."""

import numpy as np
import pytest

from sigctl import artifact
from sigctl.client import RequestRejected, SigClient
from sigctl.core.images import load_rgb
from sigctl.core.operations import Request, execute

from ..conftest import IMAGES


def _image(path):
    return load_rgb(IMAGES / path)


CASES = {
    "paint": ("cows", lambda: Request("paint", seed=4, num_samples=2, image=_image("paint/cows.png"), quantize_colors=5)),
    "edit": ("stone", lambda: Request("edit", seed=4, image=_image("editing/stone_edit.png"), mask=_image("editing/stone_edit_mask.png").max(axis=2))),
    "harmonize": ("starry_night", lambda: Request("harmonize", seed=4, image=_image("harmonization/starry_night_naive.png"),
                                                   mask=_image("harmonization/starry_night_naive_mask.png").max(axis=2), start_scale=1)),
    "super_resolve": ("lowres_sr", lambda: Request("super_resolve", seed=4, image=_image("train/33039_LR.png")[:30, :50], sr_factor=3.0)),
    "animate": ("lightning", lambda: Request("animate", seed=4, frames=6, walk_strength=0.2)),
    "reconstruct": ("cows", lambda: Request("reconstruct")),
    "sample_from_scale": ("cows", lambda: Request("sample", seed=9, num_samples=3, height=40, width=70, start_scale=1)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_served_result_equals_in_process_result(triton, zoo, case):
    model, make_request = CASES[case]
    request = make_request()
    local = execute(artifact.load(zoo / model).executor(), request)
    with SigClient(triton.settings.grpc_url, model) as client:
        served = client.run(request)
        assert np.array_equal(served, client.run(request))  # deterministic on the server
    assert served.shape == local.shape
    difference = np.abs(served.astype(int) - local.astype(int))
    assert difference.max() <= 1 and (difference > 0).mean() < 0.01, (case, difference.max(), (difference > 0).mean())


def test_served_errors_name_the_problem(triton):
    with SigClient(triton.settings.grpc_url, "stone") as client:
        with pytest.raises(RequestRejected, match="they must match"):
            client.edit(_image("editing/stone_edit.png"), np.zeros((10, 10), np.uint8))
    with SigClient(triton.settings.grpc_url, "balloons") as client:
        with pytest.raises(RequestRejected, match="does not answer super_resolve"):
            client.super_resolve(_image("train/33039_LR.png"))
        assert client.info().super_resolution_factor is None
    with SigClient(triton.settings.grpc_url, "lowres_sr") as client:
        assert client.info().super_resolution_factor == 4.0
        assert client.super_resolve(_image("train/33039_LR.png")[:20, :24], factor=2.0).shape == (1, 40, 48, 3)
