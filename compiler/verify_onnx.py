"""The export gate: an exported model is written only if it is valid ONNX, its inferred shapes
agree with the IR's, and onnxruntime computes what the NumPy runtime computes, at batch sizes
1 and 7, within rtol 1e-4 / atol 1e-5. On a mismatch the first diverging layer is named."""

from __future__ import annotations

import numpy as np
from nnc.runtime.errors import RunError

BATCH_SIZES = (1, 7)
RTOL, ATOL = 1e-4, 1e-5


class ExportMismatch(RunError):
    def __init__(self, message: str, layer: str | None = None):
        super().__init__(
            "E532", message, help="this is a bug in an op's lowering; please report it", layer=layer
        )


def sample_inputs(graph, batch: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    feeds = {}
    for i in graph.inputs:
        shape = (batch, *i.type.shape[1:])
        if i.type.dtype == "int64":
            feeds[i.name] = rng.integers(0, 2, shape).astype(np.int64)
        else:
            feeds[i.name] = rng.standard_normal(shape).astype(np.float32)
    return feeds


def verify(model, values: dict[str, str], program, plan, outputs, standardize=None) -> None:
    """Raises RunError (E532) when the model fails any check; returns quietly otherwise."""
    import onnx
    import onnxruntime

    try:
        onnx.checker.check_model(model, full_check=True)
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as e:
        raise ExportMismatch(f"the exported model is not valid ONNX: {e}") from None
    graph = program.graph
    shapes = {v.name: v.type.tensor_type.shape for v in inferred.graph.output}
    for out in outputs:
        dims = [d.dim_value if d.HasField("dim_value") else d.dim_param for d in shapes[out].dim]
        expected = ["N", *graph.type_of(out).shape[1:]]
        if dims != expected:
            raise ExportMismatch(f"ONNX infers {out}: {dims}, the IR says {expected}", out)
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    for batch in BATCH_SIZES:
        feeds = sample_inputs(graph, batch, rng)
        runtime_feeds = dict(feeds)
        for name, (mean, std) in (standardize or {}).items():
            runtime_feeds[name] = ((feeds[name] - mean) / std).astype(np.float32)
        expected = plan.run(runtime_feeds, outputs)
        got = dict(zip(outputs, session.run(list(outputs), feeds), strict=True))
        for out in outputs:
            if not _close(got[out], expected[out]):
                layer = _first_diverging(model, values, graph, plan, feeds, runtime_feeds)
                raise ExportMismatch(
                    f"onnxruntime and the NumPy runtime disagree on `{out}` at batch size {batch}"
                    + (f"; the first diverging layer is `{layer}`" if layer else ""),
                    layer,
                )


def _close(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and np.allclose(a, b, rtol=RTOL, atol=ATOL)


def _first_diverging(model, values, graph, plan, feeds, runtime_feeds) -> str | None:
    """Runs the model again with every layer's value as an output and compares in graph order."""
    import onnx
    import onnxruntime

    debug = onnx.ModelProto()
    debug.CopyFrom(model)
    layers = [n.name for n in graph.nodes if n.name in values]
    known = {o.name for o in debug.graph.output}
    for name in layers:
        if values[name] not in known:
            debug.graph.output.append(onnx.helper.make_empty_tensor_value_info(values[name]))
            known.add(values[name])
    session = onnxruntime.InferenceSession(debug.SerializeToString(), providers=["CPUExecutionProvider"])
    got = dict(zip([values[n] for n in layers], session.run([values[n] for n in layers], feeds), strict=True))
    expected = plan.run(runtime_feeds, layers)
    return next((n for n in layers if not _close(got[values[n]], expected[n])), None)
