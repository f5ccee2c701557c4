"""mae(prediction, target): mean over all elements of |prediction - target|.
target: float32, the prediction's shape."""

from nnc.runtime.ops.base import OpDef, loss_shape, same_target

OP = OpDef("mae", __doc__, loss_shape, inputs=("prediction",), is_loss=True, target=same_target)
