"""`nnc report`: one self-contained HTML page about a run, which opens offline in any browser:
every style and picture is inline (SVG), and it has no scripts. It shows the spec
(highlighted with Pygments), the run's summary, the network (Graphviz, when its `dot` is
installed; the DOT text otherwise), the training curves (matplotlib), the final and best
metrics, an evaluation on the spec's test data where it has one (a confusion matrix with
precision and recall per class for a classifier, predicted against true for a regression), the
export's status, and the settings and versions the run was trained with."""

from __future__ import annotations

import html
import io
import json
import shutil
import subprocess
import warnings
from pathlib import Path

from nnc.report.plot import figure, read_curves
from nnc.runtime.errors import RunError, UsageError

KEYWORDS = (
    "import",
    "const",
    "block",
    "model",
    "loss",
    "optimizer",
    "train",
    "data",
    "input",
    "output",
    "repeat",
    "as",
)
CONSTANTS = ("true", "false", "none")

STYLE = """
body { font-family: Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 72em; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.2em; border-bottom: 1px solid #ddd; padding-bottom: .2em; }
table { border-collapse: collapse; margin: .5em 0; } td, th { padding: .2em .7em; text-align: right; }
th { background: #f3f3f3; } td.name, th.name { text-align: left; }
tr:nth-child(even) td { background: #fafafa; }
.figure svg { max-width: 100%; height: auto; } .note { color: #666; }
pre.dot { font-size: .8em; background: #f7f7f7; padding: .5em; overflow-x: auto; }
"""


def build(run_dir: Path, data: Path | None = None) -> str:
    """The page for the run in `run_dir`, as HTML text, evaluated on `data` (by default the
    spec's test data)."""
    import nnc

    libraries()
    model = nnc.load_run(run_dir)
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    curves = read_curves(run_dir)
    sections = [
        ("Summary", _summary(summary, curves)),
        ("Training curves", _figure_svg(figure([curves]))),
        ("Final and best metrics", _metrics(summary, run_dir)),
        ("Evaluation on the test data", _evaluation(model, data)),
        ("Network", _network(model)),
        ("Export", _export(run_dir, model)),
        ("Spec", _spec((run_dir / "spec.nn").read_text(encoding="utf-8"))),
        ("Settings and versions", _settings(summary, model)),
    ]
    body = "\n".join(f"<section><h2>{title}</h2>\n{content}\n</section>" for title, content in sections)
    title = html.escape(f"{summary.get('spec', 'run')} — {run_dir.name}")
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>\n'
        f"<style>{STYLE}{_pygments_css()}</style></head>\n<body>\n<h1>{title}</h1>\n{body}\n</body></html>\n"
    )


def write(run_dir: Path, path: Path, data: Path | None = None) -> None:
    from nnc.runtime.files import write_text

    write_text(path, build(run_dir, data))


def libraries() -> None:
    """Raises E550, naming the `report` extra, when its libraries are missing."""
    try:
        import matplotlib  # noqa: F401
        import pygments  # noqa: F401
    except ImportError:
        raise UsageError(
            "E550",
            "the report is drawn with matplotlib and Pygments, not installed",
            help="pip install 'nnc[report]'",
        ) from None


