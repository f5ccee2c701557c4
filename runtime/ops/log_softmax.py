"""log_softmax(axis=-1): y = x - max x - log sum exp(x - max x) along axis (never the batch axis)."""

from nnc.runtime.ops.base import OpDef, normalize_axis
from nnc.runtime.schema import Arg, Int


def shape(x, *, axis):
    normalize_axis(axis, len(x))
    return x


OP = OpDef("log_softmax", __doc__, shape, attrs=(Arg("axis", Int(), -1, "axis of the distribution"),))
