"""One bad spec per diagnostic code: the code, line, column and message text are asserted,
and the rendered form has the caret under the span."""

import numpy as np
import pytest
from nnc.compiler.diagnostics import CompileError, render_text

M = "model m {\n    input x: float32[64]\n"  # lines 1-2 of most cases; the bad line is line 3

CASES = [
    # code, spec, line, column, message fragment, help fragment
    ("E101", M + "    dense(10) @ relu\n}", 3, 15, "unexpected character `@`", None),
    ("E102", M + "    dense(10 20)\n}", 3, 14, "unexpected `20`", "separate arguments with `,`"),
    ("E102", "models m {}", 1, 1, "unexpected `models`", "did you mean `model`?"),
    ("E103", "const a = 3\nmodel m", 2, 8, "unexpected end of file", "expected"),
    ("E107", "const a = " + "9" * 40 + "\n" + M + "}", 1, 11, "integer literal too large: 40 digits", None),
    ("E108", 'const a = "\\N{no such name}"\n' + M + "}", 1, 11, "this string cannot be read", None),
    ("E206", 'import "\\u0000"\n' + M + "}", 1, 8, "a path holds no NUL character", None),
    (
        "E306",
        "const a = 9000000000000000000 * 10\n" + M + "}",
        1,
        11,
        "beyond the numbers a spec holds",
        None,
    ),
    (
        "E303",
        M + "    dense(8) as y\n}\nloss mse(y, target=f())",
        5,
        20,
        "expects target to be a value, not a call",
        None,
    ),
    ("E301", M + "    dense(3000000000)\n}", 3, 5, "more than nnc holds", None),
    ("E301", M + "    dense(1e300)\n}", 3, 5, "a tensor of about 6.4e+301 values", None),
    ("E106", M + "    dense(10)\n", 1, 9, "`{` opened at 1:9 is never closed", "close it with `}`"),
    ("E106", M + "    dense(10 -> relu\n}", 3, 10, "`(` opened at 3:10 is never closed", "close it with `)`"),
    ("E106", "model m {\n    input x: float32[4\n    dense(3)\n}", 2, 21, "`[` opened at 2:21", "`]`"),
    ("E104", M + '}\ndata { train = "a.csv }', 4, 16, "unterminated string", None),
    ("E201", M + "    dense(10) -> rleu\n}", 3, 18, "unknown layer `rleu`", "did you mean `relu`?"),
    (
        "E201",
        M + "    dense(10) as out\n}\nloss cross_entropi(out, target=y)",
        5,
        6,
        "unknown loss `cross_entropi`",
        "did you mean `cross_entropy`?",
    ),
    (
        "E201",
        M + "    dense(10)\n}\noptimizer adan(lr=0.1)",
        5,
        11,
        "unknown optimizer `adan`",
        "did you mean `adam`",
    ),
    (
        "E202",
        M + "    dense(10, unitz=3)\n}",
        3,
        15,
        "dense has no argument `unitz`",
        "did you mean `units`?",
    ),
    (
        "E202",
        M + "    dense(10)\n}\ntrain { epohcs = 3 }",
        5,
        9,
        "train has no argument `epohcs`",
        "did you mean `epochs`?",
    ),
    ("E202", M + "    dense(10, recurrent_init=zeros)\n}", 3, 15, "`recurrent_init` does not apply", None),
    (
        "E203",
        "const hidden = 8\n" + M.replace("model", "model", 1) + "    dense(hiden)\n}",
        4,
        11,
        "undefined name `hiden`",
        "did you mean `hidden`?",
    ),
    ("E203", M + "    dense(10) as h\n    [h, g] -> add\n}", 4, 9, "undefined value `g`", None),
    (
        "E203",
        M + "    dense(10) as probs\n}\nloss mse(prob, target=y)",
        5,
        10,
        "undefined model value `prob`",
        "did you mean `probs`?",
    ),
    ("E204", M + "    dense(10) as h\n    dense(10) as h\n}", 4, 18, "the name `h` is already used", None),
    ("E204", "const a = 1\nconst a = 2\n" + M + "}", 2, 7, "`a` is defined twice", None),
    ("E204", M + "}\noptimizer sgd()\noptimizer adam()", 5, 1, "`optimizer` is given twice", None),
    ("E205", "const a = b + 1\nconst b = a\n" + M + "}", 1, 7, "constant `a` depends on itself", None),
    (
        "E205",
        "block loop(w) {\n    input x\n    loop(w)\n}\n" + M + "    loop(3)\n}",
        3,
        5,
        "block `loop` uses itself",
        None,
    ),
    ("E206", 'import "missing.nn"\n' + M + "}", 1, 8, "cannot import `missing.nn`", "paths are relative to"),
    (
        "E207",
        M + "    dense\n}",
        3,
        5,
        "dense is missing the required argument `units`",
        "usage: dense(units",
    ),
    ("E208", M + "    dropout(0.1, 0.2)\n}", 3, 18, "dropout takes at most 1 positional argument", None),
    (
        "E209",
        M + "    cross_entropy\n}",
        3,
        5,
        "`cross_entropy` is a loss, not a layer",
        "loss cross_entropy",
    ),
    ("E209", M + "    dense(10) as h\n    relu -> h\n}", 4, 13, "`h` is a value, not a layer", "h -> ..."),
    ("E209", "const a = 1", 1, 1, "defines no model", None),
    (
        "E301",
        M + "    dense(16) as a\n    dense(8) as b\n    [a, b] -> add\n}",
        5,
        15,
        "add needs inputs of one shape. Received: input 1: [N, 16], input 2: [N, 8]",
        None,
    ),
    (
        "E301",
        "model m {\n    input x: float32[3, 8, 8]\n    conv2d(4, kernel=3, groups=2)\n}",
        3,
        25,
        "groups",
        None,
    ),
    (
        "E301",
        "model m {\n    input x: float32[10, 64]\n    multi_head_attention(heads=5)\n}",
        3,
        26,
        "heads",
        "key_dim",
    ),
    (
        "E301",
        "model m {\n    input x: float32[10, 4]\n    [x, x] -> concat(axis=0)\n}",
        3,
        22,
        "axis 0",
        None,
    ),
    (
        "E302",
        "model m {\n    input x: float32[16]\n    embedding(vocab=10, dim=4)\n}",
        3,
        5,
        "embedding expects int64 input. Received: x: float32[N, 16]",
        None,
    ),
    (
        "E303",
        M + "    dropout(1.5)\n}",
        3,
        13,
        "dropout expects rate to be a number >= 0 and < 1. Received: rate=1.5",
        None,
    ),
    (
        "E303",
        M + "    dense(10)\n}\noptimizer adam(lr=-0.1)",
        5,
        19,
        "adam expects lr to be a number > 0",
        None,
    ),
    ("E303", M + "    conv2d(4, 3, padding=smae)\n}", 3, 26, "padding", None),
    ("E303", "model m {\n    input x: float33[64]\n}", 2, 14, "unknown dtype `float33`", "float32"),
    (
        "E303",
        M + "    dense(10) as y\n}\nloss mse(y, target=t)\ntrain { early_stopping(monitor=val_loss) }",
        6,
        24,
        "monitor=val_loss needs validation data",
        "validation = 0.1",
    ),
    ("E304", M + "    add\n}", 3, 5, "`add` takes at least 2 inputs. Received: 1", "[a, b] -> add"),
    ("E304", "model m {\n    dense(3)\n}", 2, 5, "`dense` has no input", "input NAME"),
    (
        "E305",
        M + "    dense(1) as out\n}\nloss cross_entropy(out, target=y)",
        5,
        20,
        "cross_entropy needs at least 2 classes",
        "binary_cross_entropy",
    ),
    (
        "E305",
        M + "    dense(1) -> sigmoid as p\n}\nloss binary_cross_entropy(p, target=y, from_logits=true)",
        5,
        40,
        "already a sigmoid output",
        None,
    ),
    ("E306", "const a = 4 / 0\n" + M + "}", 1, 11, "division by zero", None),
]


