"""The element types a tensor may have, in one table: how the spec spells each, its NumPy type,
its ONNX element type and the type string onnxruntime reports. Inputs, data fields, op dtype
rules, the exporter and predict all read this table."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DType:
    name: str  # as the spec writes it: float32[64]
    numpy: type
    onnx: int  # onnx.TensorProto's element type
    onnxruntime: str  # what an onnxruntime session reports for it
    use: str  # for messages: what this type holds


DTYPES: dict[str, DType] = {
    d.name: d
    for d in (
        DType("float32", np.float32, 1, "tensor(float)", "features"),
        DType("int64", np.int64, 7, "tensor(int64)", "token ids and class indices"),
        DType("uint8", np.uint8, 2, "tensor(uint8)", "image pixels"),
        DType("bool", np.bool_, 9, "tensor(bool)", "yes/no columns"),
        DType("string", np.str_, 8, "tensor(string)", "categories and text"),
    )
}
# Raw numbers a model reads as features: the compiler converts them to float32 right after
# the input (a `cast` node), so every layer still computes on float32.
CAST_TO_FLOAT = ("uint8", "bool")


def from_onnxruntime(type_string: str) -> DType | None:
    """The entry for an onnxruntime type string such as "tensor(float)"; None if nnc has none."""
    return next((d for d in DTYPES.values() if d.onnxruntime == type_string), None)
