"""`nnc plot`: the figure has a line per run, metric and split, holding metrics.csv's values,
the best epoch and an early stop marked; the files are what their names say."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from click.testing import CliRunner
from test_train import SPEC, write_blobs

import nnc
from nnc.cli import main

pytest.importorskip("matplotlib", reason="pip install 'nnc[report]'")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("plot")
    write_blobs(folder)
    stopping = "early_stopping(monitor=val_loss, patience=1, restore_best=true)"
    (folder / "blobs.nn").write_text(
        SPEC.replace("seed = 3", f"seed = 3\n    {stopping}").replace("lr=0.01", "lr=0.3")
    )
    for seed in (3, 4):
        nnc.load(folder / "blobs.nn").fit(out=folder / f"seed{seed}", seed=seed, epochs=30, verbose=0)
    return [folder / "seed3", folder / "seed4"]


def test_one_line_per_run_metric_and_split_with_the_best_epoch_and_the_stop(runs):
    from nnc.report.plot import figure, read_curves

    curves = [read_curves(r) for r in runs]
    fig = figure(curves)
    assert [ax.get_title() for ax in fig.axes] == ["loss", "accuracy"]
    for ax, metric in zip(fig.axes, ("loss", "accuracy"), strict=True):
        lines = {line.get_label(): line for line in ax.get_lines()}
        data = [k for k in lines if k.endswith(("training", "validation"))]
        assert sorted(data) == sorted(
            f"{r.name}: {split}" for r in runs for split in ("training", "validation")
        )
        for run in curves:
            metrics = np.genfromtxt(runs[curves.index(run)] / "metrics.csv", delimiter=",", names=True)
            np.testing.assert_array_equal(
                lines[f"{run.name}: validation"].get_ydata(), metrics[f"val_{metric}"]
            )
    loss_panel = {line.get_label() for line in fig.axes[0].get_lines()}
    for run in curves:
        assert run.stopped_at is not None and run.stopped_at < 30  # patience 1 stopped both
        assert {f"{run.name}: best epoch {run.best_epoch}", f"{run.name}: stopped early"} <= loss_panel


def test_the_files_are_what_their_names_say(runs, tmp_path):
    magic = {"png": b"\x89PNG", "svg": b"<?xml", "pdf": b"%PDF"}
    for kind, start in magic.items():
        out = tmp_path / f"curves.{kind}"
        result = CliRunner().invoke(main, ["plot", *map(str, runs), "-o", str(out)])
        assert result.exit_code == 0, result.output
        assert out.read_bytes().startswith(start)
    result = CliRunner().invoke(main, ["plot", str(runs[0])])
    assert result.exit_code == 0 and (runs[0] / "curves.png").read_bytes().startswith(magic["png"])


def test_without_matplotlib_the_extra_is_named(runs, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    result = CliRunner().invoke(main, ["plot", str(runs[0]), "-o", str(tmp_path / "c.png")])
    assert result.exit_code == 2 and "pip install 'nnc[report]'" in result.output


@pytest.mark.parametrize(
    ("text", "code", "said"),
    [
        ("epoch,loss\n", "E511", "no epoch has finished"),
        ("epoch,loss\n1,0.5\n2,abc\n", "E421", "`loss` holds 'abc', not a number"),
    ],
)
def test_a_damaged_metrics_file_is_a_located_error(runs, tmp_path, text, code, said):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(runs[0], run)
    (run / "metrics.csv").write_text(text)
    for command in (["plot", str(run), "-o", str(tmp_path / "c.png")], ["report", str(run)]):
        result = CliRunner().invoke(main, command)
        assert result.exit_code == (4 if code.startswith("E4") else 5), result.output
        assert "internal error" not in result.output and code in result.output and said in result.output
    if code == "E421":
        assert "metrics.csv:3" in result.output  # the line of the bad cell


def test_runs_of_one_name_are_told_apart_in_the_legend(tmp_path):
    from nnc.report.plot import names

    assert names([tmp_path / "x1" / "run", tmp_path / "x2" / "run"]) == ["x1/run", "x2/run"]
    assert names([tmp_path / "a", tmp_path / "b"]) == ["a", "b"]