@pytest.mark.parametrize(
    ("code", "text", "line", "column", "message", "help"),
    CASES,
    ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)],
)
def test_bad_spec(compile_text, code, text, line, column, message, help):
    with pytest.raises(CompileError) as info:
        compile_text(text)
    errors = [d for d in info.value.diagnostics if d.severity == "error"]
    first = errors[0]
    assert (first.code, first.span.line, first.span.column) == (code, line, column), render_text(first)
    assert message in first.message
    if help is not None:
        assert first.help is not None and help in first.help


def test_every_code_in_the_compiler_has_a_test():
    import re

    from conftest import ROOT

    # Every code the compiler or the runtime can raise, against every test file.
    source = "\n".join(
        p.read_text() for folder in ("compiler", "runtime") for p in (ROOT / folder).rglob("*.py")
    )
    codes = set(re.findall(r'"([EW]\d{3})"', source))
    tests = "\n".join(p.read_text() for p in (ROOT / "tests").glob("test_*.py"))
    untested = {c for c in codes if f'"{c}"' not in tests and f"[{c}]" not in tests}
    assert not untested, sorted(untested)


def test_rendering_points_a_caret_at_the_span(compile_text):
    with pytest.raises(CompileError) as info:
        compile_text(M + "    dense(10) -> rleu\n}")
    text = render_text(info.value.diagnostics[0])
    lines = text.splitlines()
    assert lines[0].endswith("spec.nn:3:18: error[E201]: unknown layer `rleu`")
    assert lines[2] == "3 |     dense(10) -> rleu"
    assert lines[3] == "  |                  ^^^^"
    assert lines[-1] == "help: did you mean `relu`?"


