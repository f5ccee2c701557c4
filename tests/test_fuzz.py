"""Fuzzing the compiler with mutated example specs.

Every mutation of a real spec must either compile or be reported as diagnostics: a
`CompileError` whose diagnostics carry an `E###`/`W###` code and, where they point into a
file, a span inside that file's text. Any other exception is a bug (the CLI would exit 1 with
"internal error"). Mutations are made on tokens so that most of them survive the lexer and
reach the later stages: deletions, duplications, swaps, insertions from the specs' own
vocabulary, replaced numbers and names; plus raw characters and truncation for the lexer.

The runs are derandomized so CI sees the same examples every time."""

from __future__ import annotations

import os
import re
import shutil
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from click.testing import CliRunner
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from nnc.compiler.diagnostics import ERROR, WARNING, CompileError, Diagnostic, render_text, to_dict
from nnc.compiler.ir import format_program
from nnc.compiler.pipeline import compile_source
from nnc.compiler.source import Source, Span
from nnc.compiler.summary import format_summary, summarize

from nnc.cli import main

SPECS_DIR = Path(__file__).resolve().parent.parent / "specs"
SPEC_PATHS = sorted(SPECS_DIR.glob("*.nn"))
BLOCK_PATH = SPECS_DIR / "blocks" / "transformer.nn"
IMPORTER_PATH = SPECS_DIR / "transformer.nn"
TEXTS = {path: path.read_text(encoding="utf-8") for path in [*SPEC_PATHS, BLOCK_PATH]}

# NNC_FUZZ_EXAMPLES=2000 runs the long version by hand (docs/reliability.md); CI runs 150.
EXAMPLES = int(os.environ.get("NNC_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None)

# Trivia (whitespace, comments) is kept as tokens of its own so that a mutated spec keeps its
# layout; only the other tokens are mutated.
_TOKEN = re.compile(
    r"""(?P<trivia>\s+|\#[^\n]*)
      | (?P<number>(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?)
      | (?P<string>"([^"\\\n]|\\.)*")
      | (?P<name>[A-Za-z_]\w*)
      | (?P<punct>->|//|.)""",
    re.VERBOSE | re.DOTALL,
)


def tokenize(text: str) -> list[tuple[str, str]]:
    """(kind, text) pairs that join back into `text`."""
    tokens = [(m.lastgroup, m.group()) for m in _TOKEN.finditer(text)]
    assert "".join(t for _, t in tokens) == text
    return tokens


def _vocabulary(kind: str) -> list[str]:
    return sorted({t for text in TEXTS.values() for k, t in tokenize(text) if k == kind})


NAMES = _vocabulary("name")
NUMBERS = _vocabulary("number")
STRINGS = _vocabulary("string")
PUNCTUATION = [*'-> // ( ) [ ] { } , : ; = + - * / % . " #'.split(), "\n"]
VOCABULARY = NAMES + NUMBERS + STRINGS + PUNCTUATION
ODD_NUMBERS = [*"0 -1 1 -0 3.5 0.5 1e30 1e400 1e-30 10000000000".split(), str(2**63), "9" * 40]
SEPARATORS = ["", " ", "\n"]  # "" lets an inserted word fuse with its neighbour (`model` + `s`)


def _significant(tokens) -> list[int]:
    return [i for i, (kind, _) in enumerate(tokens) if kind != "trivia"]


def _indices(draw, tokens, kind: str | None = None) -> int | None:
    choices = [i for i in _significant(tokens) if kind is None or tokens[i][0] == kind]
    return draw(st.sampled_from(choices)) if choices else None


def delete(draw, tokens):
    i = _indices(draw, tokens)
    return tokens if i is None else tokens[:i] + tokens[i + 1 :]


def duplicate(draw, tokens):
    i = _indices(draw, tokens)
    if i is None:
        return tokens
    sep = draw(st.sampled_from(SEPARATORS))
    return tokens[: i + 1] + [("trivia", sep), tokens[i]] + tokens[i + 1 :]


def swap(draw, tokens):
    i, j = _indices(draw, tokens), _indices(draw, tokens)
    if i is None:
        return tokens
    tokens = list(tokens)
    tokens[i], tokens[j] = tokens[j], tokens[i]
    return tokens


def insert(draw, tokens):
    i = draw(st.integers(0, len(tokens)))
    word = draw(st.sampled_from(VOCABULARY))
    sep = draw(st.sampled_from(SEPARATORS))
    return tokens[:i] + [("trivia", sep), ("inserted", word), ("trivia", sep)] + tokens[i:]


def replace_number(draw, tokens):
    i = _indices(draw, tokens, "number")
    if i is None:
        return tokens
    return tokens[:i] + [("number", draw(st.sampled_from(ODD_NUMBERS)))] + tokens[i + 1 :]


def replace_name(draw, tokens):
    i = _indices(draw, tokens, "name")
    if i is None:
        return tokens
    return tokens[:i] + [("name", draw(st.sampled_from(NAMES)))] + tokens[i + 1 :]


STRUCTURE = [delete, duplicate, swap, insert]
VALUES = [replace_number, replace_name]


@st.composite
def token_mutation(draw, text: str, mutations) -> str:
    tokens = tokenize(text)
    for _ in range(draw(st.integers(1, 3))):
        tokens = draw(st.sampled_from(mutations))(draw, tokens)
    return "".join(t for _, t in tokens)


def _chars():
    # Any code point a UTF-8 file can hold (no lone surrogates), or raw bytes read as Latin-1.
    unicode = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=4)
    raw = st.binary(min_size=1, max_size=4).map(lambda b: b.decode("latin-1"))
    return st.one_of(unicode, raw)


@st.composite
def char_noise(draw, text: str) -> str:
    """Random characters inserted at random offsets, then perhaps a truncation."""
    for _ in range(draw(st.integers(0, 2))):
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(_chars()) + text[at:]
    if draw(st.booleans()):
        text = text[: draw(st.integers(0, len(text)))]
    return text


@st.composite
def raw_bytes_inserted(draw, data: bytes) -> bytes:
    at = draw(st.integers(0, len(data)))
    return data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at:]


