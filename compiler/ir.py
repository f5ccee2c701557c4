"""The typed IR: a flat, topologically ordered graph of nodes, a parameter table and the
training configuration. Everything is frozen; passes return new values."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from nnc.compiler.source import Span
from nnc.runtime.ops import OPS
from nnc.runtime.schema import Named, show

BATCH = "N"  # the symbolic batch dimension, always axis 0
# What nnc can hold: one dimension, and one parameter (2^31 float32 values are 8 GiB)
MAX_DIM = 2**31 - 1
MAX_PARAMETER = 2**31


@dataclass(frozen=True)
class TensorType:
    dtype: str
    shape: tuple  # (BATCH, *static dims)

    def __str__(self) -> str:
        return f"{self.dtype}[{', '.join(str(d) for d in self.shape)}]"


@dataclass(frozen=True)
class Input:
    name: str
    type: TensorType
    span: Span


@dataclass(frozen=True)
class Node:
    """One layer application. Its output value has the node's name."""

    name: str
    op: str
    inputs: tuple[str, ...]
    attrs: Mapping[str, Any]
    span: Span
    arg_spans: Mapping[str, Span] = field(default_factory=dict, compare=False)  # argument/input -> span
    input_spans: tuple[Span, ...] = field(default=(), compare=False)
    inits: Mapping[str, Named] = field(default_factory=dict)  # init keyword -> initializer
    l1: float = 0.0
    l2: float = 0.0
    trainable: bool = True
    params: tuple[str, ...] = ()  # parameter keys, filled in by infer_shapes
    type: TensorType | None = None  # output type, filled in by infer_shapes


