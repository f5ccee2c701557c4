"""The op registry: an explicit list, so that a new op is one file plus one line here. The op
tests iterate over it, so a registered op is tested the moment it is added."""

from __future__ import annotations

from nnc.runtime.ops import add, cross_entropy, dense, relu
from nnc.runtime.ops.base import OpDef

_ALL: list[OpDef] = [
    dense.OP,
    relu.OP,
    add.OP,
    cross_entropy.OP,
]

OPS: dict[str, OpDef] = {op.name: op for op in _ALL}
