"""The Python API, which the CLI shares: a compiled spec with its weights.

    model = nnc.load("specs/mlp_digits.nn")        # or nnc.load(source_text)
    model.fit(epochs=5)                            # data from the spec, or fit("other.csv")
    model.evaluate("specs/data/digits_test.csv")   # {"loss": ..., "accuracy": ...}
    model.predict(x)                               # raw features in, outputs out
    model.save("digits_model")                     # weights.npz + model.json + the spec
    nnc.load("specs/mlp_digits.nn").load("digits_model")

A model keeps what inference needs besides its weights (which include the preprocessing's
fitted statistics): the class labels read from string-labelled data."""

from __future__ import annotations

import functools
import hashlib
import platform
import time
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np

from nnc.runtime import data as datasets
from nnc.runtime.errors import RunError
from nnc.runtime.executor import Plan
from nnc.runtime.metrics import confusion_matrix
from nnc.runtime.train import CLASSIFICATION_LOSSES, EVAL_BATCH, MetricSet, Trainer, batch_slices, evaluate
from nnc.runtime.train.progress import Progress
from nnc.runtime.train.run_dir import RunDir, read_checked


def load(spec: str | Path, overrides: tuple[str, ...] = ()) -> Model:
    """Compile a spec from a file path or from source text (anything containing a newline or
    a `model` block and not naming an existing file). Raises CompileError on a bad spec."""
    from nnc.compiler.pipeline import compile_file, compile_source
    from nnc.compiler.source import Source

    text = str(spec)
    if isinstance(spec, Path) or ("\n" not in text and Path(text).exists()) or text.endswith(".nn"):
        compiled = compile_file(text, overrides)
        source = Path(text).read_text(encoding="utf-8")
    else:
        compiled = compile_source(Source("<string>", text), overrides)
        source = text
    return Model(compiled.program, source)


