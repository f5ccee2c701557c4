"""Prediction over many data files (shards): one output per input, `OUT/<input stem>.csv`, with
the columns and values that `nnc predict` writes for one file. Each output is written
atomically and then noted in `OUT/.nnc-shards/<output>.json` with what produced it (the
model's SHA-256, the provider, the input's size and time), so that a rerun with `resume` keeps
the shards already done and a killed job loses no finished one: an output without its note,
or with a note that another model or input wrote, is scored again. A shard that fails (a bad
value, an unreadable file) is an `Outcome` carrying its located error; the other shards go on.

The engines: `predict_shards` here scores one shard after another in this process; nnc/ray.py
runs the same `score` on the actors of a Ray cluster."""

from __future__ import annotations

import glob
import hashlib
import json
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from nnc.runtime.errors import RunError, UsageError

if TYPE_CHECKING:
    from nnc.runtime.onnx.predict import Predictor

NOTES = ".nnc-shards"  # the folder of notes, inside the output folder: hidden from `OUT/*.csv`


@dataclass(frozen=True)
class Shard:
    data: Path  # the input file, absolute
    output: Path  # OUT/<stem>.csv, absolute

    @property
    def note(self) -> Path:
        return self.output.parent / NOTES / f"{self.output.name}.json"


def shards(pattern: str, out: Path) -> list[Shard]:
    """The files `pattern` matches (a glob, `**` included, relative to the working directory; a
    plain path names one file) in sorted order, each with its output in the folder `out`.
    Refused (a usage error): a pattern that matches no file (E545), and files that cannot each
    have an output of their own: two with one stem, an output that would replace an input (E546)."""
    from nnc.runtime.data.dataset import shown_path

    found = sorted(Path(p) for p in glob.glob(pattern, recursive=True) if Path(p).is_file())
    if not found:
        raise UsageError(
            "E545", f"no data file matches `{pattern}`", help="quote the pattern: --data 'shards/*.csv'"
        )
    out = out.resolve()
    named = [Shard(p.resolve(), out / f"{p.stem}.csv") for p in found]
    seen: dict[Path, Path] = {}
    for shard in named:
        if shard.output in seen:
            raise UsageError(
                "E546",
                f"`{shown_path(seen[shard.output])}` and `{shown_path(shard.data)}` would both write "
                f"`{shard.output.name}`",
                help="outputs are named after their input's stem: give the shards different names",
            )
        seen[shard.output] = shard.data
    inputs = set(seen.values())
    for shard in named:
        if shard.output in inputs:
            raise UsageError(
                "E546",
                f"the output `{shown_path(shard.output)}` would replace an input shard",
                help="write the predictions to another folder (-o)",
            )
    return named


@dataclass(frozen=True)
class Outcome:
    """What became of one shard: `samples` written, `kept` from an earlier run, or `error` (a
    RunError's fields, its path absolute) and whether that error is a usage error (exit 2).
    `warnings` are the notes about it (columns read past), without its path in front."""

    data: str
    samples: int = 0
    kept: bool = False
    error: dict | None = None
    usage: bool = False
    warnings: tuple[str, ...] = field(default=())

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Outcome:
        values = json.loads(text)
        return cls(**{**values, "warnings": tuple(values["warnings"])})

    def refusal(self) -> RunError:
        """The error as the runtime raised it, to be reported like any other: its path shown
        as this process shows paths (relative to the working directory, below it)."""
        from nnc.runtime.data.dataset import shown_path

        kind = UsageError if self.usage else RunError
        path = self.error["path"]
        return kind(**{**self.error, "path": shown_path(Path(path)) if path else None})


def stamp(model: str | Path, *, provider: str, allow_tf32: bool) -> dict:
    """What makes a shard's predictions these ones and not others, besides the shard itself."""
    try:
        digest = hashlib.sha256(Path(model).read_bytes()).hexdigest()
    except OSError as e:
        raise RunError("E426", f"cannot read {model}: {e.strerror}", path=str(model)) from None
    return {"model": digest, "provider": provider, "allow_tf32": allow_tf32}


def finished(shard: Shard, stamp: dict) -> int | None:
    """The samples of the shard's output when it is complete and was produced from this input
    by this model; otherwise None."""
    try:
        note = json.loads(shard.note.read_text())
        return note["samples"] if note == _note(shard, stamp, note.get("samples")) else None
    except (OSError, ValueError, TypeError, KeyError):  # no note, or not one of ours
        return None


def score(predictor: Predictor, shard: Shard, stamp: dict, *, batch_size: int) -> Outcome:
    """Predicts one shard into its output (runtime/onnx/predict.py, as `nnc predict` does for
    one file), then notes it. A RunError becomes the outcome's error, nothing written."""
    from nnc.runtime.data.dataset import shown_path
    from nnc.runtime.files import write_json
    from nnc.runtime.onnx.predict import write_predictions

    # The old note goes first: an output replaced but not yet noted must not pass as the old one.
    shard.note.unlink(missing_ok=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            parts = predictor.stream(str(shard.data), batch_size=batch_size)
            samples = write_predictions(predictor, parts, shard.output)
        except RunError as e:
            where = str(Path(e.path).resolve()) if e.path else str(shard.data)
            error = {k: getattr(e, k) for k in ("code", "message", "line", "column", "help")}
            return Outcome(str(shard.data), error={**error, "path": where}, usage=isinstance(e, UsageError))
    write_json(shard.note, _note(shard, stamp, samples))
    prefix = f"{shown_path(shard.data)}: "
    notes = tuple(str(w.message).removeprefix(prefix) for w in caught)
    return Outcome(str(shard.data), samples=samples, warnings=notes)


def _note(shard: Shard, stamp: dict, samples) -> dict:
    data, output = shard.data.stat(), shard.output.stat()
    return {
        **stamp,
        "input": [data.st_size, data.st_mtime_ns],
        "output": output.st_size,
        "samples": samples,
    }


def predict_shards(
    predictor: Predictor, shards: list[Shard], stamp: dict, *, batch_size: int = 1024, resume: bool = False
) -> Iterator[Outcome]:
    """Each shard scored in turn in this process (`resume`: those `finished` are kept)."""
    for shard in shards:
        if resume and (samples := finished(shard, stamp)) is not None:
            yield Outcome(str(shard.data), samples=samples, kept=True)
        else:
            yield score(predictor, shard, stamp, batch_size=batch_size)
