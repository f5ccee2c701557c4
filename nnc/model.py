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
import json
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from nnc.runtime import data as datasets
from nnc.runtime.errors import RunError
from nnc.runtime.executor import Plan
from nnc.runtime.metrics import confusion_matrix
from nnc.runtime.train import Callback, TrainJob, train_run
from nnc.runtime.train.evaluate import EVAL_BATCH, MetricSet, batch_slices, evaluate
from nnc.runtime.train.progress import Progress
from nnc.runtime.train.run import program_hash
from nnc.runtime.train.run_dir import RunDir, read_weights


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
    return Model(compiled.program, source, overrides)


class Model:
    def __init__(self, program, source: str, overrides: tuple[str, ...] = ()):
        """`program` compiled from `source` with `overrides` (--set KEY=VALUE)."""
        self.program = program
        self.source = source
        self.overrides = tuple(overrides)
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
        targets = [t.target for t in self.plan.losses if t.op.trains == "multiclass"]
        return targets[0] if len(targets) == 1 else None

    # ---- training -----------------------------------------------------------------------
    def configured(self, *, epochs=None, batch_size=None, lr=None, seed=None):
        """The program with these settings overriding the spec's, checked exactly as `--set`
        is: `fit(lr=-1)` raises the CompileError `--set optimizer.lr=-1` reports."""
        from nnc.compiler.pipeline import compile_source
        from nnc.compiler.source import Source

        settings = {
            "train.epochs": epochs,
            "train.batch_size": batch_size,
            "optimizer.lr": lr,
            "train.seed": seed,
        }
        extra = tuple(f"{key}={_spec_literal(v)}" for key, v in settings.items() if v is not None)
        if not extra:
            return self.program
        return compile_source(Source(self.program.path, self.source), self.overrides + extra).program

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
        callbacks: Sequence[Callback] = (),
    ) -> dict:
        """Train, writing a run directory (`out`, or runs/<spec name>), and return its summary.
        `overwrite` replaces a run already in `out`. With `resume`, continue the run in that
        directory exactly where it stopped. `callbacks` are listeners on the training loop
        (nnc.runtime.train.Callback); one may end training with `trainer.stop(reason)`."""
        program = self.configured(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed)
        job = TrainJob(
            self.plan,
            program.train,
            Path(program.path).stem,
            program.path,
            self.source,
            self.ir_text(program),
            self._model_info(),
        )
        result = train_run(
            job,
            lambda rng: self._training_data(program, data, validation, rng),
            out=out,
            overwrite=overwrite,
            resume=resume,
            init_weights=init_weights,
            progress=progress,
            callbacks=callbacks,
        )
        self.history, self.summary, self.labels = result.history, result.summary, result.labels
        return result.summary

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

    def _model_info(self) -> dict:
        g = self.program.graph
        info = {
            "spec": str(Path(self.program.path).resolve()),
            "inputs": {i.name: str(i.type) for i in g.inputs},
            "outputs": {name: str(g.type_of(name)) for name in g.outputs},
            "labels": self.labels,
        }
        return info

    # ---- using a trained model ----------------------------------------------------------
    def load(self, path: str | Path) -> Model:
        """Weights from a run directory, a folder written by `save`, or a bare .npz file."""
        path = Path(path)
        folder = path if path.is_dir() else None
        info = RunDir(folder).read_json("model.json") if folder and (folder / "model.json").exists() else {}
        weights = _with_legacy_statistics(read_weights(path), info, self.plan.params.values)
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
            spec_hash=program_hash(self.ir_text()),
            labels=self.labels,
            outputs={
                term.prediction: OutputKind(term.op.trains, term.target, term.logits)
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
        classifiers = [t for t in self.plan.losses if t.op.classifier]
        logs, predictions = evaluate(
            self.plan, dataset.arrays, metrics, keep=[t.prediction for t in classifiers]
        )
        logs["samples"] = dataset.n
        for term in classifiers:
            prediction = predictions[term.prediction]
            target = dataset.arrays[term.target]
            if term.op.trains == "multiclass":
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


def _spec_literal(value) -> str:
    """A Python value as spec text, for an override: numbers exactly (repr keeps every digit),
    strings quoted; anything else as Python shows it, for the compiler to refuse located."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    return repr(value)


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
