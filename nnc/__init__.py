"""nnc: describe a neural network in a few readable lines, check it, train it, ship it as ONNX.

The package is one namespace: `nnc.grammar` (the .nn grammar), `nnc.compiler` (text -> AST ->
IR, diagnostics), `nnc.runtime` (ops and everything that executes them) and `nnc.cli` (the
command line, a layer above the Python API). The Python API is `nnc.load(spec)`, which
returns an `nnc.model.Model`; it is imported on first use so that `import nnc` (and
`nnc --help`) stays instant."""


def __getattr__(name: str):
    # The version comes from the package metadata (pyproject.toml), read only when asked for.
    if name == "__version__":
        from nnc.runtime.version import nnc_version

        return nnc_version()
    if name in ("Callback", "History"):  # for fit(callbacks=[...]): Keras's hooks
        from nnc.runtime import train

        return getattr(train, name)
    raise AttributeError(f"module 'nnc' has no attribute {name!r}")


def load(spec, overrides=()):
    """Compile a spec (a path or source text) into a Model with fit, evaluate, predict, save and
    load. See nnc.model."""
    from nnc.model import load as _load

    return _load(spec, overrides)


def load_run(run_dir, overrides=()):
    """The model a run directory holds, as it was trained: its own copy of the spec, compiled
    with the overrides it was trained with, and its weights. See nnc.model.load_run."""
    from nnc.model import load_run as _load_run

    return _load_run(run_dir, overrides)


def predict(model_path, x, provider="cpu", batch_size=1024):
    """Run an exported .onnx model through onnxruntime: an array (or a dict by input name) in,
    an array (or a dict by output name) out. See nnc.runtime.onnx.predict."""
    from nnc.runtime.onnx.predict import predict as _predict

    return _predict(model_path, x, provider=provider, batch_size=batch_size)
