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
of the IR's parameter table (dense.weight is (in_features, units)), and `model:record`, a JSON
string of what they were trained with: the resolved program, the class labels and the CSV
columns of each input, so that a bare weights file is checked against the spec it is used with
and reads data as its run directory would. A checkpoint holds the same parameter
keys plus `optimizer:<name>` arrays, `best:<key>` for early stopping's best weights,
`state:order` (the sample order of an interrupted epoch) and `state:meta`, a JSON string with
the counters, the RNG state, the schedule and metric accumulators and the spec hash. Every
file is read with allow_pickle=False."""

from __future__ import annotations

import csv
import difflib
import io
import json
import os
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from nnc.runtime.errors import RunError
from nnc.runtime.files import (
    damaged,
    named_strings,
    read_npz,
    strings,
    to_json,
    write_atomic,
    write_json,
    write_npz,
    write_text,
)

CHECKPOINT_FORMAT = 1
RECORD = "model:record"  # in a weights file: JSON of the program, labels and columns
RUN_FILES = (
    "spec.nn",
    "program.ir",
    "model.json",
    "metrics.csv",
    "checkpoint.npz",
    "weights.npz",
    "summary.json",
    "imports.json",
)
LOCK = ".lock"  # held (flock) by the one process training in the directory
ASIDE = ".previous"  # a run being replaced (--overwrite) waits here until the new one has started


def _count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


# What the JSON nnc reads back holds, key by key (runtime/files.damaged)
_MODEL_INFO = {
    "spec": lambda v: isinstance(v, str),
    "overrides": strings,
    "labels": named_strings,
    "columns": named_strings,
    "inputs": lambda v: isinstance(v, dict),
    "outputs": lambda v: isinstance(v, dict),
}
_CHECKPOINT_META = {
    "format": lambda v: isinstance(v, int),
    "epoch": _count,
    "step": _count,
    "batch": _count,
    "sums": lambda v: isinstance(v, dict),
    "history": lambda v: isinstance(v, list) and all(isinstance(h, dict) for h in v),
    "rng": lambda v: isinstance(v, dict),
    "metrics": lambda v: isinstance(v, list),
    "data": lambda v: isinstance(v, str),
    "finished": lambda v: v is None or isinstance(v, str),
    "stopped_early": lambda v: isinstance(v, bool),
}


class RunDir:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._aside: Path | None = None

    def file(self, name: str) -> Path:
        return self.path / name

    @staticmethod
    def fresh(path: str | Path | None, stem: str, *, overwrite: bool = False) -> RunDir:
        """A new run directory: `path`, which must not hold a run already unless `overwrite`
        says to replace it, or the first free runs/<stem>, runs/<stem>-2, ..."""
        if path is not None:
            run = RunDir(path)
            if not overwrite and run.file("checkpoint.npz").exists():
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

    # ---- one run at a time ------------------------------------------------------------
    @contextmanager
    def locked(self):
        """Holds the directory's lock for the block: a second `nnc train` into it is refused,
        naming the holder. The operating system releases the lock when the process ends,
        however it ends: a SIGKILL leaves nothing stale. Temporary files that a killed write
        left behind are removed once the lock is held."""
        import fcntl

        fd = os.open(self.file(LOCK), os.O_RDWR | os.O_CREAT, 0o666)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 4096, 0).decode("utf-8", errors="replace").strip() or "another process"
                raise RunError(
                    "E515",
                    f"{self.path} is in use by another training run: {holder}",
                    path=str(self.path),
                    help="wait for it to end, or train into another --out",
                ) from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()} since {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode(), 0)
            for stray in self.path.glob(".*.tmp"):
                stray.unlink(missing_ok=True)
            yield self
        finally:
            os.close(fd)  # releases the lock

    def complete(self) -> bool:
        """Whether the run's final files are written (summary.json is written last)."""
        return self.file("weights.npz").exists() and self.file("summary.json").exists()

    def set_aside(self) -> None:
        """Moves the run this directory holds out of the way (into .previous/), to come back with
        `restore_aside` if the new run fails before its first checkpoint, or go with `drop_aside`."""
        present = [n for n in RUN_FILES if self.file(n).exists()]
        if not present:
            return
        aside = self.file(ASIDE)
        shutil.rmtree(aside, ignore_errors=True)
        aside.mkdir()
        for name in present:
            os.replace(self.file(name), aside / name)
        self._aside = aside

    @property
    def replacing(self) -> bool:
        """Whether an old run set aside (--overwrite) still waits for this one's first
        checkpoint, and comes back if this one fails before it."""
        return self._aside is not None

    def restore_aside(self) -> None:
        if self._aside is None:
            return
        for name in RUN_FILES:
            self.file(name).unlink(missing_ok=True)
            if (self._aside / name).exists():
                os.replace(self._aside / name, self.file(name))
        self._aside.rmdir()
        self._aside = None

    def drop_aside(self) -> None:
        if self._aside is not None:
            shutil.rmtree(self._aside, ignore_errors=True)
            self._aside = None

    # ---- checkpoints -------------------------------------------------------------------
    def save_checkpoint(self, weights: dict, extra: dict, meta: dict) -> None:
        arrays = dict(weights)
        arrays.update(extra)
        arrays["state:meta"] = np.array(to_json({"format": CHECKPOINT_FORMAT, **meta}))
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
        try:
            meta = json.loads(str(arrays.pop("state:meta")))
        except ValueError as e:
            raise RunError("E424", f"the checkpoint's state:meta is damaged: {e}", path=str(path)) from None
        if not isinstance(meta, dict) or (
            problem := damaged(meta, _CHECKPOINT_META, tuple(_CHECKPOINT_META))
        ):
            problem = problem if isinstance(meta, dict) else "not a JSON object"
            raise RunError("E424", f"the checkpoint's state:meta is damaged: {problem}", path=str(path))
        if meta.get("format") != CHECKPOINT_FORMAT:
            raise RunError("E511", f"unsupported checkpoint format {meta.get('format')}", path=str(path))
        weights = {k: v for k, v in arrays.items() if ":" not in k}
        extra = {k: v for k, v in arrays.items() if ":" in k}
        return weights, extra, meta

    # ---- other files -------------------------------------------------------------------
    def write_model(self, *, spec: Path, text: str, imports: dict, program: str, info: dict) -> None:
        """What says which model a run is: spec.nn (the spec as written), imports.json (the text
        of each file it imports, by path relative to the spec's folder), program.ir, and
        model.json (`info`, and where the spec lies, relative to this directory, so that data
        paths keep their meaning and no absolute path of this machine is written)."""
        self.path.mkdir(parents=True, exist_ok=True)
        self.write_text("spec.nn", text)
        if imports:
            folder = Path(spec).resolve().parent
            self.write_json("imports.json", {_relative(p, folder): t for p, t in imports.items()})
        self.write_text("program.ir", program)
        self.write_json("model.json", {"spec": _relative(spec, self.path.resolve()), **info})

    def spec_location(self) -> tuple[Path, str, dict[str, str]]:
        """Where the run's spec was (data paths are relative to its folder), its text as it was
        trained, and the texts of the files it imported, by absolute path."""
        info = self.read_json("model.json") if self.file("model.json").exists() else {}
        location = self.path / info["spec"] if info.get("spec") else self.file("spec.nn")
        imports = self.read_json("imports.json") if self.file("imports.json").exists() else {}
        files = {str((location.parent / rel).resolve()): text for rel, text in imports.items()}
        return location, self.file("spec.nn").read_text(encoding="utf-8"), files

    def write_metrics(self, history: list[dict], *, durable: bool) -> None:
        """metrics.csv. Rewritten after every epoch, not flushed to disk each time (`durable`):
        the checkpoint holds the same rows, and the end of training writes them durably."""
        if not history:
            return
        columns = list(history[0])
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        for row in history:
            writer.writerow([_cell(row.get(c)) for c in columns])
        write_text(self.file("metrics.csv"), out.getvalue(), durable=durable)

    def write_text(self, name: str, text: str) -> None:
        write_text(self.file(name), text)

    def write_json(self, name: str, value) -> None:
        write_json(self.file(name), value)

    def read_json(self, name: str) -> dict:
        path = self.file(name)
        try:
            value = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise RunError("E424", f"cannot read {name}: {e}", path=str(path)) from None
        if not isinstance(value, dict):
            raise RunError("E424", f"{name} is damaged: not a JSON object", path=str(path))
        if name == "model.json" and (problem := damaged(value, _MODEL_INFO)):
            raise RunError("E424", f"{name} is damaged: {problem}", path=str(path))
        return value

    def write_weights(self, weights: dict, *, program: str, labels: dict, columns: dict) -> None:
        """weights.npz: the parameters, and what they were trained with under `model:record`."""
        write_weights(self.file("weights.npz"), weights, program=program, labels=labels, columns=columns)

    def write_bytes(self, name: str, data: bytes) -> None:
        write_atomic(self.file(name), lambda f: f.write(data))


