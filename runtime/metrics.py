"""Metrics the train section can list. Classification metrics need a classifier output
(the target of a cross_entropy or binary_cross_entropy loss)."""

from __future__ import annotations

from nnc.runtime.schema import Arg, Int, Signature

METRICS: dict[str, Signature] = {
    "accuracy": Signature("accuracy", (), "fraction of samples whose predicted class is the target"),
    "top_k": Signature("top_k", (Arg("k", Int(1), 5),), "fraction whose target is among the k best classes"),
    "mae": Signature("mae", (), "mean absolute error"),
    "mse": Signature("mse", (), "mean squared error"),
    "rmse": Signature("rmse", (), "root mean squared error"),
}

CLASSIFICATION_METRICS = frozenset({"accuracy", "top_k"})
