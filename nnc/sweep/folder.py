"""The sweep folder (runs/<spec>-sweep by default), every file written atomically:

sweep.json        the sweep's definition: a rerun continues it, another sweep is refused
<trial>/          each trial's run directory, as `nnc train --out` writes it, plus
<trial>/trial.json  how the trial ended: finished, stopped early (ASHA), failed (why)
leaderboard.csv   the trials, best first (nnc/sweep/leaderboard.py)
best              a relative symbolic link to the best trial's run directory
.asha/<trial>     the scheduler's note that it stopped this trial (the Ray engine)
.tune/            Ray Tune's own records (the Ray engine)"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from nnc.runtime.errors import RunError
from nnc.runtime.files import write_json, write_text
from nnc.sweep.points import Trial

DEFINITION = "sweep.json"
STATE = "trial.json"
BEST = "best"
NOTES = ".asha"

FINISHED = "finished"
STOPPED = "stopped early (ASHA)"
FAILED = "failed"
UNFINISHED = "unfinished"


@dataclass(frozen=True)
class Sweep:
    spec: Path  # absolute: a Ray worker runs in a folder of its own
    folder: Path  # as given (the leaderboard names run directories by it)
    fixed: tuple[str, ...]  # --set overrides every trial shares
    axes: tuple[str, ...]  # the swept keys, in the order given
    trials: tuple[Trial, ...]
    monitor: str  # the metric trials are ranked by, and its mode (min or max)
    mode: str
    epochs: int  # the most any trial trains: the ASHA scheduler's max_t
    definition: dict  # what sweep.json holds

    def run_dir(self, trial: Trial) -> Path:
        return self.folder / trial.name


def definition(spec: Path, text: str, fixed, grids, n_random, seed, trials) -> dict:
    """What makes a sweep the same sweep: the spec's text, its overrides, axes and trials."""
    return {
        "spec": spec.name,
        "spec_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
        "set": list(fixed),
        "grid": list(grids),
        "random": n_random,
        "seed": seed,
        "trials": [{"name": t.name, "set": [f"{k}={v}" for k, v in t.point], "seed": t.seed} for t in trials],
    }


def claim(sweep: Sweep, *, overwrite: bool) -> None:
    """Takes the folder for this sweep: a new one, or the same sweep to continue. Another
    sweep's folder is refused (E560), or with `overwrite` its trials are removed first."""
    path = sweep.folder / DEFINITION
    if path.exists():
        try:
            before = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise RunError("E424", f"cannot read {DEFINITION}: {e}", path=str(path)) from None
        if overwrite:
            _remove(sweep.folder, before)
        elif before != sweep.definition:
            changed = [k for k in sweep.definition if before.get(k) != sweep.definition[k]]
            raise RunError(
                "E560",
                f"{sweep.folder} holds another sweep (it differs in: {', '.join(changed)})",
                path=str(path),
                help="run the sweep it holds to continue it, choose another --out, or replace "
                "it with --overwrite",
            )
    write_json(path, sweep.definition)


def _remove(folder: Path, before: dict) -> None:
    """The files of the sweep `before` describes, and nothing else in its folder."""
    for trial in before.get("trials", []) if isinstance(before, dict) else []:
        name = trial.get("name") if isinstance(trial, dict) else None
        if isinstance(name, str) and name and "/" not in name and name not in (".", ".."):
            shutil.rmtree(folder / name, ignore_errors=True)
    shutil.rmtree(folder / NOTES, ignore_errors=True)
    for name in ("leaderboard.csv", BEST):
        (folder / name).unlink(missing_ok=True)


# ---- a trial's state ----------------------------------------------------------------
def write_state(run_dir: Path, status: str, message: str = "") -> None:
    write_json(run_dir / STATE, {"status": status, "message": message})


def read_state(run_dir: Path) -> dict:
    """trial.json, or {} where there is none (the trial never ended, or was killed)."""
    try:
        state = json.loads((run_dir / STATE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def clear_state(sweep: Sweep, trial: Trial) -> None:
    """Before a trial trains again: what an earlier attempt said of it no longer holds."""
    (sweep.run_dir(trial) / STATE).unlink(missing_ok=True)
    (sweep.folder / NOTES / trial.name).unlink(missing_ok=True)


# ---- the scheduler's notes ----------------------------------------------------------
def note_stopped(folder: Path, name: str, epoch: int) -> None:
    write_text(folder / NOTES / name, f"stopped by ASHA after epoch {epoch}\n")


def was_stopped(folder: Path, name: str) -> bool:
    return (folder / NOTES / name).exists()


# ---- the best trial -----------------------------------------------------------------
def point_best(folder: Path, name: str | None) -> None:
    """`best` -> the best trial's run directory (relative, so the folder may move), replaced
    atomically; removed when no trial finished."""
    link = folder / BEST
    if name is None:
        link.unlink(missing_ok=True)
        return
    tmp = folder / f".{BEST}.tmp"
    tmp.unlink(missing_ok=True)
    os.symlink(name, tmp, target_is_directory=True)
    os.replace(tmp, link)
