"""The export gate: an exported model is written only if it is valid ONNX, its inferred shapes
agree with the IR's, and onnxruntime computes what the NumPy runtime computes, at batch sizes
1 and 7 — and, for a model that takes sequences of any length, at two lengths other than the
training one — within rtol 1e-4 / atol 1e-5. On a mismatch the first diverging layer is named."""

from __future__ import annotations

import itertools

import numpy as np
from nnc.runtime.errors import RunError
from nnc.runtime.onnx.any_length import declared, symbolic_shapes
from nnc.runtime.onnx.session import open_session
from nnc.runtime.ops.base import Length
from nnc.runtime.parameters import UNUSED

BATCH_SIZES = (1, 7)
RTOL, ATOL = 1e-4, 1e-5


class ExportMismatch(RunError):
    def __init__(self, message: str, layer: str | None = None):
        super().__init__(
            "E532", message, help="this is a bug in an op's lowering; please report it", layer=layer
        )


def other_lengths(length: int) -> tuple[int, ...]:
    """Two lengths besides the training one: half of it and one step shorter (shorter, so that a
    learned position table of the training length still covers them)."""
    return tuple(sorted({max(1, length // 2), max(1, length - 1)} - {length}))


def length_variants(graph, shapes) -> list[dict[str, int]]:
    """{input: length along axis 1} to test: the training lengths, then each other length per
    group of inputs sharing a symbol."""
    groups: dict[Length, list] = {}
    for i in graph.inputs:
        time = shapes[i.name][1:2]  # empty for an input of rank 1
        if time and isinstance(time[0], Length):
            groups.setdefault(time[0], []).append(i)
    variants = [{}]
    for members in groups.values():
        for length in other_lengths(members[0].type.shape[1]):
            variants.append({i.name: length for i in members})
    return variants


UNSEEN = "a value never seen in training"


def sample_inputs(
    graph, plan, batch: int, lengths: dict[str, int], rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Raw inputs as the data give them: token ids across the vocabulary of every embedding
    they feed, strings from the fitted vocabularies of the layers reading them (and some they
    never saw, and empty ones), pixels, flags, and features with some missing where the
    model fills them."""
    feeds = {}
    for i in graph.inputs:
        shape = [batch, *i.type.shape[1:]]
        if i.name in lengths:
            shape[1] = lengths[i.name]
        readers = [n for n in graph.nodes if i.name in n.inputs]
        dtype = i.type.dtype
        if dtype == "int64":
            feeds[i.name] = rng.integers(0, graph.vocabulary(i.name) or 2, shape).astype(np.int64)
        elif dtype == "string":
            feeds[i.name] = _strings(readers, plan, shape, rng)
        elif dtype == "uint8":
            feeds[i.name] = rng.integers(0, 256, shape).astype(np.uint8)
        elif dtype == "bool":
            feeds[i.name] = rng.random(shape) < 0.5
        else:
            x = rng.standard_normal(shape).astype(np.float32)
            if readers and all(n.op == "impute" for n in readers):
                x[rng.random(shape) < 0.3] = np.nan
            feeds[i.name] = x
    return feeds


def _strings(readers, plan, shape, rng) -> np.ndarray:
    """Entries of the readers' vocabularies, an unseen value and the empty string."""
    pool = [UNSEEN, ""]
    for node in readers:
        for key in node.params:
            values = plan.params.values[key]
            if values.dtype.kind == "U":
                pool += [v for v in values.tolist() if v != UNUSED]
    return np.array(pool, dtype=str)[rng.integers(0, len(pool), shape)]


def verify(model, values: dict[str, str], program, plan, outputs, provider: str = "cpu") -> None:
    """Raises RunError (E532) when the model fails any check; returns quietly otherwise. The
    comparison runs on `provider`: the one the model will be deployed on, held to the same
    tolerance (runtime/onnx/session.py: TF32 off, no silent fall-back)."""
    import onnx

    try:
        onnx.checker.check_model(model, full_check=True)
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as e:
        raise ExportMismatch(f"the exported model is not valid ONNX: {e}") from None
    graph = program.graph
    symbolic = symbolic_shapes(program)
    inferred_shapes = {v.name: v.type.tensor_type.shape for v in inferred.graph.output}
    for out in outputs:
        dims = [d.dim_value if d.HasField("dim_value") else d.dim_param for d in inferred_shapes[out].dim]
        expected = declared(symbolic[out])
        if dims != expected:
            raise ExportMismatch(f"ONNX infers {out}: {dims}, the IR says {expected}", out)
    session = open_session(model.SerializeToString(), provider=provider, path="the exported model")
    rng = np.random.default_rng(0)
    for batch, lengths in itertools.product(BATCH_SIZES, length_variants(graph, symbolic)):
        feeds = sample_inputs(graph, plan, batch, lengths, rng)
        expected = plan.run(feeds, outputs)
        got = dict(zip(outputs, session.run(list(outputs), feeds), strict=True))
        for out in outputs:
            if not _close(got[out], expected[out]):
                layer = _first_diverging(model, values, graph, plan, feeds, provider)
                at = f"batch size {batch}" + "".join(f", {k} of length {n}" for k, n in lengths.items())
                raise ExportMismatch(
                    f"onnxruntime ({provider}) and the NumPy runtime disagree on `{out}` at {at}"
                    + (f"; the first diverging layer is `{layer}`" if layer else ""),
                    layer,
                )


def _close(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and np.allclose(a, b, rtol=RTOL, atol=ATOL)


def _first_diverging(model, values, graph, plan, feeds, provider: str) -> str | None:
    """Runs the model again with every layer's value as an output and compares in graph order."""
    import onnx

    debug = onnx.ModelProto()
    debug.CopyFrom(model)
    layers = [n.name for n in graph.nodes if n.name in values]
    known = {o.name for o in debug.graph.output}
    for name in layers:
        if values[name] not in known:
            debug.graph.output.append(onnx.helper.make_empty_tensor_value_info(values[name]))
            known.add(values[name])
    session = open_session(debug.SerializeToString(), provider=provider, path="the exported model")
    got = dict(zip([values[n] for n in layers], session.run([values[n] for n in layers], feeds), strict=True))
    expected = plan.run(feeds, layers)
    return next((n for n in layers if not _close(got[values[n]], expected[n])), None)
