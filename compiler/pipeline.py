"""The compiler's stages in order: text -> AST -> resolved names -> graph -> typed graph ->
training configuration -> graph with its preprocessing. Each stage collects every error it
can; the pipeline stops after resolution if names failed, and otherwise reports everything at
once."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from nnc.compiler.build_config import build_config
from nnc.compiler.build_ir import build_ir
from nnc.compiler.diagnostics import CompileError, Diagnostic, Diagnostics
from nnc.compiler.ir import Program
from nnc.compiler.overrides import apply_overrides
from nnc.compiler.parse import parse_source, read_source
from nnc.compiler.passes.check_footprint import footprint_diagnostic
from nnc.compiler.passes.infer_shapes import infer_shapes
from nnc.compiler.passes.insert_preprocessing import insert_casts, insert_preprocessing
from nnc.compiler.resolve import resolve
from nnc.compiler.source import Source, Span


@dataclass(frozen=True)
class Compiled:
    program: Program
    warnings: tuple[Diagnostic, ...]
    imports: dict[str, str] = field(default_factory=dict)  # imported file (absolute path) -> text


def compile_source(
    source: Source, overrides: list[str] | tuple[str, ...] = (), files: Mapping[str, str] | None = None
) -> Compiled:
    """Compile one spec. Raises CompileError with every diagnostic when the spec is invalid.
    `files` are texts to use for imported files (by absolute path) instead of reading them:
    a run's own copies."""
    spec = parse_source(source)
    spec, const_overrides = apply_overrides(spec, list(overrides), source)
    diags = Diagnostics()
    imports: dict[str, str] = {}

    def parse_file(path: str):
        imported = Source(path, files[path]) if files and path in files else read_source(path)
        imports[path] = imported.text
        return parse_source(imported)

    try:
        resolved = resolve(spec, source, diags, parse_file, const_overrides)
        if diags.has_errors:
            raise CompileError(diags.items)
        graph = infer_shapes(insert_casts(build_ir(resolved, diags)), diags)
        train = build_config(resolved, graph, diags)
        if not diags.has_errors:
            graph, train = insert_preprocessing(graph, train, diags)
            if train.losses and (too_large := footprint_diagnostic(graph, train, refuse=False)):
                diags.add(too_large)
    except RecursionError:
        # build_ast catches the deep nesting it meets; evaluation may meet it later.
        raise CompileError(
            [Diagnostic("E105", "the spec nests too deeply to compile", Span(source, 0, 0))]
        ) from None
    if diags.has_errors:
        raise CompileError(diags.items)
    return Compiled(Program(graph, train, source.path), tuple(diags.items), imports)


def compile_file(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Compiled:
    return compile_source(read_source(path), overrides)
