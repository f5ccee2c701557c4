"""Preprocessing the data section asks for becomes ops in the graph: a `standardize` node after
each input that `data { standardize = ... }` names, read by every layer that read the input.
Its statistics are parameters (fitted on the training split, not trained), so the runtime,
the weights file, the export and the gate all see it as one more layer.

A loss whose target is a standardized input (an autoencoder's `target=image`) compares with
the input as the model sees it: the standardized value."""

from __future__ import annotations

from dataclasses import replace

from nnc.compiler.diagnostics import Diagnostics
from nnc.compiler.ir import Graph, Node, TrainConfig
from nnc.compiler.passes.infer_shapes import infer_shapes


def insert_preprocessing(graph: Graph, train: TrainConfig, diags: Diagnostics) -> tuple[Graph, TrainConfig]:
    if not train.data.standardize:
        return graph, train
    # An input's name cannot be a block instance's, so `<input>.standardize` is free.
    inserted = {
        i.name: Node(f"{i.name}.standardize", "standardize", (i.name,), {}, i.span)
        for i in graph.inputs
        if i.name in train.data.standardize
    }
    seen = {name: node.name for name, node in inserted.items()}
    nodes = [replace(n, inputs=tuple(seen.get(v, v) for v in n.inputs)) for n in graph.nodes]
    graph = replace(
        graph,
        nodes=(*inserted.values(), *nodes),
        outputs=tuple(seen.get(v, v) for v in graph.outputs),
    )
    losses = tuple(replace(t, target_value=seen[t.target]) if t.target in seen else t for t in train.losses)
    return infer_shapes(graph, diags), replace(train, losses=losses)