@dataclass(frozen=True)
class SavedModel:
    """What a weights file, a run directory or a folder written by Model.save holds for using a
    model: the parameters, and what they were trained with: the resolved program (None when
    unknown: a bare file from an older nnc, or made by hand), the class labels, the CSV columns
    of each input, the training summary (empty for a bare file)."""

    weights: dict
    program: str | None
    labels: dict
    columns: dict
    summary: dict


def read_saved_model(path: str | Path, wanted) -> SavedModel:
    """`wanted` are the model's parameter keys. A bare .npz from an older nnc that lies in a run
    directory is refused, naming the directory to pass instead: it lacks what the directory
    knows."""
    path = Path(path)
    folder = RunDir(path) if path.is_dir() else None
    file = _finished(path) if folder else path
    arrays = read_checked(file)
    record = _record(arrays.pop(RECORD, None), file)
    info = folder.read_json("model.json") if folder and folder.file("model.json").exists() else {}
    if record is None and folder is None and (path.parent / "model.json").exists():
        raise RunError(
            "E423",
            f"{path} was written by an older nnc: it does not carry the program, class labels and "
            "columns it was trained with",
            path=str(path),
            help=f"pass its run directory instead: {path.parent}",
        )
    if record is None:
        program = (
            folder.file("program.ir").read_text(encoding="utf-8")
            if folder and folder.file("program.ir").exists()
            else None
        )
        record = {"program": program, "labels": info.get("labels", {}), "columns": info.get("columns", {})}
    summary = folder.read_json("summary.json") if folder and folder.file("summary.json").exists() else {}
    weights = _with_legacy_statistics({k: v for k, v in arrays.items() if ":" not in k}, info, wanted)
    return SavedModel(weights, record["program"], record["labels"], record["columns"], summary)


