"""Losses, optimizer, `train { }` and `data { }` -> TrainConfig. Knows which losses are fused
with the activation before them, and which settings need validation data."""

from __future__ import annotations

from dataclasses import replace

from nnc.compiler import ast
from nnc.compiler.bind import BindFailed, bind_arguments, bind_call, check_value
from nnc.compiler.build_ir import Anything
from nnc.compiler.diagnostics import Diagnostics, did_you_mean
from nnc.compiler.ir import DataConfig, EarlyStopping, Graph, LossTerm, TensorType, TrainConfig
from nnc.compiler.resolve import Resolved
from nnc.compiler.source import Span
from nnc.runtime import data
from nnc.runtime.metrics import METRICS, BoundMetric, bind_metrics, metric_problem, term_names
from nnc.runtime.ops import OPS
from nnc.runtime.ops.base import ShapeError
from nnc.runtime.optim import DEFAULT_OPTIMIZER, OPTIMIZERS, optimizer_problem
from nnc.runtime.schema import (
    Arg,
    Bool,
    Cadence,
    Choice,
    Float,
    Int,
    Named,
    Optional,
    Signature,
    Symbol,
    Table,
)

# A checkpoint at most every 30 seconds (and at the end, and on Ctrl-C): a SIGKILL loses at
# most that much work, and a run of a few seconds writes one checkpoint, not one per epoch.
DEFAULT_CHECKPOINT_EVERY = "30s"

TRAIN = Signature(
    "train",
    (
        Arg("epochs", Int(1), 10),
        Arg("batch_size", Int(1), 32),
        Arg("shuffle", Bool(), True),
        Arg("validation", Optional(Float(0, 1, min_open=True, max_open=True)), None, "fraction held out"),
        Arg("metrics", Anything(), ()),
        Arg("seed", Int(0), 0),
        Arg("l1", Float(0), 0.0, "global L1 penalty on all weights"),
        Arg("l2", Float(0), 0.0, "global L2 penalty on all weights"),
        Arg("max_steps", Optional(Int(1)), None, "stop after this many optimizer steps"),
        Arg("checkpoint_every", Cadence(), DEFAULT_CHECKPOINT_EVERY, "how often a checkpoint is written"),
    ),
)
EARLY_STOPPING = Signature(
    "early_stopping",
    (
        Arg("monitor", Anything(), Symbol("val_loss")),
        Arg("mode", Choice(("auto", "min", "max")), "auto"),
        Arg("patience", Int(0), 0),
        Arg("min_delta", Float(0), 0.0),
        Arg("restore_best", Bool(), False),
    ),
)
DATA = Signature(
    "data",
    (
        Arg("train", Anything(), None),
        Arg("validation", Anything(), None),
        Arg("test", Anything(), None),
        Arg("standardize", Anything(), False),
        Arg("standardize_targets", Anything(), False),
    ),
)


def _section_args(section: ast.Section | None, diags: Diagnostics, calls: dict[str, Signature]):
    """A section's settings as keyword arguments, and its calls by name."""
    if section is None:
        return (), {}
    kwargs, found = [], {}
    for entry in section.entries:
        if isinstance(entry, ast.Setting):
            kwargs.append(ast.KeywordArg(entry.key, entry.value))
        elif entry.name.text in calls:
            if entry.name.text in found:
                diags.error("E204", f"`{entry.name.text}` is given twice", entry.name.span)
            found[entry.name.text] = entry
        else:
            diags.error(
                "E202",
                f"{section.kind.text} has no `{entry.name.text}(...)`",
                entry.name.span,
                help=did_you_mean(entry.name.text, calls)
                or (
                    f"{section.kind.text} takes settings `key = value`"
                    + (f" and {', '.join(calls)}(...)" if calls else "")
                ),
            )
    return tuple(kwargs), found


