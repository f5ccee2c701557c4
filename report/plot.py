"""Training curves: loss and every metric of one or several runs, training solid and validation
dashed, per epoch, from each run directory's metrics.csv and summary.json, drawn with matplotlib
(the `report` extra). The best epoch is marked with a dot on the monitored curve and a dotted
vertical line; where early stopping ended a run, a dashed vertical line says so. Several runs
overlay in one figure, one colour each, for comparison."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, replace
from pathlib import Path

from nnc.runtime.errors import RunError, UsageError

FORMATS = (".png", ".svg", ".pdf")
NOT_CURVES = ("epoch", "lr", "seconds")


@dataclass(frozen=True)
class Curves:
    name: str  # the run directory's name
    epochs: list[int]
    values: dict[str, list[float]]  # metrics.csv's columns: loss, accuracy, val_loss, ...
    best_epoch: int | None  # the monitored metric's best (1-based), marked
    monitor: str | None
    stopped_at: int | None  # the epoch where early stopping ended the run, if it did


def read_curves(run: Path) -> Curves:
    metrics, summary = run / "metrics.csv", run / "summary.json"
    if not metrics.exists():
        raise RunError("E511", f"{run} has no metrics.csv: no epoch has finished there", path=str(run))
    with metrics.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise RunError("E511", f"{metrics} has no rows: no epoch has finished there", path=str(metrics))
    values = {k: [] for k in rows[0] if k not in NOT_CURVES}
    for line, row in enumerate(rows, start=2):  # the header is line 1
        for k, series in values.items():
            try:
                series.append(float(row[k]) if row[k] else float("nan"))
            except (TypeError, ValueError):
                raise RunError(
                    "E421",
                    f"metrics.csv is damaged: `{k}` holds {row[k]!r}, not a number",
                    path=str(metrics),
                    line=line,
                    help="nnc writes every cell as a number; restore the file or retrain",
                ) from None
        if not str(row.get("epoch", "")).isdigit():
            raise RunError(
                "E421", f"metrics.csv is damaged: epoch {row.get('epoch')!r}", path=str(metrics), line=line
            )
    info = json.loads(summary.read_text(encoding="utf-8")) if summary.exists() else {}
    monitor = info.get("monitor") or ("val_loss" if "val_loss" in values else "loss")
    best = info.get("best_epoch")
    if best is None and values.get(monitor):
        series = values[monitor]
        best = 1 + min(range(len(series)), key=lambda i: series[i])
    stopped = info.get("epochs_run") if info.get("stopped_early") else None
    return Curves(run.name, [int(r["epoch"]) for r in rows], values, best, monitor, stopped)


def figure(runs: list[Curves]):
    """A matplotlib Figure: one panel per metric (loss first), a line per run and split."""
    matplotlib = _matplotlib()
    from matplotlib.figure import Figure

    names = list(dict.fromkeys(k.removeprefix("val_") for run in runs for k in run.values))
    fig = Figure(figsize=(5.5 * len(names), 4), layout="constrained")
    axes = fig.subplots(1, len(names), squeeze=False)[0]
    colours = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, name in zip(axes, names, strict=True):
        for k, run in enumerate(runs):
            colour = colours[k % len(colours)]
            prefix = f"{run.name}: " if len(runs) > 1 else ""
            for split, key, style in (("training", name, "-"), ("validation", f"val_{name}", "--")):
                if key in run.values:
                    ax.plot(run.epochs, run.values[key], style, color=colour, label=f"{prefix}{split}")
            monitored = run.monitor in (name, f"val_{name}")  # markers named in this panel's legend
            if monitored and run.best_epoch in run.epochs:
                value = run.values[run.monitor][run.epochs.index(run.best_epoch)]
                ax.plot(
                    [run.best_epoch], [value], "o", color=colour, label=f"{prefix}best epoch {run.best_epoch}"
                )
                ax.axvline(run.best_epoch, color=colour, linestyle=":", label="_best")
            if run.stopped_at is not None:
                label = f"{prefix}stopped early" if monitored else "_stopped early"
                ax.axvline(run.stopped_at, color=colour, linestyle="-.", alpha=0.6, label=label)
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.legend(fontsize=8)
    return fig


def plot(run_dirs: list[Path], path: Path) -> None:
    from nnc.runtime.files import write_atomic

    if path.suffix.lower() not in FORMATS:
        raise UsageError(
            "E550",
            f"nnc plot writes .png, .svg or .pdf files. Received: {path.name}",
            help="name the output curves.png or curves.svg",
        )
    curves = [
        replace(read_curves(run), name=name) for run, name in zip(run_dirs, names(run_dirs), strict=True)
    ]
    fig = figure(curves)
    write_atomic(path, lambda f: fig.savefig(f, format=path.suffix[1:].lower(), dpi=110))


def names(run_dirs: list[Path]) -> list[str]:
    """Each run's legend name: its folder's name, with as many parent folders as it takes to
    tell it from the others (x1/run and x2/run, not run twice)."""
    parts = [Path(p).resolve().parts for p in run_dirs]
    for depth in range(1, max(len(p) for p in parts) + 1):
        tails = ["/".join(p[-depth:]) for p in parts]
        if len(set(tails)) == len(tails):
            return tails
    return [str(p) for p in run_dirs]  # the same folder twice


def _matplotlib():
    try:
        import matplotlib
    except ImportError:
        raise UsageError(
            "E550",
            "plots are drawn with matplotlib, which is not installed",
            help="pip install 'nnc[report]'",
        ) from None
    return matplotlib
