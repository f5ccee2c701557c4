"""gelu(approximate="none"): y = x * Phi(x), Phi the standard normal CDF.

none: y = 0.5 x (1 + erf(x / sqrt(2))),  dx = dy * (Phi(x) + x * exp(-x^2 / 2) / sqrt(2 pi)).
tanh: y = 0.5 x (1 + t), t = tanh(u), u = sqrt(2 / pi) (x + 0.044715 x^3),
      dx = dy * (0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2 / pi) (1 + 3 * 0.044715 x^2))."""

import math

import numpy as np
from nnc.runtime.ops.base import OpDef, Sample, elementwise
from nnc.runtime.schema import Arg, Choice

# W. J. Cody, "Rational Chebyshev approximations for the error function", Math. Comp. 23
# (1969), coefficients of netlib specfun CALERF: erf on |x| <= 0.46875 (A, B), erfc on
# (0.46875, 4] (C, D) and beyond (P, Q); error near double precision.
# fmt: off
_A = (3.16112374387056560, 1.13864154151050156e2, 3.77485237685302021e2, 3.20937758913846947e3,
      1.85777706184603153e-1)
_B = (2.36012909523441209e1, 2.44024637934444173e2, 1.28261652607737228e3, 2.84423683343917062e3)
_C = (5.64188496988670089e-1, 8.88314979438837594, 6.61191906371416295e1, 2.98635138197400131e2,
      8.81952221241769090e2, 1.71204761263407058e3, 2.05107837782607147e3, 1.23033935479799725e3,
      2.15311535474403846e-8)
_D = (1.57449261107098347e1, 1.17693950891312499e2, 5.37181101862009858e2, 1.62138957456669019e3,
      3.29079923573345963e3, 4.36261909014324716e3, 3.43936767414372164e3, 1.23033935480374942e3)
_P = (3.05326634961232344e-1, 3.60344899949804439e-1, 1.25781726111229246e-1, 1.60837851487422766e-2,
      6.58749161529837803e-4, 1.63153871373020978e-2)
_Q = (2.56852019228982242, 1.87295284992346047, 5.27905102951428412e-1, 6.05183413124413191e-2,
      2.33520497626869185e-3)
# fmt: on
_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)


def _rational(a, b, z):
    """Cody's nested form: (a[-1] z^n + a[0] z^(n-1) + ... + a[-2]) / (z^n + b[0] z^(n-1) + ... + b[-1])."""
    num, den = a[-1] * z, z
    for ai, bi in zip(a[:-2], b[:-1], strict=True):
        num = (num + ai) * z
        den = (den + bi) * z
    return (num + a[-2]) / (den + b[-1])


def erf(x):
    """The error function, elementwise in x's dtype (numpy has none; math.erf is per element)."""
    ax = np.abs(x)
    small = ax <= 0.46875
    mid = ~small & (ax <= 4)
    big = ~small & ~mid  # NaN lands here and stays NaN
    y = np.empty_like(x)
    s = x[small]
    y[small] = s * _rational(_A, _B, s * s)
    m = ax[mid]
    erfc_mid = np.exp(-m * m) * _rational(_C, _D, m)
    b = np.minimum(ax[big], 27)  # erfc(27) < 1e-317: erf is 1 in double precision beyond
    z = 1 / (b * b)
    erfc_big = np.exp(-b * b) / b * (1 / math.sqrt(math.pi) - z * _rational(_P, _Q, z))
    y[mid] = np.copysign(1 - erfc_mid, x[mid])
    y[big] = np.copysign(1 - erfc_big, x[big])
    return y


def forward(ctx, x, *, approximate):
    if approximate == "tanh":
        t = np.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x**3))
        return 0.5 * x * (1 + t), (x, t)
    cdf = 0.5 * (1 + erf(x * math.sqrt(0.5)))
    return x * cdf, (x, cdf)


def backward(ctx, dy, cache, *, approximate):
    x, c = cache  # c: t for tanh, Phi(x) for none
    if approximate == "tanh":
        du = _SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x)
        return (dy * (0.5 * (1 + c) + 0.5 * x * (1 - c * c) * du),)
    pdf = np.exp(-0.5 * x * x) * (1 / math.sqrt(2 * math.pi))
    return (dy * (c + x * pdf),)


def to_onnx(g, x, *, approximate):
    if g.opset >= 20:  # Gelu is an ONNX op from opset 20; below it, the formula in primitives
        return g.node("Gelu", [x], approximate=approximate)
    if approximate == "tanh":
        x3 = g.node("Mul", [x, g.node("Mul", [x, x])])
        inner = g.node("Add", [x, g.node("Mul", [g.const(0.044715), x3])])
        t = g.node("Tanh", [g.node("Mul", [g.const(_SQRT_2_OVER_PI), inner])])
        half_x = g.node("Mul", [g.const(0.5), x])
        return g.node("Mul", [half_x, g.node("Add", [g.const(1.0), t])])
    e = g.node("Erf", [g.node("Mul", [x, g.const(math.sqrt(0.5))])])
    cdf = g.node("Mul", [g.const(0.5), g.node("Add", [g.const(1.0), e])])
    return g.node("Mul", [x, cdf])


def samples(rng):
    # every branch of erf(x / sqrt 2): |x| <= 0.66, <= 5.66 and beyond
    tails = np.array([-7.0, -4.0, -0.3, 0.1, 0.6, 1.0, 3.0, 6.5])
    x = np.concatenate([tails, 2 * rng.standard_normal(8)]).reshape(4, 4)
    yield Sample((x,), {"approximate": "none"})
    yield Sample((x,), {"approximate": "tanh"})


OP = OpDef(
    "gelu",
    __doc__,
    elementwise,
    attrs=(Arg("approximate", Choice(("none", "tanh")), "none", "exact erf or the tanh formula"),),
    forward=forward,
    backward=backward,
    to_onnx=to_onnx,
    samples=samples,
    bounded=">= -0.17",
)
