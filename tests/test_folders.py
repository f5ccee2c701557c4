"""Folders of samples, one subfolder per class: images read through Pillow as the input declares
them, and the exported model taking the pixels as the files hold them."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
from click.testing import CliRunner
from conftest import ROOT
from nnc.runtime.data import DataError
from nnc.runtime.onnx.gate import ATOL, RTOL
from PIL import Image

import nnc
from nnc.cli import main

SPEC = ROOT / "specs" / "digits_folder.nn"
TEST = ROOT / "specs" / "data" / "digits_png" / "test"


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    run = tmp_path_factory.mktemp("digits") / "run"
    model = nnc.load(SPEC)
    model.fit(out=run)
    return model, run, model.export(run / "model.onnx")


def test_the_digits_are_learned_from_a_folder_of_png_files(digits):
    model, _, _ = digits
    logs = model.evaluate()  # the fixed 20% held out, as PNG files
    assert logs["samples"] == 360 and logs["accuracy"] >= 0.97
    assert model.labels["label"] == [str(d) for d in range(10)]


def test_a_bare_onnxruntime_session_takes_the_pixels_as_the_files_hold_them(digits):
    model, _, onnx_path = digits
    files = sorted(TEST.glob("*/*.png"))
    pixels = np.stack([np.asarray(Image.open(f))[None] for f in files])  # uint8 [n, 1, 8, 8]
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].type == "tensor(uint8)"
    (logits,) = session.run(None, {"image": pixels})
    np.testing.assert_allclose(logits, model.predict(pixels), rtol=RTOL, atol=ATOL)
    truth = np.array([int(f.parent.name) for f in files])
    assert (logits.argmax(axis=1) == truth).mean() >= 0.97


def test_predict_on_the_folder_names_each_file(digits, tmp_path):
    _, _, onnx_path = digits
    out = tmp_path / "p.csv"
    result = CliRunner().invoke(main, ["predict", str(onnx_path), "--data", str(TEST), "-o", str(out)])
    assert result.exit_code == 0, result.output
    lines = out.read_text().splitlines()
    assert lines[0].startswith("file,class,p_0,") and len(lines) == 361
    right = sum(line.split(",")[0].split("/")[0] == line.split(",")[1] for line in lines[1:])
    assert right / 360 >= 0.97  # the class folder each file came from, and the predicted class


# ---- images as they come -------------------------------------------------------------------------
RGB = """
model m {
    input photo: uint8[3, 4, 4]
    flatten -> dense(2) as logits
}
loss cross_entropy(logits, target=kind)
train { epochs = 1; batch_size = 2 }
"""


def folder(tmp_path, classes: dict[str, int], size=(9, 7), mode="RGB"):
    rng = np.random.default_rng(0)
    for name, count in classes.items():
        (tmp_path / name).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
            Image.fromarray(rng.integers(0, 256, shape).astype(np.uint8), mode).save(
                tmp_path / name / f"{i}.png"
            )
    return tmp_path


def test_images_are_converted_and_resized_as_the_input_declares(tmp_path):
    data = folder(tmp_path / "d", {"cat": 2, "dog": 3}, size=(9, 7), mode="L")  # grayscale, 9x7
    model = nnc.load(RGB)
    read = model.read(str(data), tmp_path)
    assert read.arrays["photo"].shape == (5, 3, 4, 4) and read.arrays["photo"].dtype == np.uint8
    assert read.arrays["kind"].tolist() == [0, 0, 1, 1, 1] and read.labels == {"kind": ["cat", "dog"]}
    assert read.ids == ["cat/0.png", "cat/1.png", "dog/0.png", "dog/1.png", "dog/2.png"]
    expected = Image.open(data / "dog" / "2.png").convert("RGB").resize((4, 4), Image.Resampling.BILINEAR)
    np.testing.assert_array_equal(read.arrays["photo"][4], np.asarray(expected).transpose(2, 0, 1))


def test_sixteen_bit_images_are_scaled_not_clipped_and_wider_ones_refused(tmp_path):
    """Pillow's convert() clips 16-bit grayscale to 255: 1000, 20000 and 60000 all read white."""
    data = tmp_path / "d"
    (data / "cat").mkdir(parents=True)
    for i, level in enumerate((1000, 20000, 60000)):
        Image.fromarray(np.full((4, 4), level, np.uint16)).save(data / "cat" / f"{i}.png")
    read = nnc.load(RGB).read(str(data), tmp_path)
    assert read.arrays["photo"][:, 0, 0, 0].tolist() == [4, 78, 233]  # level / 257, rounded
    Image.fromarray(np.full((4, 4), 0.5, np.float32)).save(data / "cat" / "3.tif")
    with pytest.raises(DataError) as e:
        nnc.load(RGB).read(str(data), tmp_path)
    assert e.value.code == "E404" and "`3.tif` holds floating-point pixels" in e.value.message


def test_an_unreadable_image_or_an_empty_class_is_refused_by_name(tmp_path):
    data = folder(tmp_path / "d", {"cat": 2, "dog": 2})
    (data / "dog" / "notes.png").write_text("not an image")
    model = nnc.load(RGB)
    with pytest.raises(DataError) as e:
        model.read(str(data), tmp_path)
    assert e.value.code == "E404" and "`notes.png` is not an image Pillow can read" in e.value.message
    assert e.value.path.endswith("dog/notes.png")
    png = (data / "cat" / "0.png").read_bytes()
    (data / "dog" / "notes.png").write_bytes(png[: len(png) // 2])  # a truncated PNG
    with pytest.raises(DataError, match="`notes.png` is not an image"):
        model.read(str(data), tmp_path)
    (data / "dog" / "notes.png").unlink()
    (data / "bird").mkdir()
    with pytest.raises(DataError) as e:
        model.read(str(data), tmp_path)
    assert e.value.code == "E405" and "class folder `bird` holds no" in e.value.message


def test_without_pillow_images_name_the_extra(tmp_path, monkeypatch):
    import sys

    from nnc.runtime.errors import UsageError

    data = folder(tmp_path / "d", {"cat": 1, "dog": 1})
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(UsageError) as e:
        nnc.load(RGB).read(str(data), tmp_path)
    assert (e.value.code, e.value.help) == ("E550", "pip install 'nnc[images]'")


def test_a_test_folder_with_fewer_classes_keeps_the_training_numbering(tmp_path):
    train = folder(tmp_path / "train", {"ant": 2, "bee": 2, "cow": 2})
    test = folder(tmp_path / "test", {"bee": 1, "cow": 1})
    spec = RGB.replace("dense(2)", "dense(3)")
    model = nnc.load(spec)
    model.fit(str(train), out=tmp_path / "run")
    assert model.read(str(test), tmp_path, model.labels).arrays["kind"].tolist() == [1, 2]
    (test / "emu").mkdir()
    Image.new("RGB", (4, 4)).save(test / "emu" / "0.png")
    with pytest.raises(DataError) as e:
        model.read(str(test), tmp_path, model.labels)
    assert (
        e.value.code == "E410" and "class folder `emu` is not a class of the training data" in e.value.message
    )