class Model:
    def __init__(self, program, source: str):
        self.program = program
        self.source = source
        self.plan = Plan(program.graph, program.train.losses)
        self.labels: dict[str, list[str]] = {}
        self.history: list[dict] = []
        self.columns: dict[str, str] = {}  # loss target -> data column or array, when they differ
        self.summary: dict = {}  # the training summary, exported with the model

    # ---- facts about the spec ---------------------------------------------------------
    @property
    def root(self) -> Path:
        return Path(self.program.train.data.root)

    def fields(self) -> list:
        """The arrays a data set must provide: every input, and each loss target that is not
        an input (an autoencoder's target is its input)."""
        return datasets.fields_of(self.program.graph, self.program.train.losses)

    def ir_text(self, program=None) -> str:
        from nnc.compiler.ir import format_program

        return format_program(program or self.program)

    # ---- data ---------------------------------------------------------------------------
    def dataset(self, data, *, what: str = "data", labels=None):
        """A Dataset from a path (relative to the working directory), a mapping of arrays, or
        None for the spec's own `data.train` (relative to the spec)."""
        if data is None:
            source = self.program.train.data.train
            if source is None:
                raise RunError(
                    "E430",
                    f"no {what}: the spec has no `data {{ train = ... }}`",
                    path=self.program.path,
                    help="add a data section to the spec, or pass --data FILE",
                )
            return self.read(source, self.root, labels)
        return self.read(data, Path.cwd(), labels)

    def read(self, source, root: Path, labels=None):
        """Reads the spec's fields from a file, an .npy mapping or a dict of arrays. Targets
        are looked up under `self.columns` (spec target -> the file's column or array name,
        `--target`) and come back under the spec's names."""
        return datasets.read(source, root, self.fields(), labels=labels, columns=self.columns)

    def _stratify(self) -> str | None:
        targets = [t.target for t in self.program.train.losses if t.op == "cross_entropy"]
        return targets[0] if len(targets) == 1 else None

    # ---- training -----------------------------------------------------------------------
    def configured(self, *, epochs=None, batch_size=None, lr=None, seed=None):
        """The program with command-line settings applied (they win over the spec's)."""
        t = self.program.train
        changes = {}
        if epochs is not None:
            changes["epochs"] = epochs
        if batch_size is not None:
            changes["batch_size"] = batch_size
        if seed is not None:
            changes["seed"] = seed
        if lr is not None:
            changes["optimizer"] = replace(t.optimizer, params={**t.optimizer.params, "lr": lr})
        return replace(self.program, train=replace(t, **changes)) if changes else self.program

    def fit(
        self,
        data=None,
        *,
        validation=None,
        epochs: int | None = None,
        batch_size: int | None = None,
        lr: float | None = None,
        seed: int | None = None,
        out: str | Path | None = None,
        overwrite: bool = False,
        resume: str | Path | None = None,
        init_weights: str | Path | None = None,
        progress: Progress | None = None,
    ) -> dict:
        """Train, writing a run directory (`out`, or runs/<spec name>), and return its summary.
        `overwrite` replaces a run already in `out`. With `resume`, continue the run in that
        directory exactly where it stopped."""
        program = self.configured(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed)
        config = program.train
        ir = self.ir_text(program)
        progress = progress or Progress(_null_stream(), verbosity=0)
        run = (
            RunDir(resume)
            if resume is not None
            else RunDir.fresh(out, Path(program.path).stem, overwrite=overwrite)
        )
        meta = None
        if resume is not None:
            weights, extra, meta = run.load_checkpoint()
            self._check_resumable(run, ir, program.train.epochs, meta)
            if meta.get("finished"):
                progress.info(f"{run.path}: {meta['finished']}; nothing to resume")
                return run.read_json("summary.json")
        rng = np.random.default_rng(config.seed)
        train, validation_set = self._training_data(program, data, validation, rng)
        fingerprint = train.fingerprint()
        if meta is not None and meta["data"] != fingerprint:
            raise RunError(
                "E513",
                "the training data differ from the data the run started with",
                path=str(run.path),
                help="resume with the same data, or start a new run",
            )
        self.plan.params.initialize(rng)
        if init_weights is not None:
            self.plan.params.load(_weights_from(init_weights), path=str(init_weights))
        # The preprocessing's statistics always come from this run's training split.
        self.plan.fit(train.arrays)
        trainer = Trainer(self.plan, config, train.arrays, validation_set and validation_set.arrays, rng)
        if meta is not None:
            _restore(trainer, weights, extra, meta)
            progress.info(f"resuming {run.path} in epoch {meta['epoch'] + 1} after {meta['step']} steps")
        else:
            run.write_text("spec.nn", self.source)
            run.write_text("program.ir", ir)
            run.write_json("model.json", self._model_info())
        n_val = validation_set.n if validation_set is not None else 0
        progress.detail(
            f"{self.plan.params.count} parameters; {train.n} training samples, {n_val} validation; "
            f"run directory {run.path}"
        )
        spec_hash = _hash(ir)
        started = time.perf_counter()

        def save(state, finished: str | None = None) -> None:
            _save_checkpoint(run, trainer, spec_hash, fingerprint, finished)

        def on_step(state, batch, batches, loss):
            progress.step(state.epoch + 1, config.epochs, batch, batches, loss)

        def on_epoch(state, logs, seconds):
            logs["seconds"] = round(seconds, 3)
            save(state)
            run.write_metrics(state.history)
            progress.epoch_end(state.epoch, config.epochs, logs, seconds)
            progress.epoch_start()

        progress.epoch_start()
        state = trainer.fit(on_step=on_step, on_epoch=on_epoch, on_interrupt=save)
        self.history = state.history
        reason = (
            f"stopped early at epoch {state.epoch} (best epoch {state.best_epoch})"
            if state.stopped_early
            else f"finished {state.epoch} of {config.epochs} epochs"
        )
        save(state, finished=reason)
        if trainer.restore_best():
            reason += f"; restored the weights of epoch {state.best_epoch}"
        run.write_weights(self.plan.params.to_dict())
        summary = self._summary(program, state, fingerprint, time.perf_counter() - started, run)
        self.summary = summary
        run.write_json("summary.json", summary)
        progress.info(f"{reason}; weights in {run.file('weights.npz')}")
        return summary

    def _training_data(self, program, data, validation, rng):
        t = program.train
        train = self.dataset(data, what="training data")
        self.labels = dict(train.labels)
        if validation is None and t.data.validation is not None and data is None:
            validation = self.read(t.data.validation, self.root, self.labels)
        elif validation is not None:
            validation = self.dataset(validation, labels=self.labels)
        elif t.validation_split:
            train, validation = datasets.split(train, t.validation_split, rng, stratify=self._stratify())
        return train, validation

    def _check_resumable(self, run: RunDir, now: str, epochs: int, meta: dict) -> None:
        before = run.file("program.ir").read_text(encoding="utf-8") if run.file("program.ir").exists() else ""
        if _without_epochs(before) != _without_epochs(now):
            import difflib

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
        if meta.get("finished") and meta.get("stopped_early") is False and epochs > meta["epoch"]:
            meta["finished"] = None  # more epochs were asked for: train on

    def _model_info(self) -> dict:
        g = self.program.graph
        info = {
            "spec": str(Path(self.program.path).resolve()),
            "inputs": {i.name: str(i.type) for i in g.inputs},
            "outputs": {name: str(g.type_of(name)) for name in g.outputs},
            "labels": self.labels,
        }
        return info

    def _summary(self, program, state, fingerprint: str, seconds: float, run: RunDir) -> dict:
        from nnc.runtime.version import nnc_version

        t = program.train
        return {
            "spec": program.path,
            "run_dir": str(run.path),
            "epochs_run": state.epoch,
            "stopped_early": state.stopped_early,
            "best_epoch": state.best_epoch,
            "best": state.best,
            "monitor": t.early_stopping.monitor if t.early_stopping else None,
            "final": state.history[-1] if state.history else {},
            "seed": t.seed,
            "steps": state.step,
            "seconds": round(seconds, 3),
            "parameters": self.plan.params.count,
            "data_fingerprint": fingerprint,
            "versions": {"nnc": nnc_version(), "numpy": np.__version__, "python": platform.python_version()},
        }

    # ---- using a trained model ----------------------------------------------------------
    def load(self, path: str | Path) -> Model:
        """Weights from a run directory, a folder written by `save`, or a bare .npz file."""
        path = Path(path)
        folder = path if path.is_dir() else None
        info = RunDir(folder).read_json("model.json") if folder and (folder / "model.json").exists() else {}
        weights = _with_legacy_statistics(_weights_from(path), info, self.plan.params.values)
        self.plan.params.load(weights, path=str(path))
        if folder is not None and (folder / "summary.json").exists():
            self.summary = RunDir(folder).read_json("summary.json")
        self.labels = info.get("labels", self.labels)
        return self

    def save(self, path: str | Path) -> Path:
        """A folder `nnc eval --weights` and `load` read: weights.npz, model.json, spec.nn."""
        run = RunDir(path)
        run.path.mkdir(parents=True, exist_ok=True)
        run.write_weights(self.plan.params.to_dict())
        run.write_json("model.json", self._model_info())
        run.write_text("spec.nn", self.source)
        run.write_text("program.ir", self.ir_text())
        return run.path

    def export(
        self,
        path: str | Path,
        *,
        opset: int | None = None,
        outputs: tuple[str, ...] = (),
        include_preprocessing: bool | None = None,
        verify: bool = True,
    ) -> Path:
        """Writes the model as ONNX (inference mode, trained weights, preprocessing included:
        raw features go in), after the export gate (see runtime/onnx/gate.py) unless `verify`
        is False. `outputs` exports a sub-graph. `include_preprocessing` is accepted for older
        callers: the preprocessing is always part of the graph."""
        from nnc.runtime.onnx.export import export_file
        from nnc.runtime.onnx.metadata import Metadata, OutputKind

        if include_preprocessing is not None:
            warnings.warn(
                "export(include_preprocessing=...) is no longer needed: the preprocessing is "
                "always part of the exported graph",
                DeprecationWarning,
                stacklevel=2,
            )
        inputs = {i.name for i in self.program.graph.inputs}
        meta = Metadata(
            spec_hash=_hash(self.ir_text()),
            labels=self.labels,
            outputs={
                term.prediction: OutputKind(
                    CLASSIFICATION_LOSSES.get(term.op.name, "regression"), term.target, term.logits
                )
                for term in self.plan.losses
            },
            targets={
                f.name: {"dtype": f.dtype, "shape": list(f.shape), "classes": f.classes}
                for f in self.fields()
                if f.name not in inputs
            },
            summary=self.summary,
        )
        return export_file(
            path,
            self.program,
            self.plan,
            meta,
            opset=opset,
            outputs=outputs,
            verify=verify,
        )

    def evaluate(self, data=None) -> dict:
        """Loss and metrics on a data set (the spec's test file by default), plus a confusion
        matrix (rows: true class, columns: predicted) for each classification output."""
        if data is None and self.program.train.data.test is not None:
            dataset = self.read(self.program.train.data.test, self.root, self.labels)
        else:
            dataset = self.dataset(data, labels=self.labels)
        metrics = MetricSet(self.program.train.metrics, self.plan.losses)
        classifiers = [t for t in self.plan.losses if t.op.name in CLASSIFICATION_LOSSES]
        logs, predictions = evaluate(
            self.plan, dataset.arrays, metrics, keep=[t.prediction for t in classifiers]
        )
        logs["samples"] = dataset.n
        for term in classifiers:
            prediction = predictions[term.prediction]
            target = dataset.arrays[term.target]
            if CLASSIFICATION_LOSSES[term.op.name] == "multiclass":
                predicted, n_classes = prediction.argmax(-1), prediction.shape[-1]
            else:
                predicted, n_classes = (prediction > (0.0 if term.logits else 0.5)).astype(np.int64), 2
                target = target.astype(np.int64)
            matrix = confusion_matrix(predicted.reshape(-1), target.reshape(-1), n_classes)
            logs.setdefault("confusion", {})[term.prediction] = matrix.tolist()
        return logs

    def predict(self, x, outputs: list[str] | None = None):
        """Outputs for raw inputs: an array for a one-input model, else a mapping of arrays.
        Returns one array for a single output, else a mapping by output name."""
        inputs = self.program.graph.inputs
        if not isinstance(x, dict):
            if len(inputs) != 1:
                raise ValueError(f"this model has inputs {', '.join(i.name for i in inputs)}: pass a dict")
            x = {inputs[0].name: x}
        arrays = {}
        for field in self._predict_fields:
            value = np.asarray(x[field.name], dtype=field.dtype)
            if value.ndim == 0 or not field.fits(value.shape[1:]):
                raise ValueError(
                    f"input {field.name} expects {field.type}. Received: shape {list(value.shape)}"
                )
            arrays[field.name] = value
        result = self._run(arrays, outputs)
        return next(iter(result.values())) if len(result) == 1 else result

    @functools.cached_property
    def _predict_fields(self) -> list:
        """The inputs predict takes: a sequence model's at any length, as its export does."""
        from nnc.runtime.onnx.any_length import symbolic_shapes
        from nnc.runtime.ops.base import Length

        shapes = symbolic_shapes(self.program)
        return [
            datasets.Field(
                i.name, i.type.dtype, tuple(None if isinstance(d, Length) else d for d in shapes[i.name][1:])
            )
            for i in self.program.graph.inputs
        ]

    def _run(self, arrays: dict, outputs=None) -> dict:
        n = len(next(iter(arrays.values())))
        parts = [
            self.plan.run({k: v[s] for k, v in arrays.items()}, outputs) for s in batch_slices(n, EVAL_BATCH)
        ]
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