@st.composite
def mutated_spec(draw, mutations) -> tuple[Path, str]:
    path = draw(st.sampled_from(SPEC_PATHS))
    return path, draw(token_mutation(TEXTS[path], mutations))


@contextmanager
def time_limit(seconds: float = 5.0) -> Iterator[None]:
    """Turn a hang (a spec that never finishes compiling) into a failure. A spec compiles in
    milliseconds, so the limit is generous for a slow CI machine."""

    def expire(signum, frame):
        # NOTE: an exception raised while a gc callback runs is printed and dropped: fire
        # again soon, so that the hang still ends.
        signal.setitimer(signal.ITIMER_REAL, 0.1)
        raise TimeoutError(f"compiling took over {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def check_span(span: Span, sources: dict[str, str]) -> None:
    text = span.source.text
    assert span.source.path in sources, f"span in an unexpected file {span.source.path!r}"
    assert text == sources[span.source.path], f"span's source text is not {span.source.path}'s"
    assert 0 <= span.start <= span.end <= len(text), f"span {span.start}..{span.end} outside 0..{len(text)}"
    lines = text.split("\n")
    assert 1 <= span.line <= len(lines), f"line {span.line} outside 1..{len(lines)}"
    assert 1 <= span.column <= len(lines[span.line - 1]) + 1, f"column {span.column} past line {span.line}"


def check_diagnostic(d: Diagnostic, sources: dict[str, str]) -> None:
    assert re.fullmatch(r"[EW]\d{3}", d.code), f"bad code {d.code!r} in {d}"
    assert d.code[0] == ("E" if d.severity == ERROR else "W"), f"{d.code} is a {d.severity}"
    assert d.severity in (ERROR, WARNING), d
    assert isinstance(d.message, str) and d.message.strip(), f"empty message in {d}"
    for span in [d.span, *(s for _, s in d.notes)]:
        if span is not None:
            check_span(span, sources)
    # The CLI renders every diagnostic; rendering must not fail either.
    assert f"[{d.code}]" in render_text(d)
    assert to_dict(d)["code"] == d.code


def check_compiles_or_diagnoses(path: Path, text: str, imported: dict[str, str] | None = None) -> bool:
    """Compile `text` as if read from `path`; True when it compiled. `imported` maps the paths
    of the files it may import to their texts (the block file, by default)."""
    source = Source(str(path), text)
    sources = {str(path): text, **(imported or {str(BLOCK_PATH): TEXTS[BLOCK_PATH]})}
    try:
        with time_limit():
            compiled = compile_source(source)
    except CompileError as e:
        diagnostics = e.diagnostics
        assert any(d.severity == ERROR for d in diagnostics), f"CompileError without an error: {diagnostics}"
        ok = False
    else:
        diagnostics = compiled.warnings
        assert all(d.severity == WARNING for d in diagnostics), f"errors in a compiled spec: {diagnostics}"
        # What `nnc check` prints for a valid spec.
        assert format_summary(summarize(compiled.program))
        assert format_program(compiled.program)
        ok = True
    for d in diagnostics:
        check_diagnostic(d, sources)
    # `--hypothesis-show-statistics` shows how far the mutants get: E1 parse, E2 names, E3 shapes...
    if currently_in_test_context():
        first = next((d.code for d in diagnostics if d.severity == ERROR), None)
        event(f"first error {first[:2]}xx" if first else "compiled")
    return ok


def test_examples_compile():
    """The unmutated specs compile, so the mutations start from valid text."""
    for path in SPEC_PATHS:
        assert check_compiles_or_diagnoses(path, TEXTS[path]), path


def test_tokenizer_round_trips_and_finds_every_kind():
    for text in TEXTS.values():
        kinds = {kind for kind, _ in tokenize(text)}
        assert {"trivia", "name", "number", "punct"} <= kinds
    assert "model" in NAMES and "dense" in NAMES and '"blocks/transformer.nn"' in STRINGS


@FUZZ
@given(mutated_spec(STRUCTURE))
def test_structural_mutations(case):
    check_compiles_or_diagnoses(*case)


@FUZZ
@given(mutated_spec(VALUES))
def test_number_and_name_replacements(case):
    check_compiles_or_diagnoses(*case)


@FUZZ
@given(mutated_spec(STRUCTURE + VALUES))
def test_mixed_mutations(case):
    check_compiles_or_diagnoses(*case)


@FUZZ
@given(st.sampled_from(SPEC_PATHS).flatmap(lambda p: st.tuples(st.just(p), char_noise(TEXTS[p]))))
def test_character_noise_and_truncation(case):
    check_compiles_or_diagnoses(*case)


@FUZZ
@given(st.one_of(token_mutation(TEXTS[BLOCK_PATH], STRUCTURE + VALUES), char_noise(TEXTS[BLOCK_PATH])))
def test_imported_block_mutations(tmp_path_factory, block_text):
    """The block file is mutated and reached through the import of the transformer spec, so its
    diagnostics come out of the import path."""
    root = tmp_path_factory.mktemp("spec").resolve()  # imports are resolved to real paths
    (root / "blocks").mkdir()
    block = root / "blocks" / "transformer.nn"
    block.write_text(block_text, encoding="utf-8")
    check_compiles_or_diagnoses(root / IMPORTER_PATH.name, TEXTS[IMPORTER_PATH], {str(block): block_text})


@settings(FUZZ, max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.one_of(
        mutated_spec(STRUCTURE + VALUES).map(lambda c: (c[0], c[1].encode("utf-8"))),
        # Raw bytes: a file that is not UTF-8 at all must be diagnosed too (E100).
        st.sampled_from(SPEC_PATHS).flatmap(
            lambda p: st.tuples(st.just(p), raw_bytes_inserted(p.read_bytes()))
        ),
    )
)
def test_cli_check_on_mutated_files(tmp_path, case):
    """`nnc check` exits 0 or 3, never with a traceback, and agrees with the in-process result."""
    path, data = case
    root = tmp_path.resolve()  # imports are resolved to real paths
    if not (root / "blocks").exists():
        shutil.copytree(SPECS_DIR / "blocks", root / "blocks")
    spec = root / path.name
    spec.write_bytes(data)
    with time_limit():
        result = CliRunner().invoke(main, ["check", str(spec)])
    output = result.output  # stdout and stderr, interleaved as a user sees them
    assert result.exit_code in (0, 3), f"exit {result.exit_code}:\n{output}\n{result.exception!r}"
    assert "Traceback" not in output
    assert "internal error" not in output
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        assert result.exit_code == 3 and "error[E100]" in output, output
        return
    compiled = check_compiles_or_diagnoses(
        spec, text, {str(root / "blocks" / "transformer.nn"): TEXTS[BLOCK_PATH]}
    )
    assert result.exit_code == (0 if compiled else 3), output
    if not compiled:
        assert re.search(r":\d+:\d+: error\[E\d{3}\]|^nnc: error\[E\d{3}\]", output, re.MULTILINE), output


# ---- hostile specs: what a fuzzer's extremes look like ------------------------------------------
MODEL = "model m {{\n    input x: float32[{dims}]\n{body}\n}}\nloss mse(y, target=t)\n"


@st.composite
def hostile_spec(draw) -> str:
    """Deep nesting, long lines, blocks that expand exponentially, huge literals, nested
    repeats, huge shapes and long strings: each at sizes from harmless to extreme."""
    kind = draw(st.sampled_from(["nesting", "long", "blocks", "literal", "repeats", "shape", "string"]))
    n = draw(st.sampled_from([1, 10, 1000, 100_000]))
    if kind == "nesting":
        depth = min(n, 20_000)
        expression = draw(
            st.sampled_from(["(" * depth + "1" + ")" * depth, "-" * depth + "1", "1" + "+1" * depth])
        )
        return f"const a = {expression}\n" + MODEL.format(dims=4, body="    dense(2) as y")
    if kind == "long":
        return MODEL.format(dims=4, body="    dense(2) as y  # " + "x" * (n * 20))
    if kind == "blocks":
        k = min(n, 40)
        blocks = "block b0() { input x\n relu }\n" + "".join(
            f"block b{i}() {{ input x\n b{i - 1} -> b{i - 1} }}\n" for i in range(1, k)
        )
        return blocks + MODEL.format(dims=4, body=f"    b{k - 1} -> dense(2) as y")
    if kind == "literal":
        digits = "9" * min(n, 50_000)
        place = draw(st.sampled_from(["dense({})", "dense(2, l2={})", "dropout(0.{})", "reshape(({}, -1))"]))
        return MODEL.format(dims=4, body=f"    {place.format(digits)}\n    dense(2) as y")
    if kind == "repeats":
        a, b = draw(st.sampled_from([1, 10, 1000, 100_000])), n
        return MODEL.format(dims=4, body=f"    repeat {a} {{ repeat {b} {{ relu }} }}\n    dense(2) as y")
    if kind == "shape":
        size = draw(st.sampled_from([2**31 - 1, 2**31, 2**40, 3**20]))
        layer = draw(st.sampled_from(["dense(2)", "multi_head_attention(heads=3)", "lstm(4)", "flatten"]))
        return MODEL.format(dims=f"4, {size}", body=f"    {layer}\n    dense(2) as y")
    return f'const s = "{"a" * (n * 50)}"\n' + MODEL.format(dims=4, body="    dense(2) as y")


@contextmanager
def memory_limit(extra: int = 1 << 30) -> Iterator[None]:
    """The address space this process may grow by meanwhile: a blow-up is a MemoryError."""
    import resource

    with open("/proc/self/statm") as f:
        used = int(f.read().split()[0]) * resource.getpagesize()
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (used + extra, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


@settings(FUZZ, max_examples=EXAMPLES // 2)
@given(hostile_spec())
def test_hostile_specs_end_quickly_and_in_bounded_memory(text):
    """Each compiles or is diagnosed within the time limit and 1 GiB more memory."""
    with memory_limit():
        check_compiles_or_diagnoses(SPECS_DIR / "hostile.nn", text)
