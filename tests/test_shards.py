"""`nnc predict` over shards, in this process and on a local Ray cluster: one output per input,
identical to one `nnc predict` over the concatenated data; a bad shard reported at its file,
row and column while the others are written; `--resume` keeping finished shards and scoring
the rest; and `nnc.ray.Predictor` inside `ray.data.Dataset.map_batches`. The commands run as
a user runs them: the console script in a subprocess."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import ok, run_nnc

import nnc
from nnc.cli.group import main

SPEC = """\
model blobs {
    input x: float32[4]
    dense(8) -> relu
    dense(3) -> softmax as probs
}
loss cross_entropy(probs, target=label)
optimizer adam(lr=0.01)
train { epochs = 3; batch_size = 16; seed = 3 }
data { train = "data.csv" }
"""
COLUMNS = ["a", "b", "c", "d"]
SIZES = [37, 80, 5, 120, 64, 1, 99, 50, 73, 18, 128, 41]  # a dozen shards, batches cross them


def text(x: np.ndarray) -> list[str]:
    return [",".join(f"{v:.5f}" for v in row) for row in x]


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    """A small classifier trained on 4 named columns, exported."""
    folder = tmp_path_factory.mktemp("model")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(80, 4))
    y = (x[:, 0] > 0).astype(int) + (x[:, 1] > 0.5)
    rows = [f"{r},{c}" for r, c in zip(text(x), y, strict=True)]
    (folder / "data.csv").write_text("\n".join([",".join([*COLUMNS, "label"]), *rows]) + "\n")
    (folder / "spec.nn").write_text(SPEC)
    trained = nnc.load(folder / "spec.nn")
    trained.fit(out=folder / "run", verbose=0)
    return trained.export(folder / "m.onnx")


def shards(folder: Path) -> list[Path]:
    """A dozen shards of different sizes, CSV (with an id column), Parquet and npz, and the same
    rows concatenated in `all.csv`, in shard order."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(1)
    (folder / "shards").mkdir()
    paths, lines = [], []
    for i, n in enumerate(SIZES):
        # the values as CSV writes them, so every format holds the same float32 numbers
        x = np.array([[float(v) for v in line.split(",")] for line in text(rng.normal(size=(n, 4)))])
        lines += text(x)
        kind = ("csv", "parquet", "csv", "npz")[i % 4]
        path = folder / "shards" / f"part-{i:02d}.{kind}"
        if kind == "csv":
            path.write_text(
                "\n".join(["id," + ",".join(COLUMNS), *(f"{i}-{k},{r}" for k, r in enumerate(text(x)))])
                + "\n"
            )
        elif kind == "parquet":
            pq.write_table(pa.table({c: x[:, j] for j, c in enumerate(COLUMNS)}), path)
        else:
            np.savez(path, x=x.astype(np.float32))
        paths.append(path)
    (folder / "all.csv").write_text("\n".join([",".join(COLUMNS), *lines]) + "\n")
    return paths


def rows(path: Path) -> list[list[str]]:
    with open(path, newline="") as f:
        return list(csv.reader(f))


def joined(outputs: list[Path]) -> list[list[str]]:
    """The shards' outputs as one table: each output's header, then every output's rows."""
    tables = [rows(p) for p in outputs]
    assert all(t[0] == tables[0][0] for t in tables)
    return [tables[0][0]] + [r for t in tables for r in t[1:]]


def outputs(folder: Path, names: list[Path]) -> list[Path]:
    return [folder / "out" / f"{p.stem}.csv" for p in names]


def test_local_shards_equal_one_predict_over_the_concatenated_data(model, tmp_path):
    found = shards(tmp_path)
    args = ("--batch-size", "64")
    ok(run_nnc(tmp_path, "predict", model, "--data", "all.csv", "-o", "all_pred.csv", *args))
    done = ok(run_nnc(tmp_path, "predict", model, "--data", "shards/*", "-o", "out", *args))
    assert joined(outputs(tmp_path, found)) == rows(tmp_path / "all_pred.csv")
    assert f"wrote 12 shards ({sum(SIZES)} samples) to out" in done.stderr
    # the id column, read past, is one note for the six CSV shards
    assert "note: shards/part-00.csv (and 5 more shards): read past the columns" in done.stderr


