"""leaky_relu(alpha=0.01): y = x if x >= 0 else alpha * x."""

from nnc.runtime.ops.base import OpDef, elementwise
from nnc.runtime.schema import Arg, Float

OP = OpDef("leaky_relu", __doc__, elementwise, attrs=(Arg("alpha", Float(0), 0.01, "slope for x < 0"),))