def test_independent_errors_are_reported_together(compile_text):
    with pytest.raises(CompileError) as info:
        compile_text(
            M
            + "    dense(-1)\n    dropout(2)\n    relu(alpha=3)\n}\noptimizer sgd(lr=0)\ntrain { epochs = 0 }"
        )
    codes = [(d.code, d.span.line) for d in info.value.diagnostics if d.severity == "error"]
    assert codes == [("E303", 3), ("E303", 4), ("E202", 5), ("E303", 7), ("E303", 8)]


def test_a_failed_layer_does_not_cascade(compile_text):
    with pytest.raises(CompileError) as info:
        compile_text(M + "    dense(-1) as h\n    relu\n    dense(4) as out\n}\nloss mse(out, target=y)")
    assert [d.code for d in info.value.diagnostics if d.severity == "error"] == ["E303"]


def test_imported_file_errors_point_into_that_file(compile_text, tmp_path):
    (tmp_path / "lib.nn").write_text("block b(w) {\n    input x\n    dense(w, unitz=1)\n}\n")
    with pytest.raises(CompileError) as info:
        compile_text('import "lib.nn"\n' + M + "    b(4)\n}")
    d = info.value.diagnostics[0]
    assert (d.code, d.span.source.path.endswith("lib.nn"), d.span.line, d.span.column) == (
        "E202",
        True,
        3,
        14,
    )


def test_import_cycle(compile_text, tmp_path):
    (tmp_path / "a.nn").write_text('import "b.nn"\n')
    (tmp_path / "b.nn").write_text('import "a.nn"\n')
    with pytest.raises(CompileError) as info:
        compile_text('import "a.nn"\n' + M + "}")
    assert info.value.diagnostics[0].code == "E205"
    assert "import cycle" in info.value.diagnostics[0].message


