"""binary_cross_entropy(prediction, target): mean over all elements of
-(w1 * t * log p + w0 * (1 - t) * log(1 - p)), p the probability that the element is 1 and t in
[0, 1]. class_weights = (w0, w1), the weights of negatives and positives, default (1, 1).
from_logits: none lets the compiler decide — a prediction made by sigmoid is fused back to its
logits (stable log-sigmoid) — true reads prediction as logits, false as probabilities.
target: float32, the prediction's shape.

The kernel reads from_logits true as logits x, with p = sigmoid(x) and the stable
log p = -softplus(-x), log(1 - p) = -softplus(x), softplus(x) = max(x, 0) + log1p(exp(-|x|)),
  dx = (w1 t (p - 1) + w0 (1 - t) p) / size;
false (or none, which the compiler should have decided) as probabilities, clipped to
[1e-7, 1 - 1e-7] as Keras does, dp = (w0 (1 - t) / (1 - p) - w1 t / p) / size inside the clip
and 0 where the clip holds."""

import numpy as np
from nnc.runtime.ops.base import OpDef, Sample, ShapeError, loss_shape, same_target
from nnc.runtime.schema import Arg, Bool, FloatList, Optional, show


def shape(x, *, from_logits, class_weights):
    if class_weights is not None and len(class_weights) != 2:
        raise ShapeError(
            f"binary_cross_entropy needs 2 class_weights (negative, positive). "
            f"Received: class_weights={show(class_weights)}",
            arg="class_weights",
        )
    return loss_shape(x)


EPSILON = 1e-7


def forward(ctx, prediction, target, *, from_logits, class_weights):
    w0, w1 = class_weights or (1.0, 1.0)
    t = target.astype(prediction.dtype, copy=False)
    if from_logits:
        x = prediction
        softplus = np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))  # -log(1 - p)
        per_element = w1 * t * (softplus - x) + w0 * (1 - t) * softplus
        e = np.exp(-np.abs(x))  # sigmoid without overflow, as in sigmoid.py
        p = np.where(x >= 0, 1, e) / (1 + e)
    else:
        p = np.clip(prediction, EPSILON, 1 - EPSILON)
        per_element = -(w1 * t * np.log(p) + w0 * (1 - t) * np.log(1 - p))
    return np.asarray(np.mean(per_element), prediction.dtype), (prediction, p, t)


def backward(ctx, dloss, cache, *, from_logits, class_weights):
    prediction, p, t = cache
    w0, w1 = class_weights or (1.0, 1.0)
    scale = np.asarray(dloss, p.dtype) / p.size
    if from_logits:
        return ((w1 * t * (p - 1) + w0 * (1 - t) * p) * scale,)
    inside = (prediction >= EPSILON) & (prediction <= 1 - EPSILON)
    return ((w0 * (1 - t) / (1 - p) - w1 * t / p) * inside * scale,)


def samples(rng):
    logits = 2 * rng.standard_normal((4, 3))
    target = rng.integers(0, 2, (4, 3)).astype(np.float64)
    yield Sample((logits,), {"from_logits": True, "class_weights": None}, target=target)
    yield Sample((logits,), {"from_logits": True, "class_weights": (0.5, 2.0)}, target=target)
    probabilities = rng.uniform(0.05, 0.95, (4, 3))
    soft = rng.uniform(0, 1, (4, 3))  # soft labels, as after label smoothing
    yield Sample((probabilities,), {"from_logits": False, "class_weights": (2.0, 0.7)}, target=soft)


OP = OpDef(
    "binary_cross_entropy",
    __doc__,
    shape,
    inputs=("prediction",),
    is_loss=True,
    target=same_target,
    trains="binary",
    absorbs=("sigmoid",),
    reads_logits=lambda *, from_logits, class_weights: bool(from_logits),
    attrs=(
        Arg("from_logits", Optional(Bool()), None, "prediction is logits; none: decided by the compiler"),
        Arg("class_weights", Optional(FloatList()), None, "weights of (negative, positive)"),
    ),
    forward=forward,
    backward=backward,
    samples=samples,
)
