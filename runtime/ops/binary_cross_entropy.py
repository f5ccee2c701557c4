"""binary_cross_entropy(prediction, target): mean over all elements of
-(w1 * t * log p + w0 * (1 - t) * log(1 - p)), p the probability that the element is 1 and t in
[0, 1]. class_weights = (w0, w1), the weights of negatives and positives, default (1, 1).
from_logits: none lets the compiler decide — a prediction made by sigmoid is fused back to its
logits (stable log-sigmoid) — true reads prediction as logits, false as probabilities.
target: float32, the prediction's shape."""

from nnc.runtime.ops.base import OpDef, ShapeError, loss_shape, same_target
from nnc.runtime.schema import Arg, Bool, FloatList, Optional, show


def shape(x, *, from_logits, class_weights):
    if class_weights is not None and len(class_weights) != 2:
        raise ShapeError(
            f"binary_cross_entropy needs 2 class_weights (negative, positive). "
            f"Received: class_weights={show(class_weights)}",
            arg="class_weights",
        )
    return loss_shape(x)


OP = OpDef(
    "binary_cross_entropy",
    __doc__,
    shape,
    inputs=("prediction",),
    is_loss=True,
    target=same_target,
    attrs=(
        Arg("from_logits", Optional(Bool()), None, "prediction is logits; none: decided by the compiler"),
        Arg("class_weights", Optional(FloatList()), None, "weights of (negative, positive)"),
    ),
)
