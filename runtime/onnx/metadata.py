"""What an exported file carries besides its graph, in `metadata_props`: one definition of every
`nnc.*` key, used by export to write and by predict to read, so that the two cannot drift.

    nnc.spec_hash    sha256 (16 hex digits) of the resolved program the weights were trained with
    nnc.labels       {target: [class name, ...]}: class i of a target is its i-th name
    nnc.outputs      {output: {"kind": multiclass | binary | regression, "target": name,
                     "logits": bool}}: how predict turns an output into classes
    nnc.targets      {target: {"dtype", "shape", "classes"}}: the loss targets a data file may
                     hold besides the inputs (predict reads past them)
    nnc.columns      {input: [column, ...]}: the CSV columns the training data gave an input,
                     by which predict reads a CSV, in any column order
    nnc.missing      {input: true}: the inputs whose values may be missing (the model fills
                     them): predict reads an empty or NA cell of theirs as NaN
    nnc.categories   {input: [value, ...]}: the categories the training data had, for each input
                     a lookup reads: predict counts the others (read as out of vocabulary)
    nnc.summary      the training summary (summary.json of the run)
    nnc.gate         {"verified": bool, "provider": name or null}: whether the export gate ran,
                     and on which execution provider (`--no-verify`: false, null)

Every value is a JSON string. Files exported before the input standardization became part of
the graph carry it as `nnc.standardize`, {input: {"mean": [...], "std": [...]}}: predict reads
it and applies it, so those files still predict; export no longer writes it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from nnc.runtime.dtypes import DTYPES
from nnc.runtime.errors import RunError
from nnc.runtime.files import damaged, strings, to_json
from nnc.runtime.metrics import KINDS

SPEC_HASH = "nnc.spec_hash"
LABELS = "nnc.labels"
OUTPUTS = "nnc.outputs"
TARGETS = "nnc.targets"
COLUMNS = "nnc.columns"
SUMMARY = "nnc.summary"
MISSING = "nnc.missing"
CATEGORIES = "nnc.categories"
STANDARDIZE = "nnc.standardize"
GATE = "nnc.gate"


def gate_record(verified: bool, provider: str | None, weights: Mapping[str, np.ndarray]) -> tuple[str, str]:
    """The (key, value) an exported file carries to say whether the export gate passed, on
    which provider, and for which weights (their fingerprint): `nnc report` shows it, and
    whether the file still holds the run's weights."""
    value = {"verified": verified, "provider": provider if verified else None}
    return GATE, to_json(value | {"weights": weights_fingerprint(weights)})


