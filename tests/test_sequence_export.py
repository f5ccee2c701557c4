"""Sequence models take any length: the exporter finds the inputs whose time axis every shape
rule carries through (runtime/onnx/any_length.py), declares it dynamic, and the gate checks the
exported model at lengths other than the training one. The NumPy runtime and `nnc predict`
accept those lengths too; token ids outside an embedding's vocabulary are refused, located."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from nnc.runtime.errors import RunError
from nnc.runtime.onnx.any_length import declared, symbolic_shapes
from test_export import nnc_cli

import nnc

TOKENS = """
model counter {{
    input tokens: int64[12]
    input extra: float32[3]
    tokens -> embedding(vocab=6, dim=8, padding_index=0) -> positional_encoding({kind})
    dense(8) -> tanh -> sequence_pool(mean) as pooled
    extra -> dense(8) as side
    [pooled, side] -> add
    dense(1) as count
}}
loss mse(count, target=n_ones)
optimizer adam(lr=1e-2)
train {{ epochs = 3; batch_size = 16 }}
"""


def counting_data(n, length, rng):
    tokens = rng.integers(0, 6, (n, length)).astype(np.int64)
    return {
        "tokens": tokens,
        "extra": rng.standard_normal((n, 3)).astype(np.float32),
        "n_ones": (tokens == 1).sum(axis=1, keepdims=True).astype(np.float32),
    }


@pytest.fixture(scope="module", params=["kind=sinusoidal", "kind=learned"])
def trained(request):
    model = nnc.load(TOKENS.format(kind=request.param))
    model.fit(counting_data(64, 12, np.random.default_rng(0)))
    return model


def test_the_time_axis_of_token_inputs_is_symbolic_and_static_features_stay(trained):
    shapes = symbolic_shapes(trained.program)
    assert declared(shapes["tokens"]) == ["N", "T"]
    assert declared(shapes["extra"]) == ["N", 3]  # dense's weight depends on its size
    assert declared(shapes[trained.program.graph.names["count"]]) == ["N", 1]


def test_export_declares_any_length_and_matches_the_runtime_at_other_lengths(trained, tmp_path):
    path = trained.export(tmp_path / "counter.onnx")  # the gate ran at lengths 6 and 11 as well
    proto = onnx.load(path)
    dims = {
        i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in proto.graph.input
    }
    assert dims == {"tokens": ["N", "T"], "extra": ["N", 3]}
    rng = np.random.default_rng(1)
    for batch, length in ((1, 5), (7, 9), (7, 12)):
        data = counting_data(batch, length, rng)
        inputs = {"tokens": data["tokens"], "extra": data["extra"]}
        np.testing.assert_allclose(nnc.predict(path, inputs), trained.predict(inputs), rtol=1e-4, atol=1e-5)


def test_padding_tokens_embed_to_zero_whatever_their_row_holds():
    """padding_index=0, whose row starts random: padded positions read zero, the others are
    unchanged by the padding after them."""
    spec = TOKENS.format(kind="kind=sinusoidal")
    model = nnc.load(spec)
    ids = np.array([[3, 1, 2]], np.int64)
    plan = model.plan
    embedded = plan.run({"tokens": ids, "extra": np.zeros((1, 3), np.float32)}, ["embedding_1"])[
        "embedding_1"
    ]
    padded = plan.run(
        {"tokens": np.array([[3, 1, 2, 0, 0]]), "extra": np.zeros((1, 3), np.float32)}, ["embedding_1"]
    )
    np.testing.assert_array_equal(padded["embedding_1"][:, :3], embedded)
    np.testing.assert_array_equal(padded["embedding_1"][:, 3:], 0)


def test_token_ids_outside_the_vocabulary_are_refused_where_they_are(tmp_path):
    model = nnc.load(TOKENS.format(kind=""))
    data = counting_data(8, 12, np.random.default_rng(0))
    data["tokens"][5, 7] = 6
    with pytest.raises(RunError) as e:
        model.fit(data)
    assert e.value.code == "E409"
    assert "index [5, 7]" in e.value.message and "[0, 6)" in e.value.message
    assert "vocab is 6" in e.value.help
    data["tokens"][5, 7] = -1
    with pytest.raises(RunError, match="holds -1"):
        model.fit(data)


def test_a_model_that_flattens_time_keeps_a_static_length():
    model = nnc.load(
        """
model flat {
    input tokens: int64[4]
    embedding(vocab=3, dim=2) -> flatten -> dense(1) as y
}
loss mse(y, target=t)
optimizer sgd(lr=0.1)
"""
    )
    assert declared(symbolic_shapes(model.program)["tokens"]) == ["N", 4]
    with pytest.raises(ValueError, match=r"expects int64\[N, 4\]"):
        model.predict(np.zeros((2, 5), np.int64))


def test_cli_predict_reads_sequences_of_another_length(trained, tmp_path):
    path = trained.export(tmp_path / "counter.onnx")
    data = counting_data(5, 7, np.random.default_rng(2))
    np.savez(tmp_path / "seq.npz", tokens=data["tokens"], extra=data["extra"])
    done = nnc_cli("predict", path, "--data", "seq.npz", "-o", "p.npy", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    want = trained.predict({"tokens": data["tokens"], "extra": data["extra"]})
    np.testing.assert_allclose(np.load(tmp_path / "p.npy"), want, rtol=1e-4, atol=1e-5)
    np.savez(tmp_path / "bad.npz", tokens=data["tokens"][:, :, None], extra=data["extra"])
    done = nnc_cli("predict", path, "--data", "bad.npz", cwd=tmp_path)
    assert done.returncode == 4 and "error[E411]" in done.stderr and "int64[N, T]" in done.stderr


def test_cli_predict_reads_another_length_from_a_csv(tmp_path):
    model = nnc.load(
        """
model pooled {
    input series: float32[6, 2]
    dense(4) -> tanh -> sequence_pool(last) -> dense(1) as y
}
loss mse(y, target=t)
optimizer sgd(lr=0.1)
"""
    )
    path = model.export(tmp_path / "pooled.onnx")
    series = np.random.default_rng(3).standard_normal((4, 5, 2)).astype(np.float32)  # 5 steps of 2
    header = ",".join(f"s{i}" for i in range(10))
    rows = "\n".join(",".join(f"{v:.6f}" for v in row) for row in series.reshape(4, 10))
    (tmp_path / "s.csv").write_text(f"{header}\n{rows}\n")
    done = nnc_cli("predict", path, "--data", "s.csv", "-o", "p.npy", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    want = model.predict(np.round(series, 6))
    np.testing.assert_allclose(np.load(tmp_path / "p.npy"), want, rtol=1e-4, atol=1e-5)
    (tmp_path / "odd.csv").write_text(
        f"{header},s10\n" + "\n".join(r + ",0" for r in rows.splitlines()) + "\n"
    )
    done = nnc_cli("predict", path, "--data", "odd.csv", cwd=tmp_path)
    assert done.returncode == 4 and "a multiple of 2 feature columns" in done.stderr
