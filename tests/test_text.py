"""Text as people have it: a column of passages or a `.txt` file per sample, cut into words or
characters by the spec's tokenizer, with the whole step inside the exported graph, so a bare
onnxruntime session is fed the raw strings."""

from __future__ import annotations

import csv

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from click.testing import CliRunner
from conftest import ROOT
from nnc.runtime.data import DataError
from nnc.runtime.onnx.gate import ATOL, RTOL
from nnc.runtime.onnx.predict import Predictor

import nnc
from nnc.cli import main

SHAKESPEARE = ROOT / "specs" / "shakespeare.nn"
TEST_CSV = ROOT / "specs" / "data" / "shakespeare_test.csv"
GENRES = ["comedies", "histories", "problems", "roman", "romances", "tragedies"]


@pytest.fixture(scope="module")
def shakespeare(tmp_path_factory):
    """The shipped example, trained on its raw CSV as shipped and exported."""
    run = tmp_path_factory.mktemp("shakespeare") / "run"
    model = nnc.load(SHAKESPEARE)
    model.fit(out=run)
    return model, run, model.export(run / "model.onnx")


def passages(path):
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [r["text"] for r in rows], [r["genre"] for r in rows]


def test_the_genre_is_told_from_plays_never_seen_in_training(shakespeare):
    model, _, _ = shakespeare
    logs = model.evaluate()  # six held-out plays, one per genre, 100 passages each
    _, genres = passages(TEST_CSV)
    majority = max(genres.count(g) for g in GENRES) / len(genres)
    assert logs["samples"] == 600 and majority == pytest.approx(1 / 6)
    assert logs["accuracy"] >= 2 * majority, logs  # measured: 0.41 (TF-IDF + logistic: 0.39)
    assert model.labels["genre"] == GENRES


def test_a_bare_onnxruntime_session_takes_the_raw_passages(shakespeare):
    """A service in any language: one string per passage, no tokenizer beside the model."""
    model, _, onnx_path = shakespeare
    texts, genres = passages(TEST_CSV)
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    (probs,) = session.run(["probs"], {"text": np.array([[t] for t in texts], dtype=object)})
    expected = model.predict({"text": np.array([[t] for t in texts])})
    np.testing.assert_allclose(probs, expected, rtol=RTOL, atol=ATOL)
    assert (np.array(GENRES)[probs.argmax(axis=1)] == genres).mean() >= 1 / 3
    loaded = onnx.load(str(onnx_path))
    ops = {n.op_type for n in loaded.graph.node}
    assert {"StringNormalizer", "StringSplit", "LabelEncoder", "Pad"} <= ops
    assert {o.domain: o.version for o in loaded.opset_import}[""] >= 20  # StringSplit's opset


def test_predict_reads_the_text_column_and_writes_every_passage(shakespeare, tmp_path):
    model, _, onnx_path = shakespeare
    out = tmp_path / "genres.csv"
    result = CliRunner().invoke(main, ["predict", str(onnx_path), "--data", str(TEST_CSV), "-o", str(out)])
    assert result.exit_code == 0, result.output
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    texts, _ = passages(TEST_CSV)
    expected = model.predict({"text": np.array([[t] for t in texts])})
    got = np.array([[float(r[f"p_{g}"]) for g in GENRES] for r in rows])
    assert len(rows) == 600
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)  # CSV keeps 6 digits
    assert [r["class"] for r in rows] == [GENRES[i] for i in expected.argmax(axis=1)]


def test_predict_reads_past_an_id_column_and_needs_no_target(shakespeare, tmp_path):
    model, _, onnx_path = shakespeare
    texts, _ = passages(TEST_CSV)
    with open(tmp_path / "ids.csv", "w", newline="") as f:
        csv.writer(f).writerows([["id", "text"], *([k, t] for k, t in enumerate(texts[:50]))])
    with pytest.warns(UserWarning, match="read past the columns the model does not use: `id`"):
        got = Predictor(str(onnx_path)).run_file(str(tmp_path / "ids.csv"))["probs"]
    np.testing.assert_allclose(
        got, model.predict({"text": np.array([[t] for t in texts[:50]])}), rtol=RTOL, atol=ATOL
    )


def test_check_shows_the_vocabulary_training_learns(shakespeare):
    _, run, _ = shakespeare
    out = CliRunner().invoke(main, ["check", str(SHAKESPEARE)]).output
    assert "fitted on the training split of data/shakespeare_train.csv" in out
    vocabulary = np.load(run / "weights.npz")["words.vocabulary"].tolist()
    shown = ", ".join(vocabulary[2:14])
    assert f"words  3998 words: {shown}, ... (0: padding, 1: any other)" in out
    assert vocabulary[2:5] == ["the", "and", "i"]  # the most frequent first


# ---- characters, and a .txt file per sample ----------------------------------------------------
CHARS = """
model letters {
    input text: string[1]
    text -> tokenize(max_tokens=12, length=10, split=chars, lower=false)
    embedding(vocab=12, dim=4, padding_index=0) -> sequence_pool(mean)
    dense(2) -> softmax as probs
}
loss cross_entropy(probs, target=label)
optimizer adam(lr=0.05)
train { epochs = 30; batch_size = 8; seed = 1 }
"""