# ---- checkpoints ----------------------------------------------------------------------
def _save_checkpoint(run: RunDir, trainer: Trainer, spec_hash: str, fingerprint: str, finished) -> None:
    state = trainer.state
    extra = {f"optimizer:{k}": v for k, v in trainer.optimizer.state().items()}
    if state.order is not None:
        extra["state:order"] = state.order
    for key, value in (state.best_weights or {}).items():
        extra[f"best:{key}"] = value
    meta = {
        "spec_hash": spec_hash,
        "data": fingerprint,
        "epoch": state.epoch,
        "step": state.step,
        "batch": state.batch,
        "sums": state.sums,
        "history": state.history,
        "best": state.best,
        "best_epoch": state.best_epoch,
        "wait": state.wait,
        "stopped_early": state.stopped_early,
        "finished": finished,
        "rng": trainer.rng.bit_generator.state,
        "schedule": trainer.schedule.state(),
        "metrics": trainer.metrics.state(),
    }
    run.save_checkpoint(trainer.plan.params.to_dict(), extra, meta)


def _restore(trainer: Trainer, weights: dict, extra: dict, meta: dict) -> None:
    trainer.plan.params.load(weights, path="checkpoint.npz")
    trainer.optimizer.load_state(
        {k.removeprefix("optimizer:"): v for k, v in extra.items() if k.startswith("optimizer:")}
    )
    best = {k.removeprefix("best:"): v for k, v in extra.items() if k.startswith("best:")}
    state = trainer.state
    state.epoch, state.step, state.batch = meta["epoch"], meta["step"], meta["batch"]
    state.order = extra.get("state:order")
    state.sums, state.history = meta["sums"], meta["history"]
    state.best, state.best_epoch, state.wait = meta["best"], meta["best_epoch"], meta["wait"]
    state.best_weights = best or None
    state.stopped_early = meta["stopped_early"]
    trainer.rng.bit_generator.state = meta["rng"]
    trainer.schedule.load_state(meta["schedule"])
    trainer.metrics.load_state(meta["metrics"])


def _weights_from(path) -> dict:
    path = Path(path)
    if path.is_dir():
        path = path / "weights.npz"
    return read_checked(path)


def _with_legacy_statistics(weights: dict, info: dict, wanted) -> dict:
    """Weights of a run trained before standardization became an op: its statistics were kept
    in model.json (`standardize.<input>.mean`/`.std`), not in the weights. They are the
    standardize parameters `<input>.standardize.mean`/`.std` of today's program."""
    out = dict(weights)
    for key, value in (info.get("standardize") or {}).items():
        _, _, rest = key.partition(".")
        name, _, stat = rest.rpartition(".")
        key = f"{name}.standardize.{stat}"
        if key in wanted and key not in out:
            out[key] = np.asarray(value, np.float32)
    return out


def _without_epochs(ir_text: str) -> str:
    import re

    return re.sub(r"epochs=\d+ ", "", ir_text)


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _null_stream():
    import io

    return io.StringIO()
