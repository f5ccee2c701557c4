"""runtime/data/: the shipped data files load for their specs' fields, and every kind of bad
data is refused with its code, line, column and a message that says expected and received."""

import numpy as np
import pytest
from conftest import ROOT
from hypothesis import given, settings
from hypothesis import strategies as st
from nnc.runtime.data import DataError, Dataset, Field, check, read, split

SPECS = ROOT / "specs"
IMAGE = Field("image", "float32", (64,))
LABEL = Field("label", "int64", (), classes=10)
X3 = Field("x", "float32", (3,))
CLASS = Field("label", "int64", (), classes=2)


# What `nnc check` may leave to training: it reads a CSV's header and an archive's names, never
# the values. A missing column or array, a feature count or a missing file it always sees.
SEEN_BY_CHECK = {"E401", "E402", "E403"}


def refused(code: str, source, root, fields, **kwargs) -> DataError:
    """The error reading `source` raises; every case also runs the check `nnc check` runs on
    the same source, which must refuse it with the very same error or not see it at all."""
    with pytest.raises(DataError) as info:
        read(source, root, fields, **kwargs)
    e = info.value
    assert e.code == code, e
    try:
        check(source, root, fields)
    except DataError as c:
        assert (c.code, c.message, c.help, c.path) == (e.code, e.message, e.help, e.path)
    else:
        assert e.code not in SEEN_BY_CHECK, e
    return e


def csv_file(tmp_path, text: str, name: str = "d.csv") -> str:
    (tmp_path / name).write_bytes(text.encode())
    return name


# --- the shipped files ---------------------------------------------------------------


def test_digits_csv_split_is_fixed_and_stratified():
    train = read("data/digits_train.csv", SPECS, [IMAGE, LABEL])
    test = read("data/digits_test.csv", SPECS, [IMAGE, LABEL])
    assert (train.n, test.n) == (1437, 360) and train.n + test.n == 1797
    assert train.arrays["image"].shape == (1437, 64) and train.arrays["image"].dtype == np.float32
    assert train.arrays["label"].shape == (1437,) and train.arrays["label"].dtype == np.int64
    assert train.labels == {}  # integer class indices: no names
    for part in (train, test):
        counts = np.bincount(part.arrays["label"], minlength=10)
        assert (counts > 0).all()
        assert part.arrays["image"].min() == 0 and part.arrays["image"].max() == 16
    share = np.bincount(test.arrays["label"]) / (
        np.bincount(train.arrays["label"]) + np.bincount(test.arrays["label"])
    )
    assert np.allclose(share, 0.2, atol=0.01)


@pytest.mark.parametrize("part", ["train", "test"])
def test_digits_arrays_are_the_csv_split_scaled(part):
    csv = read(f"data/digits_{part}.csv", SPECS, [IMAGE, LABEL])
    mapping = {"image": f"data/digits_images_{part}.npy", "label": f"data/digits_labels_{part}.npy"}
    images = read(mapping, SPECS, [Field("image", "float32", (1, 8, 8)), LABEL])
    assert images.arrays["image"].shape == (csv.n, 1, 8, 8)
    np.testing.assert_array_equal(images.arrays["label"], csv.arrays["label"])
    np.testing.assert_allclose(images.arrays["image"].reshape(csv.n, 64), csv.arrays["image"] / 16)
    pixels = read({"image": f"data/digits_pixels_{part}.npy"}, SPECS, [IMAGE])
    np.testing.assert_allclose(pixels.arrays["image"], csv.arrays["image"] / 16)


def test_residual_mlp_reads_the_digits_features_under_its_input_name():
    data = read("data/digits_train.csv", SPECS, [Field("features", "float32", (64,)), LABEL])
    assert data.arrays["features"].shape == (1437, 64)


def test_curve_and_spirals():
    curve = read("data/curve.csv", SPECS, [Field("x", "float32", (1,)), Field("target", "float32", (1,))])
    assert curve.n == 1000 and curve.arrays["target"].shape == (1000, 1)
    x, y = curve.arrays["x"][:, 0], curve.arrays["target"][:, 0]
    assert -2 <= x.min() and x.max() <= 2
    assert np.abs(y - np.sin(3 * x)).std() < 0.15  # the noise is 0.1 * N(0, 1)
    spirals = read("data/spirals.csv", SPECS, [Field("point", "float32", (2,)), CLASS])
    assert spirals.n == 600 and np.bincount(spirals.arrays["label"]).tolist() == [300, 300]