def break_shard(folder: Path) -> None:
    """part-02.csv gets a word in its third data row's column `b`; part-05.parquet is no Parquet."""
    path = folder / "shards/part-02.csv"
    lines = path.read_text().splitlines()
    cells = lines[3].split(",")
    cells[2] = "oops"
    lines[3] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    (folder / "shards/part-05.parquet").write_bytes(b"PAR1 this is not parquet")


def check_failure_then_resume(folder: Path, model: Path, *engine: str) -> None:
    """The two bad shards are located and the ten others written; fixed, a --resume scores the
    two and leaves the ten untouched; then every output equals the single-process one."""
    found = shards(folder)
    ok(run_nnc(folder, "predict", model, "--data", "all.csv", "-o", "all_pred.csv"))
    good = {p: p.read_bytes() for p in (found[2], found[5])}
    break_shard(folder)
    failed = run_nnc(folder, "predict", model, "--data", "shards/*", "-o", "out", *engine)
    assert failed.returncode == 4, failed.stderr
    assert "shards/part-02.csv:4:" in failed.stderr and "row 3, column `b`" in failed.stderr
    assert "error[E407]" in failed.stderr and "'oops'" in failed.stderr
    assert "shards/part-05.parquet: error[E404]: cannot read `part-05.parquet` as Parquet" in failed.stderr
    assert "wrote 10 shards" in failed.stderr and "2 failed" in failed.stderr
    written = outputs(folder, found)
    bad = {written[2], written[5]}
    assert [p.exists() for p in written] == [p not in bad for p in written]
    times = {p: p.stat().st_mtime_ns for p in written if p not in bad}

    for path, data in good.items():  # fixed
        path.write_bytes(data)
    resumed = ok(run_nnc(folder, "predict", model, "--data", "shards/*", "-o", "out", "--resume", *engine))
    assert "wrote 2 shards" in resumed.stderr and "kept 10 finished by an earlier run" in resumed.stderr
    assert all(p.stat().st_mtime_ns == t for p, t in times.items())  # not written again
    assert joined(written) == rows(folder / "all_pred.csv")


def test_a_bad_shard_is_located_the_others_written_and_resume_finishes_it(model, tmp_path):
    check_failure_then_resume(tmp_path, model)


def test_resume_scores_again_what_a_kill_another_model_or_input_left(model, tmp_path):
    found = shards(tmp_path)
    ok(run_nnc(tmp_path, "predict", model, "--data", "shards/*.csv", "-o", "out"))
    # an input rewritten since: its shard is scored again, the others kept
    first = found[0].read_text().splitlines()
    found[0].write_text("\n".join(first[:-1]) + "\n")
    again = ok(run_nnc(tmp_path, "predict", model, "--data", "shards/*.csv", "-o", "out", "--resume"))
    assert "wrote 1 shard " in again.stderr and "kept 5 finished" in again.stderr
    assert len(rows(tmp_path / "out/part-00.csv")) == SIZES[0]  # its header and one row fewer
    # a kill between writing an output and noting it, and one during a write (its temporary
    # file left behind, the output never renamed into place): both shards are scored again
    (tmp_path / "out/.nnc-shards/part-02.csv.json").unlink()
    (tmp_path / "out/part-04.csv").rename(tmp_path / "out/.part-04.csv.x1y2.tmp")
    again = ok(run_nnc(tmp_path, "predict", model, "--data", "shards/*.csv", "-o", "out", "--resume"))
    assert "wrote 2 shards" in again.stderr and "kept 4 finished" in again.stderr
    assert len(rows(tmp_path / "out/part-04.csv")) == SIZES[4] + 1
    # another model (the same network, other bytes): every shard again
    other = tmp_path / "other.onnx"
    import onnx

    proto = onnx.load(model)
    proto.doc_string = "retrained"
    onnx.save(proto, other)
    again = ok(run_nnc(tmp_path, "predict", other, "--data", "shards/*.csv", "-o", "out", "--resume"))
    assert "wrote 6 shards" in again.stderr and "kept" not in again.stderr


