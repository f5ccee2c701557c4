"""Inference through onnxruntime: `nnc predict` and `nnc.predict`. The graph takes raw inputs
(its preprocessing is part of it); what else predict needs comes from the file's metadata
(runtime/onnx/metadata.py): class labels, which outputs are classifiers, and the names and types
of the targets a data file may also hold. A file exported before the preprocessing was part of
the graph has its standardization applied from its metadata, as it was then."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path

import numpy as np
from nnc.runtime import data
from nnc.runtime.data import Field
from nnc.runtime.dtypes import DTYPES, from_onnxruntime
from nnc.runtime.errors import RunError, UsageError
from nnc.runtime.onnx.metadata import Metadata, OutputKind
from nnc.runtime.onnx.session import open_session


class Predictor:
    def __init__(
        self,
        path: str,
        *,
        provider: str = "cpu",
        threads: int | None = None,
        verbose: bool = False,
        allow_tf32: bool = False,
    ):
        """A session on `provider` (cpu, cuda, cuda:1, ...: runtime/onnx/session.py), or E540."""
        try:
            self.session = open_session(
                str(path),
                provider=provider,
                threads=threads,
                verbose=verbose,
                allow_tf32=allow_tf32,
                path=str(path),
            )
        except UsageError:
            raise
        except Exception as e:  # noqa: BLE001 - onnxruntime raises its own exception types
            raise RunError("E426", f"cannot load {path} as an ONNX model: {e}", path=str(path)) from None
        self.metadata = Metadata.from_props(self.session.get_modelmeta().custom_metadata_map, str(path))
        self.inputs = [
            replace(_field(i, str(path)), missing=i.name in self.metadata.missing)
            for i in self.session.get_inputs()
        ]
        self.outputs = [o.name for o in self.session.get_outputs()]
        self._dtypes = {field.name: np.dtype(DTYPES[field.dtype].numpy) for field in self.inputs}

    def run(self, arrays: Mapping[str, np.ndarray], *, batch_size: int = 1024) -> dict[str, np.ndarray]:
        """Outputs for raw inputs, streamed in batches; shapes and dtypes are checked first."""
        feeds = {}
        for field in self.inputs:
            name, dtype = field.name, self._dtypes[field.name]
            if name not in arrays:
                raise RunError("E542", f"the model needs input `{name}`", help=f"inputs: {self._signature()}")
            value = np.asarray(arrays[name])
            if value.ndim == 0 or (value.shape[1:] != field.shape and not field.fits(value.shape[1:])):
                raise RunError(
                    "E542",
                    f"input `{name}` must be {field.type}. Received: shape {list(value.shape)}",
                    help=f"inputs: {self._signature()}",
                )
            if field.dtype == "string":
                if value.dtype.kind not in "UO":
                    raise RunError("E542", f"input `{name}` must be strings. Received: {value.dtype}")
                value = value.astype(str)
            elif value.dtype != dtype:
                if value.dtype.kind not in "biuf" or (dtype.kind in "iub" and value.dtype.kind == "f"):
                    raise RunError("E542", f"input `{name}` must be {field.dtype}. Received: {value.dtype}")
                value = value.astype(dtype)
            if name in self.metadata.standardize:
                mean, std = self.metadata.standardize[name]
                value = ((value - mean) / std).astype(np.float32)
            feeds[name] = value
        n = len(next(iter(feeds.values())))
        if n <= batch_size:  # one batch: nothing to split or join (latency at batch 1)
            outputs = self.session.run(self.outputs, feeds)
            return dict(zip(self.outputs, outputs, strict=True))
        parts = []
        for start in range(0, n, batch_size):
            batch = {k: v[start : start + batch_size] for k, v in feeds.items()}
            parts.append(self.session.run(self.outputs, batch))
        return {name: np.concatenate([p[i] for p in parts]) for i, name in enumerate(self.outputs)}

    def run_file(
        self, path: str, *, batch_size: int = 1024, on_batch: Callable | None = None
    ) -> dict[str, np.ndarray]:
        """Outputs for the inputs in a data file (relative to the working directory), read as
        training reads one: CSV, .npz, or .npy for a one-input model, batch by batch. A CSV's
        columns are matched by name to the training data's (nnc.columns), in any order; the
        others (an id, the target) are read past and listed once, as a warning. `on_batch(samples
        done)` after each batch."""
        root = Path.cwd()
        columns = self.metadata.columns
        fields = [replace(f, columns=tuple(columns[f.name])) if f.name in columns else f for f in self.inputs]
        if not columns:  # a file exported before columns were recorded: targets are read past
            present = data.names(path, root)
            for name, t in self.metadata.targets.items():
                if name in present:
                    fields.append(Field(name, t["dtype"], tuple(t["shape"]), t["classes"]))
        parts, done, unseen = [], 0, {}
        categories = {name: set(values) for name, values in self.metadata.categories.items()}
        for part in data.batches(path, root, fields, labels=self.metadata.labels, batch_size=batch_size):
            if not parts:
                data.warn_ignored(part)
            data.add_unseen(unseen, data.unseen(part.arrays, categories))
            parts.append(self.run({f.name: part.arrays[f.name] for f in self.inputs}, batch_size=batch_size))
            done += part.n
            if on_batch:
                on_batch(done)
        data.warn_unseen(unseen, part.source)
        return {name: np.concatenate([p[name] for p in parts]) for name in self.outputs}

    def _signature(self) -> str:
        return ", ".join(f"{f.name}: {f.type}" for f in self.inputs)


def _field(value, path: str) -> Field:
    """An input of a session as a Field; a symbolic dimension (the time axis of a sequence
    model) becomes None: any length."""
    dtype = from_onnxruntime(value.type)
    if dtype is None:
        raise RunError(
            "E426",
            f"input `{value.name}` has type {value.type}, which nnc cannot feed",
            path=path,
            help=f"nnc feeds {', '.join(d.onnxruntime for d in DTYPES.values())}",
        )
    return Field(value.name, dtype.name, tuple(d if isinstance(d, int) else None for d in value.shape[1:]))


def predict(path: str, x, *, provider: str = "cpu", batch_size: int = 1024):
    """`nnc.predict(model.onnx, x)`: an array for a one-input model, or a mapping by input
    name; returns one array for a one-output model, else a mapping by output name."""
    predictor = Predictor(path, provider=provider)
    if not isinstance(x, Mapping):
        if len(predictor.inputs) != 1:
            raise ValueError(f"the model has inputs {predictor._signature()}: pass a dict")
        x = {predictor.inputs[0].name: x}
    out = predictor.run(x, batch_size=batch_size)
    return next(iter(out.values())) if len(out) == 1 else out


def table(predictor: Predictor, outputs: Mapping[str, np.ndarray]) -> tuple[list[str], list[np.ndarray]]:
    """Predictions as CSV columns: for a classifier the class (its label name when the
    training data had names) and one probability per class; otherwise the values."""
    header, columns = [], []
    single = len(outputs) == 1
    for name, y in outputs.items():
        prefix = "" if single else f"{name}_"
        kind = predictor.metadata.outputs.get(name, OutputKind("regression", "", False))
        flat = y.reshape(len(y), -1)
        if kind.kind == "regression":
            header += [f"{name}" if flat.shape[1] == 1 else f"{name}_{i}" for i in range(flat.shape[1])]
            columns += list(flat.T)
            continue
        labels = predictor.metadata.labels.get(kind.target)
        if kind.kind == "binary":
            p = 1 / (1 + np.exp(-flat[:, 0])) if kind.logits else flat[:, 0]
            probs, index = np.stack([1 - p, p], 1), (p > 0.5).astype(np.int64)
        else:
            probs = flat
            if kind.logits:
                e = np.exp(flat - flat.max(axis=1, keepdims=True))
                probs = e / e.sum(axis=1, keepdims=True)
            index = probs.argmax(axis=1)
        names = labels or [str(i) for i in range(probs.shape[1])]
        header += [f"{prefix}class"] + [f"{prefix}p_{c}" for c in names]
        columns += [np.asarray(names, dtype=object)[index]] + list(probs.T)
    return header, columns


def predictions_csv(predictor: Predictor, outputs: Mapping[str, np.ndarray]) -> str:
    """`table` as CSV text: a header row, then one row per sample."""
    import csv
    import io

    header, columns = table(predictor, outputs)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in zip(*columns, strict=True):
        writer.writerow([f"{v:.6g}" if isinstance(v, float | np.floating) else v for v in row])
    return out.getvalue()


def write_predictions(predictor: Predictor, outputs: Mapping[str, np.ndarray], path: Path) -> None:
    """Atomically: `.npy` (a one-output model), `.npz` (every output by name), else CSV."""
    from nnc.runtime.files import write_atomic, write_npz, write_text

    suffix = path.suffix.lower()
    if suffix == ".npy":
        (y,) = outputs.values()
        write_atomic(path, lambda f: np.save(f, y))
    elif suffix == ".npz":
        write_npz(path, outputs)
    else:
        write_text(path, predictions_csv(predictor, outputs))
