"""IR + trained weights -> an ONNX model, in inference mode. Each node is lowered by its op's
`to_onnx`; parameters become initializers named `<layer>.<param>`; the graph's inputs and
outputs keep the spec's names, with a dynamic batch dimension, and a dynamic time axis where
the model takes sequences of any length (runtime/onnx/any_length.py). Nodes carry the spec layer in
their names and, as doc strings, the layer's location in the spec.

Everything `nnc predict` needs travels in `metadata_props`, as runtime/onnx/metadata.py
defines it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from nnc.runtime.dtypes import DTYPES
from nnc.runtime.errors import UsageError
from nnc.runtime.onnx.any_length import declared, symbolic_shapes
from nnc.runtime.onnx.graph import DEFAULT_OPSET, MAX_OPSET, MIN_OPSET, OnnxGraph
from nnc.runtime.onnx.metadata import Metadata
from nnc.runtime.ops import OPS

IR_VERSION = 10  # onnx 1.23 stamps 14 by default, which onnxruntime 1.31 refuses (max 13)


def check_opset(opset: int) -> None:
    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise UsageError(
            "E531",
            f"opset {opset} is outside the supported range {MIN_OPSET}..{MAX_OPSET}",
            help=f"the default is {DEFAULT_OPSET}",
        )


def lowest_opset(graph, outputs) -> tuple[int, str | None]:
    """(the lowest opset the lowerings of these outputs need, the op that needs it)."""
    ops = {OPS[n.op] for n in needed_nodes(graph, outputs)}
    op = max(ops, key=lambda o: o.min_opset, default=None)
    return (op.min_opset, op.name) if op is not None and op.min_opset else (0, None)


def needed_nodes(graph, outputs) -> list:
    """The nodes the requested outputs depend on, in graph order."""
    wanted = set(outputs)
    for node in reversed(graph.nodes):
        if node.name in wanted:
            wanted.update(node.inputs)
    return [n for n in graph.nodes if n.name in wanted]


def resolve_outputs(graph, names) -> tuple[str, ...]:
    """Output names (model-level names, `as` names) -> graph values; unknown ones refused."""
    if not names:
        return tuple(graph.outputs)
    out = []
    for name in names:
        value = graph.names.get(name, name)
        if graph.producer(value) is None:
            known = ", ".join(sorted(n for n in graph.names if graph.producer(graph.names[n])))
            raise UsageError("E533", f"the model has no value `{name}` to export", help=f"values: {known}")
        out.append(value)
    return tuple(out)


def to_onnx(
    program,
    weights: dict[str, np.ndarray],
    *,
    opset: int = DEFAULT_OPSET,
    outputs: tuple[str, ...] = (),
    metadata: Metadata | None = None,
):
    """(ModelProto, {IR value: ONNX value}). The value map lets the export gate compare every
    layer when outputs diverge."""
    from nnc.runtime.version import nnc_version
    from onnx import helper

    check_opset(opset)
    graph = program.graph
    output_values = resolve_outputs(graph, outputs)
    lowest, op = lowest_opset(graph, output_values)
    if opset < lowest:
        raise UsageError(
            "E531",
            f"{op} needs opset {lowest} or later; asked for {opset}",
            help=f"export with --opset {lowest} (or leave --opset out: the default rises to it)",
        )
    shapes = symbolic_shapes(program)
    g = OnnxGraph(opset)
    values: dict[str, str] = {}
    inputs = []
    for i in graph.inputs:
        g.reserve(i.name)
        inputs.append(
            helper.make_tensor_value_info(i.name, DTYPES[i.type.dtype].onnx, declared(shapes[i.name]))
        )
        values[i.name] = i.name
    for out in output_values:
        g.reserve(out)
    for node in needed_nodes(graph, output_values):
        op = OPS[node.op]
        g.layer = node.name
        # the spec's file name, never its path on this machine: the file may be deployed anywhere
        g.doc = f"{node.op} at {Path(node.span.source.path).name}:{node.span.line}:{node.span.column}"
        # a vocabulary (a string parameter) goes to its lowering as the array itself: ONNX's
        # LabelEncoder takes it as attributes, not as an input
        params = [
            weights[key]
            if weights[key].dtype.kind == "U"
            else g.initializer(key, weights[key].astype(np.float32))
            for key in node.params
        ]
        values[node.name] = op.to_onnx(g, *(values[x] for x in node.inputs), *params, **node.attrs)
    outputs_info = []
    g.layer, g.doc = "", ""
    for out in output_values:
        # The graph output carries the spec's name; an Identity renames the last node's value.
        g.node("Identity", [values[out]], name=out)
        t = graph.type_of(out)
        outputs_info.append(helper.make_tensor_value_info(out, DTYPES[t.dtype].onnx, declared(shapes[out])))
    onnx_graph = helper.make_graph(
        g.nodes, graph.name, inputs, outputs_info, initializer=g.initializers, value_info=g.value_info
    )
    model = helper.make_model(
        onnx_graph,
        opset_imports=g.opset_imports(),
        producer_name="nnc",
        producer_version=nnc_version(),
        model_version=1,
        doc_string=f"{graph.name}, exported by nnc from {Path(program.path).name}",
    )
    model.ir_version = IR_VERSION
    helper.set_model_props(model, (metadata or Metadata()).to_props())
    return model, values


def export_file(
    path: str | Path,
    program,
    plan,
    metadata: Metadata,
    *,
    opset: int | None = None,
    outputs: tuple[str, ...] = (),
    verify: bool = True,
    verify_provider: str = "cpu",
) -> Path:
    """Lowers `program` with `plan`'s weights, runs the export gate (runtime/onnx/gate.py) on
    `verify_provider` unless `verify` is False, and only then writes the file, atomically: a
    model that fails the gate leaves nothing behind."""
    from nnc.runtime.files import write_atomic
    from nnc.runtime.onnx.gate import verify as verify_model
    from nnc.runtime.onnx.metadata import gate_record

    model, values = to_onnx(
        program,
        plan.params.to_dict(),
        opset=opset
        or max(DEFAULT_OPSET, lowest_opset(program.graph, resolve_outputs(program.graph, outputs))[0]),
        outputs=outputs,
        metadata=metadata,
    )
    if verify:
        verify_model(model, values, program, plan, resolve_outputs(program.graph, outputs), verify_provider)
    key, value = gate_record(verify, verify_provider, plan.params.to_dict())
    model.metadata_props.add(key=key, value=value)
    path = Path(path)
    write_atomic(path, lambda f: f.write(model.SerializeToString()))
    return path
