"""huber(prediction, target, delta=1.0): mean over all elements of, with d = prediction - target,
0.5 d^2 where |d| <= delta, else delta * (|d| - 0.5 delta). target: float32, the prediction's shape."""

from nnc.runtime.ops.base import OpDef, loss_shape, same_target
from nnc.runtime.schema import Arg, Float

OP = OpDef(
    "huber",
    __doc__,
    loss_shape,
    inputs=("prediction",),
    is_loss=True,
    target=same_target,
    attrs=(Arg("delta", Float(0, min_open=True), 1.0, "where the loss turns from square to linear"),),
)
