"""Inference through onnxruntime: `nnc predict` and `nnc.predict`. The graph takes raw inputs
(its preprocessing is part of it); what else predict needs comes from the file's metadata
(runtime/onnx/metadata.py): class labels, which outputs are classifiers, and the names and types
of the targets a data file may also hold. A file exported before the preprocessing was part of
the graph has its standardization applied from its metadata, as it was then."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
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

    def stream(self, path: str, *, batch_size: int = 1024) -> Iterator[tuple[data.Dataset, dict]]:
        """(samples, outputs) for the inputs in a data file or folder (relative to the working
        directory), batch by batch, read as training reads them: a CSV or Parquet file, .npz,
        .npy for a one-input model, a folder of images or texts. A CSV or Parquet file is read
        as it goes, so memory grows with the batch, not the file. Its columns are matched by name to the
        training data's (nnc.columns), in any order; the others (an id, the target) are read
        past and listed once, as a warning; categories the training data did not have are
        counted once, at the end."""
        root = Path.cwd()
        fields = self.fields(lambda: data.names(path, root))
        unseen, first, source = {}, True, path
        categories = {name: set(values) for name, values in self.metadata.categories.items()}
        for part in data.batches(path, root, fields, labels=self.metadata.labels, batch_size=batch_size):
            if first:
                data.warn_ignored(part)
                first, source = False, part.source
            data.add_unseen(unseen, data.unseen(part.arrays, categories))
            yield part, self.run({f.name: part.arrays[f.name] for f in self.inputs}, batch_size=batch_size)
        data.warn_unseen(unseen, source)

    def fields(self, present: Callable[[], Collection[str]]) -> list[Field]:
        """What a data file is read for: the inputs, from the training data's columns by name;
        for a file exported before columns were recorded, also the targets among the columns
        `present()` lists, to be read past."""
        columns = self.metadata.columns
        fields = [replace(f, columns=tuple(columns[f.name])) if f.name in columns else f for f in self.inputs]
        if not columns:
            names = present()
            for name, t in self.metadata.targets.items():
                if name in names:
                    fields.append(Field(name, t["dtype"], tuple(t["shape"]), t["classes"]))
        return fields

    def run_file(self, path: str, *, batch_size: int = 1024) -> dict[str, np.ndarray]:
        """Every output of `stream`, joined."""
        parts = [outputs for _, outputs in self.stream(path, batch_size=batch_size)]
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


def table(
    predictor: Predictor, outputs: Mapping[str, np.ndarray], ids: list[str] | None = None
) -> tuple[list[str], list[np.ndarray]]:
    """Predictions as CSV columns: the sample's file first where the data came from files, then
    for a classifier the class (its label name when the training data had names) and one
    probability per class; otherwise the values."""
    header, columns = (["file"], [np.asarray(ids, dtype=object)]) if ids is not None else ([], [])
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


def _rows(predictor: Predictor, outputs: Mapping[str, np.ndarray], ids, with_header: bool) -> str:
    """One batch of predictions as CSV text, its header first when asked."""
    import csv
    import io

    header, columns = table(predictor, outputs, ids)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if with_header:
        writer.writerow(header)
    for row in zip(*columns, strict=True):
        writer.writerow([f"{v:.6g}" if isinstance(v, float | np.floating) else v for v in row])
    return out.getvalue()


def predictions_csv(predictor: Predictor, outputs: Mapping[str, np.ndarray], ids=None) -> str:
    """`table` as CSV text: a header row, then one row per sample."""
    return _rows(predictor, outputs, ids, with_header=True)


def write_predictions(predictor: Predictor, parts: Iterable[tuple], path: Path | None, echo=None) -> int:
    """Writes the (samples, outputs) batches of `Predictor.stream` as they come: CSV rows to
    `path` (atomically, once all are written) or, with no path, through `echo` (stdout); a
    `.npy` (one output) or `.npz` (every output by name) file needs every row, so it is
    written at the end. Returns the number of samples."""
    from nnc.runtime.files import write_atomic, write_npz

    suffix = path.suffix.lower() if path is not None else ".csv"
    done = 0
    if suffix in (".npy", ".npz"):
        kept = []
        for part, outputs in parts:
            kept.append(outputs)
            done += part.n
        joined = {name: np.concatenate([k[name] for k in kept]) for name in predictor.outputs}
        if suffix == ".npy":
            (y,) = joined.values()
            write_atomic(path, lambda f: np.save(f, y))
        else:
            write_npz(path, joined)
        return done

    def write(emit) -> None:
        nonlocal done
        for part, outputs in parts:
            emit(_rows(predictor, outputs, part.ids, with_header=done == 0))
            done += part.n

    if path is None:
        write(echo)
    else:
        write_atomic(path, lambda f: write(lambda text: f.write(text.encode())))
    return done
