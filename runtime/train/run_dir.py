"""A run directory: everything a training run leaves behind, each file written atomically.

    spec.nn          the spec as written (its main file)
    program.ir       the resolved program (`nnc check --ir`, overrides applied): what --resume
                     compares against to refuse a changed spec
    model.json       what inference needs besides weights: inputs, outputs, class labels
    metrics.csv      one row per finished epoch
    checkpoint.npz   the latest state: weights, optimizer state, RNG state, counters (below)
    weights.npz      the final weights (the best ones when early stopping restores them)
    summary.json     best epoch, final metrics, seed, versions, data fingerprint

Weights files hold one float32 array per parameter, keyed `<layer>.<param>` with the layouts
of the IR's parameter table (dense.weight is (in_features, units)). A checkpoint holds the same
keys plus `optimizer:<name>` arrays, `best:<key>` for early stopping's best weights,
`state:order` (the sample order of an interrupted epoch) and `state:meta`, a JSON string with
the counters, the RNG state, the schedule and metric accumulators and the spec hash. Every
file is read with allow_pickle=False."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from nnc.runtime.errors import RunError
from nnc.runtime.files import read_npz, write_atomic, write_json, write_npz, write_text

CHECKPOINT_FORMAT = 1
RUN_FILES = (
    "spec.nn",
    "program.ir",
    "model.json",
    "metrics.csv",
    "checkpoint.npz",
    "weights.npz",
    "summary.json",
)


class RunDir:
    def __init__(self, path: str | Path):
        self.path = Path(path)

    def file(self, name: str) -> Path:
        return self.path / name

    @staticmethod
    def fresh(path: str | Path | None, stem: str, *, overwrite: bool = False) -> RunDir:
        """A new run directory: `path`, which must not hold a run already unless `overwrite`
        says to replace it, or the first free runs/<stem>, runs/<stem>-2, ..."""
        if path is not None:
            run = RunDir(path)
            if overwrite:
                for name in RUN_FILES:
                    run.file(name).unlink(missing_ok=True)
            elif run.file("checkpoint.npz").exists():
                raise RunError(
                    "E510",
                    f"{run.path} already holds a run",
                    path=str(run.path),
                    help=f"continue it with --resume {run.path}, replace it with --overwrite, "
                    "or choose another --out",
                )
        else:
            candidate, k = Path("runs") / stem, 1
            while candidate.exists():
                k += 1
                candidate = Path("runs") / f"{stem}-{k}"
            run = RunDir(candidate)
        run.path.mkdir(parents=True, exist_ok=True)
        return run

    # ---- checkpoints -------------------------------------------------------------------
    def save_checkpoint(self, weights: dict, extra: dict, meta: dict) -> None:
        arrays = dict(weights)
        arrays.update(extra)
        arrays["state:meta"] = np.array(json.dumps({"format": CHECKPOINT_FORMAT, **meta}))
        write_npz(self.file("checkpoint.npz"), arrays)

    def load_checkpoint(self) -> tuple[dict, dict, dict]:
        """(weights, extra arrays by prefix:name, meta)."""
        path = self.file("checkpoint.npz")
        if not path.exists():
            raise RunError(
                "E511",
                f"{self.path} has no checkpoint.npz, so there is nothing to resume",
                path=str(self.path),
                help="pass the directory a previous `nnc train --out` wrote",
            )
        arrays = read_checked(path)
        if "state:meta" not in arrays:
            raise RunError("E511", "checkpoint.npz has no state:meta: not an nnc checkpoint", path=str(path))
        meta = json.loads(str(arrays.pop("state:meta")))
        if meta.get("format") != CHECKPOINT_FORMAT:
            raise RunError("E511", f"unsupported checkpoint format {meta.get('format')}", path=str(path))
        weights = {k: v for k, v in arrays.items() if ":" not in k}
        extra = {k: v for k, v in arrays.items() if ":" in k}
        return weights, extra, meta

    # ---- other files -------------------------------------------------------------------
    def write_metrics(self, history: list[dict]) -> None:
        if not history:
            return
        columns = list(history[0])
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        for row in history:
            writer.writerow([_cell(row.get(c)) for c in columns])
        write_text(self.file("metrics.csv"), out.getvalue())

    def write_text(self, name: str, text: str) -> None:
        write_text(self.file(name), text)

    def write_json(self, name: str, value) -> None:
        write_json(self.file(name), value)

    def read_json(self, name: str) -> dict:
        path = self.file(name)
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise RunError("E512", f"cannot read {name}: {e}", path=str(path)) from None

    def write_weights(self, weights: dict) -> None:
        write_npz(self.file("weights.npz"), weights)

    def write_bytes(self, name: str, data: bytes) -> None:
        write_atomic(self.file(name), lambda f: f.write(data))


@dataclass(frozen=True)
class SavedModel:
    """What a run directory or a folder written by Model.save holds for using a model: the
    weights, model.json and summary.json (each empty where absent, as for a bare .npz)."""

    weights: dict
    info: dict
    summary: dict


def read_saved_model(path: str | Path, wanted) -> SavedModel:
    """Weights from a run directory, a folder written by Model.save, or a bare .npz file, with
    the folder's model.json and summary.json. `wanted` are the model's parameter keys."""
    path = Path(path)
    folder = RunDir(path) if path.is_dir() else None
    info = folder.read_json("model.json") if folder and folder.file("model.json").exists() else {}
    summary = folder.read_json("summary.json") if folder and folder.file("summary.json").exists() else {}
    return SavedModel(_with_legacy_statistics(read_weights(path), info, wanted), info, summary)


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


def read_weights(path: str | Path) -> dict:
    """The weights of a run directory (its weights.npz), a folder written by Model.save, or a
    bare .npz file."""
    path = Path(path)
    return read_checked(path / "weights.npz" if path.is_dir() else path)


def read_checked(path: Path) -> dict:
    """An .npz file's arrays, or a located refusal if it is missing, torn or holds objects."""
    try:
        return read_npz(path)
    except FileNotFoundError:
        raise RunError("E421", f"weights file {path} does not exist", path=str(path)) from None
    except ValueError as e:  # allow_pickle=False refusing an object array
        raise RunError("E421", f"{path} holds objects, not plain arrays ({e})", path=str(path)) from None
    except (OSError, EOFError, Exception) as e:  # noqa: BLE001 - zipfile raises many kinds
        raise RunError("E421", f"cannot read {path} as .npz: {e}", path=str(path)) from None


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)
