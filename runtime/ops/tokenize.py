"""tokenize(max_tokens, length, split=words, lower=true): text as token ids, for an embedding:
the text is lower-cased (lower=true), cut into words at spaces (split=words) or into characters
(split=chars), and each token looked up in a vocabulary learned from the training split (Keras's
TextVectorization).

Ids: 0 pads, 1 stands for a token the training data did not have (or that did not fit), 2.. are
the training tokens, the most frequent first (ties in sorted order), as many as fit in
`max_tokens`. A text of more than `length` tokens keeps its first `length`; a shorter one is
padded with 0.

x: string (N, 1), one text per sample -> int64 (N, length).

Words are separated by spaces only, as onnxruntime's StringSplit separates them: punctuation
stays with its word ("lord," and "lord" are two words) and a tab or a line break is part of one.
Characters are Unicode code points; a space is a character too.
Lower-casing maps each character to its lower case alone (İ becomes i, a final Σ becomes σ), as
onnxruntime's StringNormalizer does, so the NumPy runtime and the exported graph agree.

The vocabulary is a string parameter, fitted and never trained. ONNX (opset 20 or later):
StringNormalizer (locale C.UTF-8) -> StringSplit -> ai.onnx.ml LabelEncoder -> Slice and Pad to
`length`, so the exported model takes the raw text. No standard ONNX op cuts a string into
characters, so split=chars uses onnxruntime's own Tokenizer (domain com.microsoft, character
mode): such a model runs in onnxruntime, in any language, but not in other ONNX runtimes. Not
differentiable: its input is data."""

import numpy as np
from nnc.runtime.ops.base import OpDef, ParamSpec, Sample, ShapeError, format_shape, shown_value, zeros
from nnc.runtime.parameters import UNUSED
from nnc.runtime.schema import Arg, Bool, Choice, Int

PAD, OOV = 0, 1
PIECE_PAD = "<pad>"  # what the character Tokenizer fills rows with: never one character


def shape(x, *, max_tokens, length, split, lower):
    if len(x) != 2 or x[1] != 1:
        raise ShapeError(
            f"tokenize expects one text per sample, string[N, 1]. Received: {format_shape(x)}",
            arg="x",
            help="declare the input `string[1]`: one text column",
        )
    return (x[0], length)


def dtype(x, *, max_tokens, length, split, lower):
    return "int64"


def params(x, *, max_tokens, length, split, lower):
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


def lowered(text: str) -> str:
    """Each character in its lower case alone (no İ -> i̇, no final ς): onnxruntime's rule."""
    return text.replace("İ", "i").replace("Σ", "σ").lower()


def tokens(text: str, split: str, lower: bool) -> list[str]:
    text = lowered(text) if lower else text
    return list(text) if split == "chars" else [w for w in text.split(" ") if w]


def fit(x, *, max_tokens, length, split, lower):
    """The training split's tokens by falling frequency (ties: sorted), after pad and OOV."""
    counts: dict[str, int] = {}
    for text in np.asarray(x).reshape(-1).tolist():
        for w in tokens(text, split, lower):
            counts[w] = counts.get(w, 0) + 1
    kept = sorted(counts, key=lambda w: (-counts[w], w))[: max_tokens - 2]
    vocabulary = [UNUSED, UNUSED, *kept] + [UNUSED] * (max_tokens - 2 - len(kept))
    return (np.array(vocabulary, dtype=str),)


def forward(ctx, x, vocabulary, *, max_tokens, length, split, lower):
    index = {w: i for i, w in enumerate(vocabulary.tolist()) if i > OOV and w != UNUSED}
    ids = np.full((len(x), length), PAD, np.int64)
    for n, text in enumerate(x[:, 0].tolist()):
        row = [index.get(w, OOV) for w in tokens(text, split, lower)[:length]]
        ids[n, : len(row)] = row
    return ids, None


def backward(ctx, dy, cache, *, max_tokens, length, split, lower):
    return None, None


