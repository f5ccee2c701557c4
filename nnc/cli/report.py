"""nnc graph: pictures of a model (and, later, of its training)."""

from __future__ import annotations

from pathlib import Path

import click

from nnc.cli.common import SET, load_model


@click.command()
@click.argument("spec", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    help="model.svg, .png or .pdf (through Graphviz's dot), or model.dot (default: DOT on stdout).",
)
@SET
def graph(spec, output, overrides) -> None:
    """The network of SPEC as a diagram: a box per layer with its op, output shape and
    parameters, an edge per wire, block instances as clusters."""
    from nnc.report.graph import render, to_dot

    dot = to_dot(load_model(spec, overrides).program)
    if output is None:
        click.echo(dot, nl=False)
        return
    render(dot, Path(output))
    click.echo(f"wrote {output}", err=True)
