"""Files nnc writes: atomic, with the permissions the user's umask gives any new file, and into
a folder made when it does not exist yet."""

import os
import stat

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import ROOT
from nnc.runtime.files import write_text

import nnc
from nnc.cli import main


@pytest.fixture
def umask():
    def set_mask(mask):
        os.umask(mask)

    previous = os.umask(0o022)
    yield set_mask
    os.umask(previous)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize(("mask", "expected"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_a_written_file_has_the_umask_s_permissions(tmp_path, umask, mask, expected):
    umask(mask)
    write_text(tmp_path / "a.txt", "hello")
    assert mode(tmp_path / "a.txt") == expected
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]  # no temporary file left


def test_every_file_of_a_run_and_an_export_is_0644_under_umask_022(tmp_path, umask):
    umask(0o022)
    model = nnc.load(ROOT / "specs" / "spirals.nn", ("train.epochs=1",))
    model.fit(out=tmp_path / "run")
    model.export(tmp_path / "run" / "model.onnx")
    files = sorted(p for p in (tmp_path / "run").iterdir())
    assert len(files) == 9  # with .lock
    assert {p.name: mode(p) for p in files} == {p.name: 0o644 for p in files}


def test_export_and_predict_make_the_output_folder(tmp_path):
    model = nnc.load(ROOT / "specs" / "spirals.nn", ("train.epochs=1",))
    model.fit(out=tmp_path / "run")
    result = CliRunner().invoke(
        main, ["export", str(tmp_path / "run"), "-o", str(tmp_path / "new" / "m.onnx")]
    )
    assert result.exit_code == 0, result.output
    np.savez(tmp_path / "x.npz", point=np.zeros((3, 2), np.float32))
    out = tmp_path / "deeper" / "still" / "p.csv"
    result = CliRunner().invoke(
        main, ["predict", str(tmp_path / "new" / "m.onnx"), "--data", str(tmp_path / "x.npz"), "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert len(out.read_text().splitlines()) == 4


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("run") / "r"
    done = CliRunner().invoke(
        main, ["train", str(ROOT / "specs" / "spirals.nn"), "--out", str(run), "--epochs", "2"]
    )
    assert done.exit_code == 0, done.output
    return run


@pytest.mark.parametrize(
    "command",
    [
        ["train", str(ROOT / "specs" / "spirals.nn"), "--epochs", "1", "--out", "{blocked}/run"],
        ["graph", str(ROOT / "specs" / "spirals.nn"), "-o", "{blocked}/model.dot"],
        ["export", "{run}", "-o", "{blocked}/model.onnx"],
        ["plot", "{run}", "-o", "{blocked}/curves.png"],
        ["report", "{run}", "-o", "{blocked}/report.html"],
    ],
)
def test_an_output_path_that_cannot_be_written_is_a_usage_error_naming_it(tmp_path, trained_run, command):
    """A file where the output's folder would go (a read-only folder, for a user who is not
    root, is the same message): exit 2 naming the path, not 'internal error'."""
    if command[0] == "plot":
        pytest.importorskip("matplotlib")
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    args = [a.format(blocked=blocked, run=trained_run) for a in command]
    done = CliRunner().invoke(main, args)
    assert done.exit_code == 2, done.output
    assert "internal error" not in done.output
    assert (
        f"cannot use {args[-1]}" in done.output and "a file is there, where a folder would go" in done.output
    )
