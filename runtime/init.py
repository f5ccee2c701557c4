"""Weight initializers the spec can name. Aliases (xavier_*, kaiming_*) share a signature, so
a parameter table always shows the canonical name.

Variance scaling (Keras's VarianceScaling), with fan = fan_in, or (fan_in + fan_out) / 2 for
glorot, and scale 1 (glorot, lecun) or 2 (he), so that Var(w) = scale / fan:
    *_uniform: U(-a, a), a = sqrt(3 scale / fan)
    *_normal:  N(0, s^2) truncated to [-2 s, 2 s], s = sqrt(scale / fan) / 0.8796...; the
               constant is the std of a unit normal truncated at 2 std, so Var(w) = scale / fan.
Without fans (a parameter whose op gives none, such as a bias or an embedding table) they come
from the shape as in Keras: () -> 1, 1; (n,) -> n, n; (a, b) -> a, b; (..., a, b) -> a r, b r
with r the product of the leading axes.

orthogonal (PyTorch's rule): W viewed as a matrix M = W.reshape(shape[0], -1) is
gain * (a random matrix with orthonormal rows when shape[0] <= M.shape[1], orthonormal columns
otherwise), drawn from the Haar measure: Q of the QR decomposition of a standard normal matrix,
each column's sign flipped to make diag(R) positive."""

from __future__ import annotations

import math

import numpy as np
from nnc.runtime.schema import Arg, Float, Named, Signature

_GAIN = Arg("gain", Float(0, min_open=True), 1.0, "multiplies the scale")

INITIALIZERS: dict[str, Signature] = {}


def _add(signature: Signature, *aliases: str) -> None:
    for name in (signature.name, *aliases):
        INITIALIZERS[name] = signature


_add(Signature("glorot_uniform", (), "U(-a, a), a = sqrt(6 / (fan_in + fan_out))"), "xavier_uniform")
_add(Signature("glorot_normal", (), "N(0, 2 / (fan_in + fan_out)), truncated at 2 std"), "xavier_normal")
_add(Signature("he_uniform", (), "U(-a, a), a = sqrt(6 / fan_in)"), "kaiming_uniform")
_add(Signature("he_normal", (), "N(0, 2 / fan_in), truncated at 2 std"), "kaiming_normal")
_add(Signature("lecun_uniform", (), "U(-a, a), a = sqrt(3 / fan_in)"))
_add(Signature("lecun_normal", (), "N(0, 1 / fan_in), truncated at 2 std"), "lecun")
_add(
    Signature(
        "normal", (Arg("std", Float(0, min_open=True), 0.05), Arg("mean", Float(), 0.0)), "N(mean, std^2)"
    )
)
_add(Signature("uniform", (Arg("a", Float(), -0.05), Arg("b", Float(), 0.05)), "U(a, b)"))
_add(Signature("zeros", (), "all 0"))
_add(Signature("ones", (), "all 1"))
_add(Signature("constant", (Arg("value", Float()),), "all `value`"))
_add(Signature("orthogonal", (_GAIN,), "a (semi-)orthogonal matrix times gain"))

# canonical name -> (scale, which fan, distribution)
_VARIANCE_SCALING = {
    "glorot_uniform": (1.0, "avg", "uniform"),
    "glorot_normal": (1.0, "avg", "normal"),
    "he_uniform": (2.0, "in", "uniform"),
    "he_normal": (2.0, "in", "normal"),
    "lecun_uniform": (1.0, "in", "uniform"),
    "lecun_normal": (1.0, "in", "normal"),
}
_TRUNCATED_STD = 0.87962566103423978  # std of N(0, 1) conditioned on |z| <= 2


def init_problem(init: Named, shape: tuple[int, ...]) -> str | None:
    """Why `init` cannot initialize a parameter of `shape`, or None: the compiler reports it at
    the spec's init keyword, and `initialize` refuses it."""
    if INITIALIZERS.get(init.name) is INITIALIZERS["orthogonal"] and len(shape) < 2:
        return (
            f"orthogonal needs a parameter of rank >= 2. Received: shape {list(shape)}; "
            "use normal, uniform or a constant for vectors"
        )
    return None


def initialize(
    init: Named,
    shape: tuple[int, ...],
    rng: np.random.Generator,
    *,
    fan_in: int | None = None,
    fan_out: int | None = None,
) -> np.ndarray:
    """A float32 array of `shape` drawn as `init` says (see the module docstring). `init.name`
    may be an alias; every argument of its signature must be bound in `init.params`. The same
    rng state gives the same array."""
    if init.name not in INITIALIZERS:
        raise ValueError(f"unknown initializer `{init.name}`. Expected one of: {', '.join(INITIALIZERS)}")
    if (problem := init_problem(init, shape)) is not None:
        raise ValueError(problem)
    name = INITIALIZERS[init.name].name
    params = init.params
    shape = tuple(shape)
    if name in _VARIANCE_SCALING:
        scale, mode, distribution = _VARIANCE_SCALING[name]
        fan_in, fan_out = _fans(shape, fan_in, fan_out)
        fan = fan_in if mode == "in" else (fan_in + fan_out) / 2
        variance = scale / max(1.0, fan)
        if distribution == "uniform":
            limit = math.sqrt(3.0 * variance)
            w = rng.uniform(-limit, limit, shape)
        else:
            w = _truncated_normal(shape, rng) * (math.sqrt(variance) / _TRUNCATED_STD)
    elif name == "normal":
        w = params["mean"] + params["std"] * rng.standard_normal(shape)
    elif name == "uniform":
        w = rng.uniform(params["a"], params["b"], shape)
    elif name == "orthogonal":
        w = params["gain"] * _orthogonal(shape, rng)
    else:  # zeros, ones, constant
        value = params["value"] if name == "constant" else float(name == "ones")
        return np.full(shape, value, np.float32)
    return w.astype(np.float32)


def _fans(shape: tuple[int, ...], fan_in: int | None, fan_out: int | None) -> tuple[int, int]:
    """The given fans, a missing one taken from the shape by Keras's rule for a kernel laid out
    (*receptive_field, in, out)."""
    if len(shape) == 0:
        default = (1, 1)
    elif len(shape) == 1:
        default = (shape[0], shape[0])
    else:
        receptive = math.prod(shape[:-2])
        default = (shape[-2] * receptive, shape[-1] * receptive)
    return (default[0] if fan_in is None else fan_in, default[1] if fan_out is None else fan_out)


def _truncated_normal(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """N(0, 1) draws conditioned on |z| <= 2: out-of-range entries are redrawn until none remain
    (each round keeps about 95%, so a few rounds suffice)."""
    z = rng.standard_normal(shape)
    flat = z.reshape(-1)  # a view: z is contiguous
    redraw = np.flatnonzero(np.abs(flat) > 2.0)
    while redraw.size:
        flat[redraw] = rng.standard_normal(redraw.size)
        redraw = redraw[np.abs(flat[redraw]) > 2.0]
    return z


def _orthogonal(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    rows, cols = shape[0], math.prod(shape[1:])
    a = rng.standard_normal((max(rows, cols), min(rows, cols)))  # tall: QR gives its column space
    q, r = np.linalg.qr(a)
    # NOTE: without the sign fix Q is not uniformly distributed (Mezzadri 2007).
    q *= np.where(np.diag(r) < 0, -1.0, 1.0)
    return (q.T if rows < cols else q).reshape(shape)