def test_characters_are_tokens_in_training_and_in_the_exported_graph(tmp_path):
    """Which letter a word has more of: a task only characters can solve. Characters outside
    the training vocabulary (é, 😀) are out-of-vocabulary in the runtime and the graph alike."""
    rng = np.random.default_rng(0)
    words = ["".join(rng.choice(list("aab" if k % 2 else "abb"), size=rng.integers(3, 9))) for k in range(80)]
    labels = [int(w.count("a") > w.count("b")) for w in words]
    with open(tmp_path / "words.csv", "w", newline="") as f:
        csv.writer(f).writerows([["text", "label"], *zip(words, labels, strict=True)])
    (tmp_path / "letters.nn").write_text(CHARS)
    model = nnc.load(tmp_path / "letters.nn")
    model.fit(data=str(tmp_path / "words.csv"), out=tmp_path / "run")
    probs = model.predict({"text": np.array([[w] for w in words])})
    assert (probs.argmax(axis=1) == labels).mean() >= 0.9
    onnx_path = model.export(tmp_path / "letters.onnx")
    odd = ["aaéa b", "Bbb😀", "", "a" * 40]  # unseen characters, upper case, empty, too long
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    for texts in (words, odd):
        (got,) = session.run(["probs"], {"text": np.array([[t] for t in texts], dtype=object)})
        np.testing.assert_allclose(
            got, model.predict({"text": np.array([[t] for t in texts])}), rtol=RTOL, atol=ATOL
        )
    domains = {o.domain for o in onnx.load(str(onnx_path)).opset_import}
    assert "com.microsoft" in domains  # onnxruntime's Tokenizer: no standard op splits characters


def txt_folder(root, texts: dict[str, list[str]]):
    for label, items in texts.items():
        (root / label).mkdir(parents=True)
        for k, text in enumerate(items):
            (root / label / f"{k}.txt").write_text(text, encoding="utf-8")
    return root


REVIEWS = """
model reviews {
    input review: string[1]
    review -> tokenize(max_tokens=20, length=6)
    embedding(vocab=20, dim=4, padding_index=0) -> sequence_pool(mean)
    dense(2) -> softmax as probs
}
loss cross_entropy(probs, target=mood)
optimizer adam(lr=0.05)
train { epochs = 40; batch_size = 4; seed = 0; metrics = [accuracy] }
data { train = "reviews" }
"""


def test_a_folder_of_text_files_per_class_is_read_trained_and_predicted(tmp_path):
    good = ["Great fun", "great acting, loved it", "Loved it", "fun and great", "loved the cast"]
    bad = ["Dull", "dull and slow", "slow, boring", "boring plot", "Boring and dull"]
    txt_folder(tmp_path / "reviews", {"bad": bad, "good": good})
    (tmp_path / "reviews.nn").write_text(REVIEWS)
    model = nnc.load(tmp_path / "reviews.nn")
    model.fit(out=tmp_path / "run")
    assert model.labels["mood"] == ["bad", "good"]
    assert model.evaluate()["accuracy"] == 1.0
    onnx_path = model.export(tmp_path / "reviews.onnx")
    out = tmp_path / "moods.csv"
    args = ["predict", str(onnx_path), "--data", str(tmp_path / "reviews"), "-o", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["file"] for r in rows] == [f"bad/{k}.txt" for k in range(5)] + [
        f"good/{k}.txt" for k in range(5)
    ]
    assert [r["class"] for r in rows] == ["bad"] * 5 + ["good"] * 5


def test_a_text_file_that_is_not_utf8_is_refused_at_its_byte(tmp_path):
    data = txt_folder(tmp_path / "reviews", {"bad": ["dull"], "good": ["fun"]})
    (data / "good" / "1.txt").write_bytes("fine\nsehr gut, schön".encode("latin-1"))
    (tmp_path / "reviews.nn").write_text(REVIEWS)
    model = nnc.load(tmp_path / "reviews.nn")
    with pytest.raises(DataError) as e:
        model.read(str(data), tmp_path)
    assert e.value.code == "E404" and "`1.txt` is not UTF-8 text" in e.value.message
    assert e.value.path.endswith("good/1.txt") and (e.value.line, e.value.column) == (2, 14)


def test_predict_on_a_csv_that_is_not_utf8_writes_nothing_and_keeps_what_was_there(shakespeare, tmp_path):
    _, _, onnx_path = shakespeare
    texts, _ = passages(TEST_CSV)
    bad = tmp_path / "latin1.csv"
    bad.write_bytes(
        ("text\n" + "\n".join(f'"{t}"' for t in texts[:300]) + "\nLe café\n").encode("latin-1", "replace")
    )
    out = tmp_path / "out.csv"
    out.write_text("yesterday's predictions\n")
    result = CliRunner().invoke(main, ["predict", str(onnx_path), "--data", str(bad), "-o", str(out)])
    assert result.exit_code == 4, result.output
    assert f"{bad}:302:" in result.output and "not UTF-8 text" in result.output
    assert "Traceback" not in result.output
    assert out.read_text() == "yesterday's predictions\n"
