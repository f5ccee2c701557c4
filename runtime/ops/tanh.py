"""tanh: y = (exp(x) - exp(-x)) / (exp(x) + exp(-x))."""

from nnc.runtime.ops.base import OpDef, elementwise

OP = OpDef("tanh", __doc__, elementwise)
