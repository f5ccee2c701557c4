"""The op registry: an explicit list, so that a new op is one file plus one line here. The op
tests iterate over it, so a registered op is tested the moment it is added. A family made by
one factory (conv, pool, recurrent) is one file and one line."""

from __future__ import annotations

from nnc.runtime.ops import (
    add,
    batch_norm,
    binary_cross_entropy,
    cast,
    concat,
    conv,
    conv2d_transpose,
    cross_entropy,
    dense,
    dropout,
    elu,
    embedding,
    flatten,
    gelu,
    global_avg_pool,
    global_max_pool,
    huber,
    impute,
    layer_norm,
    leaky_relu,
    linear,
    log_softmax,
    lookup,
    mae,
    mse,
    multi_head_attention,
    multiply,
    pool,
    positional_encoding,
    recurrent,
    relu,
    reshape,
    sequence_pool,
    sigmoid,
    softmax,
    standardize,
    tanh,
    tokenize,
    unstandardize,
)
from nnc.runtime.ops.base import OpDef

_ALL: list[OpDef] = [
    # preprocessing: inserted by the compiler after an input
    standardize.OP,
    cast.OP,
    # inserted by the compiler after a prediction whose target is standardized
    unstandardize.OP,
    # preprocessing layers, fitted on the training split
    lookup.OP,
    impute.OP,
    tokenize.OP,
    # layers with parameters
    dense.OP,
    *conv.OPS,
    conv2d_transpose.OP,
    embedding.OP,
    positional_encoding.OP,
    *recurrent.OPS,
    multi_head_attention.OP,
    batch_norm.OP,
    layer_norm.OP,
    # pooling and shape
    *pool.OPS,
    global_avg_pool.OP,
    global_max_pool.OP,
    sequence_pool.OP,
    flatten.OP,
    reshape.OP,
    dropout.OP,
    # activations
    relu.OP,
    leaky_relu.OP,
    elu.OP,
    gelu.OP,
    sigmoid.OP,
    tanh.OP,
    softmax.OP,
    log_softmax.OP,
    linear.OP,
    # merges
    add.OP,
    multiply.OP,
    concat.OP,
    # losses
    mse.OP,
    mae.OP,
    huber.OP,
    binary_cross_entropy.OP,
    cross_entropy.OP,
]

OPS: dict[str, OpDef] = {op.name: op for op in _ALL}
