"""Metrics on small hand-made batches, their accumulation, and the confusion matrix."""

import json
import math

import numpy as np
import pytest
from nnc.runtime.metrics import METRICS, class_report, confusion_matrix, make_metric, roc_auc
from nnc.runtime.schema import Named


def metric(name, *, logits=False, kind="multiclass", **params):
    bound = {a.name: a.default for a in METRICS[name].args}
    bound.update(params)
    return make_metric(Named(name, bound), logits=logits, kind=kind)


SCORES = np.array(
    [
        [0.1, 0.6, 0.3],  # argmax 1
        [0.5, 0.2, 0.3],  # argmax 0
        [0.2, 0.3, 0.5],  # argmax 2
        [0.4, 0.35, 0.25],  # argmax 0
    ],
    np.float32,
)
CLASSES = np.array([1, 2, 2, 1])


def test_multiclass_accuracy():
    m = metric("accuracy")
    m.update(SCORES, CLASSES)
    assert m.result() == pytest.approx(0.5)  # rows 0 and 2
    m.update(np.log(SCORES), CLASSES)  # logits rank the same
    assert m.result() == pytest.approx(0.5)


def test_accuracy_over_extra_axes():
    m = metric("accuracy")
    m.update(SCORES.reshape(2, 2, 3), CLASSES.reshape(2, 2))
    assert m.result() == pytest.approx(0.5)


def test_top_k():
    m = metric("top_k", k=2)
    m.update(SCORES, CLASSES)
    # target ranks: row 0 first, row 1 second (0.3 > 0.2), row 2 first, row 3 second
    assert m.result() == pytest.approx(1.0)
    m = metric("top_k", k=2)
    m.update(SCORES, np.array([0, 1, 0, 2]))  # ranks 3, 3, 3, 3
    assert m.result() == pytest.approx(0.0)
    m = metric("top_k", k=1)
    m.update(SCORES, CLASSES)
    assert m.result() == pytest.approx(0.5)  # top_1 is accuracy


def test_top_k_counts_ties_as_hits():
    m = metric("top_k", k=1)
    m.update(np.array([[0.5, 0.5, 0.0]]), np.array([1]))
    assert m.result() == 1.0


def test_binary_accuracy_probabilities_and_logits():
    target = np.array([[1.0], [0.0], [1.0], [0.0], [1.0]], np.float32)
    probs = np.array([[0.9], [0.4], [0.3], [0.6], [0.5]], np.float32)  # 0.5 is not above 0.5
    m = metric("accuracy", kind="binary")
    m.update(probs, target)
    assert m.result() == pytest.approx(2 / 5)
    m = metric("accuracy", kind="binary", logits=True)
    m.update(np.array([[2.0], [-1.0], [0.5], [-0.1], [0.0]], np.float32), target)  # 0 is not above 0
    assert m.result() == pytest.approx(4 / 5)


def test_wrong_kinds_are_errors():
    with pytest.raises(ValueError, match="top_k"):
        metric("top_k", kind="binary")
    with pytest.raises(ValueError, match="accuracy"):
        metric("accuracy", kind="regression")


def test_regression_metrics():
    p = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)
    y = np.array([[1.5, 2.0], [1.0, 5.0]], np.float32)
    # errors -0.5, 0, 2, -1: |e| sums to 3.5, e^2 to 5.25, over 4 entries
    expected = {"mae": 3.5 / 4, "mse": 5.25 / 4, "rmse": math.sqrt(5.25 / 4)}
    for name, value in expected.items():
        m = metric(name, kind="regression")
        m.update(p, y)
        assert m.result() == pytest.approx(value)


def test_rmse_is_not_a_mean_of_batch_rmses():
    m = metric("rmse", kind="regression")
    m.update(np.array([3.0]), np.array([0.0]))  # batch rmse 3
    m.update(np.array([0.0, 0.0, 0.0]), np.array([0.0, 0.0, 0.0]))  # batch rmse 0
    assert m.result() == pytest.approx(math.sqrt(9 / 4))  # 1.5, not (3 + 0) / 2


