"""ONNX lowerings of the registered ops, generated from the registry: every op with a lowering
is exported alone, on each sample it carries and at every opset the exporter may emit, as a
model whose data inputs have a dynamic batch axis "N" and whose parameters are initializers.
Each model passes `onnx.checker` (full check: ONNX's shape inference must agree with the op's
shape rule, declared as the output type), and onnxruntime and onnx's ReferenceEvaluator must
both reproduce the op's NumPy forward in inference mode, at the sample's batch size and at two
others (which fails a lowering that bakes the batch size in). Where the op's shape rule takes a
symbolic length at axis 1 (sequence ops, and any op indifferent to that axis), the model
declares that axis dynamic too and is also checked one step shorter and one step longer."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from conftest import as_float32, n_data_inputs
from nnc.runtime.dtypes import DTYPES
from nnc.runtime.onnx.any_length import declared
from nnc.runtime.onnx.export import IR_VERSION
from nnc.runtime.onnx.graph import MAX_OPSET, MIN_OPSET, OnnxGraph
from nnc.runtime.ops import OPS
from nnc.runtime.ops.base import Context, Length, ShapeError
from onnx import helper
from onnx.reference import ReferenceEvaluator

# float32 on both sides; both evaluators met the default tolerance on every sample (Erf included).
RTOL, ATOL = 1e-5, 1e-6
OPSETS = range(MIN_OPSET, MAX_OPSET + 1)  # every opset the exporter may be asked for
CASES = [
    pytest.param(op, sample, opset, id=f"{op.name}-{i}-opset{opset}")
    for op in OPS.values()
    if op.to_onnx is not None
    for i, sample in enumerate(op.samples(np.random.default_rng(0)))
    for opset in OPSETS
    if opset >= op.min_opset
]


def symbolic(data) -> list[tuple]:
    """The data's shapes with axis 1 symbolic: one symbol per distinct length, as the exporter
    names them (a memory and its mask share one, a query of another length gets its own)."""
    symbols = {n: Length(f"T{n}") for n in dict.fromkeys(x.shape[1] for x in data)}
    return [("N", symbols[x.shape[1]], *x.shape[2:]) for x in data]


def any_length(op, data, attrs) -> bool:
    """Whether the op takes its data inputs at any length along axis 1: its shape rule carries a
    symbolic length through and its parameter shapes do not depend on it."""
    if any(x.ndim < 2 for x in data):
        return False
    shapes = symbolic(data)
    try:
        op.shape(*shapes, **attrs)
        specs = op.params(*shapes, **attrs) if op.params else ()
    except (TypeError, ShapeError):  # the rule computed with the length, or needs a concrete one
        return False
    concrete = op.params(*(x.shape for x in data), **attrs) if op.params else ()
    return [s.shape for s in specs] == [s.shape for s in concrete]


def dtype_name(x) -> str:
    """The dtype a sample array stands for (float64 samples stand for float32)."""
    return next(n for n, d in DTYPES.items() if np.dtype(d.numpy).kind == x.dtype.kind)


def y_dtype(op, sample):
    data = sample.inputs[: n_data_inputs(op, sample)]
    return DTYPES[op.output_dtype(*(dtype_name(x) for x in data), **sample.attrs)].numpy


def export_alone(op, sample, opset):
    """A model holding op's lowering alone: data inputs x1, x2, ... of batch "N" (and lengths
    "T3", "T5", ... where the op takes any), parameters as initializers named like the exporter's
    (`layer.weight`), output y declared as the shape rule says."""
    inputs = [as_float32(x) for x in sample.inputs]
    k = n_data_inputs(op, sample)
    data, params = inputs[:k], inputs[k:]
    free = any_length(op, data, sample.attrs)
    g = OnnxGraph(opset)
    g.layer = "layer"
    data_names = [f"x{i}" for i in range(1, k + 1)]
    for name in data_names:
        g.reserve(name)
    specs = op.params(*(x.shape for x in data), **sample.attrs) if params else ()
    # a vocabulary goes to the lowering as its array, as the exporter passes it
    param_names = [
        p if p.dtype.kind == "U" else g.initializer(f"layer.{spec.name}", p)
        for spec, p in zip(specs, params, strict=True)
    ]
    out = op.to_onnx(g, *data_names, *param_names, **sample.attrs)
    assert isinstance(out, str), f"{op.name}.to_onnx returned {out!r}, not a value name"
    shapes = symbolic(data) if free else [("N", *x.shape[1:]) for x in data]
    x_types = [
        helper.make_tensor_value_info(name, DTYPES[dtype_name(x)].onnx, declared(shape))
        for name, x, shape in zip(data_names, data, shapes, strict=True)
    ]
    y_shape = op.shape(*shapes, **sample.attrs)
    out_type = DTYPES[op.output_dtype(*(dtype_name(x) for x in data), **sample.attrs)]
    y_type = helper.make_tensor_value_info(out, out_type.onnx, declared(y_shape))
    graph = helper.make_graph(g.nodes, op.name, x_types, [y_type], g.initializers, value_info=g.value_info)
    model = helper.make_model(graph, opset_imports=g.opset_imports(), ir_version=IR_VERSION)
    return model, data_names, data, params, free


def batches(data, any_length: bool):
    """The sample's data, its first row alone, and the sample with its first row appended; where
    the op takes any length, also the data one step shorter and one step longer along axis 1."""
    yield data
    yield [x[:1] for x in data]
    yield [np.concatenate([x, x[:1]]) for x in data]
    if any_length:
        if min(x.shape[1] for x in data) > 1:
            yield [x[:, :-1] for x in data]
        yield [np.concatenate([x, x[:, :1]], axis=1) for x in data]


@pytest.mark.parametrize("op, sample, opset", CASES)
def test_lowering_matches_forward(op, sample, opset):
    model, names, data, params, any_length = export_alone(op, sample, opset)
    onnx.checker.check_model(model, full_check=True)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    referee = not any(n.op_type in ("StringNormalizer", "Tokenizer") for n in model.graph.node)
    reference = ReferenceEvaluator(model) if referee else None
    for xs in batches(data, any_length):
        want, _ = op.forward(
            Context(training=False, rng=np.random.default_rng(0)), *xs, *params, **sample.attrs
        )
        assert want.dtype == np.dtype(y_dtype(op, sample))
        feeds = dict(zip(names, xs, strict=True))
        checks = [("onnxruntime", session.run(None, feeds))]
        # onnx's reference StringNormalizer drops empty strings, changing the batch size
        # (onnxruntime keeps them, as the op's [C] -> [C] shape says): not a referee for it;
        # nor for onnxruntime's own com.microsoft Tokenizer, which it does not have.
        if referee:
            checks.append(("reference", reference.run(None, feeds)))
        for who, (got,) in checks:
            assert got.dtype == want.dtype, f"{who}: dtype {got.dtype}"
            assert got.shape == want.shape, f"{who}: shape {got.shape}, forward gives {want.shape}"
            np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL, err_msg=who)


def test_every_lowering_is_tested():
    tested = {case.values[0].name for case in CASES}
    assert tested == {op.name for op in OPS.values() if op.to_onnx is not None}


def test_every_op_but_the_losses_has_a_lowering():
    """Whatever the runtime can run can be exported; a loss is never exported."""
    for op in OPS.values():
        assert (op.to_onnx is None) == op.is_loss, op.name


def test_gelu_uses_the_onnx_op_from_opset_20():
    """Below opset 20 gelu is written with Erf (or Tanh); from 20 it is ONNX's Gelu node."""
    sample = next(OPS["gelu"].samples(np.random.default_rng(0)))
    types = {
        opset: {n.op_type for n in export_alone(OPS["gelu"], sample, opset)[0].graph.node} for opset in OPSETS
    }
    for opset in range(MIN_OPSET, 20):
        assert "Erf" in types[opset] and "Gelu" not in types[opset]
    for opset in range(20, MAX_OPSET + 1):
        assert types[opset] == {"Gelu"}