def weights_fingerprint(weights: Mapping[str, np.ndarray]) -> str:
    """sha256 of every parameter: its name, dtype, shape and bytes, in name order."""
    digest = hashlib.sha256()
    for key in sorted(weights):
        value = np.ascontiguousarray(weights[key])
        digest.update(f"{key}|{value.dtype.str}|{value.shape}|".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


def read_gate(props: Mapping[str, str]) -> dict | None:
    """What `gate_record` wrote, or None (a file exported before it was kept, or not by nnc)."""
    try:
        value = json.loads(props[GATE]) if GATE in props else None
    except ValueError:
        return None
    return value if isinstance(value, dict) and isinstance(value.get("verified"), bool) else None


@dataclass(frozen=True)
class OutputKind:
    """What a model output predicts, for predict's class and probability columns."""

    kind: str  # multiclass, binary or regression
    target: str  # the loss target it is trained against
    logits: bool  # whether it holds logits rather than probabilities


@dataclass(frozen=True)
class Metadata:
    spec_hash: str = ""
    labels: dict[str, list[str]] = field(default_factory=dict)
    outputs: dict[str, OutputKind] = field(default_factory=dict)
    targets: dict[str, dict] = field(default_factory=dict)
    summary: dict = field(default_factory=dict)
    columns: dict[str, list[str]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    categories: dict[str, list[str]] = field(default_factory=dict)
    # (mean, std) per input, to apply before the graph: read from older files (see the docstring)
    standardize: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    @staticmethod
    def of(plan, fields, *, spec_hash: str, labels: dict, summary: dict, columns: dict) -> Metadata:
        """A trained model's metadata: its loss terms (from the plan) say which outputs are
        classifiers; `fields` are the data it reads, of which those that are not inputs are
        the targets a data file may hold. The summary keeps no path of the training machine."""
        return Metadata(
            spec_hash=spec_hash,
            labels=labels,
            outputs={t.prediction: OutputKind(t.op.trains, t.target, t.logits) for t in plan.losses},
            targets={
                f.name: {"dtype": f.dtype, "shape": list(f.shape), "classes": f.classes}
                for f in fields
                if f.name not in plan.inputs
            },
            summary={k: v for k, v in summary.items() if k != "run_dir"},
            columns=columns,
            missing=[f.name for f in fields if f.missing],
            categories={name: sorted(values) for name, values in plan.categories().items()},
        )

    def to_props(self) -> dict[str, str]:
        return {
            SPEC_HASH: self.spec_hash,
            LABELS: to_json(self.labels),
            OUTPUTS: to_json({k: vars(v) for k, v in self.outputs.items()}),
            TARGETS: to_json(self.targets),
            SUMMARY: to_json(self.summary),
            COLUMNS: to_json(self.columns),
            MISSING: to_json(dict.fromkeys(self.missing, True)),
            CATEGORIES: to_json(self.categories),
        }

    @staticmethod
    def from_props(props: Mapping[str, str], path: str) -> Metadata:
        """The metadata of a file; keys it lacks take their defaults (a file from another
        exporter predicts without class names). A value that is not what the key holds is
        refused (E426, a data error: the file is damaged or not nnc's)."""

        def read(key: str, check) -> dict:
            try:
                value = json.loads(props[key]) if key in props else {}
            except ValueError as e:
                raise RunError(
                    "E426", f"the file's metadata `{key}` is not valid JSON: {e}", path=path
                ) from None
            if not isinstance(value, dict) or (problem := damaged(value, dict.fromkeys(value, check))):
                problem = problem if isinstance(value, dict) else "not a JSON object"
                raise RunError("E426", f"the file's metadata `{key}` is damaged: {problem}", path=path)
            return value

        outputs = read(OUTPUTS, _output_kind)
        standardize = read(STANDARDIZE, _statistics)
        return Metadata(
            spec_hash=props.get(SPEC_HASH, ""),
            labels=read(LABELS, strings),
            outputs={k: OutputKind(**v) for k, v in outputs.items()},
            targets=read(TARGETS, _target),
            summary=read(SUMMARY, lambda v: True),
            columns=read(COLUMNS, strings),
            missing=list(read(MISSING, lambda v: v is True)),
            categories=read(CATEGORIES, lambda v: isinstance(v, list) and all(isinstance(c, str) for c in v)),
            standardize={
                k: (np.asarray(v["mean"], np.float32), np.asarray(v["std"], np.float32))
                for k, v in standardize.items()
            },
        )


def _output_kind(v) -> bool:
    return (
        isinstance(v, dict)
        and set(v) == {"kind", "target", "logits"}
        and v["kind"] in KINDS
        and isinstance(v["target"], str)
        and isinstance(v["logits"], bool)
    )


def _target(v) -> bool:
    return (
        isinstance(v, dict)
        and v.get("dtype") in DTYPES
        and isinstance(v.get("shape"), list)
        and all(isinstance(d, int) or d is None for d in v["shape"])
        and (v.get("classes") is None or isinstance(v.get("classes"), int))
    )


def _statistics(v) -> bool:
    numbers = (list, int, float)
    return isinstance(v, dict) and isinstance(v.get("mean"), numbers) and isinstance(v.get("std"), numbers)
