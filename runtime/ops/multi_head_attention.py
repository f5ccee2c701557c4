"""multi_head_attention(heads, key_dim=D // heads, causal=false, dropout=0, bias=true): scaled
dot-product attention of query: (N, Tq, D) over memory: (N, Tk, Dm), or over the query
itself when memory is absent (self-attention). Output (N, Tq, D).

    q = query @ query_weight + query_bias       # (N, Tq, heads * key_dim), split per head
    k = memory @ key_weight + key_bias          # (N, Tk, heads * key_dim)
    v = memory @ value_weight + value_bias      # (N, Tk, heads * key_dim)
    a = softmax(q_h k_h^T / sqrt(key_dim)) per head h, over the Tk axis; dropout on a in training
    y = concat_h(a v_h) @ output_weight + output_bias
causal masks key position j > i for query position i (aligned at position 0, so with a memory
of another length the mask is the top-left triangle of the Tq x Tk scores, as PyTorch is_causal).

Layout (rows index inputs; head h owns columns h * key_dim to (h + 1) * key_dim):
    query_weight (D, heads * key_dim), key_weight and value_weight (Dm, heads * key_dim),
    output_weight (heads * key_dim, D); query_bias, key_bias, value_bias (heads * key_dim,),
    output_bias (D,)."""

from nnc.runtime.ops.base import OpDef, ParamSpec, ShapeError, check_rank, format_shape, glorot_uniform, zeros
from nnc.runtime.schema import Arg, Bool, Float, Int, Optional


def _key_dim(query, heads, key_dim):
    if key_dim is not None:
        return key_dim
    d = query[2]
    if d % heads:
        divisors = [h for h in range(1, d + 1) if d % h == 0]
        near = sorted(sorted(divisors, key=lambda h: abs(h - heads))[:2])
        raise ShapeError(
            f"multi_head_attention needs the feature size divisible by heads when key_dim is "
            f"not given. Received: query: {format_shape(query)}, heads={heads}",
            arg="heads",
            help=f"use heads dividing {d}, such as {' or '.join(map(str, near))}, or give key_dim=",
        )
    return d // heads


def derive(query, memory=None, *, heads, key_dim, **_attrs):
    return {"key_dim": _key_dim(query, heads, key_dim)}


def shape(query, memory=None, *, heads, key_dim, causal, dropout, bias):
    check_rank(query, 3, 3, what="query", layout="N, T, D")
    if memory is not None:
        check_rank(memory, 3, 3, what="memory", layout="N, T, D")
    _key_dim(query, heads, key_dim)
    return query


def params(query, memory=None, *, heads, key_dim, causal, dropout, bias):
    memory = query if memory is None else memory
    width = heads * _key_dim(query, heads, key_dim)
    d, dm = query[2], memory[2]
    out = [
        ParamSpec("query_weight", (d, width), glorot_uniform(), fan_in=d, fan_out=width),
        ParamSpec("key_weight", (dm, width), glorot_uniform(), fan_in=dm, fan_out=width),
        ParamSpec("value_weight", (dm, width), glorot_uniform(), fan_in=dm, fan_out=width),
        ParamSpec("output_weight", (width, d), glorot_uniform(), fan_in=width, fan_out=d),
    ]
    if bias:
        out += [
            ParamSpec(f"{name}_bias", (n,), zeros(), init_arg="bias_init", regularized=False)
            for name, n in (("query", width), ("key", width), ("value", width), ("output", d))
        ]
    return tuple(out)


def flops(query, memory=None, *, heads, key_dim, causal, dropout, bias):
    memory = query if memory is None else memory
    k = _key_dim(query, heads, key_dim)
    (_, tq, d), (_, tk, dm) = query, memory
    projections = 2 * heads * k * (tq * d + 2 * tk * dm + tq * d)
    return projections + 2 * 2 * heads * tq * tk * k


OP = OpDef(
    "multi_head_attention",
    __doc__,
    shape,
    inputs=("query", "memory"),
    max_inputs=2,
    attrs=(
        Arg("heads", Int(1), doc="attention heads"),
        Arg("key_dim", Optional(Int(1)), None, "size per head; none: feature size / heads"),
        Arg("causal", Bool(), False, "forbid attending to later positions"),
        Arg("dropout", Float(0, 1, max_open=True), 0.0, "dropout on attention weights in training"),
        Arg("bias", Bool(), True, "add biases to the projections"),
    ),
    params=params,
    derive=derive,
    flops=flops,
)
