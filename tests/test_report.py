"""`nnc report`: one self-contained page about a run, opened the way a person opens it — in a
headless Chromium — and checked as rendered: the curves and the network are drawn, the console
has no errors, and nothing is fetched from the network."""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import ROOT

from nnc.cli import main

pytest.importorskip("matplotlib", reason="pip install 'nnc[report]'")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    """The penguins trained with --report, then exported and reported again."""
    folder = tmp_path_factory.mktemp("report")
    run = folder / "run"
    args = ["train", str(ROOT / "specs" / "penguins.nn"), "--out", str(run), "--report", "-q"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0 and (run / "report.html").exists(), result.output
    assert CliRunner().invoke(main, ["export", str(run)]).exit_code == 0
    assert CliRunner().invoke(main, ["report", str(run)]).exit_code == 0
    return run / "report.html"


def test_the_page_holds_everything_it_shows(page):
    text = page.read_text(encoding="utf-8")
    for heading in ("Summary", "Training curves", "Evaluation on the test data", "Network", "Export", "Spec"):
        assert f"<h2>{heading}</h2>" in text
    assert "Chinstrap" in text and "macro avg" in text  # the confusion matrix and the class report
    assert "passed on cpu" in text and "ai.onnx.ml 3" in text  # the export's gate and opsets
    assert '<span class="k">model</span>' in text  # the spec, highlighted
    # self-contained: no script, no stylesheet or image from elsewhere
    assert "<script" not in text and "<link" not in text
    assert not re.search(r'(src|href)="(https?:)?//', text) and "url(http" not in text


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed: apt-get install chromium")
def test_the_page_renders_in_a_browser_offline_without_errors(page, tmp_path):
    from PIL import Image

    base = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
    ]
    # Any request would have to go through a proxy that does not exist; the net log lists them.
    netlog = tmp_path / "net.json"
    offline = ["--proxy-server=127.0.0.1:9", "--enable-logging=stderr", "--v=0", f"--log-net-log={netlog}"]
    url = page.as_uri()
    dom = subprocess.run([*base, *offline, "--dump-dom", url], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr
    svgs = re.findall(r"<svg.*?</svg>", dom.stdout, re.S)
    assert len(svgs) >= 2  # the curves and the network, drawn
    curves = svgs[0]
    assert len(re.findall(r"<path", curves)) > 20
    console = [line for line in dom.stderr.splitlines() if "CONSOLE" in line]
    assert console == [], console
    # Chromium asks google.com things of its own (time, accounts) whatever the page: not the page's.
    hosts = set(re.findall(r'"https?://([^/"\s]+)', netlog.read_text(errors="replace")))
    assert {h for h in hosts if not h.endswith(("google.com", "gvt1.com"))} == set(), hosts
    shot = tmp_path / "page.png"
    done = subprocess.run(
        [*base, *offline, f"--screenshot={shot}", "--window-size=1280,2400", url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and shot.exists(), done.stderr
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=np.float64)
    assert pixels.std() > 20  # not a blank page: text, lines and tables drawn
    assert (pixels < 128).mean() > 0.005


def test_a_regression_page_plots_predicted_against_true(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (120, 2)).astype(np.float32)
    np.savez(tmp_path / "d.npz", x=x, y=(x.sum(1, keepdims=True) * 3).astype(np.float32))
    (tmp_path / "r.nn").write_text(
        """
model r {
    input x: float32[2]
    dense(1) as out
}
loss mse(out, target=y)
optimizer adam(lr=0.05)
train { epochs = 5; batch_size = 16; validation = 0.2; metrics = [mae] }
data { train = "d.npz"; test = "d.npz" }
"""
    )
    result = CliRunner().invoke(
        main, ["train", str(tmp_path / "r.nn"), "--out", str(tmp_path / "run"), "--report", "-q"]
    )
    assert result.exit_code == 0, result.output
    text = (tmp_path / "run" / "report.html").read_text(encoding="utf-8")
    section = text[text.index("out: predicted against true") :]
    assert "<svg" in section[:400] and "true y" in section and "Not exported" in text


def test_test_data_that_cannot_be_read_leaves_a_page_that_says_so(tmp_path):
    """A run trained with --report whose spec's test file is missing (check only warns: it may
    be written later): the training succeeds and so does the page, its evaluation section
    saying why it is empty; --data then evaluates on a file given."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (80, 2)).astype(np.float32)
    np.savez(tmp_path / "d.npz", x=x, y=(x.sum(1, keepdims=True) * 3).astype(np.float32))
    (tmp_path / "r.nn").write_text(
        "model r {\n    input x: float32[2]\n    dense(1) as out\n}\nloss mse(out, target=y)\n"
        'train { epochs = 2; validation = 0.2 }\ndata { train = "d.npz"; test = "gone.npz" }\n'
    )
    run = tmp_path / "run"
    result = CliRunner().invoke(main, ["train", str(tmp_path / "r.nn"), "--out", str(run), "--report", "-q"])
    assert result.exit_code == 0, result.output
    assert "note: the report has no evaluation" in result.output and "gone.npz" in result.output
    text = (run / "report.html").read_text(encoding="utf-8")
    assert "No evaluation:" in text and "--data FILE" in text and "Training curves" in text

    result = CliRunner().invoke(main, ["report", str(run), "--data", str(tmp_path / "d.npz")])
    assert result.exit_code == 0, result.output
    text = (run / "report.html").read_text(encoding="utf-8")
    assert "No evaluation" not in text and "out: predicted against true" in text


def test_the_page_says_when_the_exported_file_no_longer_holds_the_runs_weights(tmp_path):
    """Exported at 3 epochs, then resumed to 5: the page said 'export gate passed' for a file
    whose predictions differed from the run's. It now compares the weights' fingerprint."""
    spec, run = str(ROOT / "specs" / "spirals.nn"), str(tmp_path / "run")
    assert CliRunner().invoke(main, ["train", spec, "--out", run, "--epochs", "3", "-q"]).exit_code == 0
    assert CliRunner().invoke(main, ["export", run]).exit_code == 0
    assert CliRunner().invoke(main, ["report", run]).exit_code == 0
    text = (tmp_path / "run" / "report.html").read_text(encoding="utf-8")
    assert "weights</td><td>the run&#x27;s" in text and "epochs trained</td><td>3<" in text

    resumed = CliRunner().invoke(main, ["train", spec, "--resume", run, "--epochs", "5", "-q"])
    assert resumed.exit_code == 0, resumed.output
    result = CliRunner().invoke(main, ["report", run])
    assert result.exit_code == 0 and "NOT the run's" in result.output  # a note on stderr too
    text = (tmp_path / "run" / "report.html").read_text(encoding="utf-8")
    assert "NOT the run&#x27;s: it was trained further after the export" in text
    assert "epochs trained</td><td>5<" in text
