"""elu(alpha=1.0): y = x if x > 0 else alpha * (exp(x) - 1)."""

from nnc.runtime.ops.base import OpDef, elementwise
from nnc.runtime.schema import Arg, Float

OP = OpDef(
    "elu",
    __doc__,
    elementwise,
    attrs=(Arg("alpha", Float(0, min_open=True), 1.0, "value approached as x -> -inf is -alpha"),),
)