def check_same_network(trained: str, now: str, path: str) -> None:
    """Refuses (E422) weights trained with another network than `now`'s: the graph, the
    parameters' names and shapes and the losses must be the same; training settings and data
    paths may differ. The changed lines say how."""
    before, after = _network(trained), _network(now)
    if before == after:
        return
    changed = [
        line
        for line in difflib.unified_diff(before, after, lineterm="", n=0)
        if line[:1] in "+-" and line[:3] not in ("+++", "---")
    ]
    raise RunError(
        "E422",
        "the weights were trained with another network; changed lines of the program "
        "(-: trained, +: now):\n  " + "\n  ".join(changed[:12]),
        path=path,
        help="use the spec the weights were trained with (the run directory keeps it: nnc export RUN_DIR)",
    )


def _network(program: str) -> list[str]:
    """The lines of a program (ir.format_program) that say what the network computes."""
    lines, section = [], "graph"
    for line in program.splitlines():
        if line in ("params", "train"):
            section = line
        elif section == "graph" or (section == "train" and line.startswith("  loss ")):
            lines.append(line)
        elif section == "params":
            lines.append(line.split(" init=")[0])  # how a parameter started does not matter now
    return lines


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


def _record(value, path: Path) -> dict | None:
    if value is None:
        return None
    try:
        record = json.loads(str(value))
        return {"program": record["program"], "labels": record["labels"], "columns": record["columns"]}
    except (ValueError, KeyError, TypeError) as e:
        raise RunError("E421", f"{path} has a damaged {RECORD}: {e}", path=str(path)) from None


def _relative(path: str | Path, folder: Path) -> str:
    """`path` relative to `folder`, with / separators; its name alone where there is no such
    path (another drive)."""
    try:
        return Path(os.path.relpath(Path(path).resolve(), folder)).as_posix()
    except ValueError:
        return Path(path).name


def write_weights(path: Path, weights: dict, *, program: str, labels: dict, columns: dict) -> None:
    record = {"program": program, "labels": labels, "columns": columns}
    write_npz(path, {**weights, RECORD: np.array(to_json(record))})


def read_weights(path: str | Path) -> dict:
    """The parameters of a run directory (its weights.npz), a folder written by Model.save, or
    a bare .npz file."""
    path = Path(path)
    arrays = read_checked(_finished(path) if path.is_dir() else path)
    return {k: v for k, v in arrays.items() if ":" not in k}


def _finished(folder: Path) -> Path:
    """The weights.npz of a folder; a run that has a checkpoint but no weights yet is refused
    as unfinished, saying how to finish it."""
    if not (folder / "weights.npz").exists() and (folder / "checkpoint.npz").exists():
        raise RunError(
            "E421",
            f"the run in {folder} has not finished (interrupted, or still training): it has a "
            "checkpoint but no weights.npz yet",
            path=str(folder / "weights.npz"),
            help=f"finish it: nnc train SPEC --resume {folder} (add --epochs N to stop sooner)",
        )
    return folder / "weights.npz"


def read_checked(path: Path) -> dict:
    """An .npz file's arrays, or a located refusal if it is missing, not an .npz archive, torn
    or holds objects."""
    try:
        with open(path, "rb") as f:
            head = f.read(2)
    except FileNotFoundError:
        raise RunError("E421", f"weights file {path} does not exist", path=str(path)) from None
    except OSError as e:
        raise RunError("E421", f"cannot read {path}: {e.strerror}", path=str(path)) from None
    if head != b"PK":  # every .npz is a zip archive
        raise RunError("E421", f"{path} is not an .npz archive of arrays", path=str(path))
    try:
        return read_npz(path)
    except ValueError as e:  # allow_pickle=False refusing an object array
        raise RunError("E421", f"{path} holds objects, not plain arrays ({e})", path=str(path)) from None
    except (OSError, EOFError, Exception) as e:  # noqa: BLE001 - zipfile raises many kinds
        raise RunError("E421", f"cannot read {path} as .npz: {e}", path=str(path)) from None


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)  # every digit: the value reads back exactly
    return str(value)