def test_synthetic_npz_sets():
    sine = read(
        "data/sine_windows.npz",
        SPECS,
        [Field("history", "float32", (32, 1)), Field("future", "float32", (1,))],
    )
    assert sine.arrays["history"].shape == (sine.n, 32, 1) and sine.arrays["future"].shape == (sine.n, 1)
    tokens = read(
        "data/token_counts.npz",
        SPECS,
        [Field("tokens", "int64", (16,), classes=32), Field("count", "int64", (), classes=5)],
    )
    t, count = tokens.arrays["tokens"], tokens.arrays["count"]
    np.testing.assert_array_equal(count, (t == 1).sum(axis=1))
    assert min(np.bincount(count)) > tokens.n // 6  # every count is common
    multi = read(
        "data/multi_task.npz",
        SPECS,
        [
            Field("series", "float32", (20, 3)),
            Field("profile", "float32", (8,)),
            Field("kind_label", "int64", (), classes=3),
            Field("amount_value", "float32", (1,)),
        ],
    )
    assert multi.arrays["series"].shape == (multi.n, 20, 3) and set(multi.arrays["kind_label"]) == {0, 1, 2}


def test_shipped_data_stays_small():
    sizes = [p.stat().st_size for p in (SPECS / "data").iterdir() if p.suffix in (".csv", ".npy", ".npz")]
    assert sum(sizes) < 5_000_000


# --- CSV refusals ----------------------------------------------------------------------


def test_non_numeric_cell_is_located(tmp_path):
    name = csv_file(tmp_path, "a,b,c,label\n1,2,3,0\n4,abc,6,1\n")
    e = refused("E407", name, tmp_path, [X3, CLASS])
    assert (e.line, e.column) == (3, 3)
    assert "row 2, column `b`" in e.message and "'abc'" in e.message and "expected a number" in e.message
    assert e.path.endswith("d.csv") and str(e).endswith("d.csv:3:3: error[E407]: " + e.message)


def test_missing_cells_are_located(tmp_path):
    e = refused("E406", csv_file(tmp_path, "a,b,c,label\n1,2,3,0\n4, ,6,1\n"), tmp_path, [X3, CLASS])
    assert (e.line, e.column) == (3, 3) and "row 2, column `b`: missing value" in e.message
    short = refused("E406", csv_file(tmp_path, "a,b,c,label\n1,2,3\n"), tmp_path, [X3, CLASS])
    assert (short.line, short.column) == (2, 6) and "column `label`" in short.message  # past the row's end


@pytest.mark.parametrize("cell", ["inf", "-Infinity", "1e39"])
def test_non_finite_cells_are_refused(tmp_path, cell):
    e = refused("E408", csv_file(tmp_path, f"a,b,c,label\n1,2,3,0\n1,2,{cell},1\n"), tmp_path, [X3, CLASS])
    assert (e.line, e.column) == (3, 5) and f"'{cell}'" in e.message and "column `c`" in e.message


@pytest.mark.parametrize("cell", ["nan", "NaN", "NA", "?", "null"])
def test_cells_that_mark_a_missing_value_are_missing_values(tmp_path, cell):
    """As pandas reads them; an input read by `impute` takes them as NaN, others refuse them."""
    e = refused("E406", csv_file(tmp_path, f"a,b,c,label\n1,2,3,0\n1,2,{cell},1\n"), tmp_path, [X3, CLASS])
    assert (e.line, e.column) == (3, 5) and f"missing value ('{cell}')" in e.message
    assert "impute" in e.help


def test_the_first_bad_cell_in_file_order_is_reported(tmp_path):
    name = csv_file(tmp_path, "a,b,c,label\n1,2,inf,0\nx,2,3,1\n1,2,3,1,9\n")
    e = refused("E408", name, tmp_path, [X3, CLASS])
    assert (e.line, e.column) == (2, 5)


