"""The house stays as docs/architecture.md draws it: every package of the source tree is
installed, and imports only go down the layers (CLI -> API -> compiler -> runtime), never up.
Lazy imports inside functions count too: a cycle through them is still a cycle."""

import ast
import tomllib

import pytest
from conftest import ROOT

SETUPTOOLS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]

# Each top-level folder installs as one package of the `nnc` namespace.
FOLDERS = {
    "nnc": "nnc",
    "grammar": "nnc.grammar",
    "compiler": "nnc.compiler",
    "runtime": "nnc.runtime",
    "report": "nnc.report",
}

# The layers, and the layers below each that it may import. `nnc` itself is the Python API.
BELOW = {
    "nnc.grammar": (),
    "nnc.runtime": (),
    "nnc.compiler": ("nnc.grammar", "nnc.runtime"),
    "nnc": ("nnc.compiler", "nnc.grammar", "nnc.runtime"),
    # reporting reads what compiling and training wrote, beside the API
    "nnc.report": ("nnc", "nnc.compiler", "nnc.grammar", "nnc.runtime"),
    "nnc.cli": ("nnc", "nnc.report", "nnc.compiler", "nnc.grammar", "nnc.runtime"),
    "nnc.__main__": ("nnc.cli",),  # `python -m nnc` is the command line
}


def modules():
    """(module name, path) of every source file."""
    for folder, package in FOLDERS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            yield ".".join((package, *parts)).removesuffix(".__init__"), path


def layer_of(module: str) -> str:
    return max((layer for layer in BELOW if module == layer or module.startswith(layer + ".")), key=len)


def nnc_imports(path) -> list[str]:
    """Every nnc module a file imports, at the top or inside a function."""
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names if a.name.split(".")[0] == "nnc"]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "nnc":
            names.append(node.module)
    return names


def test_every_package_of_the_source_tree_is_installed():
    packages = set()
    for folder, package in FOLDERS.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            packages.add(".".join((package, *init.parent.relative_to(ROOT / folder).parts)))
    assert set(SETUPTOOLS["packages"]) == packages
    for package in packages:
        assert (ROOT / SETUPTOOLS["package-dir"][package] / "__init__.py").exists(), package


@pytest.mark.parametrize(("module", "path"), list(modules()), ids=[m for m, _ in modules()])
def test_imports_go_down_the_layers(module, path):
    layer = layer_of(module)
    allowed = (layer, *BELOW[layer])
    upward = [name for name in nnc_imports(path) if layer_of(name) not in allowed]
    assert not upward, f"{module} (layer {layer}) imports {upward}"


def test_the_runtime_imports_nothing_from_the_compiler():
    runtime = [(m, p) for m, p in modules() if layer_of(m) == "nnc.runtime"]
    assert len(runtime) > 40
    for module, path in runtime:
        assert not [n for n in nnc_imports(path) if layer_of(n) != "nnc.runtime"], module


def string_constants(path):
    """The string literals of a file that are not docstrings."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docs = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.FunctionDef | ast.ClassDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and id(n) not in docs]


def test_facts_about_losses_live_in_their_op_files():
    """What a loss trains, which activations it absorbs and whether it reads logits are parts
    of its OpDef: nothing outside runtime/ops decides them by the loss's name."""
    from nnc.runtime.ops import OPS

    losses = [op for op in OPS.values() if op.is_loss]
    assert {op.trains for op in losses} == {"multiclass", "binary", "regression"}
    named = {op.name for op in losses if op.classifier} | {a for op in losses for a in op.absorbs}
    assert {a for op in losses for a in op.absorbs} <= set(OPS)
    for module, path in modules():
        if module.startswith("nnc.runtime.ops"):
            continue
        assert not named & set(string_constants(path)), module
