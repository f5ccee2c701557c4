"""cross_entropy(prediction, target): mean over samples of -w[t] * log p[t], with p the
softmax of logits along the last axis. The compiler decides `from_logits`: a prediction made
by softmax is fused back to its logits (stable log-softmax), and log_softmax output is used
as log-probabilities. target: int64 class indices, shape = prediction shape without its
last axis. class_weights: one weight per class (w), default all 1; or weights by class name
({cat: 2.0}, the others 1), which `resolve_class_weights` turns into that list once the
training data have named the classes.

The kernel always reads logits (a log_softmax output is fine too: log_softmax is idempotent).
As Keras, the weighted sum is divided by the number of samples n (every target position), not
by the sum of the weights: loss = sum w[t] * -log_softmax(logits)[t] / n,
dlogits = w[t] * (softmax(logits) - onehot(t)) / n."""

from collections.abc import Mapping

import numpy as np
from nnc.runtime.ops.base import OpDef, Sample, ShapeError, check_rank, format_shape
from nnc.runtime.schema import Arg, Either, FloatList, FloatMap, Optional


def shape(x, *, class_weights):
    check_rank(x, 2, what="prediction")
    classes = x[-1]
    if classes < 2:
        raise ShapeError(
            f"cross_entropy needs at least 2 classes. Received: prediction: {format_shape(x)}",
            help="for one sigmoid unit use binary_cross_entropy",
        )
    if isinstance(class_weights, Mapping):
        return ()  # by class name: checked when the names are known (resolve_class_weights)
    if class_weights is not None and len(class_weights) != classes:
        raise ShapeError(
            f"class_weights has {len(class_weights)} entries for {classes} classes", arg="class_weights"
        )
    return ()


def resolve_class_weights(weights, names: list[str] | None) -> tuple[float, ...] | None:
    """Weights by class name as one weight per class index, the classes being `names` (the
    training data's labels; a class not named weighs 1). A list passes unchanged. Raises
    ValueError for a name the labels lack, or when the classes have no names."""
    if not isinstance(weights, Mapping):
        return weights
    if names is None:
        raise ValueError("class_weights names classes, but the training data number them (no names)")
    unknown = [k for k in weights if k not in names]
    if unknown:
        raise ValueError(
            f"class_weights names {', '.join(f'`{k}`' for k in unknown)}, which the training data do not "
            f"have; their classes: {', '.join(names[:20])}{', ...' if len(names) > 20 else ''}"
        )
    return tuple(float(weights.get(name, 1.0)) for name in names)


def target(x, *, class_weights):
    return "int64", tuple(x[:-1])


def forward(ctx, prediction, target, *, class_weights):
    logits = prediction.reshape(-1, prediction.shape[-1])  # one row per target position
    rows = np.arange(len(logits))
    t = target.reshape(-1)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    p = np.exp(shifted)
    total = p.sum(axis=-1)
    p /= total[:, None]  # softmax, kept for the backward pass
    nll = np.log(total) - shifted[rows, t]  # -log_softmax at the target
    # NOTE: weights by name are resolved before training; a mapping here is a bug upstream
    w = None if class_weights is None else np.asarray(class_weights, prediction.dtype)[t]
    loss = nll.sum() if w is None else (w * nll).sum()
    return np.asarray(loss / t.size, prediction.dtype), (p, rows, t, w, prediction.shape)


def backward(ctx, dloss, cache, *, class_weights):
    p, rows, t, w, shape = cache
    dx = p.copy()
    dx[rows, t] -= 1  # p - onehot(t)
    if w is not None:
        dx *= w[:, None]
    dx *= np.asarray(dloss, p.dtype) / t.size
    return (dx.reshape(shape),)


def samples(rng):
    yield Sample((rng.standard_normal((4, 3)),), {"class_weights": None}, target=rng.integers(0, 3, 4))
    logits = rng.standard_normal((2, 3, 4))  # (N, T, C)
    weights = (0.5, 1.0, 2.0, 1.5)
    yield Sample((logits,), {"class_weights": weights}, target=rng.integers(0, 4, (2, 3)))


OP = OpDef(
    "cross_entropy",
    __doc__,
    shape,
    inputs=("prediction",),
    attrs=(
        Arg(
            "class_weights",
            Optional(Either((FloatList(), FloatMap()))),
            None,
            "per-class weights: a list by class index, or a mapping by class name",
        ),
    ),
    is_loss=True,
    target=target,
    trains="multiclass",
    absorbs=("softmax", "log_softmax"),
    reads_logits=lambda **attrs: True,
    name_classes=lambda names, *, class_weights: {
        "class_weights": resolve_class_weights(class_weights, names)
    },
    forward=forward,
    backward=backward,
    samples=samples,
)