def test_columns_count_characters_and_quotes(tmp_path):
    name = csv_file(tmp_path, 'label,a,b,c\r\n"cat, ""big""",1,2,  x?\r\n')
    e = refused("E407", name, tmp_path, [X3, CLASS])
    assert (e.line, e.column) == (2, 22) and "column `c`" in e.message


def test_wrong_feature_count(tmp_path):
    e = refused("E402", csv_file(tmp_path, "a,b,label\n1,2,0\n"), tmp_path, [X3, CLASS])
    assert e.line == 1
    assert e.message == "expected 3 feature columns for input `x` float32[N, 3], received 2"
    e = refused(
        "E402", csv_file(tmp_path, "x,note,label\n1,2,0\n"), tmp_path, [Field("x", "float32", (1,)), CLASS]
    )
    assert "`note`" in e.message  # a column no field takes


def test_class_index_out_of_range(tmp_path):
    e = refused("E409", csv_file(tmp_path, "a,b,c,label\n1,2,3,1\n1,2,3,2\n"), tmp_path, [X3, CLASS])
    assert (e.line, e.column) == (3, 7) and "class index 2" in e.message and "[0, 2)" in e.message
    e = refused("E409", csv_file(tmp_path, "a,b,c,label\n1,2,3,-1\n"), tmp_path, [X3, CLASS])
    assert "class index -1" in e.message


def test_non_integer_class_is_refused(tmp_path):
    e = refused("E412", csv_file(tmp_path, "a,b,c,label\n1,2,3,0.5\n1,2,3,1\n"), tmp_path, [X3, CLASS])
    assert (e.line, e.column) == (2, 7) and "expected an integer. Received: '0.5'" in e.message


def test_string_labels_map_to_sorted_indices(tmp_path):
    name = csv_file(tmp_path, "a,b,c,label\n1,2,3,dog\n1,2,3,cat\n1,2,3, dog\n")
    data = read(name, tmp_path, [X3, Field("label", "int64", (), classes=3)])
    assert data.labels == {"label": ["cat", "dog"]}
    assert data.arrays["label"].tolist() == [1, 0, 1] and data.arrays["label"].dtype == np.int64
    # A later file uses the training mapping, even where it would sort differently.
    later = read(
        csv_file(tmp_path, "a,b,c,label\n1,2,3,dog\n", "t.csv"), tmp_path, [X3, CLASS], labels=data.labels
    )
    assert later.arrays["label"].tolist() == [1] and later.labels == data.labels


def test_unknown_string_label_with_a_mapping(tmp_path):
    name = csv_file(tmp_path, "a,b,c,label\n1,2,3,cat\n1,2,3,cow\n")
    e = refused("E410", name, tmp_path, [X3, CLASS], labels={"label": ["cat", "dog"]})
    assert (e.line, e.column) == (3, 7) and "'cow'" in e.message and "cat, dog" in e.help


def test_more_string_labels_than_classes(tmp_path):
    name = csv_file(tmp_path, "a,b,c,label\n1,2,3,b\n1,2,3,a\n1,2,3,c\n")
    e = refused("E409", name, tmp_path, [X3, CLASS])
    assert (e.line, e.column) == (4, 7) and "class 2 of 3" in e.message and "2 classes" in e.message


@pytest.mark.parametrize(("text", "line"), [("a,b,c,label\n", 1), ("", None), ("\n  \n", None)])
def test_empty_files(tmp_path, text, line):
    e = refused("E405", csv_file(tmp_path, text), tmp_path, [X3, CLASS])
    assert e.line == line


def test_missing_file_and_folder(tmp_path):
    e = refused("E403", "nope.csv", tmp_path, [X3, CLASS])
    assert "`nope.csv` does not exist" in e.message and str(tmp_path) in e.help
    (tmp_path / "dir.csv").mkdir()
    refused("E403", "dir.csv", tmp_path, [X3, CLASS])


