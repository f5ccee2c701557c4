"""Whether training fits this machine: the estimate of runtime/footprint.py against its
memory. `nnc check` warns (W308) and `nnc train` refuses (E308) a model that cannot fit, at the
layer that needs the most, before anything is allocated."""

from __future__ import annotations

from nnc.compiler.diagnostics import ERROR, WARNING, Diagnostic
from nnc.runtime import footprint


def footprint_diagnostic(graph, train, *, refuse: bool) -> Diagnostic | None:
    """A diagnostic when training needs more memory than this machine has; None otherwise."""
    available = footprint.machine_memory()
    need = footprint.training_footprint(graph, train.optimizer.name, train.batch_size)
    if available is None or need.training <= available:
        return None
    layer = next((n for n in graph.nodes if n.name == need.largest), None)
    return Diagnostic(
        "E308" if refuse else "W308",
        f"training needs about {footprint.human_bytes(need.training)} at batch_size={train.batch_size}, "
        f"more than this machine's {footprint.human_bytes(available)}; `{need.largest}` needs the most",
        layer.span if layer else None,
        help="lower batch_size, or make this layer smaller",
        severity=ERROR if refuse else WARNING,
    )
