"""nnc graph, nnc plot and nnc report: pictures of a model and of its training, and a page."""

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


@click.command()
@click.argument("runs", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    help="curves.png, .svg or .pdf (default: curves.png in the first run directory).",
)
def plot(runs, output) -> None:
    """Training curves of one run directory, or of several overlaid: loss and every metric,
    training and validation, with the best epoch and an early stop marked."""
    from nnc.report.plot import plot as draw

    path = Path(output) if output else Path(runs[0]) / "curves.png"
    draw([Path(r) for r in runs], path)
    click.echo(f"wrote {path}", err=True)


@click.command()
@click.argument("run", type=click.Path(exists=True, file_okay=False))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    help="The page (default: report.html in the run directory).",
)
@click.option(
    "--data",
    type=click.Path(exists=True, dir_okay=False),
    help="Evaluate on this file (default: the spec's test data).",
)
def report(run, output, data) -> None:
    """One self-contained HTML page about a run: spec, summary, network, curves, metrics, an
    evaluation on the test data, the export's status, settings and versions. Opens offline."""
    from nnc.report.page import write

    path = Path(output) if output else Path(run) / "report.html"
    write(Path(run), path, Path(data) if data else None)
    click.echo(f"wrote {path}", err=True)
