"""Tables as people have them: string categories, empty and NA cells, yes/no and pixel columns,
read from the raw file by training, evaluation, the export and predict, and by a bare
onnxruntime session that is fed the raw values with no nnc code in the loop."""

from __future__ import annotations

import csv
import warnings

import numpy as np
import onnxruntime as ort
import pytest
from click.testing import CliRunner
from conftest import ROOT
from nnc.runtime.data import DataError, UnseenCategories
from nnc.runtime.onnx.gate import ATOL, RTOL
from nnc.runtime.onnx.predict import Predictor

import nnc
from nnc.cli import main

PENGUINS = ROOT / "specs" / "penguins.nn"
TEST_CSV = ROOT / "specs" / "data" / "penguins_test.csv"
MEASURES = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "year"]


@pytest.fixture(scope="module")
def penguins(tmp_path_factory):
    """The shipped example, trained on its raw CSV and exported: (model, run dir, model.onnx)."""
    run = tmp_path_factory.mktemp("penguins") / "run"
    model = nnc.load(PENGUINS)
    model.fit(out=run)
    return model, run, model.export(run / "model.onnx")


def raw_rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_the_penguins_are_told_apart_from_the_raw_csv(penguins):
    model, _, _ = penguins
    logs = model.evaluate()  # the held-out 20%: 69 penguins, NA cells and all
    assert logs["samples"] == 69 and logs["accuracy"] >= 0.95
    assert model.labels["species"] == ["Adelie", "Chinstrap", "Gentoo"]


def test_a_bare_onnxruntime_session_takes_the_raw_values(penguins):
    """What a service in any language does: strings as strings, NA as NaN, no preprocessing."""
    model, _, onnx_path = penguins
    rows = raw_rows(TEST_CSV)
    feeds = {
        "island": np.array([[r["island"]] for r in rows], dtype=object),
        "sex": np.array([[r["sex"]] for r in rows], dtype=object),
        "measures": np.array(
            [[np.nan if r[c] == "NA" else float(r[c]) for c in MEASURES] for r in rows], np.float32
        ),
    }
    assert np.isnan(feeds["measures"]).any() and "NA" in feeds["sex"]  # the file's gaps are there
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    (probs,) = session.run(["probs"], feeds)
    expected = model.predict({k: v.astype(str) for k, v in feeds.items()})
    np.testing.assert_allclose(probs, expected, rtol=RTOL, atol=ATOL)
    species = np.array(["Adelie", "Chinstrap", "Gentoo"])[probs.argmax(axis=1)]
    assert (species == [r["species"] for r in rows]).mean() >= 0.95


def test_predict_reads_the_raw_csv_as_training_did(penguins):
    model, _, onnx_path = penguins
    got = Predictor(str(onnx_path)).run_file(str(TEST_CSV))["probs"]
    data = model.read(str(TEST_CSV), ROOT)
    np.testing.assert_allclose(got, model.predict({k: data.arrays[k] for k in ("island", "sex", "measures")}),
                               rtol=RTOL, atol=ATOL)  # fmt: skip


def test_a_later_file_without_an_input_column_is_refused_not_read_from_another(penguins, tmp_path):
    """Every input is read from the columns training read it from, by name: a file that lacks
    `sex` but has another column left over (`species`, a `note`) is refused, in eval and predict."""
    model, _, onnx_path = penguins
    rows = raw_rows(TEST_CSV)
    path = tmp_path / "nosex.csv"
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, [c for c in rows[0] if c != "sex"] + ["note"])
        writer.writeheader()
        writer.writerows({**{k: v for k, v in r.items() if k != "sex"}, "note": "x"} for r in rows)
    for read in (lambda: model.evaluate(str(path)), lambda: Predictor(str(onnx_path)).run_file(str(path))):
        with pytest.raises(DataError) as e:
            read()
        assert e.value.code == "E401" and e.value.message.startswith("`nosex.csv` has no column `sex`;")


def test_check_shows_what_training_fits_and_training_fits_it(penguins):
    _, run, _ = penguins
    out = CliRunner().invoke(main, ["check", str(PENGUINS)]).output
    assert "fitted on the training split of data/penguins_train.csv" in out
    assert "lookup_1              3 values: Biscoe, Dream, Torgersen (0: any other)" in out
    weights = np.load(run / "weights.npz")
    assert weights["lookup_1.vocabulary"].tolist()[1:] == [
        "Biscoe",
        "Dream",
        "Torgersen",
    ]
    fill = ", ".join(f"{v:.4g}" for v in weights["filled.fill"])
    assert f"filled                median: {fill} (with indicators)" in out


