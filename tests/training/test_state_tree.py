"""A recipe state survives named tensors + JSON exactly: types, float bits, torch's own state_dicts."""

from __future__ import annotations

import json
import math
from collections import Counter

import pytest
import torch

from sigctl.training.state_tree import StateFormatError, flatten, unflatten


def round_trip(state):
    tensors, document = flatten(state)
    return unflatten(json.loads(json.dumps(document)), {k: v.clone() for k, v in tensors.items()}), tensors


def test_every_shape_torch_states_use_comes_back_with_its_type_and_exact_floats():
    state = {
        "floats": [0.1, 1 / 3, 5e-324, -0.0, math.inf, 2.0**-1074 * 3],
        "betas": (0.5, 0.999),
        "milestones": Counter({1600: 1}),
        "by_index": {0: {"step": torch.tensor(7.0)}, 3: None},
        "tensor": torch.arange(6, dtype=torch.int64).reshape(2, 3),
        "rng": torch.get_rng_state(),
        "looks_tagged": {"__tensor__": "not a tensor"},
        "flag": True,
        "name": "stage",
    }
    back, tensors = round_trip(state)
    assert back["floats"] == state["floats"] and math.copysign(1, back["floats"][3]) == -1
    assert type(back["betas"]) is tuple and back["betas"] == (0.5, 0.999)
    assert type(back["milestones"]) is Counter and back["milestones"] == Counter({1600: 1})
    assert list(back["by_index"]) == [0, 3] and torch.equal(back["by_index"][0]["step"], torch.tensor(7.0))
    assert torch.equal(back["tensor"], state["tensor"]) and torch.equal(back["rng"], state["rng"])
    assert back["looks_tagged"] == {"__tensor__": "not a tensor"}
    assert back["flag"] is True and back["name"] == "stage"
    assert "by_index.0.step" in tensors and "rng" in tensors


def test_adam_and_its_schedule_resume_exactly_through_the_codec():
    torch.manual_seed(0)
    weights = torch.nn.Parameter(torch.randn(5))
    optimizer = torch.optim.Adam([weights], lr=0.1, betas=(0.5, 0.999))
    schedule = torch.optim.lr_scheduler.MultiStepLR(optimizer, [3], gamma=0.1)

    def train(steps):
        for _ in range(steps):
            optimizer.zero_grad()
            (weights**2).sum().backward()
            optimizer.step()
            schedule.step()

    train(2)
    (saved_optimizer, saved_schedule), _ = round_trip((optimizer.state_dict(), schedule.state_dict()))
    saved_weights = weights.detach().clone()
    train(4)
    expected = weights.detach().clone()

    with torch.no_grad():
        weights.copy_(saved_weights)
    optimizer.load_state_dict(saved_optimizer)
    schedule.load_state_dict(saved_schedule)
    train(4)
    assert torch.equal(weights, expected)


def test_a_state_it_cannot_store_exactly_is_refused():
    with pytest.raises(StateFormatError, match="holds a object at x"):
        flatten({"x": object()})
    with pytest.raises(StateFormatError, match="names a tensor 'gone'"):
        unflatten({"w": {"__tensor__": "gone"}}, {})
