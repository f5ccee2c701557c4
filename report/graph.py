"""The network as a Graphviz diagram: one box per layer (its name, op, output shape and
parameter count), an edge for every wire, the model's outputs marked, and the layers of each
block instance drawn inside a cluster named after it. DOT is text, always available; `render`
hands it to Graphviz's `dot` program for SVG or PNG."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from nnc.compiler.ir import Program
from nnc.compiler.summary import layer_rows
from nnc.runtime.errors import UsageError

FORMATS = {".dot": None, ".gv": None, ".svg": "svg", ".png": "png", ".pdf": "pdf"}


def to_dot(program: Program) -> str:
    rows = layer_rows(program)
    values = {row["name"] for row in rows}
    outputs = set(program.graph.outputs)
    lines = [
        f"digraph {_quote(program.graph.name)} {{",
        "  rankdir=TB;",
        '  node [shape=box, style="rounded,filled", fillcolor=white, fontname="Helvetica", fontsize=10];',
        '  edge [fontname="Helvetica", fontsize=9];',
    ]
    clusters: dict[tuple[str, ...], list[str]] = {}
    for row in rows:
        clusters.setdefault(_instance(row["name"], values), []).append(_node(row, row["name"] in outputs))
    lines += _clusters(clusters, ())
    for row in rows:
        for source in row["inputs"]:
            lines.append(f"  {_quote(source)} -> {_quote(row['name'])};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _instance(name: str, values: set[str]) -> tuple[str, ...]:
    """The block instances a layer sits in, outermost first: the dotted prefixes of its name
    that are not values themselves (`features.standardize` is an input's preprocessing,
    `residual_1.dense_1` a layer of the block instance `residual_1`)."""
    parts = name.split(".")
    path: list[str] = []
    for k in range(1, len(parts)):
        prefix = ".".join(parts[:k])
        if prefix in values:
            break
        path.append(prefix)
    return tuple(path)


def _clusters(clusters: dict[tuple[str, ...], list[str]], path: tuple[str, ...], depth: int = 1) -> list[str]:
    pad = "  " * depth
    lines = [pad + node for node in clusters.get(path, [])]
    children = sorted(
        {key[: len(path) + 1] for key in clusters if len(key) > len(path) and key[: len(path)] == path}
    )
    for child in children:
        label = child[-1].rsplit(".", 1)[-1]
        lines.append(f"{pad}subgraph {_quote('cluster_' + child[-1])} {{")
        lines.append(
            f'{pad}  label={_quote(label)}; style="rounded,dashed"; color=gray40; fontname="Helvetica";'
        )
        lines += _clusters(clusters, child, depth + 1)
        lines.append(f"{pad}}}")
    return lines


def _node(row: dict, is_output: bool) -> str:
    shape = "[" + ", ".join(str(d) for d in row["shape"]) + "]"
    label = f"{row['name']}\\n{row['op']}  {shape}"
    if row["params"]:
        label += f"\\n{row['params']:,} params"
    style = (
        ", fillcolor=lightblue" if row["op"] == "input" else ", fillcolor=lightyellow" if is_output else ""
    )
    return f"{_quote(row['name'])} [label={_quote(label, escaped=True)}{style}];"


def _quote(text: str, escaped: bool = False) -> str:
    if not escaped:
        text = text.replace("\\", "\\\\")
    return '"' + text.replace('"', '\\"') + '"'


def render(dot: str, path: Path) -> None:
    """Writes `dot` to `path` in the format its suffix names: DOT as is, SVG, PNG or PDF through
    Graphviz's `dot` program, which must be installed for those."""
    from nnc.runtime.files import write_atomic, write_text

    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise UsageError(
            "E550",
            f"nnc graph writes .dot, .svg, .png or .pdf files. Received: {path.name}",
            help="name the output model.svg, model.png or model.dot",
        )
    if FORMATS[suffix] is None:
        write_text(path, dot)
        return
    program = shutil.which("dot")
    if program is None:
        raise UsageError(
            "E550",
            f"drawing {suffix[1:].upper()} needs Graphviz's `dot` program, which is not installed",
            help="install Graphviz (apt-get install graphviz, brew install graphviz, "
            "or graphviz.org/download), or write DOT: -o model.dot",
        )
    done = subprocess.run(
        [program, f"-T{FORMATS[suffix]}"], input=dot.encode(), capture_output=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"Graphviz refused the graph: {done.stderr.decode(errors='replace').strip()}")
    write_atomic(path, lambda f: f.write(done.stdout))