def to_onnx(g, x, vocabulary, *, max_tokens, length, split, lower):
    """`vocabulary` arrives as its array: LabelEncoder takes the words as attributes."""
    from onnx import TensorProto

    text = g.node("Reshape", [x, g.const([-1], hint="shape")])  # (N,): StringNormalizer's layout
    if lower:
        text = g.node("StringNormalizer", [text], case_change_action="LOWER", locale="C.UTF-8")
    if split == "chars":  # (N, most characters), PIECE_PAD after the last
        pieces = g.node(
            "Tokenizer",
            [text],
            domain="com.microsoft",
            mark=0,
            mincharnum=1,
            pad_value=PIECE_PAD,
            separators=[""],
        )
        g.declare(pieces, TensorProto.STRING, rank=2)
    else:  # (N, most words), "" after the last
        pieces, _ = g.node("StringSplit", [text], outputs=2)
    slots = [i for i, w in enumerate(vocabulary.tolist()) if i > OOV and w != UNUSED]
    ids = g.node(
        "LabelEncoder",
        [pieces],
        domain="ai.onnx.ml",
        keys_strings=["" if split == "words" else PIECE_PAD, *(str(vocabulary[i]) for i in slots)],
        values_int64s=[PAD, *slots],
        default_int64=OOV,
    )
    cut = g.node("Slice", [ids, g.const([0]), g.const([length]), g.const([1])])
    width = g.node("Gather", [g.node("Shape", [cut]), g.const(1)], axis=0)
    missing = g.node("Max", [g.node("Sub", [g.const(length), width]), g.const(0)])
    pads = g.node("Concat", [g.const([0, 0, 0]), g.node("Unsqueeze", [missing, g.const([0])])], axis=0)
    return g.node("Pad", [cut, pads, g.const(PAD)])


def describe_fit(vocabulary, *, max_tokens, length, split, lower) -> str:
    known = [w for i, w in enumerate(vocabulary.tolist()) if i > OOV and w != UNUSED]
    shown = ", ".join(shown_value(w) for w in known[:12]) + (", ..." if len(known) > 12 else "")
    room = f"; {max_tokens - 2 - len(known)} unused" if len(known) < max_tokens - 2 else ""
    what = "words" if split == "words" else "characters"
    return f"{len(known)} {what}: {shown} (0: padding, 1: any other{room})"


def samples(rng):
    x = np.array([["To be, or not  to be"], ["ΣΟΦΙΑ and İstanbul"], [""], ["be be be it"]])
    vocabulary = np.array([UNUSED, UNUSED, "be", "to", "σοφια", "it", UNUSED])
    for length in (3, 6):
        yield Sample((x, vocabulary), {"max_tokens": 7, "length": length, "split": "words", "lower": True})
    yield Sample((x, vocabulary), {"max_tokens": 7, "length": 4, "split": "words", "lower": False})
    letters = np.array([UNUSED, UNUSED, "b", "e", " ", "σ", "İ", ",", UNUSED])
    for lower in (True, False):
        yield Sample((x, letters), {"max_tokens": 9, "length": 8, "split": "chars", "lower": lower})


OP = OpDef(
    "tokenize",
    __doc__,
    shape,
    input_dtypes=("string",),
    dtype=dtype,
    attrs=(
        Arg("max_tokens", Int(3), doc="vocabulary size: padding (0) and out-of-vocabulary (1) included"),
        Arg("length", Int(1), doc="tokens per text: longer ones are cut, shorter ones padded with 0"),
        Arg("split", Choice(("words", "chars")), "words", "words (at spaces) or characters"),
        Arg("lower", Bool(), True, "lower-case the text first"),
    ),
    params=params,
    fit=fit,
    describe_fit=describe_fit,
    forward=forward,
    backward=backward,
    to_onnx=to_onnx,
    samples=samples,
    index_bound=lambda *, max_tokens, length, split, lower: max_tokens,
    min_opset=20,
)