class _ConfigBuilder:
    def __init__(self, resolved: Resolved, graph: Graph, diags: Diagnostics):
        self.resolved, self.graph, self.diags = resolved, graph, diags
        self.consts = resolved.consts

    def loss(self, item: ast.Loss) -> LossTerm | None:
        call = item.call
        name = call.name.text
        op = OPS.get(name)
        if op is None or not op.is_loss:
            losses = [n for n, o in OPS.items() if o.is_loss]
            if op is not None:
                self.diags.error(
                    "E209",
                    f"`{name}` is a layer, not a loss",
                    call.name.span,
                    help=f"losses: {', '.join(losses)}",
                )
            else:
                self.diags.error(
                    "E201",
                    f"unknown loss `{name}`",
                    call.name.span,
                    help=did_you_mean(name, losses) or f"losses: {', '.join(losses)}",
                )
            return None
        signature = Signature(
            name,
            (
                Arg("prediction", Anything()),
                Arg("target", Anything()),
                *op.attrs,
                Arg("weight", Float(0, min_open=True), 1.0, "weight in the total loss"),
            ),
        )
        spans: dict[str, Span] = {}
        try:
            bound = bind_arguments(
                signature, call.args, call.kwargs, call.span, self.consts, self.diags, owner=name, spans=spans
            )
        except BindFailed:
            return None
        prediction = self.value_name(bound["prediction"], spans["prediction"], "prediction")
        target = bound["target"]
        if not isinstance(target, Symbol):
            self.diags.error(
                "E303",
                f"{name} expects target to be the name of a data column or array. "
                f"Received: target={target!r}",
                spans["target"],
            )
            return None
        if prediction is None:
            return None
        pred_type = self.graph.type_of(prediction)
        if pred_type is None:  # its layer already failed
            return None
        attrs = {a.name: bound[a.name] for a in op.attrs}
        producer = self.graph.producer(prediction)
        fused, loss_input = None, prediction
        if producer is not None and producer.op in op.absorbs:
            if attrs.get("from_logits") is True:
                self.diags.error(
                    "E305",
                    f"{name}(from_logits=true) on `{prediction}`, which is already a {producer.op} output",
                    spans.get("from_logits", call.span),
                    help="remove from_logits: the compiler fuses the activation into the loss",
                )
                return None
            if producer.attrs.get("axis", -1) not in (-1, len(pred_type.shape) - 1):
                self.diags.error("E305", f"{name} needs {producer.op} over the last axis", call.span)
                return None
            fused, loss_input = producer.op, producer.inputs[0]
        # The loss consumes `loss_input`: logits when an activation was fused or none was stated.
        if "from_logits" in attrs and (fused or attrs["from_logits"] is None):
            attrs["from_logits"] = True
        try:
            op.shape(pred_type.shape, **attrs)
            target_dtype, target_shape = op.target(pred_type.shape, **attrs)
        except ShapeError as e:
            message = e.message if e.message.startswith(name) else f"{name} {e.message}"
            self.diags.error(
                "E305",
                f"{message} (loss on `{prediction}`: {pred_type})",
                spans.get(e.arg, spans["prediction"]),
                help=e.help,
            )
            return None
        target_type = TensorType(target_dtype, tuple(target_shape))
        if target.name in self.graph.names and self.graph.names[target.name] not in [
            i.name for i in self.graph.inputs
        ]:
            self.diags.error(
                "E305",
                f"target `{target.name}` is a model value; a target names data",
                spans["target"],
                help="targets are data columns or arrays, or a model input",
            )
            return None
        input_type = self.graph.type_of(target.name)
        if input_type is not None and input_type != target_type:
            self.diags.error(
                "E305",
                f"{name} on `{prediction}` needs a target of type {target_type}. "
                f"Received: input {target.name}: {input_type}",
                spans["target"],
            )
            return None
        return LossTerm(
            name, prediction, loss_input, target.name, target_type, bound["weight"], attrs, fused, item.span
        )

    def value_name(self, value, span: Span, what: str) -> str | None:
        if isinstance(value, Symbol) and value.name in self.graph.names:
            return self.graph.names[value.name]
        shown = value.name if isinstance(value, Symbol) else value
        self.diags.error(
            "E203",
            f"undefined model value `{shown}`",
            span,
            help=did_you_mean(str(shown), self.graph.names) or f"name the {what} with `as NAME` in the model",
        )
        return None

    def optimizer(self) -> Named | None:
        item = self.resolved.optimizer
        if item is None:
            return Named(
                DEFAULT_OPTIMIZER,
                {
                    a.name: a.kind.check(a.default) if a.default is not None else None
                    for a in OPTIMIZERS[DEFAULT_OPTIMIZER].args
                },
            )
        name = item.call.name.text
        if name not in OPTIMIZERS:
            self.diags.error(
                "E201",
                f"unknown optimizer `{name}`",
                item.call.name.span,
                help=did_you_mean(name, OPTIMIZERS) or f"optimizers: {', '.join(OPTIMIZERS)}",
            )
            return None
        try:
            optimizer = bind_call(OPTIMIZERS[name], item.call, self.consts, self.diags, owner=name)
        except BindFailed:
            return None
        if (problem := optimizer_problem(optimizer)) is not None:
            argument, why, help = problem
            where = next((k.value.span for k in item.call.kwargs if k.name.text == argument), item.call.span)
            self.diags.error("E303", why, where, help=help)
            return None
        return optimizer

    def metrics(self, value, span: Span, expr: ast.Expr | None) -> tuple[Named, ...]:
        items = value if isinstance(value, tuple) else (value,)
        exprs = expr.items if isinstance(expr, ast.Sequence) else (expr,) * len(items)
        out = []
        for item, item_expr in zip(items, exprs, strict=True):
            try:
                out.append(
                    check_value(
                        "train",
                        Arg("metrics", Table("metric", METRICS)),
                        item,
                        item_expr.span if item_expr is not None else span,
                        self.consts,
                        self.diags,
                    )
                )
            except BindFailed:
                pass
        return tuple(out)

    def bound_metrics(self, metrics: tuple[Named, ...], losses, span: Span | None) -> list[BoundMetric]:
        """The metrics on the outputs they measure, as training will bind them; a metric that
        measures no output, one that cannot measure its output's kind, and one listed twice
        are refused here, not when training starts."""
        kinds = [OPS[t.op].trains for t in losses]
        bound = (
            bind_metrics(
                metrics, kinds, term_names([t.prediction for t in losses], [t.target for t in losses])
            )
            if losses
            else []
        )
        for config in metrics:
            mine = [b for b in bound if b.config is config]
            if losses and not mine:
                losses_named = "a classification loss (cross_entropy or binary_cross_entropy)"
                self.diags.error("E303", f"metric `{config.name}` needs {losses_named}", span)
            problem = next((p for b in mine if (p := metric_problem(config, kinds[b.output]))), None)
            if problem:
                self.diags.error("E303", problem, span)
        names = [b.name for b in bound]
        for name in dict.fromkeys(n for n in names if names.count(n) > 1):
            self.diags.error("E303", f"metric `{name}` is listed twice", span, help="list each metric once")
        return bound

    def monitor(self, value, span: Span, metrics: list[BoundMetric], has_validation: bool) -> str | None:
        name = value.name if isinstance(value, Symbol) else value
        known = ["loss", *(m.name for m in metrics)]
        allowed = known + [f"val_{k}" for k in known]
        if name not in allowed:
            self.diags.error(
                "E303",
                f"early_stopping cannot monitor `{name}`",
                span,
                help=did_you_mean(str(name), allowed) or f"monitor one of: {', '.join(allowed)}",
            )
            return None
        if name.startswith("val_") and not has_validation:
            self.diags.error(
                "E303",
                f"monitor={name} needs validation data",
                span,
                help='set `validation = 0.1` in train, or `validation = "file"` in data',
            )
            return None
        return name

    def data(self, losses: tuple[LossTerm, ...], *, check_files: bool) -> DataConfig:
        """The data section; with `check_files`, its existing files are checked against the
        model (not when the model or its losses already failed: what the files must hold
        depends on them, and one typo would read as a data error too)."""
        kwargs, _ = _section_args(self.resolved.data, self.diags, {})
        section = self.resolved.data
        span = section.span if section else None
        try:
            bound = bind_arguments(DATA, (), kwargs, span, self.consts, self.diags, owner="data")
        except BindFailed:
            return DataConfig(root=str(self.resolved.root))
        spans = {kw.name.text: kw.value.span for kw in kwargs}
        fields = data.fields_of(self.graph, losses)
        sources = {}
        for split in ("train", "validation", "test"):
            if bound[split] is not None:
                sources[split] = self.data_source(bound[split], spans[split], fields, check_files)
        standardize = bound["standardize"]
        # the inputs whose numbers are features: float32 and uint8 pixels; bool flags when named
        features = tuple(i.name for i in self.graph.inputs if i.type.dtype in ("float32", "uint8"))
        numeric = tuple(i.name for i in self.graph.inputs if i.type.dtype in ("float32", "uint8", "bool"))
        names = self.chosen(
            standardize,
            features,
            numeric,
            spans.get("standardize"),
            lambda n: f"cannot standardize `{n}`: not a numeric model input",
            f"numeric inputs: {', '.join(numeric) or 'none'}",
        )
        targets = self.standardized_targets(
            bound["standardize_targets"], losses, spans.get("standardize_targets")
        )
        labels = {}
        if check_files and isinstance(sources.get("train"), str):
            labels = data.class_names(sources["train"], self.resolved.root, fields)
        return DataConfig(
            str(self.resolved.root),
            standardize=names,
            standardize_targets=targets,
            labels=labels,
            spans={split: spans[split] for split in sources},
            **sources,
        )

    def standardized_targets(self, setting, losses: tuple[LossTerm, ...], span) -> tuple[str, ...]:
        """`standardize_targets`: true (every regression target read from data), false, or
        the names of such targets."""
        inputs = {i.name for i in self.graph.inputs}
        regression = tuple(
            dict.fromkeys(t.target for t in losses if not OPS[t.op].classifier and t.target not in inputs)
        )
        names = self.chosen(
            setting,
            regression,
            regression,
            span,
            lambda n: f"cannot standardize target `{n}`: not the data target of a regression loss",
            f"regression targets: {', '.join(regression) or 'none'}",
        )
        return tuple(n for n in names if n in regression)

    def chosen(self, setting, every: tuple, allowed: tuple, span, problem, help: str) -> tuple[str, ...]:
        """A setting that names some of a set: true (`every`), false (none), a name or a list
        of names, each of which must be `allowed` (E303 at the setting otherwise)."""
        if setting is True or setting is False:
            return every if setting else ()
        items = setting if isinstance(setting, tuple) else (setting,)
        names = tuple(i.name if isinstance(i, Symbol) else str(i) for i in items)
        for n in names:
            if n not in allowed:
                self.diags.error("E303", problem(n), span, help=help)
        return names

    def name_classes(self, term: LossTerm, labels) -> LossTerm | None:
        """A loss whose attributes name classes (class_weights by name), with the names as class
        indices when the training data's names are known now (else training resolves them)."""
        op = OPS[term.op]
        if op.name_classes is None or term.target not in labels:
            return term
        try:
            attrs = {**term.attrs, **op.name_classes(labels[term.target], **term.attrs)}
        except ValueError as e:
            self.diags.error("E303", str(e), term.span, help="name the classes as the training data do")
            return None
        return replace(term, attrs=attrs)

    def data_source(self, value, span: Span, fields: list, check_files: bool):
        """A spec's data source, with what its existing files show checked by the data
        readers themselves (runtime/data): `nnc check` and `nnc train` cannot disagree."""
        paths = value.values() if isinstance(value, dict) else [value]
        if isinstance(value, dict):
            known = [f.name for f in fields]
            for key in value:
                if key not in known:
                    self.diags.error(
                        "E203",
                        f"data names `{key}`, which is neither a model input nor a loss target",
                        span,
                        help=did_you_mean(key, known) or f"names: {', '.join(known)}",
                    )
        for path in paths:
            if not isinstance(path, str):
                self.diags.error("E303", f"a data file is a path in double quotes. Received: {path!r}", span)
                return value
        if not check_files:
            return value
        try:
            data.check(value, self.resolved.root, fields)
        except data.DataError as e:
            if e.code == "E403":  # not there yet: it may be written before training
                self.diags.warning("W401", e.message, span, help=e.help)
            else:
                self.diags.error(e.code, e.message, span, help=e.help)
        return value


