"""Metrics the train section can list. Classification metrics need a classifier output
(the target of a cross_entropy or binary_cross_entropy loss).

A metric accumulates float64 sums and counts over batches, so its result over an epoch is
exact whatever the batching: a mean over every scored entry seen since `reset`. By output kind:
    multiclass: prediction (..., C) scores (probabilities or logits), target (...) int classes
        accuracy = mean[argmax prediction == target]
        top_k    = mean[fewer than k classes score strictly above the target's]
                   (ties at the boundary count as hits, as tf.math.in_top_k)
    binary: prediction p (probability, or logit when `logits`), target y in {0, 1}, same shape
        accuracy = mean[(p > 0.5, or p > 0 for logits) == (y > 0.5)]
    regression: prediction and target of the same shape
        mae = mean |p - y|;  mse = mean (p - y)^2;  rmse = sqrt(mse over everything seen)
mae/mse/rmse of a classifier compare its probabilities (sigmoid/softmax of logits) with the
0/1 target (one-hot for multiclass). A metric that has seen nothing reports nan.

`bind_metrics` decides which outputs each listed metric measures and the name of its column
in metrics.csv; the compiler (to check monitors and combinations) and the trainer (to measure)
both call it, so a name that `nnc check` accepts is one that training logs."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from nnc.runtime.schema import Arg, Int, Named, Signature

METRICS: dict[str, Signature] = {
    "accuracy": Signature("accuracy", (), "fraction of samples whose predicted class is the target"),
    "top_k": Signature("top_k", (Arg("k", Int(1), 5),), "fraction whose target is among the k best classes"),
    "mae": Signature("mae", (), "mean absolute error"),
    "mse": Signature("mse", (), "mean squared error"),
    "rmse": Signature("rmse", (), "root mean squared error"),
}

CLASSIFICATION_METRICS = frozenset({"accuracy", "top_k"})

KINDS = ("multiclass", "binary", "regression")


class Metric:
    """mean of `score(prediction, target)` over every entry seen; `root` takes its sqrt (rmse)."""

    def __init__(self, name: str, score, root: bool = False):
        self.name, self._score, self._root = name, score, root
        self.reset()

    def reset(self) -> None:
        self.total, self.count = 0.0, 0

    def update(self, prediction: np.ndarray, target: np.ndarray) -> None:
        scores = self._score(np.asarray(prediction), np.asarray(target))
        self.total += float(scores.sum(dtype=np.float64))
        self.count += scores.size

    def result(self) -> float:
        if self.count == 0:
            return math.nan
        mean = self.total / self.count
        return math.sqrt(mean) if self._root else mean

    def state(self) -> dict[str, float | int]:
        """The running sums (JSON-serialisable), so a run resumed mid-epoch reports the same."""
        return {"total": self.total, "count": self.count}

    def load_state(self, state: dict) -> None:
        if set(state) != {"total", "count"}:
            raise ValueError(
                f"metric state for `{self.name}` needs entries ['count', 'total']. Received: {sorted(state)}"
            )
        self.total, self.count = float(state["total"]), int(state["count"])


def _probabilities(prediction: np.ndarray, target: np.ndarray, *, logits: bool, kind: str):
    """A classifier's output and target as comparable float64 arrays of one shape."""
    p = prediction.astype(np.float64)
    if kind == "binary":
        return (1.0 / (1.0 + np.exp(-p)) if logits else p), target.astype(np.float64)
    if logits:
        p = np.exp(p - p.max(axis=-1, keepdims=True))
        p /= p.sum(axis=-1, keepdims=True)
    return p, (np.arange(p.shape[-1]) == target[..., None]).astype(np.float64)


@dataclass(frozen=True)
class BoundMetric:
    name: str  # its column: accuracy; top_k_2 when top_k is listed twice; probs_accuracy
    config: Named
    output: int  # the index of the output (loss term) it measures
    higher_is_better: bool


