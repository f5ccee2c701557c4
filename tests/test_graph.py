"""`nnc graph`: every example as DOT with one node per layer and one edge per wire (checked
against the IR), accepted by Graphviz where it is installed; block instances as clusters."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from click.testing import CliRunner
from conftest import ROOT

import nnc
from nnc.cli import main

SPECS = sorted((ROOT / "specs").glob("*.nn"))


@pytest.mark.parametrize("spec", SPECS, ids=[s.stem for s in SPECS])
def test_every_example_is_one_node_per_layer_and_one_edge_per_wire(spec):
    result = CliRunner().invoke(main, ["graph", str(spec)])
    assert result.exit_code == 0, result.output
    dot = result.output
    graph = nnc.load(spec).program.graph
    nodes = re.findall(r'^\s*"([^"]+)" \[label=', dot, re.M)
    assert sorted(nodes) == sorted([i.name for i in graph.inputs] + [n.name for n in graph.nodes])
    edges = re.findall(r'^\s*"([^"]+)" -> "([^"]+)";', dot, re.M)
    assert sorted(edges) == sorted((v, n.name) for n in graph.nodes for v in n.inputs)
    if shutil.which("dot"):
        done = subprocess.run(["dot", "-Tsvg"], input=dot.encode(), capture_output=True, check=False)
        assert done.returncode == 0 and b"<svg" in done.stdout, done.stderr


def test_block_instances_are_clusters_named_after_them():
    dot = CliRunner().invoke(main, ["graph", str(ROOT / "specs" / "residual_mlp.nn")]).output
    for instance in ("residual_1", "residual_2"):
        cluster = dot[dot.index(f'subgraph "cluster_{instance}"') :]
        cluster = cluster[: cluster.index("\n  }")]
        assert f'label="{instance}"' in cluster and cluster.count(f'\n    "{instance}.') == 6
    assert "cluster_features" not in dot  # an input's preprocessing is not a block


def test_pictures_need_graphviz_and_say_how_to_get_it(tmp_path, monkeypatch):
    spec = str(ROOT / "specs" / "spirals.nn")
    if shutil.which("dot"):
        result = CliRunner().invoke(main, ["graph", spec, "-o", str(tmp_path / "m.svg")])
        assert result.exit_code == 0 and (tmp_path / "m.svg").read_text().lstrip().startswith("<?xml")
    monkeypatch.setattr(shutil, "which", lambda name: None)
    result = CliRunner().invoke(main, ["graph", spec, "-o", str(tmp_path / "n.png")])
    assert result.exit_code == 2 and "needs Graphviz's `dot` program" in result.output
    assert "apt-get install graphviz" in result.output and not (tmp_path / "n.png").exists()
    result = CliRunner().invoke(main, ["graph", spec, "-o", str(tmp_path / "m.dot")])  # no Graphviz needed
    assert result.exit_code == 0 and (tmp_path / "m.dot").read_text().startswith('digraph "spirals"')
