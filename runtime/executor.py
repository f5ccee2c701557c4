"""The IR compiled to an executable plan: steps in topological order, each calling its op's
forward (which keeps an explicit cache), then the losses, then the op backwards in reverse.

The plan is built once per model. It knows statically which values need a gradient (those
that depend on a trainable parameter and reach a loss), so a backward pass does no work for
the rest: no gradient for the model inputs, none for a frozen first layer's weights."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from nnc.runtime.errors import RunError
from nnc.runtime.ops import OPS
from nnc.runtime.ops.base import Context, OpDef
from nnc.runtime.parameters import UNUSED, Parameters


@dataclass(frozen=True)
class Step:
    name: str  # the node, and the value it produces
    op: OpDef
    inputs: tuple[str, ...]  # data inputs: model inputs or earlier steps' values
    params: tuple[str, ...]  # parameter keys, passed after the data inputs
    attrs: Mapping
    needs_grad: tuple[bool, ...] = ()  # per input, then per parameter


@dataclass(frozen=True)
class LossStep:
    op: OpDef
    prediction: str  # the model value the user named (probs), for metrics
    input: str  # the value the loss reads: the logits when an activation was fused
    target: str  # the data array
    weight: float
    attrs: Mapping
    target_value: str | None = None  # a model value to read the target from instead (see ir.LossTerm)
    # (mean, std) parameter keys: the loss compares with (target - mean) / std (see ir.LossTerm)
    target_scale: tuple[str, str] | None = None

    def target_of(self, values: Mapping, feeds: Mapping) -> np.ndarray:
        """The target array of a pass: the data, or the preprocessed input it names."""
        return values[self.target_value] if self.target_value else feeds[self.target]

    @property
    def logits(self) -> bool:
        """Whether the named prediction holds logits rather than probabilities: no activation
        was fused, and the loss reads logits (its op says when)."""
        reads = self.op.reads_logits is not None and self.op.reads_logits(**self.attrs)
        return self.prediction == self.input and reads


@dataclass
class Pass:
    """The result of one forward (and backward) pass over a batch."""

    loss: float
    losses: list[float]  # each term, unweighted
    values: dict[str, np.ndarray] = field(default_factory=dict)


class Plan:
    def __init__(self, graph, losses: Sequence = (), params: Parameters | None = None):
        """`graph` and `losses` are the IR's Graph and LossTerms (read, never imported)."""
        self.inputs = tuple(i.name for i in graph.inputs)
        self.outputs = tuple(graph.outputs)
        self.params = params if params is not None else Parameters(graph.params)
        self.losses = tuple(
            LossStep(
                OPS[t.op],
                t.prediction,
                t.input,
                t.target,
                t.weight,
                dict(t.attrs),
                t.target_value,
                t.target_scale,
            )
            for t in losses
        )
        trainable = {k for k, p in self.params.specs.items() if p.trainable}
        # A value needs a gradient when it depends on a trainable parameter and reaches a loss.
        depends: set[str] = set()
        for node in graph.nodes:
            if any(i in depends for i in node.inputs) or any(k in trainable for k in node.params):
                depends.add(node.name)
        reaches = {loss.input for loss in self.losses}
        for node in reversed(graph.nodes):
            if node.name in reaches:
                reaches.update(node.inputs)
        steps = []
        for node in graph.nodes:
            op = OPS[node.op]
            needs = tuple(i in depends and i in reaches for i in node.inputs) + tuple(
                k in trainable for k in node.params
            )
            steps.append(Step(node.name, op, tuple(node.inputs), tuple(node.params), dict(node.attrs), needs))
        self.steps = tuple(steps)
        # For inference: the index of the last step reading each value, so it can be freed.
        self.last_use = {name: index for index, step in enumerate(self.steps) for name in step.inputs}
        kept = {
            *self.outputs,
            *(loss.input for loss in self.losses),
            *(loss.prediction for loss in self.losses),
            *(loss.target_value for loss in self.losses if loss.target_value),
        }
        self.train_steps = _pool_before_relu(self.steps, kept)
        backward = {s.name for s in steps if s.name in depends and s.name in reaches}
        self.backward_steps = tuple(
            s for s in reversed(self.train_steps) if s.name in backward or s.name.split("/")[0] in backward
        )

    # ---- forward ----------------------------------------------------------------------
    def run(self, feeds: Mapping[str, np.ndarray], outputs: Sequence[str] | None = None) -> dict:
        """Inference: returns the requested values (the graph outputs by default), dropping every
        intermediate value after its last use so memory stays at the widest layer."""
        wanted = tuple(outputs or self.outputs)
        ctx = Context(training=False)
        values = {name: feeds[name] for name in self.inputs}
        for index, step in enumerate(self.steps):
            args = [values[name] for name in step.inputs] + [self.params.values[k] for k in step.params]
            values[step.name], _ = step.op.forward(ctx, *args, **step.attrs)
            for name in step.inputs:
                if self.last_use[name] == index and name not in wanted:
                    del values[name]
        return {name: values[name] for name in wanted}

    def _forward(self, feeds, ctx: Context, steps: Sequence[Step]) -> tuple[dict, dict]:
        values = {name: feeds[name] for name in self.inputs}
        caches = {}
        for step in steps:
            args = [values[name] for name in step.inputs] + [self.params.values[k] for k in step.params]
            values[step.name], caches[step.name] = step.op.forward(ctx, *args, **step.attrs)
        return values, caches

    def _losses(self, values, feeds, ctx: Context) -> tuple[list, list]:
        losses, caches = [], []
        for loss in self.losses:
            target = loss.target_of(values, feeds)
            if loss.target_scale is not None:
                mean, std = (self.params.values[k] for k in loss.target_scale)
                target = (target - mean) / std
            value, cache = loss.op.forward(ctx, values[loss.input], target, **loss.attrs)
            losses.append(value)
            caches.append(cache)
        return losses, caches

    def evaluate(self, feeds: Mapping[str, np.ndarray]) -> Pass:
        """Inference-mode forward and losses (validation, `nnc eval`)."""
        ctx = Context(training=False)
        values, _ = self._forward(feeds, ctx, self.steps)
        losses, _ = self._losses(values, feeds, ctx)
        terms = [float(v) for v in losses]
        return Pass(sum(t * loss.weight for t, loss in zip(terms, self.losses, strict=True)), terms, values)

    def name_classes(self, labels: Mapping[str, list[str]], path: str) -> None:
        """Resolves what the losses' attributes say by class name (class_weights {cat: 2.0}) with
        the training data's class names; a name they lack is refused (E410)."""
        losses = []
        for loss in self.losses:
            if loss.op.name_classes is not None:
                try:
                    named = loss.op.name_classes(labels.get(loss.target), **loss.attrs)
                except ValueError as e:
                    raise RunError(
                        "E410", str(e), path=path, help="name the classes as the training data do"
                    ) from None
                loss = replace(loss, attrs={**loss.attrs, **named})
            losses.append(loss)
        self.losses = tuple(losses)

    def categories(self) -> dict[str, set[str]]:
        """{input: the values its lookup learned}, for each input a `lookup` reads directly: a
        value outside them is a category the training data did not have."""
        out: dict[str, set[str]] = {}
        for step in self.steps:
            if step.op.name == "lookup" and step.inputs[0] in self.inputs:
                vocabulary = self.params.values[step.params[0]]
                out.setdefault(step.inputs[0], set()).update(vocabulary[vocabulary != UNUSED].tolist())
        return out

    def fit(self, feeds: Mapping[str, np.ndarray]) -> None:
        """Fits the preprocessing: each step whose op has `fit` computes its parameters from its
        inputs over all of `feeds` (the training split), in graph order, so that a fitted step
        after another sees the first one's fitted output."""
        ctx = Context(training=False)
        for step in self.steps:
            if step.op.fits_target:  # from the target's data alone: nothing to run
                fitted = step.op.fit(feeds[step.attrs["target"]], **step.attrs)
                for key, value in zip(step.params, fitted, strict=True):
                    self.params.set(key, value)
        values = {name: feeds[name] for name in self.inputs}
        last = max(
            (i for i, step in enumerate(self.steps) if step.op.fit and not step.op.fits_target), default=-1
        )
        for step in self.steps[: last + 1]:
            args = [values[name] for name in step.inputs]
            if step.op.fit is not None and not step.op.fits_target:
                for key, fitted in zip(step.params, step.op.fit(*args, **step.attrs), strict=True):
                    self.params.set(key, fitted)
            args += [self.params.values[k] for k in step.params]
            values[step.name], _ = step.op.forward(ctx, *args, **step.attrs)

    # ---- training ---------------------------------------------------------------------
    def gradients(self, feeds: Mapping[str, np.ndarray], rng: np.random.Generator) -> Pass:
        """Training-mode forward, the weighted losses, and backward: the trainable parameters'
        gradients land in `self.params.grad` (entries of parameters that reach no loss stay 0).
        Runs `train_steps`, so the returned values lack those a rewrite removed."""
        ctx = Context(training=True, rng=rng)
        values, caches = self._forward(feeds, ctx, self.train_steps)
        losses, loss_caches = self._losses(values, feeds, ctx)
        terms = [float(v) for v in losses]
        total = sum(t * loss.weight for t, loss in zip(terms, self.losses, strict=True))
        if not np.isfinite(total):
            return Pass(total, terms, values)
        for state, value in ctx.updates:
            state[...] = value
        grads: dict[str, np.ndarray] = {}
        for loss, value, cache in zip(self.losses, losses, loss_caches, strict=True):
            weight = np.asarray(loss.weight, value.dtype)
            (dx,) = loss.op.backward(ctx, weight, cache, **loss.attrs)
            _accumulate(grads, loss.input, dx)
        n_params = self.params.grads
        for step in self.backward_steps:
            dy = grads.pop(step.name, None)
            if dy is None:
                continue
            ctx.needs_grad = step.needs_grad
            ctx.grad_buffers = tuple(n_params.get(key) for key in step.params)  # None: not trained
            dxs = step.op.backward(ctx, dy, caches.pop(step.name), **step.attrs)
            n = len(step.inputs)
            for name, needed, dx in zip(step.inputs, step.needs_grad[:n], dxs[:n], strict=True):
                if needed:
                    _accumulate(grads, name, dx)
            for key, needed, dw in zip(step.params, step.needs_grad[n:], dxs[n:], strict=True):
                if needed and dw is not n_params[key]:  # not already computed in place
                    n_params[key][...] = dw
        return Pass(total, terms, values)

    def first_non_finite(self, values: Mapping[str, np.ndarray]) -> Step | None:
        """The first step, in execution order, whose output holds NaN or Inf."""
        for step in self.steps:
            value = values.get(step.name)
            if value is not None and np.issubdtype(value.dtype, np.floating) and not np.isfinite(value).all():
                return step
        return None


