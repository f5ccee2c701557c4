"""How much memory training a program takes, estimated from its shapes before anything is
allocated, and how much this machine has. `nnc check` shows the estimate and warns past the
machine's memory; `nnc train` refuses a model that cannot fit instead of dying on MemoryError.

Per training step, in float32 (4 bytes):
    weights, their gradients and the optimizer's state (Adam keeps two moments, SGD with
    momentum one, Adagrad and RMSprop one or two): (2 + state) * parameters;
    activations: every layer's output for the batch, kept for the backward pass, and as much
    again for the gradients flowing back: 2 * batch_size * (outputs per sample).
It leaves out the data set itself and the kernels' scratch space: a floor, not a bound."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

_FLOAT = 4
_OPTIMIZER_STATE = {"sgd": 1, "adam": 2, "adamw": 2, "rmsprop": 2, "adagrad": 1}


@dataclass(frozen=True)
class Footprint:
    parameters: int  # bytes of the weights alone
    activations: int  # bytes of every layer's output, per sample
    training: int  # bytes a training step needs at the batch size
    largest: str  # the layer that needs the most (parameters and activations)


def training_footprint(graph, optimizer: str, batch_size: int) -> Footprint:
    """`graph` is the IR's Graph (read, never imported)."""
    sizes = {p.key: math.prod(p.shape) for p in graph.params}
    trainable = sum(sizes[p.key] for p in graph.params if p.trainable)
    per_layer = {}
    for node in graph.nodes:
        output = math.prod(d for d in node.type.shape[1:] if isinstance(d, int)) if node.type else 0
        per_layer[node.name] = (sum(sizes.get(k, 0) for k in node.params), output)
    parameters = _FLOAT * sum(sizes.values())
    activations = _FLOAT * sum(output for _, output in per_layer.values())
    state = (1 + _OPTIMIZER_STATE.get(optimizer, 2)) * _FLOAT * trainable
    training = parameters + state + 2 * batch_size * activations
    largest = max(per_layer, key=lambda n: per_layer[n][0] + 2 * batch_size * per_layer[n][1], default="")
    return Footprint(parameters, activations, training, largest)


def machine_memory() -> int | None:
    """This machine's physical memory in bytes, where the system says."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def human_bytes(n: float) -> str:
    for suffix in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024:
            return f"{n:.4g} {suffix}"
        n /= 1024
    return f"{n:.4g} PiB"
