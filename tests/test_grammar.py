"""The grammar itself: conflict-free LALR under Lark's strict mode, keywords at word
boundaries, keywords usable as setting keys, newlines insignificant."""

import pytest
from nnc.compiler import ast
from nnc.compiler.diagnostics import CompileError
from nnc.compiler.parse import parse_source
from nnc.compiler.source import Source


def parse(text):
    return parse_source(Source("t.nn", text))


def test_grammar_builds_in_strict_mode():
    pytest.importorskip("interegular")  # optional: strict mode needs it to detect regex collisions
    from nnc.grammar import load_parser

    parser = load_parser(strict=True)
    assert parser.options.parser == "lalr"


def test_keywords_need_word_boundaries():
    with pytest.raises(CompileError) as info:
        parse("models{}")
    assert info.value.diagnostics[0].code == "E102"
    spec = parse("model inputs { input input: float32[3] inputs as asx }")
    model = spec.items[0]
    assert model.name.text == "inputs"
    chain = model.body[1]
    assert chain.calls[0].call.name.text == "inputs" and chain.calls[0].alias.text == "asx"


def test_keywords_are_plain_names_as_setting_keys_and_values():
    spec = parse('data { train = "a.csv" test = "b.csv" }\ntrain { early_stopping(monitor=loss) }')
    data, train = spec.items
    assert [e.key.text for e in data.entries] == ["train", "test"]
    assert train.entries[0].kwargs[0].value == ast.Ref("loss", train.entries[0].kwargs[0].value.span)


def test_newlines_are_insignificant_and_semicolons_optional():
    one_line = parse("model m { input x: float32[4]; dense(2) -> relu; dense(1) }")
    many = parse("model m {\n input x:\n float32[4]\n dense(\n 2\n )\n -> relu\n dense(1)\n}")
    assert [type(s).__name__ for s in one_line.items[0].body] == [
        type(s).__name__ for s in many.items[0].body
    ]
    assert len(many.items[0].body) == 3


def test_numbers_strings_and_tuples():
    spec = parse(
        'const a = (3, 3)\nconst b = 1e-3\nconst c = "x\\"y"\nconst d = [1, 2.5]\nconst e = -2 * (1 + 3) // 3'
    )
    values = [item.value for item in spec.items]
    assert isinstance(values[0], ast.Sequence) and len(values[0].items) == 2
    assert values[1].value == 0.001 and isinstance(values[1].value, float)
    assert values[2].value == 'x"y'
    assert isinstance(values[4], ast.Binary) and values[4].op == "//"


SPEC = "model m {\n  input x: float32[3]\n  dense(4) -> relu as y\n}\nloss mse(y, target=t)\n"


def _same_trees(a, b):
    """Equal trees, down to every node's source position (diagnostics point with them)."""
    assert a == b
    for x, y in zip(a.iter_subtrees(), b.iter_subtrees(), strict=True):
        assert (x.meta.line, x.meta.column, x.meta.end_pos) == (y.meta.line, y.meta.column, y.meta.end_pos)


def test_the_built_parser_is_cached_and_loaded_without_rebuilding(tmp_path, monkeypatch):
    import lark
    from nnc.grammar import load_parser

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    build = load_parser.__wrapped__  # past the in-process cache
    fresh = build()
    (cached_file,) = (tmp_path / "nnc").glob("parser-*.lark")

    def no_building(*args, **kwargs):
        raise AssertionError("the parser was built again instead of loaded")

    with monkeypatch.context() as m:
        m.setattr(lark.Lark, "__init__", no_building)
        cached = build()
    _same_trees(fresh.parse(SPEC, start="start"), cached.parse(SPEC, start="start"))
    assert cached.parse("2 * hidden", start="expr") == fresh.parse("2 * hidden", start="expr")
    assert cached_file.exists()


def test_a_damaged_or_unwritable_cache_only_means_building(tmp_path, monkeypatch):
    from nnc.grammar import load_parser

    build = load_parser.__wrapped__
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    build()
    (cached_file,) = (tmp_path / "nnc").glob("parser-*.lark")
    cached_file.write_bytes(b"not a parser")
    reference = build().parse(SPEC, start="start")  # damaged: built again, and the file rewritten
    assert cached_file.read_bytes() != b"not a parser"
    _same_trees(build().parse(SPEC, start="start"), reference)

    blocked = tmp_path / "a-file"
    blocked.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))  # its nnc folder cannot be made
    _same_trees(build().parse(SPEC, start="start"), reference)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "nnc"]
