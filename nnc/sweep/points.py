"""The points of a sweep: the axes given on the command line, expanded into named trials.

    --grid KEY=V1,V2,...   values, each a spec expression exactly as `--set KEY=VALUE` takes it
    --grid KEY=LO..HI      a range, only with --random: integers uniform in [LO, HI] when both
                           are integers, else log-uniform in [LO, HI] (0 < LO < HI), rounded to
                           three significant digits so that a trial is named by what it ran

Without --random the trials are the cartesian product of the value lists, in the order given
(the first axis varies slowest). `--random N` draws N points from a generator seeded with the
sweep seed: N distinct points of the product when every axis lists values, else each axis on
its own. Trial `i` trains with the seed derived from (sweep seed, i) by NumPy's SeedSequence,
unless the sweep varies train.seed itself."""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass

import numpy as np

_RANGE = re.compile(r"^\s*([-+0-9.eE]+)\s*\.\.\s*([-+0-9.eE]+)\s*$")
SEED_KEY = "train.seed"
_NAME_LIMIT = 96  # characters of a trial's folder name, far below any file system's limit


@dataclass(frozen=True)
class Axis:
    key: str
    values: tuple[str, ...] = ()  # spec expressions; empty for a range
    low: float = 0.0
    high: float = 0.0
    integer: bool = False  # a range of integers (else log-uniform floats)

    @property
    def is_range(self) -> bool:
        return not self.values


@dataclass(frozen=True)
class Trial:
    index: int
    name: str  # its run directory's name in the sweep folder
    point: tuple[tuple[str, str], ...]  # (key, value text) per axis
    seed: int | None  # the derived train.seed; None when an axis sets it

    def overrides(self, fixed: tuple[str, ...]) -> tuple[str, ...]:
        """The `--set` texts this trial trains with: the sweep's fixed ones, its point, its seed."""
        seed = () if self.seed is None else (f"{SEED_KEY}={self.seed}",)
        return (*fixed, *(f"{k}={v}" for k, v in self.point), *seed)


def parse_axis(text: str) -> Axis:
    """`KEY=V1,V2,...` or `KEY=LO..HI`; raises ValueError saying what is expected."""
    key, eq, rest = text.partition("=")
    key = key.strip()
    if not eq or not key or not rest.strip():
        raise ValueError(f"expected KEY=V1,V2,... or KEY=LO..HI. Received: {text!r}")
    if match := _RANGE.match(rest):
        low, high = match.groups()
        integer = _is_int(low) and _is_int(high)
        lo, hi = float(low), float(high)
        if not lo < hi or (not integer and lo <= 0):
            raise ValueError(
                f"{key}={rest}: a range LO..HI needs LO < HI, and 0 < LO for a log-uniform "
                "(non-integer) range"
            )
        return Axis(key, low=lo, high=hi, integer=integer)
    values = tuple(v.strip() for v in _split(rest))
    if any(not v for v in values):
        raise ValueError(f"{key}={rest}: an empty value between commas")
    if len(set(values)) != len(values):
        raise ValueError(f"{key}={rest}: a value is listed twice")
    return Axis(key, values)


def trials(axes: list[Axis], n_random: int | None, sweep_seed: int) -> list[Trial]:
    """The sweep's trials, named and seeded. Raises ValueError for a sweep that cannot be
    expanded (a range without --random, more random points than a finite grid holds)."""
    keys = [a.key for a in axes]
    if len(set(keys)) != len(keys):
        raise ValueError(f"a key is swept twice: {', '.join(k for k in keys if keys.count(k) > 1)}")
    if n_random is None:
        if ranged := [a.key for a in axes if a.is_range]:
            raise ValueError(f"{', '.join(ranged)}: a range LO..HI is sampled; add --random N")
        points = list(itertools.product(*(a.values for a in axes)))
    else:
        points = _sample(axes, n_random, np.random.default_rng(sweep_seed))
    short = _short_names(keys)
    seeded = SEED_KEY not in keys
    return [
        Trial(
            i,
            _name(i, [(short[k], v) for k, v in zip(keys, point, strict=True)]),
            tuple(zip(keys, point, strict=True)),
            trial_seed(sweep_seed, i) if seeded else None,
        )
        for i, point in enumerate(points)
    ]


def trial_seed(sweep_seed: int, index: int) -> int:
    """Trial `index`'s train.seed: independent streams for every trial, the same on every machine."""
    return int(np.random.SeedSequence([sweep_seed, index]).generate_state(1)[0])


def _sample(axes: list[Axis], n: int, rng: np.random.Generator) -> list[tuple[str, ...]]:
    if all(not a.is_range for a in axes):
        shape = tuple(len(a.values) for a in axes)
        size = math.prod(shape)
        if n > size:
            raise ValueError(f"--random {n} asks for more points than the grid's {size}")
        picks = rng.choice(size, n, replace=False)
        return [
            tuple(a.values[j] for a, j in zip(axes, np.unravel_index(p, shape), strict=True)) for p in picks
        ]
    return [tuple(_draw(a, rng) for a in axes) for _ in range(n)]


def _draw(axis: Axis, rng: np.random.Generator) -> str:
    if axis.values:
        return axis.values[int(rng.integers(len(axis.values)))]
    if axis.integer:
        return str(int(rng.integers(int(axis.low), int(axis.high) + 1)))
    value = math.exp(rng.uniform(math.log(axis.low), math.log(axis.high)))
    return repr(float(f"{value:.3g}"))


def _split(text: str) -> list[str]:
    """Splits at the commas outside brackets and strings: `[8, 16],[32]` is two values."""
    parts, depth, quote, start = [], 0, None, 0
    for i, c in enumerate(text):
        if quote:
            quote = None if c == quote else quote
        elif c in "\"'":
            quote = c
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif c == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    return [*parts, text[start:]]


def _is_int(text: str) -> bool:
    return re.fullmatch(r"[-+]?\d+", text) is not None


def _short_names(keys: list[str]) -> dict[str, str]:
    """`optimizer.lr` shows as `lr` in trial names, unless another key ends the same way."""
    tails = [k.rpartition(".")[2] for k in keys]
    return {k: t if tails.count(t) == 1 else k for k, t in zip(keys, tails, strict=True)}


def _name(index: int, shown: list[tuple[str, str]]) -> str:
    """`0003-hidden=128,lr=0.003`: the index first, so names sort in trial order; characters a
    file name should not hold become `_`."""
    text = ",".join(f"{k}={v}" for k, v in shown)
    text = re.sub(r"[^A-Za-z0-9._+=,-]", "_", text)[:_NAME_LIMIT]
    return f"{index:04d}-{text}" if text else f"{index:04d}"