@pytest.mark.parametrize(
    "name, kind",
    [
        ("accuracy", "multiclass"),
        ("top_k", "multiclass"),
        ("mae", "regression"),
        ("mse", "regression"),
        ("rmse", "regression"),
    ],
)
def test_two_updates_equal_one_on_the_concatenation(name, kind):
    rng = np.random.default_rng(0)
    if kind == "multiclass":
        p, y = rng.standard_normal((13, 6)).astype(np.float32), rng.integers(0, 6, 13)
    else:
        p, y = (
            rng.standard_normal((13, 2)).astype(np.float32),
            rng.standard_normal((13, 2)).astype(np.float32),
        )
    params = {"k": 3} if name == "top_k" else {}
    split, whole = metric(name, kind=kind, **params), metric(name, kind=kind, **params)
    split.update(p[:4], y[:4])
    split.update(p[4:], y[4:])
    whole.update(p, y)
    assert split.result() == pytest.approx(whole.result(), rel=1e-12)


def test_reset_and_empty():
    m = metric("mae", kind="regression")
    assert math.isnan(m.result())
    m.update(np.array([1.0]), np.array([0.0]))
    m.reset()
    m.update(np.array([2.0]), np.array([0.0]))
    assert m.result() == 2.0


def test_state_round_trip():
    m = metric("rmse", kind="regression")
    m.update(np.array([3.0, 1.0]), np.array([0.0, 0.0]))
    saved = json.loads(json.dumps(m.state()))
    resumed = metric("rmse", kind="regression")
    resumed.load_state(saved)
    for target in (m, resumed):
        target.update(np.array([2.0]), np.array([0.0]))
    assert resumed.result() == m.result() == pytest.approx(math.sqrt(14 / 3))
    with pytest.raises(ValueError, match="count"):
        resumed.load_state({"total": 1.0})


def test_regression_metrics_of_a_classifier_use_probabilities():
    m = metric("mse", kind="binary", logits=True)
    m.update(np.array([0.0, 0.0]), np.array([1.0, 0.0]))  # sigmoid(0) = 0.5: errors -0.5, 0.5
    assert m.result() == pytest.approx(0.25)
    m = metric("mae", kind="multiclass", logits=True)
    m.update(np.log(np.array([[0.25, 0.75]])), np.array([1]))  # |0.25 - 0| + |0.75 - 1| over 2
    assert m.result() == pytest.approx(0.25)


def test_confusion_matrix():
    predicted = np.array([0, 1, 2, 2, 0, 1, 1])
    target = np.array([0, 1, 1, 2, 2, 1, 0])
    expected = [
        [1, 1, 0],  # true 0: predicted 0 once, 1 once
        [0, 2, 1],  # true 1: predicted 1 twice, 2 once
        [1, 0, 1],  # true 2: predicted 0 once, 2 once
    ]
    counts = confusion_matrix(predicted, target, 3)
    assert counts.dtype == np.int64
    assert counts.tolist() == expected
    assert confusion_matrix(np.array([], np.int64), np.array([], np.int64), 2).tolist() == [[0, 0], [0, 0]]


def test_confusion_matrix_rejects_out_of_range_classes():
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        confusion_matrix(np.array([0, 3]), np.array([0, 1]), 3)


def test_precision_recall_and_f1_per_class_and_macro_by_hand():
    report = class_report(np.array([[5, 1, 0], [2, 3, 1], [0, 0, 4]]))
    expected = [  # (precision, recall, f1, support), counted off the matrix by hand
        (5 / 7, 5 / 6, 10 / 13, 6),
        (3 / 4, 3 / 6, 0.6, 6),
        (4 / 5, 4 / 4, 8 / 9, 4),
    ]
    for row, (p, r, f, n) in zip(report["per_class"], expected, strict=True):
        assert (row["precision"], row["recall"], row["f1"]) == pytest.approx((p, r, f), rel=1e-12)
        assert row["support"] == n
    macro = report["macro"]
    assert macro["precision"] == pytest.approx((5 / 7 + 3 / 4 + 4 / 5) / 3, rel=1e-12)
    assert macro["f1"] == pytest.approx((10 / 13 + 0.6 + 8 / 9) / 3, rel=1e-12)
    never = class_report(np.array([[2, 0], [1, 0]]))["per_class"][1]  # class 1: never predicted
    assert (never["precision"], never["recall"], never["f1"]) == (0.0, 0.0, 0.0)


