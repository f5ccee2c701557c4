"""dropout(rate): in training y = x * m / (1 - rate), m ~ Bernoulli(1 - rate) per element
(inverted dropout, so inference is the identity); at inference y = x."""

from nnc.runtime.ops.base import OpDef, elementwise
from nnc.runtime.schema import Arg, Float

OP = OpDef(
    "dropout",
    __doc__,
    elementwise,
    attrs=(Arg("rate", Float(0, 1, max_open=True), doc="fraction of elements zeroed"),),
)
