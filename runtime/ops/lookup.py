"""lookup(max_tokens, output=index): categories (strings) as indices into a vocabulary learned
from the training split, as Keras's StringLookup.

The vocabulary has room for `max_tokens` entries. Entry 0 stands for every value the training
data did not have (out of vocabulary); entries 1.. are the training values, the most frequent
first (ties in sorted order), as many as fit. An empty cell is a value like any other, so
missing values in training become a category of their own. `output=one_hot` gives a one-hot
float32 vector per value instead of its index; `output=index` feeds an embedding.

x: string, shape (N, *rest) -> index: int64 (N, *rest), or one_hot: float32 (N, *rest,
max_tokens). Several columns in one input share one vocabulary.

Every missing-value marker of the data (an empty cell, NA, null, ...: runtime/data/cells.py) is
one value, the empty string, whichever the file wrote: a CSV's NA, a Parquet null and an
empty string in a service's request are the same category.

The vocabulary is a string parameter, fitted and never trained (unused entries are marked). The
ONNX graph maps strings with ai.onnx.ml LabelEncoder (unseen -> 0) and OneHot, so the exported
model takes the raw strings. Not differentiable: its input is data."""

import numpy as np
from nnc.runtime.data.cells import MISSING
from nnc.runtime.ops.base import OpDef, ParamSpec, Sample, shown_value, zeros
from nnc.runtime.parameters import UNUSED
from nnc.runtime.schema import Arg, Choice, Int


def shape(x, *, max_tokens, output):
    return (*x, max_tokens) if output == "one_hot" else x


def dtype(x, *, max_tokens, output):
    return "float32" if output == "one_hot" else "int64"


def params(x, *, max_tokens, output):
    return (
        ParamSpec(
            "vocabulary",
            (max_tokens,),
            zeros(),
            init_arg=None,
            trainable=False,
            regularized=False,
            dtype="string",
        ),
    )


def canonical(x: np.ndarray) -> np.ndarray:
    """Every missing-value marker as the empty string."""
    x = np.asarray(x, dtype=str)
    return np.where(np.isin(x, MARKERS), "", x)


MARKERS = np.array(sorted(MISSING))


def fit(x, *, max_tokens, output):
    """The training split's values by falling frequency (ties: sorted), after the OOV entry."""
    values, counts = np.unique(canonical(x), return_counts=True)
    kept = values[np.argsort(-counts, kind="stable")][: max_tokens - 1]
    vocabulary = np.full(max_tokens, UNUSED, dtype=object)
    vocabulary[1 : 1 + len(kept)] = kept
    return (vocabulary.astype(str),)


def entries(vocabulary) -> tuple[np.ndarray, np.ndarray]:
    """(values, their indices): the fitted entries, skipping the unused ones. A marker fitted as
    a value of its own (by an nnc before markers were one category) is the missing category."""
    used = np.flatnonzero(vocabulary != UNUSED)
    values, slots = canonical(vocabulary[used]), used
    first = np.unique(values, return_index=True)[1]  # one index per value: its first entry
    keep = np.sort(first)
    return values[keep], slots[keep]


def forward(ctx, x, vocabulary, *, max_tokens, output):
    values, slots = entries(vocabulary)
    x = canonical(x)
    ids = np.zeros(x.shape, np.int64)
    if len(values):
        order = np.argsort(values)
        ordered = values[order]
        position = np.searchsorted(ordered, x).clip(0, len(values) - 1)
        ids = np.where(ordered[position] == x, slots[order][position], 0)
    if output == "one_hot":
        hot = np.zeros((*ids.shape, max_tokens), np.float32)
        np.put_along_axis(hot, ids[..., None], 1.0, axis=-1)
        return hot, None
    return ids, None


def backward(ctx, dy, cache, *, max_tokens, output):
    return None, None


def to_onnx(g, x, vocabulary, *, max_tokens, output):
    """`vocabulary` arrives as its array: LabelEncoder takes the entries as attributes."""
    values, slots = entries(vocabulary)
    keys, ids = [str(v) for v in values], [int(s) for s in slots]
    if "" in keys:  # every other missing-value marker is the missing category too
        markers = [m for m in MARKERS.tolist() if m]
        keys, ids = keys + markers, ids + [ids[keys.index("")]] * len(markers)
    ids = g.node(
        "LabelEncoder", [x], domain="ai.onnx.ml", keys_strings=keys, values_int64s=ids, default_int64=0
    )
    if output == "index":
        return ids
    return g.node("OneHot", [ids, g.const(max_tokens), g.const([0.0, 1.0])], axis=-1)


def describe_fit(vocabulary, *, max_tokens, output) -> str:
    values, _ = entries(vocabulary)
    shown = ", ".join("(missing)" if not v else shown_value(str(v)) for v in values[:12])
    more = f", ... ({len(values) - 12} more)" if len(values) > 12 else ""
    room = f"; {max_tokens - 1 - len(values)} unused" if len(values) < max_tokens - 1 else ""
    return f"{len(values)} values: {shown}{more} (0: any other{room})"


def samples(rng):
    x = np.array([["b", "a"], ["zz", ""], ["a", "NA"], ["null", "b"]])  # "zz" was not in training
    vocabulary = np.array([UNUSED, "b", "a", "", UNUSED])
    for output in ("index", "one_hot"):
        yield Sample((x, vocabulary), {"max_tokens": 5, "output": output})
    older = np.array([UNUSED, "b", "NA", UNUSED, UNUSED])  # a marker fitted as a value
    yield Sample((x, older), {"max_tokens": 5, "output": "index"})


OP = OpDef(
    "lookup",
    __doc__,
    shape,
    input_dtypes=("string",),
    dtype=dtype,
    attrs=(
        Arg("max_tokens", Int(2), doc="vocabulary size, the out-of-vocabulary entry included"),
        Arg("output", Choice(("index", "one_hot")), "index", "index (for an embedding) or one_hot"),
    ),
    params=params,
    fit=fit,
    describe_fit=describe_fit,
    forward=forward,
    backward=backward,
    to_onnx=to_onnx,
    samples=samples,
    index_bound=lambda *, max_tokens, output: max_tokens if output == "index" else None,
)
