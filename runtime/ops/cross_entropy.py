"""cross_entropy(prediction, target): mean over samples of -w[t] * log p[t], with p the
softmax of logits along the last axis. The compiler decides `from_logits`: a prediction made
by softmax is fused back to its logits (stable log-softmax), and log_softmax output is used
as log-probabilities. target: int64 class indices, shape = prediction shape without its
last axis. class_weights: one weight per class (w), default all 1."""

from nnc.runtime.ops.base import OpDef, ShapeError, check_rank, format_shape
from nnc.runtime.schema import Arg, FloatList, Optional


def shape(x, *, class_weights):
    check_rank(x, 2, what="prediction")
    classes = x[-1]
    if classes < 2:
        raise ShapeError(
            f"cross_entropy needs at least 2 classes. Received: prediction: {format_shape(x)}",
            help="for one sigmoid unit use binary_cross_entropy",
        )
    if class_weights is not None and len(class_weights) != classes:
        raise ShapeError(
            f"class_weights has {len(class_weights)} entries for {classes} classes", arg="class_weights"
        )
    return ()


def target(x, *, class_weights):
    return "int64", tuple(x[:-1])


OP = OpDef(
    "cross_entropy",
    __doc__,
    shape,
    inputs=("prediction",),
    attrs=(Arg("class_weights", Optional(FloatList()), None, "per-class weights"),),
    is_loss=True,
    target=target,
)
