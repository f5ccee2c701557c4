"""linear: y = x (the identity, written to say "no activation")."""

from nnc.runtime.ops.base import OpDef, elementwise

OP = OpDef("linear", __doc__, elementwise)