def test_shards_that_cannot_each_have_an_output_are_refused(model, tmp_path):
    shards(tmp_path)
    none = run_nnc(tmp_path, "predict", model, "--data", "nothing/*.csv", "-o", "out")
    assert none.returncode == 2 and "error[E545]: no data file matches `nothing/*.csv`" in none.stderr
    (tmp_path / "shards/part-00.parquet").write_bytes(b"")
    twice = run_nnc(tmp_path, "predict", model, "--data", "shards/part-00.*", "-o", "out")
    assert twice.returncode == 2 and "error[E546]" in twice.stderr and "part-00.csv" in twice.stderr
    onto = run_nnc(tmp_path, "predict", model, "--data", "shards/*.csv", "-o", "shards")
    assert onto.returncode == 2 and "would replace an input shard" in onto.stderr
    assert not (tmp_path / "out").exists()
    alone = run_nnc(tmp_path, "predict", model, "--data", "all.csv", "-o", "p.csv", "--resume")
    assert alone.returncode == 2 and "--resume is for shards" in alone.stderr
    local = run_nnc(tmp_path, "predict", model, "--data", "shards/*.csv", "-o", "out", "--workers", "2")
    assert local.returncode == 2 and "--workers is for --engine ray" in local.stderr


def test_engine_ray_without_ray_names_the_extra(model, tmp_path, monkeypatch):
    shards(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    result = CliRunner().invoke(
        main, ["predict", str(model), "--data", "shards/*", "-o", "out", "--engine", "ray"]
    )
    assert result.exit_code == 2
    assert (
        "error[E550]: --engine ray needs Ray" in result.stderr and "pip install 'nnc[ray]'" in result.stderr
    )
    assert not (tmp_path / "out").exists()


# ---- on a local Ray cluster (tests/conftest.py: ray_cluster) ---------------------------
def test_ray_shards_equal_one_predict_over_the_concatenated_data(model, ray_cluster, tmp_path):
    found = shards(tmp_path)
    args = ("--batch-size", "64")
    ok(run_nnc(tmp_path, "predict", model, "--data", "all.csv", "-o", "all_pred.csv", *args))
    ray = ("--engine", "ray", "--address", ray_cluster, "--workers", "2")
    done = ok(run_nnc(tmp_path, "predict", model, "--data", "shards/*", "-o", "out", *args, *ray))
    assert joined(outputs(tmp_path, found)) == rows(tmp_path / "all_pred.csv")
    assert f"wrote 12 shards ({sum(SIZES)} samples) to out" in done.stderr


def test_ray_a_bad_shard_is_located_the_others_written_and_resume_finishes_it(model, ray_cluster, tmp_path):
    check_failure_then_resume(tmp_path, model, "--engine", "ray", "--address", ray_cluster)


def test_ray_predictor_in_map_batches_equals_the_onnxruntime_predictor(model, ray_cluster, tmp_path):
    import ray.data
    from nnc.runtime.onnx.predict import Predictor

    import nnc.ray

    found = shards(tmp_path)
    parquet = [str(p) for p in found if p.suffix == ".parquet"]
    predictor = Predictor(str(model))
    want = np.concatenate([predictor.run_file(path)["probs"] for path in parquet])
    ray.data.DataContext.get_current().execution_options.preserve_order = True
    ds = ray.data.read_parquet(parquet).repartition(1)  # one block: the rows in file order
    for batch_format in ("pyarrow", "pandas", "numpy"):
        got = ds.map_batches(
            nnc.ray.Predictor,
            fn_constructor_kwargs={"model": str(model)},
            batch_format=batch_format,
            batch_size=32,
            compute=ray.data.ActorPoolStrategy(size=1),
        ).to_pandas()
        assert list(got.columns) == ["class", "p_0", "p_1", "p_2"]
        probs = got[["p_0", "p_1", "p_2"]].to_numpy()
        assert np.array_equal(probs, want), batch_format
        assert (got["class"].to_numpy() == want.argmax(1).astype(str)).all()