def test_check_reads_only_the_header(tmp_path):
    """However large the file, `nnc check` stops after the header: a bad byte past it is left
    to training, and a bad byte in it is located."""
    (tmp_path / "big.csv").write_bytes(b"a,b,c,label\n" + b"1,2,3,0\n" * 200_000 + b"1,2,3,\xff\n")
    check("big.csv", tmp_path, [X3, CLASS])
    e = refused("E404", "big.csv", tmp_path, [X3, CLASS])
    assert (e.line, e.column) == (200_002, 7)
    (tmp_path / "head.csv").write_bytes(b"a,b,\xffc,label\n1,2,3,0\n")
    with pytest.raises(DataError) as info:
        check("head.csv", tmp_path, [X3, CLASS])
    assert (info.value.code, info.value.line, info.value.column) == ("E404", 1, 5)


def test_unreadable_csv(tmp_path):
    (tmp_path / "bin.csv").write_bytes(b"a,b,c,label\n1,2,3,\xff\n")
    e = refused("E404", "bin.csv", tmp_path, [X3, CLASS])
    assert (e.line, e.column) == (2, 7) and "UTF-8" in e.message
    refused("E404", csv_file(tmp_path, "a,b,c,label\n1,2,3,0", "d.txt"), tmp_path, [X3, CLASS])


def test_csv_layouts_that_cannot_hold_the_data(tmp_path):
    e = refused("E414", csv_file(tmp_path, "a,b,b,label\n1,2,3,0\n"), tmp_path, [X3, CLASS])
    assert (e.line, e.column) == (1, 5) and "second column named `b`" in e.message
    e = refused("E414", csv_file(tmp_path, "a,b,c,label\n1,2,3,0,7\n"), tmp_path, [X3, CLASS])
    assert (e.line, e.column) == (2, 9) and "5 cells" in e.message
    two_inputs = [X3, Field("y", "float32", (2,)), CLASS]
    e = refused("E414", csv_file(tmp_path, "a,b,c,d,e,label\n1,2,3,4,5,0\n"), tmp_path, two_inputs)
    assert ".npz" in e.help
    e = refused("E414", csv_file(tmp_path, "x,label\n1,0\n"), tmp_path, [X3, CLASS])
    assert "`x` is float32[N, 3]" in e.message


def test_missing_target_column(tmp_path):
    e = refused("E401", csv_file(tmp_path, "a,b,c,labels\n1,2,3,0\n"), tmp_path, [X3, CLASS])
    assert e.line == 1 and "no column `label`" in e.message and "labels" in e.help


def test_column_fields_and_shapes(tmp_path):
    name = csv_file(tmp_path, "target,x,y\n0.5,1,2\n1.5,3,4\n")
    data = read(
        name,
        tmp_path,
        [Field("x", "float32", (1,)), Field("y", "float32", ()), Field("target", "float32", (1,))],
    )
    assert data.arrays["x"].tolist() == [[1], [3]] and data.arrays["y"].tolist() == [2, 4]
    assert data.arrays["target"].dtype == np.float32 and data.arrays["target"].shape == (2, 1)
    image = read(
        csv_file(tmp_path, "p0,p1,p2,p3,label\n0,1,2,3,1\n"),
        tmp_path,
        [Field("im", "float32", (1, 2, 2)), CLASS],
    )
    assert image.arrays["im"].tolist() == [[[[0, 1], [2, 3]]]]  # row-major


# --- .npz and .npy refusals ------------------------------------------------------------


def npz(tmp_path, name="d.npz", **arrays) -> str:
    np.savez(tmp_path / name, **arrays)
    return name


GOOD = {"x": np.zeros((4, 3), np.float32), "label": np.array([0, 1, 1, 0])}


def test_npz_loads_and_converts(tmp_path):
    name = npz(
        tmp_path, x=np.arange(12.0).reshape(4, 3), label=np.array([0.0, 1.0, 1.0, 0.0]), extra=np.zeros(2)
    )
    data = read(name, tmp_path, [X3, CLASS])
    assert data.arrays["x"].dtype == np.float32 and data.arrays["label"].dtype == np.int64 and data.n == 4


def test_npz_missing_array(tmp_path):
    e = refused("E401", npz(tmp_path, x=GOOD["x"]), tmp_path, [X3, CLASS])
    assert "no array `label`" in e.message and "x" in e.help