def _table(header: list[str], rows: list[list], names: int = 1) -> str:
    def cell(tag: str, k: int, value) -> str:
        text = f"{value:.4f}" if isinstance(value, float) else html.escape(str(value))
        return f"<{tag}{' class=name' if k < names else ''}>{text}</{tag}>"

    head = "".join(cell("th", k, h) for k, h in enumerate(header))
    body = "".join("<tr>" + "".join(cell("td", k, v) for k, v in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _summary(s: dict, curves) -> str:
    """`curves` (plot.read_curves) gives the best epoch as the plot marks it: early stopping's,
    else the lowest loss."""
    best = f"{curves.best_epoch} (by {curves.monitor})" if curves.best_epoch is not None else "—"
    rows = [
        ["epochs run", s.get("epochs_run")],
        ["optimizer steps", s.get("steps")],
        ["stopped early", "yes" if s.get("stopped_early") else "no"],
        ["best epoch", best],
        ["parameters", f"{s.get('parameters', 0):,}"],
        ["training time", f"{s.get('seconds', 0):.1f} s"],
    ]
    return _table(["", ""], rows)


def _metrics(s: dict, run_dir: Path) -> str:
    final = {k: v for k, v in s.get("final", {}).items() if k not in ("epoch", "lr", "seconds")}
    curves = read_curves(run_dir)
    best = curves.best_epoch
    rows = []
    for name, value in final.items():
        at = curves.epochs.index(best) if best in curves.epochs else None
        rows.append([name, value, curves.values[name][at] if at is not None else "—"])
    return _table(
        ["metric", f"final (epoch {s.get('final', {}).get('epoch', '—')})", f"best epoch ({best})"], rows
    )


def _evaluation(model, data: Path | None) -> str:
    """The evaluation's tables and plots. Data that cannot be read (a run directory moved away
    from its spec's test file, a file since damaged) leaves the rest of the page useful: the
    section says why it is empty, and so does a note on stderr."""
    if data is None and model.program.train.data.test is None:
        return (
            '<p class="note">The spec names no test data (data { test = ... }); '
            "<code>nnc report RUN --data FILE</code> evaluates on a file.</p>"
        )
    try:
        logs = model.evaluate(data)
        scatters = _scatters(model, data)
    except RunError as e:
        why = f"the report has no evaluation: {e}; --data FILE evaluates on another file"
        warnings.warn(why, stacklevel=2)
        return (
            f'<p class="note">No evaluation: {html.escape(str(e))}. '
            "<code>nnc report RUN --data FILE</code> evaluates on another file.</p>"
        )
    parts = [
        _table(
            ["", ""],
            [["samples", logs["samples"]], *[[k, v] for k, v in logs.items() if isinstance(v, float)]],
        )
    ]
    for output, matrix in logs.get("confusion", {}).items():
        report = logs["classes"][output]
        names = report["labels"]
        parts.append(f"<h3>{html.escape(output)}: confusion matrix (rows: true class)</h3>")
        parts.append(_table(["", *names], [[n, *row] for n, row in zip(names, matrix, strict=True)]))
        rows = [
            [n, r["precision"], r["recall"], r["f1"], r["support"]]
            for n, r in zip(names, report["per_class"], strict=True)
        ]
        m = report["macro"]
        rows.append(["macro avg", m["precision"], m["recall"], m["f1"], ""])
        parts.append(_table(["class", "precision", "recall", "F1", "support"], rows))
        if "roc_auc" in report:
            auc = report["roc_auc"]
            parts.append(f"<p>ROC AUC: {'undefined (one class)' if auc is None else f'{auc:.4f}'}</p>")
    return "\n".join(parts + scatters)


def _scatters(model, data: Path | None) -> list[str]:
    """Predicted against true, for each regression output."""
    classified = {t.prediction for t in model.plan.losses if t.op.classifier}
    wanted = [t for t in model.plan.losses if t.prediction not in classified and t.target_value is None]
    if not wanted:
        return []
    if data is None:
        dataset = model.read(model.program.train.data.test, model.root, model.labels)
    else:
        dataset = model.dataset(data, labels=model.labels)
    inputs = {i.name: dataset.arrays[i.name] for i in model.program.graph.inputs}
    parts = []
    for t in wanted:
        parts.append(f"<h3>{html.escape(t.prediction)}: predicted against true</h3>")
        parts.append(_scatter(model.predict(inputs, outputs=[t.prediction]), dataset.arrays[t.target], t))
    return parts


def _scatter(predicted, true, loss) -> str:
    from matplotlib.figure import Figure

    output, target = loss.prediction, loss.target
    fig = Figure(figsize=(4.5, 4.5), layout="constrained")
    ax = fig.subplots()
    ax.scatter(true.reshape(-1), predicted.reshape(-1), s=8, alpha=0.6)
    low, high = float(min(true.min(), predicted.min())), float(max(true.max(), predicted.max()))
    ax.plot([low, high], [low, high], "k:", linewidth=1)
    ax.set_xlabel(f"true {target}")
    ax.set_ylabel(f"predicted {output}")
    return _figure_svg(fig)


def _figure_svg(fig) -> str:
    out = io.StringIO()
    fig.savefig(out, format="svg")
    text = out.getvalue()
    return '<div class="figure">' + text[text.index("<svg") :] + "</div>"


def _network(model) -> str:
    from nnc.report.graph import to_dot

    dot = to_dot(model.program)
    program = shutil.which("dot")
    if program is not None:
        done = subprocess.run([program, "-Tsvg"], input=dot.encode(), capture_output=True, check=False)
        if done.returncode == 0:
            svg = done.stdout.decode()
            return '<div class="figure">' + svg[svg.index("<svg") :] + "</div>"
    note = "Graphviz's <code>dot</code> is not installed here, so the network is shown as DOT text."
    return f'<p class="note">{note}</p><pre class="dot">{html.escape(dot)}</pre>'


def _export(run_dir: Path, run_model) -> str:
    path = run_dir / "model.onnx"
    if not path.exists():
        command = html.escape(f"nnc export {run_dir}")
        return f'<p class="note">Not exported: <code>{command}</code> writes model.onnx.</p>'
    import onnx
    from nnc.runtime.onnx.metadata import read_gate, weights_fingerprint

    model = onnx.load(str(path), load_external_data=False)
    opsets = ", ".join(f"{o.domain or 'ai.onnx'} {o.version}" for o in model.opset_import)
    gate = read_gate({p.key: p.value for p in model.metadata_props})
    if gate is None:
        verified = "not recorded (exported by an older nnc)"
    elif gate["verified"]:
        checks = "checker, shape inference, onnxruntime against the NumPy runtime"
        verified = f"passed on {gate['provider']}: {checks}"
    else:
        verified = "not run (exported with --no-verify)"
    rows = [["file", "model.onnx"], ["size", f"{path.stat().st_size:,} bytes"], ["opsets", opsets]]
    rows.append(["export gate", verified])
    fingerprint = (gate or {}).get("weights")
    if fingerprint is None:
        rows.append(["weights", "not recorded (exported by an older nnc)"])
    elif fingerprint == weights_fingerprint(run_model.plan.params.to_dict()):
        rows.append(["weights", "the run's"])
    else:
        stale = f"NOT the run's: it was trained further after the export; run `nnc export {run_dir}` again"
        warnings.warn(f"{path}: {stale}", stacklevel=2)
        rows.append(["weights", stale])
    return _table(["", ""], rows)


def _spec(text: str) -> str:
    from pygments import highlight
    from pygments.formatters import HtmlFormatter

    return highlight(text, _lexer(), HtmlFormatter(cssclass="spec"))


def _lexer():
    from pygments.lexer import RegexLexer, words
    from pygments.token import Comment, Keyword, Name, Number, Operator, Punctuation, String, Text

    class NnLexer(RegexLexer):
        name = "nn"
        tokens = {
            "root": [
                (r"#[^\n]*", Comment.Single),
                (r'"[^"\\\n]*(?:\\.[^"\\\n]*)*"', String),
                (words(KEYWORDS, suffix=r"\b"), Keyword),
                (words(CONSTANTS, suffix=r"\b"), Keyword.Constant),
                (r"(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?", Number),
                (r"[A-Za-z_][A-Za-z0-9_]*(?=\s*\()", Name.Function),
                (r"[A-Za-z_][A-Za-z0-9_]*", Name),
                (r"->|[=+\-*/]", Operator),
                (r"[()\[\]{},;:.]", Punctuation),
                (r"\s+", Text),
            ]
        }

    return NnLexer()


def _pygments_css() -> str:
    from pygments.formatters import HtmlFormatter

    return HtmlFormatter(cssclass="spec").get_style_defs(".spec")


def _settings(s: dict, model) -> str:
    t = model.program.train
    rows = [
        ["optimizer", str(t.optimizer)],
        ["epochs trained", s.get("epochs_run", "—")],  # across resumes, whatever --epochs said
        ["steps", s.get("steps", "—")],
        ["batch size", t.batch_size],
        ["seed", s.get("seed")],
        ["validation split", t.validation_split if t.validation_split is not None else "—"],
        ["data", t.data.train],
        ["data fingerprint", s.get("data_fingerprint", "")[:16]],
        *[[name, version] for name, version in s.get("versions", {}).items()],
    ]
    return _table(["", ""], rows)
