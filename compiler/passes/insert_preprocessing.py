"""Preprocessing that an input's dtype or the data section asks for becomes ops in the graph,
read by every layer that read the input:

- a `cast` node after each uint8 or bool input (image pixels, yes/no columns): the layers
  compute on float32 while the data, and the exported model, keep the type they come in;
- a `standardize` node after each input that `data { standardize = ... }` names (after its
  cast) or, when the input is read only by an `impute` layer, after that layer: the statistics
  are then those of the values the model sees, with no missing ones.

Fitted statistics are parameters (fitted on the training split, not trained), so the runtime,
the weights file, the export and the gate all see them as one more layer.

A loss whose target is such an input (an autoencoder's `target=image`) compares with the input
as the model sees it: the converted, standardized value.

- an `unstandardize` node after each regression prediction whose target `data {
  standardize_targets = ... }` names: the network learns standardized targets, and the
  prediction, with everything that reads it, is back in the target's units."""

from __future__ import annotations

from dataclasses import replace

from nnc.compiler.diagnostics import Diagnostics
from nnc.compiler.ir import Graph, Node, TrainConfig
from nnc.compiler.passes.infer_shapes import infer_shapes
from nnc.runtime.dtypes import CAST_TO_FLOAT
from nnc.runtime.ops import OPS


def insert_casts(graph: Graph) -> Graph:
    """Before shape inference: the layers reading a uint8 or bool input read its cast."""
    nodes, outputs, front = list(graph.nodes), list(graph.outputs), [0]
    for i in graph.inputs:
        # An input's name cannot be a block instance's, so `<input>.cast` is free.
        if i.type.dtype in CAST_TO_FLOAT:
            _read_through(
                nodes, outputs, i.name, Node(f"{i.name}.cast", "cast", (i.name,), {}, i.span), front
            )
    return replace(graph, nodes=tuple(nodes), outputs=tuple(outputs))


def insert_preprocessing(graph: Graph, train: TrainConfig, diags: Diagnostics) -> tuple[Graph, TrainConfig]:
    """After the training configuration: standardize where the data section asks, and loss
    targets read from what the model sees of an input."""
    nodes, outputs = list(graph.nodes), list(graph.outputs)
    seen = {i.name: f"{i.name}.cast" for i in graph.inputs if i.type.dtype in CAST_TO_FLOAT}
    front = [len(seen)]  # where the next node placed before every layer goes: after the casts
    for i in graph.inputs:
        if i.name in train.data.standardize:
            value = seen.get(i.name, i.name)
            readers = [n for n in nodes if value in n.inputs]
            if len(readers) == 1 and readers[0].op == "impute":
                value = readers[0].name
            node = Node(f"{i.name}.standardize", "standardize", (value,), {}, i.span)
            standardized = _read_through(nodes, outputs, value, node, front)
            if value == seen.get(i.name, i.name):
                seen[i.name] = standardized
    losses = tuple(replace(t, target_value=seen[t.target]) if t.target in seen else t for t in train.losses)
    losses = _standardize_targets(nodes, losses, train.data.standardize_targets, diags)
    if not seen and len(nodes) == len(graph.nodes):
        return graph, train
    graph = replace(graph, nodes=tuple(nodes), outputs=tuple(outputs))
    return infer_shapes(graph, diags), replace(train, losses=losses)


def _standardize_targets(nodes: list[Node], losses, targets: tuple[str, ...], diags: Diagnostics):
    """For each regression prediction P whose target is standardized: the layer that computed P
    becomes `P.standardized`, and P is an `unstandardize` node after it, fitted on the target,
    so that every reader of P, the graph's outputs and the metrics see the target's units. The
    loss reads `P.standardized` against the standardized target."""
    out = []
    for t in losses:
        if t.target not in targets:
            out.append(t)
            continue
        at = next((k for k, n in enumerate(nodes) if n.name == t.prediction), None)
        others = [u for u in losses if u.prediction == t.prediction and u is not t]
        if at is None or others:
            diags.error(
                "E303",
                f"cannot standardize target `{t.target}`: its prediction `{t.prediction}` "
                + ("is a model input" if at is None else "is trained by more than one loss"),
                t.span,
                help="standardize the targets of predictions that one loss trains",
            )
            out.append(t)
            continue
        network = f"{t.prediction}.standardized"
        original = nodes[at]
        bounded = OPS[original.op].bounded
        if bounded is not None:
            diags.error(
                "E303",
                f"cannot standardize target `{t.target}`: its prediction `{t.prediction}` comes out "
                f"of {original.op}, whose values are {bounded}, and standardized targets take "
                "values on both sides of 0",
                original.span,
                help=f"end `{t.prediction}` with a layer of unbounded output (dense without an "
                f"activation), or leave `{t.target}` out of standardize_targets",
            )
            out.append(t)
            continue
        nodes[at] = replace(original, name=network)
        nodes.insert(
            at + 1, Node(t.prediction, "unstandardize", (network,), {"target": t.target}, original.span)
        )
        scale = (f"{t.prediction}.mean", f"{t.prediction}.std")
        out.append(replace(t, input=network, target_scale=scale))
    return tuple(out)


def _read_through(nodes: list[Node], outputs: list[str], value: str, node: Node, front: list[int]) -> str:
    """Makes every reader of `value` (and a graph output that is it) read `node` instead, and
    places `node` right after the producer of `value` (for an input, after the nodes placed
    for the inputs before it)."""
    for k, n in enumerate(nodes):
        if value in n.inputs:
            nodes[k] = replace(n, inputs=tuple(node.name if v == value else v for v in n.inputs))
    outputs[:] = [node.name if v == value else v for v in outputs]
    at = next((k + 1 for k, n in enumerate(nodes) if n.name == value), front[0])
    nodes.insert(at, node)
    if at <= front[0]:
        front[0] += 1
    return node.name