def bind_metrics(configs: Sequence[Named], kinds: Sequence[str], outputs: Sequence[str]) -> list[BoundMetric]:
    """The metrics `configs` on outputs of `kinds` (one per loss term, named `outputs`).
    accuracy and top_k measure the classifiers; mae, mse and rmse the regressions, or, with
    none, every output (mse of a classifier is then the Brier score). A metric is named after
    its arguments too when its name is listed more than once (top_k_2, top_k_3), and after its
    output when it measures several (probs_accuracy)."""
    counts: dict[str, int] = {}
    for config in configs:
        counts[config.name] = counts.get(config.name, 0) + 1
    out = []
    for config in configs:
        if config.name in CLASSIFICATION_METRICS:
            measured = [i for i, kind in enumerate(kinds) if kind != "regression"]
        else:
            measured = [i for i, kind in enumerate(kinds) if kind == "regression"] or list(range(len(kinds)))
        base = config.name
        if counts[config.name] > 1:
            base = "_".join([config.name, *(_word(v) for v in config.params.values())])
        for i in measured:
            name = base if len(measured) == 1 else f"{outputs[i]}_{base}"
            out.append(BoundMetric(name, config, i, config.name in CLASSIFICATION_METRICS))
    return out


def term_names(predictions: Sequence[str], targets: Sequence[str]) -> list[str]:
    """What a metric of each loss term is named after: its prediction, or, where several terms
    train one prediction against different targets, the prediction and the target (y_t, y_t2)."""
    return [p if predictions.count(p) == 1 else f"{p}_{t}" for p, t in zip(predictions, targets, strict=True)]


def _word(value) -> str:
    return f"{value:g}".replace(".", "_") if isinstance(value, float) else str(value)


def metric_problem(config: Named, kind: str) -> str | None:
    """Why metric `config` cannot measure an output of `kind`, or None."""
    if config.name in CLASSIFICATION_METRICS and kind == "regression":
        return f"metric `{config.name}` needs a classifier output. Received: a regression output"
    if config.name == "top_k" and kind != "multiclass":
        return f"metric `top_k` needs a multiclass output (cross_entropy). Received: a {kind} output"
    return None


def make_metric(config: Named, *, logits: bool, kind: str) -> Metric:
    """The metric `config` names, for an output of `kind` (multiclass, binary or regression);
    `logits` says whether a classifier's prediction is logits rather than probabilities."""
    name = config.name
    if kind not in KINDS:
        raise ValueError(f"unknown output kind `{kind}`. Expected one of: {', '.join(KINDS)}")
    if (problem := metric_problem(config, kind)) is not None:
        raise ValueError(problem)
    if name == "accuracy" and kind == "multiclass":
        return Metric(name, lambda p, y: p.argmax(axis=-1) == y)
    if name == "accuracy":
        threshold = 0.0 if logits else 0.5
        return Metric(name, lambda p, y: (p > threshold) == (y > 0.5))
    if name == "top_k":
        k = config.params["k"]
        return Metric(name, lambda p, y: (p > np.take_along_axis(p, y[..., None], -1)).sum(-1) < k)
    if name not in METRICS:
        raise ValueError(f"unknown metric `{name}`. Expected one of: {', '.join(METRICS)}")

    def score(prediction, target):
        if kind != "regression":
            prediction, target = _probabilities(prediction, target, logits=logits, kind=kind)
        error = np.subtract(prediction, target, dtype=np.float64)
        return np.abs(error) if name == "mae" else np.square(error)

    return Metric(name, score, root=name == "rmse")


def confusion_matrix(predicted: np.ndarray, target: np.ndarray, n_classes: int) -> np.ndarray:
    """counts[i, j] = number of samples of true class i predicted as class j (int64)."""
    predicted, target = np.asarray(predicted).ravel(), np.asarray(target).ravel()
    if predicted.shape != target.shape:
        raise ValueError(
            f"confusion_matrix needs as many predictions as targets. Received: {predicted.size} "
            f"predictions, {target.size} targets"
        )
    for what, values in (("predicted", predicted), ("target", target)):
        if values.size and (values.min() < 0 or values.max() >= n_classes):
            raise ValueError(
                f"confusion_matrix {what} classes must lie in [0, {n_classes}). "
                f"Received: {values.min()} .. {values.max()}"
            )
    counts = np.bincount(target.astype(np.int64) * n_classes + predicted, minlength=n_classes * n_classes)
    return counts.reshape(n_classes, n_classes).astype(np.int64)


