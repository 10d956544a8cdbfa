"""A recipe's resume state as named tensors plus a JSON document: never a pickle.

A state is a nested value like torch's own ``state_dict()``s: dicts, lists, tuples, Counters,
numbers, strings and tensors. ``flatten`` takes the tensors out under names made of their path
("current.generator_optimizer.state.0.exp_avg") and leaves a JSON document that names them;
``unflatten`` puts them back. JSON keeps what torch's optimisers and schedulers need to resume
exactly: floats round-trip bit for bit (Python writes the shortest exact repr), and the few
non-JSON shapes they use (int keys, tuples, a Counter of milestones) are tagged.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import torch

TENSOR, TUPLE, COUNTER, ITEMS = "__tensor__", "__tuple__", "__counter__", "__items__"
TAGS = (TENSOR, TUPLE, COUNTER, ITEMS)


class StateFormatError(ValueError):
    """A state document that names a missing tensor or holds a shape this module does not write."""


def flatten(state: Any) -> tuple[dict[str, torch.Tensor], Any]:
    """(tensors by name, JSON-able document naming them) of a nested ``state``.

    Tensors are copied to the CPU, detached and contiguous, as safetensors stores them.
    """
    tensors: dict[str, torch.Tensor] = {}
    return tensors, _encode(state, "", tensors)


def unflatten(document: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """The nested state ``flatten`` was given, its tensors taken from ``tensors``."""
    if isinstance(document, list):
        return [unflatten(item, tensors) for item in document]
    if not isinstance(document, dict):
        return document
    if len(document) == 1 and next(iter(document)) in TAGS:
        ((tag, value),) = document.items()
        return _decode_tagged(tag, value, tensors)
    return {key: unflatten(value, tensors) for key, value in document.items()}


def _encode(value: Any, path: str, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(value, torch.Tensor):
        name = path or "tensor"
        if name in tensors:
            raise StateFormatError(f"two tensors of the state would both be named {name!r}")
        tensors[name] = value.detach().cpu().contiguous()
        return {TENSOR: name}
    if isinstance(value, Counter):  # before dict: a Counter is one
        return {COUNTER: [[_encode(k, f"{path}.{k}", tensors), count] for k, count in value.items()]}
    if isinstance(value, dict):
        if all(isinstance(key, str) for key in value) and not (len(value) == 1 and next(iter(value), None) in TAGS):
            return {key: _encode(item, _join(path, key), tensors) for key, item in value.items()}
        return {ITEMS: [[_encode(key, _join(path, str(key)), tensors), _encode(item, _join(path, str(key)), tensors)] for key, item in value.items()]}
    if isinstance(value, tuple):
        return {TUPLE: [_encode(item, _join(path, str(i)), tensors) for i, item in enumerate(value)]}
    if isinstance(value, list):
        return [_encode(item, _join(path, str(i)), tensors) for i, item in enumerate(value)]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise StateFormatError(f"the state holds a {type(value).__name__} at {path or 'its root'}; only tensors, numbers, strings and containers are stored")


def _decode_tagged(tag: str, value: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if tag == TENSOR:
        if not isinstance(value, str) or value not in tensors:
            raise StateFormatError(f"the state document names a tensor {value!r} that the tensor file does not hold")
        return tensors[value]
    if not isinstance(value, list):
        raise StateFormatError(f"the state document's {tag} holds a {type(value).__name__}, not a list")
    if tag == TUPLE:
        return tuple(unflatten(item, tensors) for item in value)
    pairs = [(unflatten(key, tensors), unflatten(item, tensors)) for key, item in value]
    return Counter(dict(pairs)) if tag == COUNTER else dict(pairs)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
