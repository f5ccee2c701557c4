"""The leaderboard: every trial read back from its run directory (whichever engine ran it, in
however many goes), ranked by the spec's monitored metric: early stopping's monitor and mode,
else val_loss when the spec validates, else loss (lower is better). A trial's value is the best
of its epochs; trials without one (failed, unfinished) come last, failed ones at the very end.

leaderboard.csv holds: rank, trial, status, each swept key, seed, epochs, best_<monitor>,
final_<metric> for each metric of the last epoch, message (why a trial failed), run_dir.
Numbers are written with every digit, so two sweeps agree exactly when their trainings do."""

from __future__ import annotations

import csv
import io
import json
import math

from nnc.runtime.files import write_text
from nnc.sweep.folder import FAILED, FINISHED, STOPPED, UNFINISHED, Sweep, point_best, read_state

FILE = "leaderboard.csv"
_DROPPED = ("epoch", "seconds")  # the epochs column says the one; the other differs every run


def rows(sweep: Sweep) -> list[dict]:
    """One row per trial, best first."""
    table = [_row(sweep, trial) for trial in sweep.trials]
    sign = -1.0 if sweep.mode == "max" else 1.0

    def rank(row: dict) -> tuple:
        value = row[f"best_{sweep.monitor}"]
        missing = value is None or math.isnan(value)
        return (row["status"] == FAILED, missing, 0.0 if missing else sign * value)

    table.sort(key=rank)  # stable: equal values keep trial order
    for i, row in enumerate(table, 1):
        row["rank"] = i
    return table


def _row(sweep: Sweep, trial) -> dict:
    run = sweep.run_dir(trial)
    state = read_state(run)
    done = (run / "weights.npz").exists() and (run / "summary.json").exists()
    if done:
        status = state.get("status", FINISHED)
    else:
        status = FAILED if state.get("status") == FAILED else UNFINISHED
    history = _metrics(run / "metrics.csv")
    series = [r[sweep.monitor] for r in history if r.get(sweep.monitor) is not None]
    best = (max if sweep.mode == "max" else min)(series) if series else None
    final = json.loads((run / "summary.json").read_text(encoding="utf-8"))["final"] if done else {}
    row = {"rank": 0, "trial": trial.name, "status": status}
    row.update(dict(trial.point))
    row.update(seed=trial.seed, epochs=len(history), **{f"best_{sweep.monitor}": best})
    row.update({f"final_{k}": v for k, v in final.items() if k not in _DROPPED})
    row.update(message=state.get("message", ""), run_dir=str(run))
    return row


def _metrics(path) -> list[dict]:
    """metrics.csv's rows as numbers (an empty cell: None); [] before the first epoch."""
    if not path.exists():
        return []
    with open(path, newline="", encoding="utf-8") as f:
        return [{k: float(v) if v else None for k, v in row.items()} for row in csv.DictReader(f)]


def write(sweep: Sweep, table: list[dict]) -> None:
    """leaderboard.csv, and `best` pointing at the best trial that finished or was stopped."""
    columns = list(dict.fromkeys(k for row in table for k in row if k not in ("message", "run_dir")))
    columns += ["message", "run_dir"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in table:
        writer.writerow([_cell(row.get(c)) for c in columns])
    write_text(sweep.folder / FILE, out.getvalue())
    ranked = [
        r for r in table if r["status"] in (FINISHED, STOPPED) and r[f"best_{sweep.monitor}"] is not None
    ]
    point_best(sweep.folder, ranked[0]["trial"] if ranked else None)


def format_table(sweep: Sweep, table: list[dict]) -> str:
    """The leaderboard as a terminal table: rank, trial, status, epochs and the monitored value."""
    value = f"best_{sweep.monitor}"
    lines = [("#", "trial", "status", "epochs", f"{sweep.monitor} ({sweep.mode})")]
    for row in table:
        shown = "" if row[value] is None else f"{row[value]:.4g}"
        status = row["status"] + (f": {row['message']}" if row["message"] else "")
        lines.append((str(row["rank"]), row["trial"], status, str(row["epochs"]), shown))
    widths = [max(len(line[i]) for line in lines) for i in (0, 1, 3, 4)]
    return "".join(
        f"{r:>{widths[0]}}  {t:<{widths[1]}}  {e:>{widths[2]}}  {v:>{widths[3]}}  {s}\n"
        for r, t, s, e, v in lines
    )


def _cell(value) -> str:
    if value is None:
        return ""
    return repr(value) if isinstance(value, float) else str(value)
