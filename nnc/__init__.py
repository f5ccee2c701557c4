"""nnc: describe a neural network in a few readable lines, check it, train it, ship it as ONNX.

The package is one namespace: `nnc.grammar` (the .nn grammar), `nnc.compiler` (text -> AST ->
IR, diagnostics, the CLI) and `nnc.runtime` (ops and everything that executes them)."""

__version__ = "0.1.0"
