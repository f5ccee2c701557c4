"""A training run in its directory, from its start (or its resumption) to the final weights and
summary: the one entry point the command line, the Python API and sweeps train through. It
owns the run directory (runtime/train/run_dir.py), the checks that make resuming exact (the
same program, the same data), the order in which the one random generator is used, and the
listeners every run has; the caller brings the compiled program and a way to read its data."""

from __future__ import annotations

import difflib
import hashlib
import platform
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from nnc.runtime.data import Dataset
from nnc.runtime.errors import RunError
from nnc.runtime.executor import Plan
from nnc.runtime.train.callbacks import Callback, Checkpoints, EarlyStopping, LearningRateSchedule, MetricsLog
from nnc.runtime.train.loop import Interrupted, Trainer, interrupts_held
from nnc.runtime.train.progress import Progress
from nnc.runtime.train.run_dir import RunDir, read_weights
from nnc.runtime.train.tensorboard import TensorBoard, writer_class
from nnc.runtime.version import nnc_version


@dataclass(frozen=True)
class TrainJob:
    """What a run trains, besides its data."""

    plan: Plan
    config: Any  # the IR's TrainConfig, with any overrides applied
    name: str  # the run directory is runs/<name> unless one is given
    spec_path: str
    spec_text: str  # saved as spec.nn
    imports: dict[str, str]  # the text of each file the spec imports, by absolute path
    overrides: tuple[str, ...]  # the --set overrides the program was compiled with
    program_text: str  # the resolved program, saved as program.ir: resuming refuses another
    model_info: dict  # saved in model.json, with the labels and columns the training data give


@dataclass(frozen=True)
class RunResult:
    summary: dict
    history: list[dict]
    labels: dict[str, list[str]]  # class names by target
    columns: dict[str, list[str]]  # CSV columns by input, where not the input's own name
    optimizer: dict | None = None  # the optimizer's state at the end, for a fit that continues
    run_dir: Path | None = None


@dataclass(frozen=True)
class Start:
    """Where a fit that continues starts (Keras's second `fit`): these weights, the fitted
    preprocessing among them, and the optimizer's state (None: a fresh optimizer)."""

    weights: dict
    optimizer: dict | None = None


# (rng) -> (training data, validation data or None); the split draws from the generator first
ReadData = Callable[[np.random.Generator], tuple[Dataset, Dataset | None]]


def train_run(
    job: TrainJob,
    read_data: ReadData,
    *,
    out: str | Path | None = None,
    overwrite: bool = False,
    resume: str | Path | None = None,
    init_weights: str | Path | None = None,
    start: Start | None = None,
    progress: Progress | None = None,
    callbacks: Sequence[Callback] = (),
    tensorboard: bool = False,
) -> RunResult:
    """Trains a new run in `out` (runs/<name> by default; `overwrite` replaces a run there once
    the new one has written its first checkpoint), or continues the run in `resume` exactly
    where it stopped, or completes one interrupted while writing its final files. A new run
    starts from fresh weights, from `init_weights` (a file), or from `start` (a model's current
    weights and optimizer: its preprocessing is not fitted again). The directory is locked for
    the run's life: one run per directory. `callbacks` listen after the schedule and early
    stopping, before the checkpoint of each epoch. `tensorboard` also writes the metrics as
    TensorBoard event files, in RUN/tensorboard."""
    progress = progress or Progress(None, verbosity=0)
    if tensorboard:
        writer_class()  # a missing extra is said before a run directory is made
    run = RunDir(resume) if resume is not None else RunDir.fresh(out, job.name, overwrite=overwrite)
    with run.locked():
        resumed = None
        if resume is not None:
            resumed = run.load_checkpoint()
            _check_resumable(run, job.program_text, job.config.epochs, job.config.max_steps, resumed[2])
            if resumed[2]["finished"] and run.complete():
                meta = resumed[2]
                more = (
                    "it stopped early; a new run (--out) trains afresh"
                    if meta.get("stopped_early")
                    else f"to train on, ask for more than its {meta['epoch']} epochs (--epochs) "
                    f"and {meta['step']} steps (--steps)"
                )
                progress.info(f"{run.path}: {meta['finished']}; nothing to resume: {more}")
                info = run.read_json("model.json")
                summary = run.read_json("summary.json")
                return RunResult(
                    summary,
                    resumed[2]["history"],
                    info.get("labels", {}),
                    info.get("columns", {}),
                    None,
                    run.path,
                )
        if tensorboard:
            callbacks = (*callbacks, TensorBoard(run.path))
        return _train(job, run, read_data, resumed, overwrite, init_weights, start, progress, callbacks)


