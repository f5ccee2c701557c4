"""What an op is. Each op file defines one `OpDef` (or a few siblings made by one factory, as
conv1d/conv2d) holding everything about the op: its arguments, parameters, shape and dtype
rules, cost, forward and backward kernels, ONNX lowering, the samples its tests run on and, for
preprocessing, `fit` (its parameters computed from the training split).

Shapes are tuples whose first entry is the batch dimension. The compiler passes the symbol "N"
there, so a shape rule must carry x[0] through untouched and compute only on the other axes;
the same rule then also works on concrete shapes. The exporter may also pass a `Length` at
axis 1 to learn whether a model takes sequences of any length: a rule that can carry it through
(and whose parameter shapes do not depend on it) says yes, one that computes with it raises.

Kernels. Parameters are inputs: `dense` is called as forward(ctx, x, weight, bias, **attrs),
the parameters following the data inputs in the order `params` lists them.
- forward(ctx, *inputs, **attrs) -> (y, cache): `cache` holds exactly what backward reads.
- backward(ctx, dy, cache, **attrs) -> one gradient per input (parameters included), in input
  order; an entry may be None where `ctx.needs_grad` says that input needs none (a model
  input, or a frozen layer's weights).
- A loss is forward(ctx, prediction, target, **attrs) -> (scalar loss, cache) and
  backward(ctx, dloss, cache, **attrs) -> (dprediction,): the target gets no gradient.
- to_onnx(g, *input_names, **attrs) -> output name: the op in inference mode as ONNX nodes,
  added through `g` (runtime/onnx/graph.py); parameters arrive as initializer names, except a
  vocabulary (a string parameter), which arrives as its array.
Kernels keep the dtype they are given (float32 in training, float64 in the gradient checks):
constants are made with `x.dtype`, never as Python floats that would promote an array."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nnc.runtime.schema import Arg, Named

Shape = tuple  # (batch, *dims): batch is "N" in the compiler, an int at run time


class ShapeError(Exception):
    """Raised by a shape rule. `arg` names the argument (or input) the error is about, so the
    compiler can put the caret there; op files know nothing of spans."""

    def __init__(self, message: str, *, arg: str | None = None, help: str | None = None):
        super().__init__(message)
        self.message = message
        self.arg = arg
        self.help = help


@dataclass(frozen=True)
class Length:
    """A symbolic sequence length. It compares equal only to itself and refuses arithmetic and
    ordering (TypeError), so a shape rule that needs the concrete length fails loudly instead
    of computing something wrong with it."""

    name: str = "T"

    def __str__(self) -> str:
        return self.name


@dataclass
class Context:
    """What a kernel may know beyond its inputs. `training` switches dropout and batch norm's
    statistics; `rng` is the run's one seeded generator, the only source of randomness;
    `needs_grad` (one bool per input, set by the executor before each backward call) lets a
    kernel skip gradients nobody reads."""

    training: bool = False
    rng: Any = None  # numpy.random.Generator; typed loosely so this module imports no numpy
    needs_grad: tuple[bool, ...] = ()
    # (state array, new value) pairs a training forward asks to store: batch norm's running
    # statistics. Kernels never write their arguments; the executor stores these once the
    # step's loss is known to be finite.
    updates: list = field(default_factory=list)
    # During a backward call, where each of the step's parameter gradients will be stored (views
    # of the flat gradient buffer). A kernel may compute a gradient straight into its place
    # (out=) and return that array, which saves the executor a copy of a large weight gradient.
    grad_buffers: tuple = ()

    def wants(self, index: int) -> bool:
        return not self.needs_grad or self.needs_grad[index]

    def grad_buffer(self, param: int):
        """The array parameter number `param` (0 = the op's first) has its gradient stored in,
        for a kernel's `out=`; None when the caller has none (tests, float64 checks)."""
        return self.grad_buffers[param] if param < len(self.grad_buffers) else None


@dataclass(frozen=True)
class Sample:
    """One test case for the registry-driven op tests: inputs (parameters included, in order),
    attributes, and for a loss its target. Values are float64 arrays where a gradient is
    checked; integer inputs (class targets, token ids) keep their integer dtype."""

    inputs: tuple
    attrs: dict = field(default_factory=dict)
    target: Any = None


@dataclass(frozen=True)
class ParamSpec:
    """One parameter (or state buffer) of a layer: stored as `<layer>.<name>`."""

    name: str
    shape: tuple[int, ...]
    init: Named  # default initializer; the user overrides it with the keyword `init_arg`
    init_arg: str | None = "init"  # spec keyword choosing the initializer, e.g. "bias_init"
    trainable: bool = True  # False for state such as batch_norm's running statistics
    regularized: bool = True  # whether per-layer and global l1/l2 penalties apply
    fan_in: int | None = None  # for variance-scaling initializers (glorot, he, lecun)
    fan_out: int | None = None
    # "string" for a fitted vocabulary (lookup, tokenize): never trained, and read whole from
    # the weights; every other parameter is float32
    dtype: str = "float32"


@dataclass(frozen=True)
class OpDef:
    name: str
    doc: str
    shape: Callable[..., Shape]  # (*input_shapes, **attrs) -> output shape
    inputs: tuple[str, ...] = ("x",)  # names of the data inputs, for messages
    min_inputs: int = 1
    max_inputs: int | None = 1  # None: any number (add, concat, multiply)
    # per input, the dtype it takes (or a tuple of those it takes); the last repeats for
    # variadic ops
    input_dtypes: tuple[str | tuple[str, ...], ...] = ("float32",)
    # The dtype rule beside the shape rule: (*input dtypes, **attrs) -> the output's dtype, a
    # name in runtime/dtypes.py; None: float32, what every op computing on features gives.
    dtype: Callable[..., str] | None = None
    attrs: tuple[Arg, ...] = ()  # in positional order: dense(64) binds units=64
    params: Callable[..., tuple[ParamSpec, ...]] | None = None  # (*input_shapes, **attrs)
    flops: Callable[..., int] | None = None  # (*input_shapes with batch 1, **attrs); default: output size
    is_loss: bool = False
    # losses: (prediction shape, **attrs) -> target type
    target: Callable[..., tuple[str, Shape]] | None = None
    # losses: the kind of output they train: multiclass (class indices), binary or regression
    trains: str = "regression"
    # losses: the activations whose output they read as logits instead, in one stable step
    # (softmax into cross_entropy); the compiler fuses them
    absorbs: tuple[str, ...] = ()
    # losses: (**attrs) -> whether the prediction is read as logits; None: never
    reads_logits: Callable[..., bool] | None = None
    # losses: (class names or None, **attrs) -> attrs with what names classes (class_weights by
    # name) as class indices; raises ValueError for a name the classes lack
    name_classes: Callable[..., dict] | None = None
    # (**attrs) -> n: the op's int64 input holds indices in [0, n) (an embedding's vocab); the
    # data checks refuse others
    index_limit: Callable[..., int] | None = None
    # (**attrs) -> n: the op's int64 output holds indices in [0, n) (lookup, tokenize), which
    # an op reading it with an index_limit must cover; None: no such bound
    index_bound: Callable[..., int | None] | None = None
    # the lowest ONNX opset whose ops the lowering uses (tokenize's StringSplit: 20); the
    # exporter raises its default to it
    min_opset: int = 0
    # where the output's values lie when they cannot be every real number ("in (0, 1)" for
    # sigmoid): a prediction made by such an op cannot learn standardized targets
    bounded: str | None = None
    # Attributes the compiler resolves from the input shapes, so that the IR, the runtime and
    # the exporter see concrete values (attention's key_dim, a pool's default stride):
    # (*input_shapes, **attrs) -> {attr: value}
    derive: Callable[..., dict[str, Any]] | None = None
    # Fitted preprocessing: (*data inputs over the whole training split, **attrs) -> the values
    # of the op's parameters, in `params` order; its parameters are not trained. Some are
    # written as layers (lookup, impute); others are inserted by the compiler (`inserted`:
    # a `data { }` setting or an input's dtype asks for them) and never written.
    fit: Callable[..., tuple] | None = None
    # fit reads the training split's array of the target its `target` attribute names, not its
    # inputs (unstandardize: a regression output in its target's units)
    fits_target: bool = False
    inserted: bool = False
    # (*fitted parameter values, **attrs) -> one line saying what was fitted, for `nnc check`
    # with data: "3 values: Biscoe, Dream, Torgersen"
    describe_fit: Callable[..., str] | None = None
    forward: Callable[..., tuple[Any, Any]] | None = None  # (ctx, *inputs, **attrs) -> (y, cache)
    backward: Callable[..., tuple] | None = None  # (ctx, dy, cache, **attrs) -> input grads
    samples: Callable[..., Any] | None = None  # (rng) -> iterable of Sample
    # (g: runtime.onnx_graph.OnnxGraph, *input value names, **attrs) -> output value name;
    # inference semantics (dropout is the identity). Losses have none: they are not exported.
    to_onnx: Callable[..., str] | None = None

    @property
    def classifier(self) -> bool:
        """A loss that trains classes (its metrics: accuracy, top_k; its output: probabilities)."""
        return self.trains != "regression"

    def input_dtype(self, index: int) -> tuple[str, ...]:
        """The dtypes input number `index` may have."""
        accepted = self.input_dtypes[min(index, len(self.input_dtypes) - 1)]
        return (accepted,) if isinstance(accepted, str) else accepted

    def output_dtype(self, *dtypes: str, **attrs) -> str:
        return self.dtype(*dtypes, **attrs) if self.dtype else "float32"


# ---- helpers shared by shape rules -----------------------------------------------------
def check_rank(x: Shape, low: int, high: int | None = None, *, what: str = "x", layout: str = "") -> None:
    """Rank counts the batch axis: a dense input float32[64] has rank 2 here, shown as [N, 64]."""
    rank = len(x)
    if rank < low or (high is not None and rank > high):
        want = f"rank {low}" if high == low else f"rank >= {low}" if high is None else f"rank {low} to {high}"
        hint = f" ({layout})" if layout else ""
        raise ShapeError(
            f"expects {what} of {want}{hint}. Received: {what}: {format_shape(x)}",
            arg=what,
            help=_rank_help(x, low, layout),
        )


def _rank_help(x: Shape, low: int, layout: str) -> str | None:
    """How to give a layer the rank it wants: reshape the value to its layout, or flatten it."""
    values = math.prod(d for d in x[1:] if isinstance(d, int))
    if layout:
        axes = [a.replace("*spatial", "L") for a in layout.split(", ")[1:]]
        return f"reshape it first: `reshape(({', '.join(axes)}))`, whose sizes multiply to {values}"
    if low == 2 and len(x) > low:
        return f"flatten it first: `flatten` gives its {values} values per sample"
    return None


def format_shape(shape: Shape) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def elementwise(x: Shape, **_attrs) -> Shape:
    return x


def size(shape: Shape) -> int:
    """Number of elements of the per-sample part of a shape."""
    return math.prod(shape[1:])


def normalize_axis(axis: int, rank: int, *, arg: str = "axis") -> int:
    """Axis over the full shape; 0 (the batch axis) is refused: ops act within a sample."""
    full = axis + rank if axis < 0 else axis
    if not 1 <= full < rank:
        raise ShapeError(
            f"axis {axis} is out of range for a tensor of rank {rank} (axis 0 is the batch)",
            arg=arg,
            help=f"use an axis from 1 to {rank - 1}, or -1",
        )
    return full


def conv_output_size(size: int, kernel: int, stride: int, dilation: int, pad_total: int) -> int:
    return (size + pad_total - dilation * (kernel - 1) - 1) // stride + 1


def same_padding(size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """(begin, end) padding that makes the output ceil(size / stride), as ONNX SAME_UPPER."""
    out = -(-size // stride)
    total = max(0, (out - 1) * stride + dilation * (kernel - 1) + 1 - size)
    return total // 2, total - total // 2


def glorot_uniform() -> Named:
    return Named("glorot_uniform", {})


def zeros() -> Named:
    return Named("zeros", {})


def ones() -> Named:
    return Named("ones", {})


def check_same_shape(op: str, xs: tuple[Shape, ...]) -> Shape:
    """Shape rule of a variadic elementwise op (add, multiply): every input has one shape."""
    first = xs[0]
    for i, x in enumerate(xs[1:], start=2):
        if tuple(x) != tuple(first):
            raise ShapeError(
                f"{op} needs inputs of one shape. Received: input 1: {format_shape(first)}, "
                f"input {i}: {format_shape(x)}",
                arg=f"x{i}",
                help="project one input with dense(...) or conv to match the other",
            )
    return first


def resolve_padding(padding, sizes, kernel, stride, dilation) -> tuple[tuple[int, int], ...]:
    """(begin, end) per spatial axis from a normalized Padding: "same" or (begins..., ends...)."""
    if padding == "same":
        windows = zip(sizes, kernel, stride, dilation, strict=True)
        return tuple(same_padding(n, k, s, d) for n, k, s, d in windows)
    rank = len(sizes)
    return tuple(zip(padding[:rank], padding[rank:], strict=True))


def flat_padding(pads) -> tuple[int, ...]:
    """((begin, end), ...) per spatial axis in Padding's normalized form (begins..., ends...)."""
    return tuple(begin for begin, _ in pads) + tuple(end for _, end in pads)


def window_sizes(op: str, x: Shape, kernel, stride, dilation, padding, *, arg: str) -> tuple[int, ...]:
    """Output spatial sizes of a sliding window (conv, pool) over x = (N, C, *spatial)."""
    pads = resolve_padding(padding, x[2:], kernel, stride, dilation)
    out = []
    windows = zip(x[2:], kernel, stride, dilation, pads, strict=True)
    for axis, (n, k, s, d, (begin, end)) in enumerate(windows, start=2):
        m = conv_output_size(n, k, s, d, begin + end)
        if m < 1:
            raise ShapeError(
                f"{op} output would be empty along axis {axis}: input size {n}, kernel {k}, "
                f"dilation {d}, padding ({begin}, {end}). Received: x: {format_shape(x)}",
                arg=arg,
                help="use padding=same, a smaller kernel, or a larger input",
            )
        out.append(m)
    return tuple(out)


def chain(g, op_type: str, xs) -> str:
    """A variadic elementwise op (add, multiply) lowered as a chain of binary ONNX nodes,
    combining in the order the forward does: ((x1 op x2) op x3) ..."""
    y = g.node(op_type, [xs[0], xs[1]])
    for x in xs[2:]:
        y = g.node(op_type, [y, x])
    return y


def loss_shape(x: Shape, **_attrs) -> Shape:
    """Shape rule of a loss: a prediction of rank >= 2 reduces to a scalar."""
    check_rank(x, 2, what="prediction")
    return ()


def same_target(x: Shape, **_attrs) -> tuple[str, Shape]:
    """Target of an elementwise loss (mse, mae, huber, binary_cross_entropy): float32, shaped like x."""
    return "float32", tuple(x)


def shown_value(text: str) -> str:
    """A fitted string as `nnc check` lists it, among others after commas: quoted when it holds
    a comma, a quote, white space at an end or a control character, or is empty."""
    plain = text and text.strip() == text and not any(c in text for c in ",'\"") and text.isprintable()
    return text if plain else repr(text)