def test_npz_wrong_per_sample_shape(tmp_path):
    e = refused(
        "E411",
        npz(tmp_path, x=np.zeros((4, 64)), label=GOOD["label"]),
        tmp_path,
        [Field("x", "float32", (1, 8, 8)), CLASS],
    )
    assert "per-sample shape [1, 8, 8]" in e.message and "Received: shape [4, 64]" in e.message
    assert "reshape it to [4, 1, 8, 8]" in e.help
    refused("E411", npz(tmp_path, x=np.float32(1), label=GOOD["label"]), tmp_path, [X3, CLASS])


def test_npz_mismatched_sample_counts(tmp_path):
    e = refused("E413", npz(tmp_path, x=GOOD["x"], label=np.array([0, 1, 1])), tmp_path, [X3, CLASS])
    assert "x 4, label 3" in e.message


def test_npz_non_finite(tmp_path):
    x = np.zeros((4, 3))
    x[2, 1] = np.inf
    e = refused("E408", npz(tmp_path, x=x, label=GOOD["label"]), tmp_path, [X3, CLASS])
    assert "array `x`" in e.message and "sample 2" in e.message and "[2, 1]" in e.message
    e = refused("E408", npz(tmp_path, x=np.full((4, 3), 1e300), label=GOOD["label"]), tmp_path, [X3, CLASS])
    assert "float32" in e.message


def test_npz_class_range_and_integers(tmp_path):
    e = refused("E409", npz(tmp_path, x=GOOD["x"], label=np.array([0, 1, 5, 0])), tmp_path, [X3, CLASS])
    assert "holds 5" in e.message and "sample 2" in e.message and "[0, 2)" in e.message
    e = refused("E412", npz(tmp_path, x=GOOD["x"], label=np.array([0, 0.5, 1, 0])), tmp_path, [X3, CLASS])
    assert "must hold integers" in e.message and "0.5" in e.message


def test_object_and_string_arrays_are_refused(tmp_path):
    name = npz(tmp_path, x=np.array([[1, 2, 3]] * 4, dtype=object), label=GOOD["label"])
    e = refused("E412", name, tmp_path, [X3, CLASS])
    assert "pickled" in e.message and "`x`" in e.message
    np.save(tmp_path / "x.npy", np.array([[1, 2, 3]] * 4, dtype=object), allow_pickle=True)
    refused("E412", {"x": "x.npy"}, tmp_path, [X3])
    e = refused("E412", npz(tmp_path, x=np.full((4, 3), "a"), label=GOOD["label"]), tmp_path, [X3, CLASS])
    assert "dtype <U1" in e.message


def test_corrupt_and_empty_arrays(tmp_path):
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04 not really a zip")
    refused("E404", "bad.npz", tmp_path, [X3])
    (tmp_path / "bad.npy").write_bytes(b"hello")
    assert "not a NumPy .npy file" in refused("E404", {"x": "bad.npy"}, tmp_path, [X3]).message
    np.save(tmp_path / "cut.npy", np.zeros((100, 3)))
    (tmp_path / "cut.npy").write_bytes((tmp_path / "cut.npy").read_bytes()[:300])
    refused("E404", {"x": "cut.npy"}, tmp_path, [X3])
    (tmp_path / "zero.npy").write_bytes(b"")
    refused("E405", {"x": "zero.npy"}, tmp_path, [X3])
    refused("E405", npz(tmp_path, x=np.zeros((0, 3)), label=np.zeros(0, np.int64)), tmp_path, [X3, CLASS])


def test_npy_mapping(tmp_path):
    np.save(tmp_path / "x.npy", GOOD["x"])
    np.save(tmp_path / "y.npy", GOOD["label"])
    data = read({"x": "x.npy", "label": "y.npy"}, tmp_path, [X3, CLASS])
    assert data.n == 4 and "x.npy" in data.source and "y.npy" in data.source
    assert "no file for `label`" in refused("E401", {"x": "x.npy"}, tmp_path, [X3, CLASS]).message
    refused("E403", {"x": "x.npy", "label": "nope.npy"}, tmp_path, [X3, CLASS])


# --- split, fingerprint ---------------------------------------------------------------


@pytest.fixture(scope="module")
def digits() -> Dataset:
    return read("data/digits_train.csv", SPECS, [IMAGE, LABEL])