def _train(job, run, read_data, resumed, overwrite, init_weights, start, progress, callbacks) -> RunResult:
    config = job.config
    rng = np.random.default_rng(config.seed)
    train, validation = read_data(rng)
    fingerprint = train.fingerprint()
    if resumed is not None and resumed[2]["data"] != fingerprint:
        raise RunError(
            "E513",
            "the training data differ from the data the run started with",
            path=str(run.path),
            help="resume with the same data, or start a new run",
        )
    params = job.plan.params
    params.initialize(rng)  # drawn even when replaced: the generator's stream stays the same
    if start is not None:
        params.load(start.weights, path="the model's weights")
    else:
        if init_weights is not None:
            params.load(read_weights(init_weights), path=str(init_weights))
        job.plan.fit(train.arrays)  # a new run fits the preprocessing on its own data
    job.plan.name_classes(train.labels, job.spec_path)
    schedule = LearningRateSchedule(config.optimizer.params.get("schedule"), config.optimizer.params["lr"])
    early = EarlyStopping(config.early_stopping) if config.early_stopping else None
    listeners = [
        schedule,
        *([early] if early else []),
        *callbacks,
        Checkpoints(run, program_hash(job.program_text), fingerprint, config.checkpoint_every),
        MetricsLog(run),
        progress,
    ]
    trainer = Trainer(job.plan, config, train.arrays, validation and validation.arrays, rng, listeners)
    if start is not None and start.optimizer is not None:
        trainer.optimizer.load_state(start.optimizer)
    if overwrite:
        run.set_aside()  # the data are read and fit: the old run waits until the first checkpoint
    try:
        if resumed is not None:
            weights, arrays, meta = resumed
            trainer.restore_state(weights, meta, arrays)
            progress.info(f"resuming {run.path} in epoch {meta['epoch'] + 1} after {meta['step']} steps")
        else:
            info = {**job.model_info, "overrides": list(job.overrides), "labels": train.labels}
            info["columns"] = train.columns
            run.write_model(
                spec=Path(job.spec_path),
                text=job.spec_text,
                imports=job.imports,
                program=job.program_text,
                info=info,
            )
        n_val = validation.n if validation is not None else 0
        sizes = f"{params.count} parameters; {train.n} training samples, {n_val} validation"
        progress.detail(f"{sizes}; run directory {run.path}")
        state = trainer.fit()
    except Interrupted:
        run.restore_aside()
        raise Interrupted(
            f"training interrupted; its checkpoint is in {run.path}: continue with "
            f"fit(resume='{run.path}') or nnc train SPEC --resume {run.path}"
        ) from None
    except BaseException:
        run.restore_aside()  # no checkpoint of the new run yet: the old one comes back whole
        raise
    # The run is finished once weights.npz and summary.json, written last, are on disk; a Ctrl-C
    # meanwhile waits, and a kill leaves a run that --resume completes.
    with interrupts_held():
        reason = trainer.end_reason()
        if early is not None and early.restore_best(params):
            reason += f"; restored the weights of epoch {early.best_epoch}"
        run.write_weights(
            params.to_dict(), program=job.program_text, labels=train.labels, columns=train.columns
        )
        summary = _summary(job, trainer, early, fingerprint, trainer.seconds(), run)
        run.write_json("summary.json", summary)
    progress.info(f"{reason}; weights in {run.file('weights.npz')}")
    optimizer = trainer.optimizer.state()
    return RunResult(summary, state.history, dict(train.labels), dict(train.columns), optimizer, run.path)


def program_hash(program_text: str) -> str:
    """The 16-hex-digit sha256 of a resolved program: a checkpoint's and an export's spec hash."""
    return hashlib.sha256(program_text.encode("utf-8")).hexdigest()[:16]


def _check_resumable(run: RunDir, now: str, epochs: int, max_steps: int | None, meta: dict) -> None:
    before = run.file("program.ir").read_text(encoding="utf-8") if run.file("program.ir").exists() else ""
    if _without_epochs(before) != _without_epochs(now):
        changed = [
            line
            for line in difflib.unified_diff(before.splitlines(), now.splitlines(), lineterm="", n=0)
            if line[:1] in "+-" and line[:3] not in ("+++", "---")
        ]
        raise RunError(
            "E514",
            f"the spec changed since {run.path} started; changed lines of the program:\n  "
            + "\n  ".join(changed[:12]),
            path=str(run.path),
            help="resume with the spec the run started with, or start a new run with --out",
        )
    if meta.get("finished") and meta.get("stopped_early") is False:
        more_steps = max_steps is None or max_steps > meta["step"]
        if epochs > meta["epoch"] and more_steps:
            meta["finished"] = None  # more epochs or steps were asked for: train on, finish again


def _without_epochs(ir_text: str) -> str:
    """The program, less how long it trains: a run resumed for more epochs or steps is the same run."""
    return re.sub(r" max_steps=\d+", "", re.sub(r"epochs=\d+ ", "", ir_text))


def _summary(job: TrainJob, trainer: Trainer, early, fingerprint: str, seconds: float, run: RunDir) -> dict:
    state, config = trainer.state, job.config
    return {
        "spec": Path(job.spec_path).name,
        "run_dir": str(run.path),
        "epochs_run": state.epoch,
        "stopped_early": trainer.stop_reason is not None,
        "best_epoch": early.best_epoch if early else None,
        "best": early.best if early else None,
        "monitor": config.early_stopping.monitor if early else None,
        "final": state.history[-1] if state.history else {},
        "seed": config.seed,
        "steps": state.step,
        "seconds": round(seconds, 3),  # training, over every part of a resumed run
        "parameters": job.plan.params.count,
        "data_fingerprint": fingerprint,
        "versions": {"nnc": nnc_version(), "numpy": np.__version__, "python": platform.python_version()},
    }