def build_config(resolved: Resolved, graph: Graph, diags: Diagnostics) -> TrainConfig:
    builder = _ConfigBuilder(resolved, graph, diags)
    losses = tuple(t for t in (builder.loss(item) for item in resolved.losses) if t is not None)
    if not resolved.losses:
        diags.warning(
            "W501",
            "no loss: the model can be checked and exported, but not trained",
            help="add `loss cross_entropy(OUTPUT, target=LABEL)` or another loss after the model",
        )
    optimizer = builder.optimizer()
    kwargs, calls = _section_args(resolved.train, diags, {"early_stopping": EARLY_STOPPING})
    span = resolved.train.span if resolved.train else None
    try:
        bound = bind_arguments(TRAIN, (), kwargs, span, resolved.consts, diags, owner="train")
    except BindFailed as e:
        bound = e.partial
    # A setting given twice is E204 from the binder, which keeps the first: so do these.
    spans, exprs = {}, {}
    for kw in kwargs:
        spans.setdefault(kw.name.text, kw.value.span)
        exprs.setdefault(kw.name.text, kw.value)
    metrics = (
        builder.metrics(bound["metrics"], spans.get("metrics"), exprs.get("metrics"))
        if bound["metrics"]
        else ()
    )
    bound_metrics = builder.bound_metrics(metrics, losses, spans.get("metrics"))
    data_config = builder.data(losses, check_files=not diags.has_errors)
    losses = tuple(t for t in (builder.name_classes(t, data_config.labels) for t in losses) if t)
    has_validation = bound["validation"] is not None or data_config.validation is not None
    if bound["validation"] is not None and data_config.validation is not None:
        diags.error(
            "E303",
            "validation is given twice: as a split in train and as a file in data",
            spans["validation"],
            help="keep one of them",
        )
    early = None
    if "early_stopping" in calls:
        call = calls["early_stopping"]
        try:
            es = bind_arguments(
                EARLY_STOPPING,
                call.args,
                call.kwargs,
                call.span,
                resolved.consts,
                diags,
                owner="early_stopping",
                spans=(es_spans := {}),
            )
            monitor = builder.monitor(
                es["monitor"], es_spans.get("monitor", call.span), bound_metrics, has_validation
            )
            if monitor is not None:
                mode = es["mode"]
                if mode == "auto":
                    higher = {m.name for m in bound_metrics if m.higher_is_better}
                    mode = "max" if monitor.removeprefix("val_") in higher else "min"
                early = EarlyStopping(monitor, mode, es["patience"], es["min_delta"], es["restore_best"])
        except BindFailed:
            pass
    if optimizer is not None:
        schedule = optimizer.params.get("schedule")
        if schedule is not None and schedule.params.get("monitor") == "val_loss" and not has_validation:
            diags.error(
                "E303",
                "reduce_on_plateau monitors val_loss, which needs validation data",
                resolved.optimizer.span,
                help="set `validation = 0.1` in train, or monitor=loss",
            )
    return TrainConfig(
        losses,
        optimizer,
        bound["epochs"],
        bound["batch_size"],
        bound["shuffle"],
        bound["validation"],
        metrics,
        bound["seed"],
        bound["l1"],
        bound["l2"],
        early,
        data_config,
        bound["max_steps"],
        _cadence(bound["checkpoint_every"]),
    )


def _cadence(value) -> tuple[str, float]:
    """The bound cadence; the default as written when the train section failed to bind."""
    return Cadence().check(value) if isinstance(value, str) else value