def test_categories_never_seen_in_training_are_counted_in_one_line(penguins, tmp_path):
    model, _, onnx_path = penguins
    text = TEST_CSV.read_text().replace(",Dream,", ",Atlantis,").replace(",female,", ",F,")
    odd = tmp_path / "odd.csv"
    odd.write_text(text)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.evaluate(str(odd))
        Predictor(str(onnx_path)).run_file(str(odd))
    notes = [str(w.message) for w in caught if issubclass(w.category, UnseenCategories)]
    islands = text.count(",Atlantis,")
    assert len(notes) == 2 and all(f"`island` {islands} of 69 (such as 'Atlantis')" in n for n in notes)
    assert all("`sex`" in n and "'F'" in n for n in notes)
    # Read a batch at a time, the count is of the whole file still.
    with pytest.warns(UnseenCategories, match=f"`island` {islands} of 69 "):
        Predictor(str(onnx_path)).run_file(str(odd), batch_size=10)


def test_every_missing_value_marker_is_the_one_missing_category(penguins, tmp_path):
    """The training CSV wrote NA; a Parquet null, an empty string or `null` from a service mean
    the same: the same prediction, in the NumPy runtime and in a bare onnxruntime session."""
    model, _, onnx_path = penguins
    rows = raw_rows(TEST_CSV)
    gaps = [r for r in rows if r["sex"] == "NA"]
    assert gaps
    feeds = {
        "island": np.array([[r["island"]] for r in gaps], dtype=object),
        "measures": np.array(
            [[np.nan if r[c] == "NA" else float(r[c]) for c in MEASURES] for r in gaps], np.float32
        ),
    }
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    outputs = []
    for marker in ("NA", "", "null", "<NA>"):
        sex = np.array([[marker]] * len(gaps), dtype=object)
        outputs.append(session.run(["probs"], {**feeds, "sex": sex})[0])
        numpy = model.predict(
            {"island": feeds["island"].astype(str), "sex": sex.astype(str), "measures": feeds["measures"]}
        )
        np.testing.assert_allclose(outputs[-1], numpy, rtol=RTOL, atol=ATOL)
    assert all(np.array_equal(o, outputs[0]) for o in outputs)
    sex = [None if r["sex"] == "NA" else r["sex"] for r in rows]
    parquet = penguins_parquet(tmp_path / "nulls.parquet", rows, sex=sex)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnseenCategories)  # a null is not a new category
        got = Predictor(str(onnx_path)).run_file(str(parquet))["probs"]
    np.testing.assert_allclose(
        got, Predictor(str(onnx_path)).run_file(str(TEST_CSV))["probs"], rtol=RTOL, atol=ATOL
    )


# ---- the rules of a cell ------------------------------------------------------------------------
SPEC = """
model m {
    input smoker: bool[1]
    input level: uint8[1]
    input x: float32[2]
    [smoker, level, x] -> concat -> dense(2) -> softmax as probs
}
loss cross_entropy(probs, target=label)
train { epochs = 1; batch_size = 4 }
"""


