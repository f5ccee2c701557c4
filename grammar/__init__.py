"""The .nn grammar (nn.lark) and its parser, built once on first use."""

from __future__ import annotations

import functools
from pathlib import Path

GRAMMAR_PATH = Path(__file__).with_name("nn.lark")


@functools.cache
def load_parser(strict: bool = False):
    """The LALR parser for specs (`start`) and for lone expressions (`expr`, used by --set).

    `strict=True` also rejects regex collisions; it needs the optional `interegular` package,
    so the grammar's own test uses it while users never pay for it."""
    from lark import Lark

    return Lark(
        GRAMMAR_PATH.read_text(),
        parser="lalr",
        lexer="contextual",
        propagate_positions=True,
        maybe_placeholders=True,
        strict=strict,
        start=["start", "expr"],
    )