def test_roc_auc_by_hand_ties_count_half():
    # positives 0.35 and 0.8 against negatives 0.1 and 0.4: 3 of 4 pairs ordered right
    assert roc_auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1])) == 0.75
    # a positive tied with a negative counts half: (0.5 + 1 + 1 + 1) / 4
    assert roc_auc(np.array([0.5, 0.5, 0.2, 0.9]), np.array([1, 0, 0, 1])) == 0.875
    assert roc_auc(np.array([0.3, 0.6]), np.array([1, 1])) is None  # one class: no curve


def test_nnc_eval_reports_the_classes_and_the_auc_of_a_binary_output(tmp_path):
    from click.testing import CliRunner

    import nnc
    from nnc.cli import main

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    x = (y[:, None] * 1.0 + rng.standard_normal((200, 3))).astype(np.float32)
    np.savez(tmp_path / "d.npz", x=x, y=y.astype(np.float32)[:, None])
    (tmp_path / "b.nn").write_text(
        """
model b {
    input x: float32[3]
    dense(1) -> sigmoid as p
}
loss binary_cross_entropy(p, target=y)
optimizer adam(lr=0.05)
train { epochs = 20; batch_size = 20; metrics = [accuracy] }
data { train = "d.npz"; test = "d.npz" }
"""
    )
    model = nnc.load(tmp_path / "b.nn")
    model.fit(out=tmp_path / "run", verbose=0)
    args = ["eval", str(tmp_path / "b.nn"), "--weights", str(tmp_path / "run")]
    logs = json.loads(CliRunner().invoke(main, [*args, "--format", "json"]).output)
    report = logs["classes"]["p"]
    score = model.predict(x).ravel()
    assert report["roc_auc"] == pytest.approx(roc_auc(score, y), rel=1e-12) and report["roc_auc"] > 0.7
    matrix = np.array(logs["confusion"]["p"])
    assert report["per_class"][1]["recall"] == pytest.approx(matrix[1, 1] / matrix[1].sum())
    assert report["labels"] == ["0", "1"]
    text = CliRunner().invoke(main, args).output
    assert f"   ROC AUC  {report['roc_auc']:.4f}\n" in text and "macro avg" in text


def test_the_macro_average_leaves_out_a_class_neither_present_nor_predicted():
    """One sample of class 1, predicted right: scikit-learn's macro scores are 1.0 (its labels
    are those present or predicted); the plain mean over both classes said 0.5."""
    report = class_report(np.array([[0, 0], [0, 1]]))
    assert report["macro"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    report = class_report(np.array([[0, 1], [0, 1]]))  # class 0 present, never predicted: it counts
    assert report["macro"]["recall"] == pytest.approx(0.5)


def test_two_losses_on_one_prediction_name_their_metrics_after_each_target(tmp_path):
    """`loss mse(y, target=t)` and `loss mae(y, target=t2)` with `metrics = [mae]`: refused as
    "metric `y_mae` is listed twice" at a list that names it once. Each is its own metric."""
    import nnc

    rng = np.random.default_rng(0)
    x = rng.standard_normal((100, 2)).astype(np.float32)
    np.savez(tmp_path / "d.npz", x=x, t=x[:, :1] * 2, t2=x[:, 1:] * 3)
    (tmp_path / "s.nn").write_text(
        "model m {\n input x: float32[2]\n dense(1) as y\n}\nloss mse(y, target=t)\nloss mae(y, target=t2)\n"
        'train { epochs = 2; validation = 0.2; metrics = [mae] }\ndata { train = "d.npz" }\n'
    )
    history = nnc.load(tmp_path / "s.nn").fit(out=tmp_path / "run", verbose=0)
    assert {"y_t_mae", "y_t2_mae", "val_y_t_mae", "val_y_t2_mae"} <= set(history.history)
    assert history.history["y_t_mae"][-1] != history.history["y_t2_mae"][-1]