def test_split_is_stratified_and_deterministic(digits):
    train, val = split(digits, 0.1, np.random.default_rng(0), stratify="label")
    assert val.n == 144 and train.n + val.n == digits.n  # floor(0.1 * 1437 + 0.5)
    sizes = np.bincount(digits.arrays["label"])
    assert (np.abs(np.bincount(val.arrays["label"]) - val.n * sizes / digits.n) < 1).all()
    again_train, again = split(digits, 0.1, np.random.default_rng(0), stratify="label")
    np.testing.assert_array_equal(again.arrays["image"], val.arrays["image"])
    _, other = split(digits, 0.1, np.random.default_rng(1), stratify="label")
    assert not np.array_equal(other.arrays["image"], val.arrays["image"])
    # The parts are disjoint and together hold every sample.
    rows = {r.tobytes() for r in train.arrays["image"]} | {r.tobytes() for r in val.arrays["image"]}
    assert len(rows) == len({r.tobytes() for r in digits.arrays["image"]})


def test_plain_split_and_too_few_samples(digits):
    train, val = split(digits, 0.25, np.random.default_rng(3))
    assert (train.n, val.n) == (1078, 359)  # floor(0.25 * 1437 + 0.5) = 359
    one = digits.take(np.array([0]))
    with pytest.raises(DataError) as info:
        split(one, 0.5, np.random.default_rng(0))
    assert info.value.code == "E405"


def test_fingerprint_changes_with_one_value(digits):
    same = Dataset({k: a.copy() for k, a in digits.arrays.items()}, digits.n)
    assert same.fingerprint() == digits.fingerprint() and len(digits.fingerprint()) == 64
    same.arrays["image"][100, 7] += 1
    assert same.fingerprint() != digits.fingerprint()
    relabeled = Dataset(digits.arrays, digits.n, {"label": [str(i) for i in range(10)]})
    assert relabeled.fingerprint() != digits.fingerprint()


def test_data_messages_tell_the_truth_at_the_right_place(tmp_path):
    # A class label far beyond int64: its row and column, its text, not a wrapped-around index.
    e = refused("E412", csv_file(tmp_path, "a,b,c,label\n1,2,3,0\n1,2,3,1e300\n"), tmp_path, [X3, CLASS])
    assert (e.line, e.column) == (3, 7) and "'1e300' is beyond int64" in e.message
    e = refused("E412", npz(tmp_path, x=GOOD["x"], label=np.array([0, 1e300, 1, 0])), tmp_path, [X3, CLASS])
    assert "beyond int64" in e.message and "[1]" in e.message
    # A text label is quoted as text.
    e = refused(
        "E409", csv_file(tmp_path, "a,b,c,label\n1,2,3,b\n1,2,3,a\n1,2,3,seven\n"), tmp_path, [X3, CLASS]
    )
    assert "'seven'" in e.message and "np.str_" not in e.message
    # An unclosed quote is reported where its record begins, not at the end of the file.
    rows = ["1,2,3,0"] * 2 + ['1,"2,3,0'] + ["1,2,3,0"] * 890
    e = refused("E404", csv_file(tmp_path, "a,b,c,label\n" + "\n".join(rows) + "\n"), tmp_path, [X3, CLASS])
    assert e.line == 4 and "malformed CSV" in e.message


def test_a_csv_given_as_weights_is_not_called_pickled(tmp_path):
    from nnc.runtime.errors import RunError
    from nnc.runtime.train.run_dir import read_checked

    (tmp_path / "w.csv").write_text("a,b\n1,2\n")
    with pytest.raises(RunError) as e:
        read_checked(tmp_path / "w.csv")
    assert e.value.code == "E421" and "is not an .npz archive" in e.value.message
    assert "pickled" not in e.value.message and "objects" not in e.value.message


# --- the fast CSV reader reads what the careful one reads ------------------------------