def test_imported_file_may_not_define_a_model(compile_text, tmp_path):
    (tmp_path / "lib.nn").write_text("model other { input y: float32[2] }\n")
    with pytest.raises(CompileError) as info:
        compile_text('import "lib.nn"\n' + M + "}")
    d = info.value.diagnostics[0]
    assert d.code == "E209" and "only constants and blocks" in d.message


def test_missing_data_file_is_a_warning(compile_text):
    compiled = compile_text(M + '    dense(2) as y\n}\nloss mse(y, target=t)\ndata { train = "nope.csv" }')
    assert [(w.code, w.span.line, w.span.column) for w in compiled.warnings] == [("W401", 6, 16)]


def test_loss_target_missing_from_an_existing_csv(compile_text, tmp_path):
    (tmp_path / "d.csv").write_text("a,b,c,digit\n1,2,3,0\n")
    spec = "model m {\n  input x: float32[3]\n  dense(2) as y\n}\nloss cross_entropy(y, target=label)\n"
    with pytest.raises(CompileError) as info:
        compile_text(spec + 'data { train = "d.csv" }')
    d = info.value.diagnostics[0]
    assert (d.code, d.span.line, d.span.column) == ("E401", 6, 16)
    assert d.message == "`d.csv` has no column `label`"
    assert "a, b, c, digit" in d.help


def test_csv_feature_count_must_match_the_input(compile_text, tmp_path):
    (tmp_path / "d.csv").write_text("a,b,label\n1,2,0\n")
    spec = "model m {\n  input x: float32[3]\n  dense(2) as y\n}\nloss cross_entropy(y, target=label)\n"
    with pytest.raises(CompileError) as info:
        compile_text(spec + 'data { train = "d.csv" }')
    d = info.value.diagnostics[0]
    assert d.code == "E402"
    assert d.message == "expected 3 feature columns for input `x` float32[N, 3], received 2"


def test_npz_must_hold_inputs_and_targets(compile_text, tmp_path):
    import numpy as np

    np.savez(tmp_path / "d.npz", x=np.zeros((4, 3), np.float32), labels=np.zeros(4, np.int64))
    spec = "model m {\n  input x: float32[3]\n  dense(2) as y\n}\nloss cross_entropy(y, target=label)\n"
    with pytest.raises(CompileError) as info:
        compile_text(spec + 'data { train = "d.npz" }')
    d = info.value.diagnostics[0]
    assert (d.code, d.message) == ("E401", "`d.npz` has no array `label` (int64[N])")
    assert d.help == "did you mean `labels`?"


def test_matching_data_files_pass(compile_text, tmp_path):
    (tmp_path / "d.csv").write_text("a,b,c,label\n1,2,3,0\n")
    spec = "model m {\n  input x: float32[3]\n  dense(2) as y\n}\nloss cross_entropy(y, target=label)\n"
    compiled = compile_text(spec + 'data { train = "d.csv" }')
    assert compiled.warnings == ()


def test_a_spec_without_loss_checks_with_a_warning(compile_text):
    compiled = compile_text(M + "    dense(2)\n}")
    assert [w.code for w in compiled.warnings] == ["W501"]
    assert compiled.program.train.losses == ()


def test_none_is_accepted_where_none_is_a_word(compile_text):
    graph = compile_text(M + "    gelu(approximate=none)\n}").program.graph
    assert graph.nodes[0].attrs["approximate"] == "none"


def test_nested_repeats_keep_names_unique(compile_text):
    graph = compile_text(M + "    repeat 2 { repeat 2 { dense(4) as h } }\n}").program.graph
    assert [n.name for n in graph.nodes] == ["h_1_1", "h_1_2", "h_2_1", "h_2_2"]


def test_an_error_in_a_repeat_body_is_reported_once(compile_text):
    with pytest.raises(CompileError) as info:
        compile_text(M + "    repeat 3 { dense(4) -> rleu }\n}")
    assert [d.code for d in info.value.diagnostics if d.severity == "error"] == ["E201"]


