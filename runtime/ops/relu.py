"""relu: y = max(x, 0)."""

from nnc.runtime.ops.base import OpDef, elementwise

OP = OpDef("relu", __doc__, elementwise)