def class_report(matrix: np.ndarray) -> dict:
    """Per class (by index) and macro-averaged precision, recall and F1 from a confusion matrix
    (rows: true class), with each class's support. A ratio of nothing (a class never predicted,
    or never present) counts as 0, as scikit-learn's default does; the macro average is the
    plain mean over the classes that are present or predicted (scikit-learn's default labels:
    a class the data never show and the model never picks says nothing either way)."""
    matrix = np.asarray(matrix, dtype=np.float64)
    hits, predicted, actual = np.diag(matrix), matrix.sum(axis=0), matrix.sum(axis=1)
    precision = np.divide(hits, predicted, out=np.zeros_like(hits), where=predicted > 0)
    recall = np.divide(hits, actual, out=np.zeros_like(hits), where=actual > 0)
    both = precision + recall
    f1 = np.divide(2 * precision * recall, both, out=np.zeros_like(hits), where=both > 0)
    per_class = [
        {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(n)}
        for p, r, f, n in zip(precision, recall, f1, actual, strict=True)
    ]
    seen = (actual > 0) | (predicted > 0)
    macro = {
        name: float(v[seen].mean()) if seen.any() else 0.0
        for name, v in (("precision", precision), ("recall", recall), ("f1", f1))
    }
    return {"per_class": per_class, "macro": macro}


def roc_auc(score: np.ndarray, target: np.ndarray) -> float | None:
    """The area under the ROC curve of scores for a 0/1 target: the chance that a positive
    sample scores above a negative one, ties counting half (the Mann-Whitney U statistic, from
    average ranks). None when the target holds one class only: no curve."""
    score, target = np.asarray(score, np.float64).ravel(), np.asarray(target).ravel() == 1
    positives, negatives = int(target.sum()), int((~target).sum())
    if positives == 0 or negatives == 0:
        return None
    order = np.argsort(score, kind="stable")
    ranks = np.empty(len(score))
    ranks[order] = np.arange(1, len(score) + 1)
    ordered = score[order]  # tied scores share the mean of their ranks
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], len(score)]
    for start, end in zip(starts, ends, strict=True):
        if end - start > 1:
            ranks[order[start:end]] = (start + 1 + end) / 2
    return float((ranks[target].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def format_evaluation(logs: dict, labels: Mapping[str, list[str]]) -> str:
    """What `nnc eval` prints for `Model.evaluate`'s logs: the sample count, each loss and
    metric, and each classifier's confusion matrix with its class names (`labels`, by output;
    class indices where it has none)."""
    logs = dict(logs)
    confusion = logs.pop("confusion", {})
    reports = logs.pop("classes", {})
    lines = [f"{logs.pop('samples')} samples"]
    lines += [f"{key:<16} {value:.4f}" for key, value in logs.items()]
    for output, matrix in confusion.items():
        lines.append(f"confusion matrix of {output} (rows: true class, columns: predicted)")
        names = labels.get(output) or [str(i) for i in range(len(matrix))]
        width = max(5, *(len(x) for x in names), *(len(str(v)) for row in matrix for v in row)) + 1
        lines.append(" " * width + "".join(f"{x:>{width}}" for x in names))
        for name, row in zip(names, matrix, strict=True):
            lines.append(f"{name:>{width}}" + "".join(f"{v:>{width}}" for v in row))
        if output in reports:
            lines += _report_lines(reports[output], names)
    return "\n".join(lines) + "\n"


def _report_lines(report: dict, names: list[str]) -> list[str]:
    width = max(9, *(len(x) for x in names)) + 1
    lines = [f"{'':>{width}}  precision  recall      f1  support"]
    for name, row in zip(names, report["per_class"], strict=True):
        scores = f"{row['precision']:9.4f}  {row['recall']:6.4f}  {row['f1']:6.4f}"
        lines.append(f"{name:>{width}}  {scores}  {row['support']:7d}")
    m = report["macro"]
    lines.append(f"{'macro avg':>{width}}  {m['precision']:9.4f}  {m['recall']:6.4f}  {m['f1']:6.4f}")
    if "roc_auc" in report:
        auc = report["roc_auc"]
        lines.append(f"{'ROC AUC':>{width}}  {'undefined: one class only' if auc is None else f'{auc:.4f}'}")
    return lines
