"""gelu(approximate="none"): y = x * Phi(x), Phi the standard normal CDF.

none: y = 0.5 x (1 + erf(x / sqrt(2))).
tanh: y = 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))."""

from nnc.runtime.ops.base import OpDef, elementwise
from nnc.runtime.schema import Arg, Choice

OP = OpDef(
    "gelu",
    __doc__,
    elementwise,
    attrs=(Arg("approximate", Choice(("none", "tanh")), "none", "exact erf or the tanh formula"),),
)