def test_one_bad_setting_does_not_unset_the_others(compile_text):
    spec = M + "    dense(3) -> softmax as p\n}\nloss cross_entropy(p, target=y)\n"
    with pytest.raises(CompileError) as info:
        compile_text(
            spec + "train { epochs = 0; validation = 0.1; metrics = [accuracy]\n"
            "  early_stopping(monitor=val_accuracy) }"
        )
    assert [d.code for d in info.value.diagnostics if d.severity == "error"] == ["E303"]


def test_layer_keywords_are_keyword_only(compile_text):
    with pytest.raises(CompileError) as info:
        compile_text(M + "    dense(8, true, he_normal)\n}")
    d = info.value.diagnostics[0]
    assert (d.code, d.span.column) == ("E208", 20)
    assert "dense takes at most 2 positional arguments" in d.message


def test_a_block_without_input_is_refused(compile_text):
    with pytest.raises(CompileError) as info:
        compile_text("block noop() { }\n" + M + "    noop()\n}")
    d = info.value.diagnostics[0]
    assert (d.code, d.message, d.span.line) == ("E209", "block `noop` declares no input", 1)


def test_block_defaults_may_use_earlier_parameters(compile_text):
    spec = "block ffn(width, hidden=width * 4) {\n  input x\n  dense(hidden) -> dense(width)\n}\n"
    graph = compile_text(spec + M + "    ffn(16)\n    ffn(8, hidden=3)\n}").program.graph
    assert [n.attrs["units"] for n in graph.nodes] == [64, 16, 3, 8]


def test_a_huge_repeat_is_refused_quickly(compile_text):
    with pytest.raises(CompileError) as info:
        compile_text(M + "    repeat 10000000000 { relu }\n}")
    d = info.value.diagnostics[0]
    assert (d.code, d.span.line, d.span.column) == ("E303", 3, 12)
    assert "larger than 100,000 layers" in d.message


def test_nested_repeats_share_the_size_budget(compile_text):
    with pytest.raises(CompileError) as info:
        compile_text(M + "    repeat 1000 { repeat 1000 { relu } }\n}")
    assert info.value.diagnostics[0].code == "E303"


def test_deep_nesting_is_a_located_diagnostic(compile_text):
    with pytest.raises(CompileError) as info:
        compile_text("const c = " + "-" * 3000 + "1\n" + M + "}")
    d = info.value.diagnostics[0]
    assert (d.code, d.span.line, d.span.column) == ("E105", 1, 1)
    with pytest.raises(CompileError) as info:
        compile_text("const c = " + " + ".join(["1"] * 3000) + "\n" + M + "}")
    assert info.value.diagnostics[0].code == "E105"


def test_one_typo_in_the_model_is_one_error_not_also_data_errors():
    """The data checks depend on the model: with a layer unknown, the target would read as a
    65th feature (E402 for each file). They are skipped when the model already failed."""
    from conftest import ROOT

    spec = ROOT / "specs" / "mlp_digits.nn"
    text = spec.read_text().replace("dense(hidden) -> relu", "dens(hidden) -> relu")
    from nnc.compiler.pipeline import compile_source
    from nnc.compiler.source import Source

    with pytest.raises(CompileError) as info:
        compile_source(Source(str(spec), text))
    assert [(d.code, d.span.line) for d in info.value.diagnostics] == [("E201", 7)]


def test_a_shape_error_says_how_to_fix_it(compile_text):
    with pytest.raises(CompileError) as info:
        compile_text(M + "    conv2d(8, 3)\n}")
    d = info.value.diagnostics[0]
    assert d.code == "E301" and "expects x of rank 4 (N, C, H, W). Received: x: [N, 64]" in d.message
    assert d.help == "reshape it first: `reshape((C, H, W))`, whose sizes multiply to 64"
    with pytest.raises(CompileError) as info:
        compile_text("model m {\n    input x: float32[4, 4, 4]\n    lstm(8)\n}")
    assert info.value.diagnostics[0].help == "reshape it first: `reshape((T, F))`, whose sizes multiply to 64"


