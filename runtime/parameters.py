"""A model's parameters. Trainable ones are views into one flat float32 buffer, and their
gradients views into a second one, so the optimizer, clipping and penalties each make one pass
over all weights instead of one per tensor. Frozen ones (a frozen layer, batch-norm running
statistics) are separate arrays that no optimizer touches.

Keys are `<layer>.<param>` as in the IR's parameter table; layouts are the op files' (dense's
weight is (in_features, units))."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from nnc.runtime.errors import RunError
from nnc.runtime.init import initialize

# A vocabulary entry no value was fitted to (a vocabulary has room for `max_tokens`; the
# training data may hold fewer). Lookups skip it, so no value is ever mapped to it. It starts
# with NUL, which no text file holds (and a lone NUL would not do: NumPy strips trailing NULs).
UNUSED = "\x00unused"


class Parameters:
    def __init__(self, specs: Sequence):
        """`specs`: the IR's Parameter entries (key, shape, init, trainable, l1, l2, fans)."""
        self.specs = {p.key: p for p in specs}
        trainable = [p for p in specs if p.trainable]
        total = sum(p.size for p in trainable)
        self.flat = np.zeros(total, np.float32)
        self.grad = np.zeros(total, np.float32)
        self.values: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.segments: dict[str, tuple[int, int]] = {}
        start = 0
        for p in specs:
            if p.trainable:
                stop = start + p.size
                self.segments[p.key] = (start, stop)
                self.values[p.key] = self.flat[start:stop].reshape(p.shape)
                self.grads[p.key] = self.grad[start:stop].reshape(p.shape)
                start = stop
            elif p.dtype == "string":  # a vocabulary: every entry unused until fitted
                self.values[p.key] = np.full(p.shape, UNUSED)
            else:
                self.values[p.key] = np.zeros(p.shape, np.float32)

    @property
    def count(self) -> int:
        return sum(v.size for v in self.values.values())

    def initialize(self, rng: np.random.Generator) -> None:
        """Draws every parameter in table order from the run's one generator (a vocabulary is
        fitted, never drawn)."""
        for key, p in self.specs.items():
            if p.dtype != "string":
                self.values[key][...] = initialize(p.init, p.shape, rng, fan_in=p.fan_in, fan_out=p.fan_out)

    def set(self, key: str, value: np.ndarray) -> None:
        """Stores a fitted or loaded value: into the parameter's array, or, for a vocabulary
        (whose entries may be longer than before), as a new array."""
        if self.specs[key].dtype == "string":
            self.values[key] = np.array(value, dtype=str)
        else:
            self.values[key][...] = value

    def penalty_segments(self, l1: float, l2: float) -> list[tuple[int, int, float, float]]:
        """(start, stop, l1, l2) slices of the flat buffer: per-layer penalties plus the global
        ones, which apply to weights but not to biases or normalization scales."""
        out = []
        for key, (start, stop) in self.segments.items():
            p = self.specs[key]
            a = p.l1 + (l1 if p.regularized else 0.0)
            b = p.l2 + (l2 if p.regularized else 0.0)
            if a or b:
                out.append((start, stop, a, b))
        return out

    def to_dict(self) -> dict[str, np.ndarray]:
        return {key: value.copy() for key, value in self.values.items()}

    def load(self, arrays: Mapping[str, np.ndarray], *, path: str) -> None:
        """Copies `arrays` in, refusing any mismatch before changing anything."""
        problems = []
        missing = [k for k in self.values if k not in arrays]
        unexpected = [k for k in arrays if k not in self.values]
        if missing:
            problems.append(f"missing {', '.join(missing)}")
        if unexpected:
            problems.append(f"unexpected {', '.join(unexpected)}")
        for key, value in self.values.items():
            if key in arrays and tuple(arrays[key].shape) != value.shape:
                problems.append(
                    f"{key} has shape {list(arrays[key].shape)}, the model needs {list(value.shape)}"
                )
            elif key in arrays and self.specs[key].dtype == "string":
                if arrays[key].dtype.kind != "U":
                    problems.append(f"{key} has dtype {arrays[key].dtype}, expected strings (a vocabulary)")
            elif key in arrays and not np.issubdtype(arrays[key].dtype, np.floating):
                problems.append(f"{key} has dtype {arrays[key].dtype}, expected float32")
            elif key in arrays and not np.isfinite(arrays[key]).all():
                problems.append(f"{key} holds NaN or Inf")
        if problems:
            raise RunError(
                "E420",
                "the weights do not match the model: " + "; ".join(problems),
                path=path,
                help="weights are keyed <layer>.<param>; see `nnc check --ir SPEC` for the table",
            )
        for key in self.values:
            self.set(key, arrays[key])
