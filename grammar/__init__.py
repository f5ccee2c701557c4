"""The .nn grammar (nn.lark) and its parser, built once on first use.

Building the LALR tables takes about 0.4 s, most of a small command's start-up, so the built
parser is kept in the user's cache folder (`$XDG_CACHE_HOME/nnc`, else `~/.cache/nnc`) under a
name that hashes the grammar, the options and Lark's version: an edited grammar or another
Lark builds afresh. The cache is only ever an optimization: a folder that cannot be written, or
a cache file that cannot be read, means building the parser as before."""

from __future__ import annotations

import functools
import hashlib
import os
import tempfile
from pathlib import Path

GRAMMAR_PATH = Path(__file__).with_name("nn.lark")
_OPTIONS = dict(
    parser="lalr",
    lexer="contextual",
    propagate_positions=True,
    maybe_placeholders=True,
    start=["start", "expr"],
)


@functools.cache
def load_parser(strict: bool = False):
    """The LALR parser for specs (`start`) and for lone expressions (`expr`, used by --set).

    `strict=True` also rejects regex collisions; it needs the optional `interegular` package,
    so the grammar's own test uses it while users never pay for it (nor is it cached)."""
    import lark

    text = GRAMMAR_PATH.read_text()
    if strict:
        return lark.Lark(text, strict=True, **_OPTIONS)
    key = hashlib.sha256(repr((text, sorted(_OPTIONS.items()), lark.__version__)).encode()).hexdigest()
    path = cache_folder() / f"parser-{key[:32]}.lark"
    try:
        with path.open("rb") as f:
            return lark.Lark.load(f)
    except Exception:  # noqa: BLE001 - absent, unreadable or damaged: build it instead
        pass
    parser = lark.Lark(text, **_OPTIONS)
    _save(parser, path)
    return parser


def cache_folder() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "nnc"


def _save(parser, path: Path) -> None:
    """Writes the parser to `path` through a temporary file and a rename, so that a process
    reading it meanwhile sees the whole file or none. A folder that cannot be written (a
    read-only home, a full disk) leaves no cache: the next run builds the parser again."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        f = tempfile.NamedTemporaryFile(dir=path.parent, prefix=".parser-", delete=False)
    except OSError:
        return
    try:
        with f:
            parser.save(f)
        os.replace(f.name, path)
    except OSError:
        Path(f.name).unlink(missing_ok=True)