def test_a_device_or_a_pipe_is_not_read_as_a_spec(compile_text, tmp_path):
    import os

    os.mkfifo(tmp_path / "pipe.nn")
    for target, name in (("/dev/zero", "/dev/zero"), (str(tmp_path / "pipe.nn"), "pipe.nn")):
        with pytest.raises(CompileError) as info:
            compile_text(f'import "{target}"\n' + M + "}")
        d = info.value.diagnostics[0]
        assert d.code == "E206" and "is not a regular file" in d.message and name in d.message


def test_a_long_string_literal_is_read_in_linear_time_and_memory(tmp_path):
    """A 5 MB string: 0.9 s and 75 MB now; the backtracking pattern took 2 GB."""
    import resource
    import subprocess
    import sys

    def limited():
        resource.setrlimit(resource.RLIMIT_AS, (1024 * 2**20, 1024 * 2**20))

    (tmp_path / "s.nn").write_text('const s = "' + "a" * 5_000_000 + '"\n' + M + "    dense(2)\n}")
    done = subprocess.run(
        [sys.executable, "-m", "nnc", "check", str(tmp_path / "s.nn")],
        capture_output=True, text=True, timeout=30, preexec_fn=limited,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_a_model_too_large_for_this_machine_is_a_warning_at_check_and_refused_by_train(tmp_path, monkeypatch):
    """Here the machine is made to look small; the estimate is the model's own."""
    import nnc.runtime.footprint as footprint

    import nnc

    monkeypatch.setattr(footprint, "machine_memory", lambda: 64 * 2**20)  # 64 MiB
    body = "    dense(4096) -> relu\n    dense(4096) as y\n}\n"
    (tmp_path / "big.nn").write_text(M + body + "loss mse(y, target=t)\ntrain { batch_size = 256 }\n")
    model = nnc.load(tmp_path / "big.nn")
    [w] = [d for d in model.warnings if d.code == "W308"]
    assert "training needs about" in w.message and "more than this machine's 64 MiB" in w.message
    assert w.span.line == 4  # the layer that needs the most: 4096 x 4096 weights
    with pytest.raises(CompileError) as info:
        model.fit(
            {"x": np.zeros((4, 64), np.float32), "t": np.zeros((4, 4096), np.float32)}, out=tmp_path / "run"
        )
    assert [d.code for d in info.value.diagnostics] == ["E308"]
    assert not (tmp_path / "run").exists()  # refused before anything was made


def test_train_refuses_a_model_too_large_once_without_the_check_warning(tmp_path, monkeypatch):
    """`nnc train` decides at its own batch size, so W308 would only repeat (or contradict) it."""
    import nnc.runtime.footprint as footprint
    from click.testing import CliRunner

    from nnc.cli import main

    monkeypatch.setattr(footprint, "machine_memory", lambda: 64 * 2**20)  # 64 MiB
    body = "    dense(4096) -> relu\n    dense(4096) as y\n}\n"
    (tmp_path / "big.nn").write_text(M + body + "loss mse(y, target=t)\ntrain { batch_size = 256 }\n")
    np.savez(tmp_path / "d.npz", x=np.zeros((4, 64), np.float32), t=np.zeros((4, 4096), np.float32))
    spec, data, out = (str(tmp_path / name) for name in ("big.nn", "d.npz", "run"))
    result = CliRunner().invoke(main, ["train", spec, "--data", data, "--out", out])
    assert result.exit_code == 3, result.output
    assert "error[E308]: training needs about" in result.output
    assert "W308" not in result.output and result.output.count("training needs about") == 1
    assert "W308" in CliRunner().invoke(main, ["check", spec]).output
