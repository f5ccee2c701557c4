"""Static shape inference: walks the graph in order, asks each op for its parameters, its
output shape and its output dtype, and builds the parameter table. A node whose inputs failed
is skipped silently, so one mistake is reported once."""

from __future__ import annotations

import math
from dataclasses import replace

from nnc.compiler.diagnostics import Diagnostics
from nnc.compiler.ir import MAX_DIM, MAX_PARAMETER, Graph, Parameter, TensorType
from nnc.runtime.init import init_problem
from nnc.runtime.ops import OPS
from nnc.runtime.ops.base import ShapeError

_DTYPE_HELP = {
    "string": "a string input is read by `lookup` (categories) or `tokenize` (text) first",
    "int64": "token ids are int64 and feed an embedding; `lookup` and `tokenize` give them too",
    "float32": "token ids are int64 and feed an embedding; everything else is float32",
}


def _message(op: str, message: str) -> str:
    return message if message.startswith(op) else f"{op} {message}"


def _read_beside_impute(graph: Graph, diags: Diagnostics) -> None:
    """An input read through `impute` holds missing values (NaN), which only impute may read:
    any other layer reading it directly is the mistake, at that layer."""
    for i in graph.inputs:
        readers = [n for n in graph.nodes if i.name in n.inputs]
        imputed = [n for n in readers if n.op == "impute"]
        for node in readers if imputed else ():
            if node.op != "impute":
                diags.error(
                    "E303",
                    f"`{node.op}` reads input `{i.name}` directly, but `{i.name}` is read through "
                    f"`impute` ({imputed[0].name}): its data may hold missing values",
                    node.span,
                    help=f"read `{imputed[0].name}`, impute's output, here instead",
                )


def infer_shapes(graph: Graph, diags: Diagnostics) -> Graph:
    _read_beside_impute(graph, diags)
    types: dict[str, TensorType] = {i.name: i.type for i in graph.inputs}
    bounds: dict[str, tuple[str, int]] = {}  # value -> (its producer, the indices' bound)
    nodes, params = [], []
    for node in graph.nodes:
        in_types = [types.get(v) for v in node.inputs]
        if any(t is None for t in in_types):
            nodes.append(node)
            continue
        op = OPS[node.op]
        bad = [(i, t) for i, t in enumerate(in_types) if t.dtype not in op.input_dtype(i)]
        for i, t in bad:
            diags.error(
                "E302",
                f"{op.name} expects {' or '.join(op.input_dtype(i))} input. Received: {node.inputs[i]}: {t}",
                node.span,
                help=_DTYPE_HELP.get(t.dtype, _DTYPE_HELP["float32"]),
            )
        if bad:
            nodes.append(node)
            continue
        if op.index_limit is not None and (bound := bounds.get(node.inputs[0])) is not None:
            limit, (producer, count) = op.index_limit(**node.attrs), bound
            if count > limit:
                diags.error(
                    "E301",
                    f"{op.name} takes indices below {limit}, but `{node.inputs[0]}` ({producer}) "
                    f"gives indices up to {count - 1}",
                    node.span,
                    help=f"make it {op.name}({count}, ...), or give {producer} max_tokens={limit}",
                )
                nodes.append(node)
                continue
        shapes = [t.shape for t in in_types]
        try:
            # The shape rule validates the inputs; only then may `params` read them.
            out = op.shape(*shapes, **node.attrs)
            specs = op.params(*shapes, **node.attrs) if op.params else ()
            attrs = {**node.attrs, **op.derive(*shapes, **node.attrs)} if op.derive else node.attrs
        except ShapeError as e:
            diags.error(
                "E301", _message(op.name, e.message), node.arg_spans.get(e.arg, node.span), help=e.help
            )
            nodes.append(node)
            continue
        too_large = [d for d in out[1:] if isinstance(d, int) and d > MAX_DIM]
        too_large += [math.prod(s.shape) for s in specs if math.prod(s.shape) > MAX_PARAMETER]
        if too_large:
            diags.error(
                "E301",
                f"{op.name} would make a tensor of {_count(max(too_large))} values along one axis or in one "
                f"parameter, more than nnc holds ({MAX_PARAMETER:,})",
                node.span,
            )
            nodes.append(node)
            continue
        used = {s.init_arg for s in specs}
        for keyword in node.inits:
            if keyword not in used:
                diags.error(
                    "E202",
                    f"`{keyword}` does not apply to this {op.name}: it has no such parameter",
                    node.arg_spans.get(keyword, node.span),
                    help=f"{op.name} takes {', '.join(sorted(u for u in used if u)) or 'no initializers'}",
                )
        for spec in specs:
            init = node.inits.get(spec.init_arg, spec.init)
            if (problem := init_problem(init, tuple(spec.shape))) is not None:
                diags.error(
                    "E303",
                    f"{problem} (`{node.name}.{spec.name}`)",
                    node.arg_spans.get(spec.init_arg, node.span),
                )
            params.append(
                Parameter(
                    f"{node.name}.{spec.name}",
                    tuple(spec.shape),
                    init,
                    trainable=spec.trainable and node.trainable,
                    l1=node.l1 if spec.regularized else 0.0,
                    l2=node.l2 if spec.regularized else 0.0,
                    fan_in=spec.fan_in,
                    fan_out=spec.fan_out,
                    regularized=spec.regularized,
                    fitted=op.fit is not None,
                    dtype=spec.dtype,
                )
            )
        types[node.name] = TensorType(op.output_dtype(*(t.dtype for t in in_types), **attrs), tuple(out))
        if op.index_bound is not None and (count := op.index_bound(**attrs)) is not None:
            bounds[node.name] = (op.name, count)
        keys = tuple(f"{node.name}.{s.name}" for s in specs)
        nodes.append(replace(node, attrs=attrs, type=types[node.name], params=keys))
    return replace(graph, nodes=tuple(nodes), params=tuple(params))


def _count(n: int) -> str:
    """A count as people read it: digits grouped, or about 2e+300 past what digits can show."""
    return f"{n:,}" if n < 10**15 else f"about {float(n):.3g}" if n < 1e308 else "over 1e+308"
