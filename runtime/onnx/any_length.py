"""Which model inputs an exported model may take at any sequence length. Axis 1 of an input is
replaced by a symbolic `Length` and every shape rule is run again: where all of them carry it
through and no parameter shape depends on it, the runtime and the ONNX graph work for any
length, and the export declares that axis as a named dimension. A rule that computes with the
length (flatten, a reshape, a convolution's channel count) raises, and the axis stays static.

Inputs of one training length share one symbol: the model is taken to need them equally long
(tokens and their padding mask), and inputs of different lengths vary independently."""

from __future__ import annotations

from nnc.runtime.ops import OPS
from nnc.runtime.ops.base import Length, ShapeError


def symbolic_shapes(program) -> dict[str, tuple]:
    """Every value's shape, with a `Length` wherever an any-length input's time axis flows;
    the static shapes when no input can take any length. A standardized input stays static:
    its statistics are parameters shaped per position."""
    graph = program.graph
    static = {i.name: i.type.shape for i in graph.inputs} | {n.name: n.type.shape for n in graph.nodes}
    candidates = [i.name for i in graph.inputs if len(i.type.shape) >= 2]
    shapes = _try(graph, candidates)
    if shapes is None:  # some input cannot: keep those that can on their own
        alone = [name for name in candidates if _try(graph, [name]) is not None]
        shapes = _try(graph, alone)
    return shapes or static


def _try(graph, names) -> dict[str, tuple] | None:
    if not names:
        return None
    one_length = len({i.type.shape[1] for i in graph.inputs if i.name in names}) == 1
    shapes = {}
    for i in graph.inputs:
        shape = i.type.shape
        if i.name in names:
            shape = (shape[0], Length("T" if one_length else f"T{shape[1]}"), *shape[2:])
        shapes[i.name] = shape
    params = {p.key: p.shape for p in graph.params}
    for node in graph.nodes:
        op = OPS[node.op]
        inputs = [shapes[v] for v in node.inputs]
        try:
            shapes[node.name] = tuple(op.shape(*inputs, **node.attrs))
            specs = op.params(*inputs, **node.attrs) if op.params else ()
        except (TypeError, ShapeError):  # the rule needs the concrete length
            return None
        if [tuple(s.shape) for s in specs] != [params[key] for key in node.params]:
            return None
    return shapes


def declared(shape) -> list:
    """A shape as ONNX value info: "N" for the batch, a symbol's name for a free length."""
    return [str(d) if isinstance(d, Length) else d for d in shape]