def test_yes_no_and_pixel_columns_are_read_and_exported_raw(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("smoker,level,a,b,label\nyes,3,0.5,1,0\nNo,255,0.1,2,1\nTRUE,0,1,1,1\nf,17,2,0,0\n")
    model = nnc.load(SPEC)
    data = model.read(str(path), tmp_path)
    assert data.arrays["smoker"].dtype == np.bool_ and data.arrays["smoker"].ravel().tolist() == [1, 0, 1, 0]
    assert data.arrays["level"].dtype == np.uint8 and data.arrays["level"].ravel().tolist() == [3, 255, 0, 17]
    model.fit(str(path), out=tmp_path / "run")
    onnx_path = model.export(tmp_path / "m.onnx")
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    assert {i.name: i.type for i in session.get_inputs()} == {
        "smoker": "tensor(bool)", "level": "tensor(uint8)", "x": "tensor(float)"
    }  # fmt: skip
    got = Predictor(str(onnx_path)).run_file(str(path))["probs"]
    np.testing.assert_allclose(got, model.predict(data.arrays), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize(
    ("cells", "code", "column", "words"),
    [
        ("maybe,3,1,1,0", "E407", 1, "'maybe' is not a yes/no value"),
        ("yes,256,1,1,0", "E409", 5, "pixel value '256' is out of range"),
        ("yes,3,NA,1,0", "E406", 7, "missing value ('NA')"),
        ("yes,,1,1,0", "E406", 5, "missing value"),
    ],
)
def test_a_bad_cell_is_refused_where_it_is(tmp_path, cells, code, column, words):
    path = tmp_path / "d.csv"
    path.write_text(f"smoker,level,a,b,label\nyes,3,0.5,1,0\n{cells}\n")
    with pytest.raises(DataError) as e:
        nnc.load(SPEC).read(str(path), tmp_path)
    assert (e.value.code, e.value.line, e.value.column) == (code, 3, column)
    assert words in e.value.message


def test_missing_values_reach_the_model_only_through_impute(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("a,b,label\n1,,0\nNA,2,1\n3,4,1\n5,?,0\n")
    plain = "model m {\n    input x: float32[2]\n    dense(2) -> softmax as probs\n}\n"
    loss = "loss cross_entropy(probs, target=label)\ntrain { epochs = 1 }\n"
    with pytest.raises(DataError) as e:
        nnc.load(plain + loss).read(str(path), tmp_path)
    assert (e.value.code, e.value.line, e.value.column) == ("E406", 2, 3) and "impute" in e.value.help
    filled = plain.replace("    dense(2)", "    impute(mean, indicator=true) -> dense(2)")
    model = nnc.load(filled + loss)
    x = model.read(str(path), tmp_path).arrays["x"]
    assert np.isnan(x).tolist() == [[False, True], [True, False], [False, False], [False, True]]
    model.fit(str(path), out=tmp_path / "run")
    assert model.plan.params.values["impute_1.fill"].tolist() == [3, 3]  # the means of 1, 3, 5 and 2, 4
    # arrays given from Python follow the same rule: NaN only where impute reads
    model.fit(
        {"x": np.array([[1, np.nan], [2, 3]], np.float32), "label": np.array([0, 1])}, out=tmp_path / "r2"
    )
    with pytest.raises(DataError, match="expected finite numbers"):
        nnc.load(plain + loss).fit({"x": np.array([[1, np.nan]], np.float32), "label": np.array([0])})


def test_categories_in_an_npz_archive_and_as_integer_codes(tmp_path):
    spec = """
model m {
    input kind: string[2]
    kind -> lookup(6, output=one_hot) -> flatten -> dense(2) -> softmax as probs
}
loss cross_entropy(probs, target=label)
train { epochs = 2; batch_size = 2; seed = 1 }
"""
    kinds = np.array([["red", "s"], ["blue", "m"], ["red", "l"], ["green", "m"]])
    np.savez(tmp_path / "d.npz", kind=kinds, label=np.array([0, 1, 0, 1]))
    model = nnc.load(spec)
    model.fit(str(tmp_path / "d.npz"), out=tmp_path / "run")
    vocabulary = model.plan.params.values["lookup_1.vocabulary"].tolist()
    assert vocabulary[:3] == ["\x00unused", "m", "red"]  # one vocabulary for both columns
    codes = model.read({"kind": np.array([[1, 2], [3, 4]]), "label": np.array([0, 1])}, tmp_path)
    assert codes.arrays["kind"].tolist() == [["1", "2"], ["3", "4"]]  # integer codes, as a CSV gives them


# ---- Parquet --------------------------------------------------------------------------------------
def penguins_parquet(path, rows, **changes):
    """The penguins' rows as a Parquet file with typed columns: nulls where the CSV has NA."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    def numbers(column):
        return pa.array([None if r[column] == "NA" else float(r[column]) for r in rows])

    columns = {"species": [r["species"] for r in rows], "island": [r["island"] for r in rows]}
    columns.update({c: numbers(c) for c in MEASURES[:4]})
    columns.update(sex=[r["sex"] for r in rows], year=pa.array([int(r["year"]) for r in rows]))
    columns.update(changes)
    pq.write_table(pa.table(columns), path)
    return path


def test_parquet_is_read_by_the_csv_rules(penguins, tmp_path):
    model, _, onnx_path = penguins
    rows = raw_rows(TEST_CSV)
    parquet = penguins_parquet(tmp_path / "test.parquet", rows)
    from_parquet = model.read(str(parquet), tmp_path, model.labels)
    from_csv = model.read(str(TEST_CSV), tmp_path, model.labels)
    for name, a in from_csv.arrays.items():
        np.testing.assert_array_equal(from_parquet.arrays[name], a)  # NaN where the CSV says NA
        assert from_parquet.arrays[name].dtype == a.dtype
    assert model.evaluate(str(parquet))["accuracy"] == model.evaluate(str(TEST_CSV))["accuracy"]
    np.testing.assert_allclose(
        Predictor(str(onnx_path)).run_file(str(parquet))["probs"],
        Predictor(str(onnx_path)).run_file(str(TEST_CSV))["probs"],
    )


def test_parquet_and_csv_stream_in_batches_with_rows_numbered_in_the_file(penguins, tmp_path):
    """Predict reads a batch at a time; a bad value in a late batch is still located by its row
    in the file, and what came before it was read, not lost."""
    _, _, onnx_path = penguins
    rows = raw_rows(TEST_CSV)
    predictor = Predictor(str(onnx_path))
    whole = predictor.run_file(str(TEST_CSV))["probs"]
    for path in (TEST_CSV, penguins_parquet(tmp_path / "t.parquet", rows)):
        parts = list(predictor.stream(str(path), batch_size=10))
        assert [part.n for part, _ in parts] == [10] * 6 + [9]
        np.testing.assert_array_equal(np.concatenate([out["probs"] for _, out in parts]), whole)
    mass = [None if r["body_mass_g"] == "NA" else float(r["body_mass_g"]) for r in rows]
    mass[49] = float("inf")
    bad = penguins_parquet(tmp_path / "bad.parquet", rows, body_mass_g=mass)
    seen = []
    with pytest.raises(DataError) as e:
        for part, _ in predictor.stream(str(bad), batch_size=10):
            seen.append(part.n)
    assert seen == [10] * 4 and e.value.message.startswith("row 50, column `body_mass_g`: non-finite")


def test_a_parquet_column_of_the_wrong_type_is_refused_by_name(penguins, tmp_path):
    model, _, _ = penguins
    rows = raw_rows(TEST_CSV)
    bad = penguins_parquet(tmp_path / "bad.parquet", rows, island=[1.5] * len(rows))
    with pytest.raises(DataError) as e:
        model.read(str(bad), tmp_path, model.labels)
    assert e.value.code == "E412" and "column `island`: holds double" in e.value.message
    worse = penguins_parquet(tmp_path / "worse.parquet", rows, body_mass_g=["heavy"] * len(rows))
    with pytest.raises(DataError, match="column `body_mass_g`: holds string"):
        model.read(str(worse), tmp_path, model.labels)
    gap = penguins_parquet(tmp_path / "gap.parquet", rows, species=[None] + [r["species"] for r in rows[1:]])
    with pytest.raises(DataError) as e:
        model.read(str(gap), tmp_path, model.labels)
    assert e.value.code == "E406" and e.value.message.startswith("row 1, column `species`")


def test_parquet_reads_pandas_categories_integer_flags_and_all_null_columns(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "d.parquet"
    table = {
        "smoker": pa.array([1, 0, 1, 0], pa.int64()),
        "level": pa.array([3, 200, 0, 255], pa.int64()),
        "x": pa.array(["a", "b", "a", "b"]).dictionary_encode(),
        "y": pa.array([None] * 4, pa.null()),
        "label": pa.array([0, 1, 0, 1]),
    }
    pq.write_table(pa.table(table), path)
    layers = """x -> lookup(3, output=one_hot) -> flatten as xs
    y -> impute(constant, value=-1) as ys
    [smoker, level, xs, ys] -> concat"""
    spec = SPEC.replace("input x: float32[2]", "input x: string[1]\n    input y: float32[1]")
    (tmp_path / "s.nn").write_text(spec.replace("[smoker, level, x] -> concat", layers))
    read = nnc.load(tmp_path / "s.nn").read(str(path), tmp_path)
    assert read.arrays["smoker"].ravel().tolist() == [True, False, True, False]
    assert read.arrays["x"].ravel().tolist() == ["a", "b", "a", "b"]
    assert np.isnan(read.arrays["y"]).all()


def test_without_pyarrow_parquet_names_the_extra(penguins, tmp_path, monkeypatch):
    import sys

    from nnc.runtime.errors import UsageError

    parquet = penguins_parquet(tmp_path / "t.parquet", raw_rows(TEST_CSV))
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # as if it were not installed
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(UsageError) as e:
        penguins[0].read(str(parquet), tmp_path)
    assert (e.value.code, e.value.help) == ("E550", "pip install 'nnc[parquet]'")


def test_an_input_read_through_impute_and_directly_is_one_spec_error_at_the_direct_use():
    """check accepted it and train refused every NaN cell, advising the impute the spec had."""
    from nnc.compiler.diagnostics import CompileError

    spec = """
model m {
    input nums: float32[3]
    nums -> impute(mean) as a
    [a, nums] -> concat -> dense(2) -> softmax as probs
}
loss cross_entropy(probs, target=label)
"""
    with pytest.raises(CompileError) as e:
        nnc.load(spec)
    (d,) = e.value.diagnostics
    assert (d.code, d.span.line, d.span.column) == ("E303", 5, 18)
    assert (
        "`concat` reads input `nums` directly" in d.message
        and d.help == "read `a`, impute's output, here instead"
    )
