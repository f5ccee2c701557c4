"""The Python API, which the CLI shares: a compiled spec with its weights.

    model = nnc.load("specs/mlp_digits.nn")        # or nnc.load(source_text)
    history = model.fit(epochs=5)                  # data from the spec, or fit("other.csv")
    model.fit(epochs=5)                            # five more, from where the first stopped
    model.evaluate("specs/data/digits_test.csv")   # {"loss": ..., "accuracy": ...}
    model.predict(x)                               # raw features in, outputs out
    model.save("digits_model")                     # weights.npz + model.json + the spec
    nnc.load("specs/mlp_digits.nn").load("digits_model")

A model keeps what inference needs besides its weights (which include the preprocessing's
fitted statistics): the class labels read from string-labelled data."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from nnc.runtime import data as datasets
from nnc.runtime.dtypes import DTYPES
from nnc.runtime.errors import RunError
from nnc.runtime.executor import Plan
from nnc.runtime.train import Callback, History, TrainJob, train_run
from nnc.runtime.train.evaluate import EVAL_BATCH, batch_slices, measure
from nnc.runtime.train.progress import Progress
from nnc.runtime.train.run import program_hash
from nnc.runtime.train.run_dir import RunDir, check_same_network, read_saved_model


def load(spec: str | Path, overrides: tuple[str, ...] = ()) -> Model:
    """Compile a spec from a file path or from source text (anything containing a newline or
    a `model` block and not naming an existing file). Raises CompileError on a bad spec."""
    from nnc.compiler.parse import read_source
    from nnc.compiler.source import Source

    text = str(spec)
    if isinstance(spec, Path) or ("\n" not in text and Path(text).exists()) or text.endswith(".nn"):
        return _compiled(read_source(text), tuple(overrides))
    return _compiled(Source("<string>", text), tuple(overrides))


def load_run(run_dir: str | Path, overrides: tuple[str, ...] = ()) -> Model:
    """The model a run directory holds, as it was trained: the run's own copy of its spec (and
    of the files that imports), compiled with the overrides it was trained with, as if it lay
    where the spec did (data paths keep their meaning), with the run's weights. An edited spec
    file changes nothing; a run whose copy no longer compiles to its program.ir (another nnc)
    is refused with the changed lines (E422)."""
    from nnc.compiler.source import Source

    run = RunDir(run_dir)
    location, text, imports = run.spec_location()
    trained = run.read_json("model.json").get("overrides", []) if run.file("model.json").exists() else []
    model = _compiled(Source(str(location), text), (*trained, *overrides), imports)
    return model.load(run_dir)


def _compiled(source, overrides: tuple[str, ...], files=None) -> Model:
    from nnc.compiler.pipeline import compile_source

    compiled = compile_source(source, overrides, files)
    return Model(compiled.program, source.text, overrides, compiled.warnings, compiled.imports)


class Model:
    def __init__(
        self, program, source: str, overrides: tuple[str, ...] = (), warnings: tuple = (), imports=None
    ):
        """`program` compiled from `source` with `overrides` (--set KEY=VALUE); `warnings` are
        the compiler's (diagnostics that did not stop it); `imports` the texts of the files the
        source imports, by absolute path."""
        self.program = program
        self.source = source
        self.overrides = tuple(overrides)
        self.warnings = tuple(warnings)
        self.imports = dict(imports or {})
        self.feature_columns: dict[str, list[str]] = {}  # by input: the training data's CSV columns
        self.plan = Plan(program.graph, program.train.losses)
        self.labels: dict[str, list[str]] = {}
        self.history: History | None = None  # what the last fit returned
        self.columns: dict[str, str] = {}  # loss target -> data column or array, when they differ
        self.training_summary: dict = {}  # summary.json of the last run, exported with the model
        self.weights_set = False  # trained or loaded: a fit continues from them
        self._optimizer: dict | None = None  # the optimizer's state after the last fit

    # ---- facts about the spec ---------------------------------------------------------
    @property
    def root(self) -> Path:
        return Path(self.program.train.data.root)

    def fields(self, *, by_name: bool = True) -> list:
        """The arrays a data set must provide: every input, and each loss target that is not
        an input (an autoencoder's target is its input). `by_name`: an input the training data
        gave in several CSV columns is read from those columns, by name."""
        fields = datasets.fields_of(self.program.graph, self.program.train.losses)
        if not by_name:
            return fields
        return [
            replace(f, columns=tuple(self.feature_columns[f.name])) if f.name in self.feature_columns else f
            for f in fields
        ]

    @property
    def targets(self) -> list[str]:
        """The loss targets read from data (not from a model input), in the order of the losses."""
        inputs = {i.name for i in self.program.graph.inputs}
        return [n for n in dict.fromkeys(t.target for t in self.program.train.losses) if n not in inputs]

    def target_of(self, output: str) -> str:
        """The loss target an output is trained against."""
        return next(t.target for t in self.program.train.losses if t.prediction == output)

    def ir_text(self, program=None) -> str:
        from nnc.compiler.ir import format_program

        return format_program(program or self.program)

    # ---- data ---------------------------------------------------------------------------
    def dataset(self, data, *, what: str = "data", labels=None, by_name: bool = True):
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
            return self.read(source, self.root, labels, by_name=by_name)
        return self.read(data, Path.cwd(), labels, by_name=by_name)

    def read(self, source, root: Path, labels=None, *, by_name: bool = True):
        """Reads the spec's fields from a file, an .npy mapping or a dict of arrays. Targets
        are looked up under `self.columns` (spec target -> the file's column or array name,
        `--target`) and come back under the spec's names. CSV columns no field reads are
        listed once, as a warning (nnc.runtime.data.IgnoredColumns)."""
        dataset = datasets.read(
            source, root, self.fields(by_name=by_name), labels=labels, columns=self.columns
        )
        datasets.warn_ignored(dataset)
        return dataset

    def _stratify(self) -> str | None:
        targets = [t.target for t in self.plan.losses if t.op.trains == "multiclass"]
        return targets[0] if len(targets) == 1 else None

    # ---- training -----------------------------------------------------------------------
    def configured(self, *, epochs=None, batch_size=None, lr=None, seed=None, steps=None):
        """(program, overrides): the program with these settings overriding the spec's, checked
        exactly as `--set` is (`fit(lr=-1)` raises the CompileError `--set optimizer.lr=-1`
        reports), and every override it was compiled with."""
        from nnc.compiler.overrides import setting_overrides
        from nnc.compiler.pipeline import compile_source
        from nnc.compiler.source import Source

        extra = setting_overrides(
            {
                "train.epochs": epochs,
                "train.max_steps": steps,
                "train.batch_size": batch_size,
                "optimizer.lr": lr,
                "train.seed": seed,
            }
        )
        if not extra:
            return self.program, self.overrides
        overrides = self.overrides + extra
        return compile_source(
            Source(self.program.path, self.source), overrides, self.imports
        ).program, overrides

    def fit(
        self,
        data=None,
        *,
        validation=None,
        epochs: int | None = None,
        steps: int | None = None,
        batch_size: int | None = None,
        lr: float | None = None,
        seed: int | None = None,
        verbose: int = 1,
        callbacks: Sequence[Callback] = (),
        out: str | Path | None = None,
        overwrite: bool = False,
        resume: str | Path | None = None,
        init_weights: str | Path | None = None,
        tensorboard: bool = False,
        progress: Progress | None = None,
    ) -> History:
        """Train, writing a run directory (`out`, or the first free runs/<spec name>), and
        return the History (per-epoch metrics as arrays, per-step losses, the run's summary).

        As in Keras, a fit continues from the model's current weights and optimizer state when
        it has them (an earlier fit, or `load`), and does not fit the preprocessing again; the
        first fit of a fresh model, or one after `reset()`, initializes from the seed, exactly
        as `nnc train` does. `init_weights` starts from a weights file instead, and `resume`
        continues an interrupted run exactly where it stopped.

        `steps` stops after that many optimizer steps (train.max_steps), inside an epoch if
        need be, or at `epochs`, whichever comes first.

        verbose: 0 silent, 1 the progress of `nnc train` (a live bar on a terminal, a line per
        epoch otherwise), 2 one line per epoch. `callbacks`: nnc.Callback listeners (Keras's
        hooks; `self.stop_training()` ends training). `overwrite` replaces a run already in
        `out`. `tensorboard` writes the metrics live for TensorBoard, in RUN/tensorboard (the
        `tensorboard` extra). `progress` replaces `verbose` with a display of the caller's (the
        CLI's)."""
        import sys

        _check_fit_arguments(verbose, callbacks)
        from nnc.compiler.diagnostics import CompileError
        from nnc.compiler.passes.check_footprint import footprint_diagnostic
        from nnc.runtime.train.run import Start

        program, overrides = self.configured(
            epochs=epochs, steps=steps, batch_size=batch_size, lr=lr, seed=seed
        )
        if too_large := footprint_diagnostic(program.graph, program.train, refuse=True):
            raise CompileError([too_large])  # before anything is allocated
        job = TrainJob(
            self.plan,
            program.train,
            Path(program.path).stem,
            program.path,
            self.source,
            self.imports,
            overrides,
            self.ir_text(program),
            self._model_info(),
        )
        if progress is None:
            progress = Progress(
                sys.stdout if verbose else None,
                verbosity=min(verbose, 1),
                live=None if verbose == 1 else False,
            )
        continuing = self.weights_set and resume is None and init_weights is None
        start = Start(self.plan.params.to_dict(), self._optimizer) if continuing else None
        history = History()
        for callback in callbacks:
            callback.model = self
        result = train_run(
            job,
            lambda rng: self._training_data(program, data, validation, rng),
            out=out,
            overwrite=overwrite,
            resume=resume,
            init_weights=init_weights,
            start=start,
            progress=progress,
            callbacks=(*callbacks, history),
            tensorboard=tensorboard,
        )
        self.training_summary, self._optimizer = result.summary, result.optimizer
        self.labels, self.feature_columns = result.labels, result.columns
        self.weights_set = True
        history.training_summary, history.run_dir = result.summary, result.run_dir
        self.history = history
        return history

    def reset(self) -> Model:
        """Forgets the weights and the optimizer state: the next fit initializes from the seed
        and fits the preprocessing again, as the first fit of a fresh model does."""
        self.weights_set, self._optimizer = False, None
        return self

    def summary(self) -> None:
        """Prints the table `nnc check` prints: layers, output shapes, parameters, training."""
        from nnc.compiler.summary import format_summary, summarize

        print(format_summary(summarize(self.program)), end="")

    def _training_data(self, program, data, validation, rng):
        """The training data (which say the class labels and the CSV columns of each input, by
        which every later file is read) and the validation data: a file given to fit, else the
        spec's validation file (also with other training data), else a split."""
        t = program.train
        train = self.dataset(data, what="training data", by_name=False)
        inputs = {i.name for i in program.graph.inputs}  # every later file is read by these
        train = replace(train, columns={k: v for k, v in train.columns.items() if k in inputs})
        self.labels, self.feature_columns = dict(train.labels), dict(train.columns)
        if validation is None and t.data.validation is not None:
            validation = self.read(t.data.validation, self.root, self.labels)
        elif validation is not None:
            validation = self.dataset(validation, labels=self.labels)
        elif t.validation_split:
            train, validation = datasets.split(train, t.validation_split, rng, stratify=self._stratify())
        return train, validation

    def describe_preprocessing(self) -> list[tuple[str, str]]:
        """What training on the spec's own data fits: (layer, what it learned) for each fitted
        layer, fitted here on the training split that training takes (the same seed, the same
        split). Reads the training data whole."""
        program = self.program
        train, _ = self._training_data(program, None, None, np.random.default_rng(program.train.seed))
        self.plan.fit(train.arrays)
        values = self.plan.params.values
        return [
            (step.name, step.op.describe_fit(*(values[k] for k in step.params), **step.attrs))
            for step in self.plan.steps
            if step.op.describe_fit is not None
        ]

    def _model_info(self) -> dict:
        """model.json, less what training says (labels, columns) and where the spec is."""
        g = self.program.graph
        return {
            "inputs": {i.name: str(i.type) for i in g.inputs},
            "outputs": {name: str(g.type_of(name)) for name in g.outputs},
        }

    # ---- using a trained model ----------------------------------------------------------
    def load(self, path: str | Path) -> Model:
        """Weights from a run directory, a folder written by `save`, or a bare .npz file, with
        what they were trained with: the class labels and CSV columns. Weights trained with
        another network than this model's are refused with the changed lines (E422)."""
        saved = read_saved_model(path, self.plan.params.values)
        if saved.program is not None:
            check_same_network(saved.program, self.ir_text(), str(path))
        self.plan.params.load(saved.weights, path=str(path))
        self.training_summary = saved.summary or self.training_summary
        self.labels, self.feature_columns = saved.labels, saved.columns
        self.weights_set, self._optimizer = True, None
        return self

    def _require_weights(self) -> None:
        """Refuses a model whose preprocessing nobody fitted (no fit(), no load()): an unfitted
        standardize divides by a zero std, and the answers are NaN or zeros that look like any
        other. A network without preprocessing may be used with its initial weights (an
        untrained baseline, a benchmark)."""
        unfitted = [step.name for step in self.plan.steps if step.op.fit is not None]
        if not self.weights_set and unfitted:
            raise RunError(
                "E427",
                f"this model's preprocessing ({', '.join(unfitted)}) has not been fitted: it "
                "has not been trained (or was reset())",
                help="fit() it, or load() trained weights, first",
            )

    def save(self, path: str | Path) -> Path:
        """A folder `nnc eval --weights`, `nnc export` and `load` read, as a run directory's:
        weights.npz, model.json, spec.nn (with imports.json) and program.ir."""
        self._require_weights()
        run = RunDir(path)
        program = self.ir_text()
        info = {**self._model_info(), "overrides": list(self.overrides), "labels": self.labels}
        info["columns"] = self.feature_columns
        run.write_model(
            spec=Path(self.program.path), text=self.source, imports=self.imports, program=program, info=info
        )
        run.write_weights(
            self.plan.params.to_dict(), program=program, labels=self.labels, columns=self.feature_columns
        )
        return run.path

    def export(
        self,
        path: str | Path,
        *,
        opset: int | None = None,
        outputs: tuple[str, ...] = (),
        include_preprocessing: bool | None = None,
        verify: bool = True,
        verify_provider: str = "cpu",
    ) -> Path:
        """Writes the model as ONNX (inference mode, trained weights, preprocessing included:
        raw features go in), after the export gate (see runtime/onnx/gate.py) unless `verify`
        is False, on `verify_provider` (the one the model will run on: cuda, cuda:1, ...).
        `outputs` exports a sub-graph. `include_preprocessing` is accepted for older callers:
        the preprocessing is always part of the graph."""
        self._require_weights()
        from nnc.runtime.onnx.export import export_file
        from nnc.runtime.onnx.metadata import Metadata

        if include_preprocessing is not None:
            warnings.warn(
                "export(include_preprocessing=...) is no longer needed: the preprocessing is "
                "always part of the exported graph",
                DeprecationWarning,
                stacklevel=2,
            )
        meta = Metadata.of(
            self.plan,
            self.fields(),
            spec_hash=program_hash(self.ir_text()),
            labels=self.labels,
            summary=self.training_summary,
            columns=self.feature_columns,
        )
        return export_file(
            path,
            self.program,
            self.plan,
            meta,
            opset=opset,
            outputs=outputs,
            verify=verify,
            verify_provider=verify_provider,
        )

    def evaluate(self, data=None) -> dict:
        """Loss and metrics on a data set (the spec's test file by default), plus a confusion
        matrix (rows: true class, columns: predicted) for each classification output."""
        self._require_weights()
        if data is None and self.program.train.data.test is not None:
            dataset = self.read(self.program.train.data.test, self.root, self.labels)
        else:
            dataset = self.dataset(data, labels=self.labels)
        datasets.warn_unseen(datasets.unseen(dataset.arrays, self.plan.categories()), dataset.source)
        self.plan.name_classes(self.labels, self.program.path)
        logs = measure(self.plan, self.program.train.metrics, dataset.arrays)
        for output, report in logs.get("classes", {}).items():  # per_class, in this order
            n = len(report["per_class"])
            report["labels"] = self.labels.get(self.target_of(output)) or [str(i) for i in range(n)]
        return logs

    def predict(self, x, outputs: list[str] | None = None):
        """Outputs for raw inputs: an array for a one-input model, else a mapping of arrays.
        Returns one array for a single output, else a mapping by output name."""
        self._require_weights()
        inputs = self.program.graph.inputs
        if not isinstance(x, dict):
            if len(inputs) != 1:
                raise ValueError(f"this model has inputs {', '.join(i.name for i in inputs)}: pass a dict")
            x = {inputs[0].name: x}
        arrays = {}
        for field in self._predict_fields:
            value = np.asarray(x[field.name], dtype=DTYPES[field.dtype].numpy)
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


def _check_fit_arguments(verbose, callbacks) -> None:
    """fit()'s own arguments, refused by name before anything runs (the rest become --set
    overrides, checked as spec text)."""
    if isinstance(verbose, bool) or verbose not in (0, 1, 2):
        raise ValueError(f"fit(verbose=...) takes 0 (silent), 1 or 2. Received: {verbose!r}")
    if isinstance(callbacks, Callback) or not isinstance(callbacks, (list, tuple)):
        raise TypeError(f"fit(callbacks=...) takes a list of nnc.Callback. Received: {callbacks!r}")
    for callback in callbacks:
        if not isinstance(callback, Callback):
            raise TypeError(
                f"fit(callbacks=...) takes nnc.Callback instances (subclass nnc.Callback). "
                f"Received: {callback!r}"
            )