_CELLS = st.one_of(
    st.floats(-1e6, 1e6, allow_nan=False).map(lambda v: f"{v:.6g}"),
    st.integers(-5, 5).map(str),
    st.sampled_from(
        [
            "nan",
            "inf",
            "",
            "  1.5",
            "2 ",
            '"3"',
            "1e39",
            "seven",
            '"a, b"',
            "0x10",
            "1_000",
            "NA",
            "?",
            "yes",
            "No",
            '"two\nlines"',
            '"a\n\nblank"',
        ]
    ),
)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(
    rows=st.lists(
        st.tuples(_CELLS, _CELLS, st.sampled_from(["cat", "dog", "0", "1", "2", " cat", ""])),
        min_size=1,
        max_size=8,
    ),
    extra=st.booleans(),
    blank=st.booleans(),
    bom=st.booleans(),
    kind=st.sampled_from(["float32", "missing", "string", "bool"]),
)
def test_the_fast_reader_agrees_with_the_careful_one(tmp_path_factory, rows, extra, blank, bom, kind):
    """On features of every kind: numbers, numbers with gaps (impute), strings, yes/no."""
    from nnc.runtime.data.columns import assign
    from nnc.runtime.data.csv_file import _read_careful, _read_fast, _read_table

    folder = tmp_path_factory.mktemp("fast")
    header = ("id," if extra else "") + "a,b,label"
    lines = [header] + [("x," if extra else "") + ",".join(r) for r in rows]
    if blank:
        lines.insert(2, "")
    path = folder / "t.csv"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + ("\n".join(lines) + "\n").encode())
    dtype = "float32" if kind == "missing" else kind
    fields = [
        Field("x", dtype, (2,), columns=("a", "b") if extra else None, missing=kind == "missing"),
        Field("label", "int64", (), classes=3),
    ]
    head = _read_table(path, header_only=True)
    fast = _read_fast(path, head, assign(head, fields), {})
    try:
        careful = _read_careful(path, fields, {})
    except DataError:
        assert fast is None  # what the careful reader refuses, the fast one does not accept
        return
    if fast is None:
        return  # the fast reader may decline what the careful one reads: never the reverse
    assert fast.labels == careful.labels and fast.n == careful.n and fast.ignored == careful.ignored
    for name in careful.arrays:
        assert fast.arrays[name].dtype == careful.arrays[name].dtype
        np.testing.assert_array_equal(fast.arrays[name], careful.arrays[name])  # NaN where NaN


@settings(max_examples=150, deadline=None, derandomize=True)
@given(
    rows=st.lists(st.tuples(_CELLS, _CELLS, st.sampled_from(["cat", "1", ""])), min_size=1, max_size=8),
    blank=st.integers(0, 9),
    bom=st.booleans(),
    kind=st.sampled_from(["float32", "missing", "string", "bool"]),
    batch_size=st.integers(1, 4),
)
def test_a_csv_read_in_batches_is_the_csv_read_whole(tmp_path_factory, rows, blank, bom, kind, batch_size):
    """Predict streams a CSV batch by batch: the same values, or the same located refusal."""
    from nnc.runtime.data.csv_file import CsvFile, _read_careful

    folder = tmp_path_factory.mktemp("batches")
    lines = ["a,b,other"] + [",".join(r) for r in rows]
    lines.insert(min(blank, len(lines)), "")  # a blank line anywhere: before the header too
    path = folder / "t.csv"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + ("\r\n".join(lines) + "\r\n").encode())
    dtype = "float32" if kind == "missing" else kind
    fields = [Field("x", dtype, (2,), columns=("a", "b"), missing=kind == "missing")]
    try:
        whole = _read_careful(path, fields, {})
    except DataError as e:
        with pytest.raises(DataError) as streamed:
            list(CsvFile().batches(path, fields, {}, batch_size))
        assert (streamed.value.code, streamed.value.line, streamed.value.column) == (e.code, e.line, e.column)
        return
    parts = list(CsvFile().batches(path, fields, {}, batch_size))
    assert [p.n for p in parts[:-1]] == [batch_size] * (len(parts) - 1) and sum(p.n for p in parts) == whole.n
    assert all(p.ignored == ["other"] for p in parts)
    joined = np.concatenate([p.arrays["x"] for p in parts])
    assert joined.dtype == whole.arrays["x"].dtype
    np.testing.assert_array_equal(joined, whole.arrays["x"])
