"""A small builder for ONNX graphs, the one thing op lowerings talk to. An op's
`to_onnx(g, *input_names, **attrs)` adds nodes with `g.node(...)` and constants with
`g.const(...)` and returns the name of its output value; it never sees onnx's protobuf API.

Names are made unique per graph, and each node records the spec layer it lowers (`g.layer`,
set by the exporter) as its name prefix and doc string, so a node maps back to the spec."""

from __future__ import annotations

import numpy as np

DEFAULT_OPSET = 17  # the pinned default: every op we lower has its final semantics here
MIN_OPSET, MAX_OPSET = 17, 21
# Other operator sets a lowering may use, at the version nnc writes: ai.onnx.ml for
# LabelEncoder (strings to indices), which onnxruntime runs on every platform; com.microsoft
# for onnxruntime's Tokenizer, the one op that cuts a string into characters (other ONNX
# runtimes lack it: only tokenize(split=chars) uses it).
DOMAINS = {"ai.onnx.ml": 3, "com.microsoft": 1}


class OnnxGraph:
    def __init__(self, opset: int = DEFAULT_OPSET):
        self.opset = opset
        self.nodes: list = []
        self.initializers: list = []
        self.layer = ""  # the spec layer being lowered
        self.doc = ""
        self._used: set[str] = set()
        self.domains: set[str] = set()  # the DOMAINS the nodes use
        self.value_info: list = []  # declared types of values ONNX cannot infer

    def opset_imports(self) -> list:
        from onnx import helper

        return [helper.make_opsetid("", self.opset)] + [
            helper.make_opsetid(d, DOMAINS[d]) for d in sorted(self.domains)
        ]

    def fresh(self, hint: str) -> str:
        """A value name not used yet in this graph."""
        base = f"{self.layer}/{hint}" if self.layer else hint
        name, k = base, 1
        while name in self._used:
            k += 1
            name = f"{base}_{k}"
        self._used.add(name)
        return name

    def reserve(self, name: str) -> None:
        self._used.add(name)

    def node(
        self,
        op_type: str,
        inputs,
        *,
        outputs: int = 1,
        name: str | None = None,
        domain: str = "",
        **attributes,
    ):
        """Adds one node; returns its output name (a tuple of names when outputs > 1).
        `name` forces the (first) output's name, e.g. a graph output's; `domain` is one of
        DOMAINS for an op outside the default set."""
        from onnx import helper

        outs = [name if (name and i == 0) else self.fresh(op_type.lower()) for i in range(outputs)]
        if name:
            self._used.add(name)
        if domain:
            self.domains.add(domain)
        node = helper.make_node(
            op_type,
            list(inputs),
            outs,
            name=self.fresh(op_type),
            doc_string=self.doc,
            domain=domain or None,
            **attributes,
        )
        self.nodes.append(node)
        return outs[0] if outputs == 1 else tuple(outs)

    def declare(self, value: str, dtype: int, rank: int) -> None:
        """States a value's type where ONNX's inference cannot: an op outside its schemas
        (onnxruntime's com.microsoft ones) leaves its output untyped, and onnx's own checker
        crashes on an untyped value that feeds a typed op."""
        from onnx import helper

        self.value_info.append(helper.make_tensor_value_info(value, dtype, [None] * rank))

    def const(self, value, dtype=None, hint: str = "const") -> str:
        """A constant tensor (an initializer); float constants default to float32, ints to int64."""
        from onnx import numpy_helper

        array = np.asarray(value, dtype=dtype)
        if dtype is None:
            array = array.astype(np.float32 if array.dtype.kind == "f" else np.int64)
        name = self.fresh(hint)
        self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def initializer(self, name: str, array: np.ndarray) -> str:
        from onnx import numpy_helper

        self._used.add(name)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name