@dataclass(frozen=True)
class Parameter:
    """`<layer>.<param>`: shape, initializer and penalties, as the runtime will create it."""

    key: str
    shape: tuple[int, ...]
    init: Named
    trainable: bool
    l1: float
    l2: float
    fan_in: int | None = None
    fan_out: int | None = None
    regularized: bool = True  # whether the global train.l1/l2 penalties apply (not to biases)
    fitted: bool = False  # computed from the training split by its op's `fit`, not trained
    dtype: str = "float32"  # "string": a fitted vocabulary

    @property
    def size(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class Graph:
    name: str
    inputs: tuple[Input, ...]
    nodes: tuple[Node, ...]
    outputs: tuple[str, ...]
    params: tuple[Parameter, ...] = ()
    names: Mapping[str, str] = field(default_factory=dict)  # model-level name -> value (`as`, blocks)

    def type_of(self, value: str) -> TensorType | None:
        for i in self.inputs:
            if i.name == value:
                return i.type
        for n in self.nodes:
            if n.name == value:
                return n.type
        return None

    def producer(self, value: str) -> Node | None:
        return next((n for n in self.nodes if n.name == value), None)

    def vocabulary(self, value: str) -> int | None:
        """How many token ids `value` may hold, [0, n): the smallest index limit of the ops
        reading it (an embedding's vocab); None when no op limits it."""
        vocabs = (
            OPS[n.op].index_limit(**n.attrs)
            for n in self.nodes
            if OPS[n.op].index_limit is not None and n.inputs[0] == value
        )
        return min(vocabs, default=None)


@dataclass(frozen=True)
class LossTerm:
    """A weighted loss on one model value. With `fused` set ("softmax", "log_softmax" or
    "sigmoid"), the loss is computed from `input`, the producer's input, in one stable step.
    `target` names the data array; `target_value`, when set, is the model value the target is
    read from instead: a target that is a preprocessed input compares with what the model sees."""

    op: str
    prediction: str
    input: str
    target: str
    target_type: TensorType
    weight: float
    attrs: Mapping[str, Any]
    fused: str | None
    span: Span
    target_value: str | None = None
    # With standardized targets: the (mean, std) parameter keys of the prediction's
    # unstandardize node, whose input the loss reads, against (target - mean) / std.
    target_scale: tuple[str, str] | None = None


@dataclass(frozen=True)
class EarlyStopping:
    monitor: str
    mode: str  # "min" or "max"
    patience: int
    min_delta: float
    restore_best: bool


@dataclass(frozen=True)
class DataConfig:
    """Paths as written in the spec, relative to `root` (the spec's folder). A source is a
    path, or a mapping from input/target names to `.npy` paths."""

    root: str = "."
    train: Any = None
    validation: Any = None
    test: Any = None
    standardize: tuple[str, ...] = ()  # names of the inputs to standardize
    standardize_targets: tuple[str, ...] = ()  # names of the regression targets to standardize
    # The class names of each class target of the training data (None: class indices), read at
    # check time where the file could be: what `nnc check` shows. Not part of the program.
    labels: Mapping[str, list[str] | None] = field(default_factory=dict, compare=False)
    # Where the spec names each split's source: a command that must read a file the spec names
    # refuses a missing one there. Not part of the program.
    spans: Mapping[str, Span] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class TrainConfig:
    losses: tuple[LossTerm, ...]
    optimizer: Named
    epochs: int
    batch_size: int
    shuffle: bool
    validation_split: float | None
    metrics: tuple[Named, ...]
    seed: int
    l1: float
    l2: float
    early_stopping: EarlyStopping | None
    data: DataConfig
    max_steps: int | None = None  # stop after this many optimizer steps (or `epochs`, if first)
    checkpoint_every: tuple[str, float] = ("seconds", 30.0)  # (seconds | epochs | steps, amount)


@dataclass(frozen=True)
class Program:
    """A checked spec: the model graph and how to train it."""

    graph: Graph
    train: TrainConfig
    path: str


# ---- textual dump (`nnc check --ir`, golden tests) ---------------------------------------
def _attrs(attrs: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={show(v)}" for k, v in attrs.items())


def format_program(program: Program) -> str:
    g = program.graph
    lines = [f"graph {g.name}"]
    for i in g.inputs:
        lines.append(f"  input {i.name}: {i.type}")
    for n in g.nodes:
        args = ", ".join((*n.inputs, *n.params))
        attrs = f" {{{_attrs(n.attrs)}}}" if n.attrs else ""
        lines.append(f"  {n.name}: {n.type} = {n.op}({args}){attrs}")
    lines.append(f"  output {', '.join(g.outputs)}")
    lines.append("params")
    for p in g.params:
        extra = " fitted" if p.fitted else "" if p.trainable else " frozen"
        if p.l1 or p.l2:
            extra += f" l1={show(p.l1)} l2={show(p.l2)}"
        lines.append(f"  {p.key}: {p.dtype}[{', '.join(map(str, p.shape))}] init={p.init}{extra}")
    t = program.train
    lines.append("train")
    for loss in t.losses:
        fused = f" fused={loss.fused}" if loss.fused else ""
        fused += f" target_value={loss.target_value}" if loss.target_value else ""
        fused += f" target_scale={'/'.join(loss.target_scale)}" if loss.target_scale else ""
        attrs = f" {{{_attrs(loss.attrs)}}}" if loss.attrs else ""
        lines.append(
            f"  loss {loss.op}({loss.input}, target={loss.target}: {loss.target_type})"
            f" weight={show(loss.weight)}{fused}{attrs}"
        )
    lines.append(f"  optimizer {t.optimizer}")
    lines.append(
        f"  epochs={t.epochs} batch_size={t.batch_size} shuffle={show(t.shuffle)} "
        f"validation_split={show(t.validation_split)} seed={t.seed} l1={show(t.l1)} l2={show(t.l2)}"
        + (f" max_steps={t.max_steps}" if t.max_steps is not None else "")
    )
    if t.metrics:
        lines.append(f"  metrics {', '.join(str(m) for m in t.metrics)}")
    d = t.data
    for split in ("train", "validation", "test"):
        if getattr(d, split) is not None:
            lines.append(f"  data.{split} {show(getattr(d, split))}")
    if d.standardize:
        lines.append(f"  data.standardize {', '.join(d.standardize)}")
    if d.standardize_targets:
        lines.append(f"  data.standardize_targets {', '.join(d.standardize_targets)}")
    if t.early_stopping:
        e = t.early_stopping
        lines.append(
            f"  early_stopping monitor={e.monitor} mode={e.mode} patience={e.patience} "
            f"min_delta={show(e.min_delta)} restore_best={show(e.restore_best)}"
        )
    return "\n".join(lines) + "\n"
