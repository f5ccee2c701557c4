"""The `nnc` command group: each command parses its options and
calls the API or the runtime. Only click and the standard library are imported at start-up, so
`nnc --help` is instant; each command imports what it needs when it runs.

    group.py    this: the commands assembled
    common.py   exit codes, printing diagnostics, error handling, shared options
    check.py    nnc check
    train.py    nnc train, nnc eval
    sweep.py    nnc sweep
    export.py   nnc export
    predict.py  nnc predict (one file, or shards, here or on Ray)
    report.py   nnc graph, nnc plot, nnc report

Exit codes: 0 success, 1 internal error, 2 usage error (click's, and an opset, provider or
output that cannot be had), 3 invalid spec, 4 bad data or weights, 5 training failed (a
non-finite loss, a run that cannot be resumed), 130 interrupted (Ctrl-C; training saves a
checkpoint first), 141 a closed pipe."""

from __future__ import annotations

import click

from nnc.cli.check import check
from nnc.cli.common import (
    EXIT_DATA_ERROR,
    EXIT_INTERNAL_ERROR,
    EXIT_INTERRUPTED,
    EXIT_SPEC_ERROR,
    EXIT_TRAINING_ERROR,
    Group,
)
from nnc.cli.export import export
from nnc.cli.predict import predict
from nnc.cli.report import graph, plot, report
from nnc.cli.sweep import sweep
from nnc.cli.train import evaluate, train

__all__ = [
    "EXIT_DATA_ERROR",
    "EXIT_INTERNAL_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_SPEC_ERROR",
    "EXIT_TRAINING_ERROR",
    "main",
]


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="nnc")
def main() -> None:
    """nnc: describe a neural network in a .nn spec, check it, train it, ship it as ONNX."""


for command in (check, train, evaluate, export, predict, graph, plot, report, sweep):
    main.add_command(command)
