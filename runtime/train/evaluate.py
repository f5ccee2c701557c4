"""Measuring a model on a data set: the metrics the spec lists, bound to the losses they apply
to, and one inference pass over a whole set in large batches (validation, `nnc eval`)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from nnc.runtime.errors import RunError
from nnc.runtime.executor import Plan
from nnc.runtime.metrics import bind_metrics, class_report, confusion_matrix, make_metric, roc_auc, term_names

EVAL_BATCH = 1024  # inference batches: large for speed, bounded for memory


class MetricSet:
    """The metrics the spec lists, bound to the loss terms they apply to and named as
    runtime/metrics.bind_metrics says."""

    def __init__(self, configs, losses):
        losses = list(losses)
        bound = bind_metrics(
            configs,
            [t.op.trains for t in losses],
            term_names([t.prediction for t in losses], [t.target for t in losses]),
        )
        for config in configs:
            if not any(b.config is config for b in bound):
                raise RunError("E502", f"metric `{config.name}` applies to none of the model's losses")
        self.entries = []  # (name, metric, loss step)
        for b in bound:
            term = losses[b.output]
            self.entries.append(
                (b.name, make_metric(b.config, logits=term.logits, kind=term.op.trains), term)
            )

    @property
    def names(self) -> list[str]:
        return [name for name, _, _ in self.entries]

    def reset(self) -> None:
        for _, metric, _ in self.entries:
            metric.reset()

    def update(self, values: Mapping, feeds: Mapping) -> None:
        for _, metric, term in self.entries:
            metric.update(values[term.prediction], term.target_of(values, feeds))

    def results(self, prefix: str = "") -> dict[str, float]:
        return {prefix + name: float(metric.result()) for name, metric, _ in self.entries}

    def state(self) -> list[dict]:
        return [metric.state() for _, metric, _ in self.entries]

    def load_state(self, states: list[dict]) -> None:
        for (_, metric, _), state in zip(self.entries, states, strict=True):
            metric.load_state(state)


def batch_slices(n: int, batch_size: int) -> list[slice]:
    return [slice(start, min(start + batch_size, n)) for start in range(0, n, batch_size)]


def take(arrays: Mapping[str, np.ndarray], index) -> dict[str, np.ndarray]:
    return {name: array[index] for name, array in arrays.items()}


def measure(plan: Plan, metric_configs, data: Mapping) -> dict:
    """`nnc eval`: the loss, the spec's metrics and the sample count over a whole data set,
    and for each classification output a confusion matrix (rows: true class, columns:
    predicted) under "confusion" and, under "classes", precision, recall and F1 per class and
    macro-averaged, with the ROC AUC of a binary output (a sigmoid, or a softmax over two)."""
    classifiers = [t for t in plan.losses if t.op.classifier]
    logs, predictions = evaluate(
        plan, data, MetricSet(metric_configs, plan.losses), keep=[t.prediction for t in classifiers]
    )
    logs["samples"] = len(next(iter(data.values())))
    for term in classifiers:
        prediction, target = predictions[term.prediction], data[term.target]
        if term.op.trains == "multiclass":
            predicted, n_classes = prediction.argmax(-1), prediction.shape[-1]
        else:
            predicted, n_classes = (prediction > (0.0 if term.logits else 0.5)).astype(np.int64), 2
            target = target.astype(np.int64)
        matrix = confusion_matrix(predicted.reshape(-1), target.reshape(-1), n_classes)
        logs.setdefault("confusion", {})[term.prediction] = matrix.tolist()
        report = class_report(matrix)
        if n_classes == 2:  # a score in the order of class 1's probability: a logit will do
            multiclass = term.op.trains == "multiclass"
            score = prediction[..., 1] - prediction[..., 0] if multiclass else prediction
            report["roc_auc"] = roc_auc(score, target)
        logs.setdefault("classes", {})[term.prediction] = report
    return logs


def evaluate(plan: Plan, data: Mapping, metrics: MetricSet, prefix: str = "", keep=()) -> tuple[dict, dict]:
    """Loss and metrics over a whole data set, in inference mode and in large batches; the
    loss is the sample-weighted mean of batch means. The weight penalties are part of the
    training loss (they are what is minimized) but not of this one, which measures the fit.
    Also returns the values named in `keep`, over the whole set, from the same pass."""
    n = len(next(iter(data.values())))
    metrics.reset()
    total = 0.0
    kept = {name: [] for name in keep}
    for part in batch_slices(n, EVAL_BATCH):
        feeds = take(data, part)
        result = plan.evaluate(feeds)
        total += result.loss * (part.stop - part.start)
        metrics.update(result.values, feeds)
        for name in keep:
            kept[name].append(result.values[name])
    logs = {prefix + "loss": total / n}
    logs.update(metrics.results(prefix))
    return logs, {name: np.concatenate(parts) for name, parts in kept.items()}
