"""sigmoid: y = 1 / (1 + exp(-x))."""

from nnc.runtime.ops.base import OpDef, elementwise

OP = OpDef("sigmoid", __doc__, elementwise)