def _pool_before_relu(steps: Sequence[Step], kept: set[str]) -> tuple[Step, ...]:
    """The training steps: `relu -> max_pool` becomes `max_pool -> relu`, on a quarter of the
    elements for a 2x2 pool. Values and gradients are bit-identical: relu is monotone, so the
    maximum of the relus is the relu of the maximum, and where a window's maximum is <= 0 both
    orders give a zero gradient. The pooled step keeps the pool's name, so every value but the
    relu's own (which nothing else reads) is still there; the pre-activation pool is
    `<pool>/before_relu`."""
    readers: dict[str, int] = {}
    for step in steps:
        for name in step.inputs:
            readers[name] = readers.get(name, 0) + 1
    out: list[Step] = []
    for step in steps:
        relu = out[-1] if out else None
        if (
            relu is not None
            and relu.op.name == "relu"
            and step.op.name.startswith("max_pool")
            and step.inputs == (relu.name,)
            and readers[relu.name] == 1
            and relu.name not in kept
        ):
            pooled = replace(
                step, name=f"{step.name}/before_relu", inputs=relu.inputs, needs_grad=relu.needs_grad
            )
            out[-1:] = [pooled, replace(relu, name=step.name, inputs=(pooled.name,))]
        else:
            out.append(step)
    return tuple(out)


def _accumulate(grads: dict, name: str, dx: np.ndarray) -> None:
    # NOTE: never add in place: a kernel may return its incoming gradient itself (add, linear),
    # so the same array can be another value's gradient too.
    grads[name] = dx if name not in grads else grads[name] + dx
