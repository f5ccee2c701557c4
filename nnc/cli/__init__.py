"""The `nnc` command line, the layer above the Python API (nnc/cli/group.py assembles it). The
console script enters at `run`, which imports nothing until it is inside the one place a Ctrl-C
is caught: pressed at any moment, start-up included, it ends with one line and exit 130."""

from __future__ import annotations

import sys


def run() -> None:
    try:
        import click

        from nnc.cli.group import main

        try:
            code = main(standalone_mode=False)  # click's own mode turns Ctrl-C into "Aborted!", 1
        except click.ClickException as e:
            e.show()
            code = e.exit_code
        except click.Abort:  # a Ctrl-C while click read the command line
            raise KeyboardInterrupt from None
    except KeyboardInterrupt:
        sys.stderr.write("nnc: interrupted\n")
        code = 130
    sys.exit(code if isinstance(code, int) else 0)


def __getattr__(name: str):
    # `from nnc.cli import main, EXIT_SPEC_ERROR`: the group and its exit codes, on first use
    # (import_module: `from nnc.cli import group` would ask this function for `group`)
    import importlib

    return getattr(importlib.import_module("nnc.cli.group"), name)
