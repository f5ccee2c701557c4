"""`nnc check` as a user runs it: exit codes, text and JSON output, --ir, --set."""

import json
import subprocess
import sys

from click.testing import CliRunner
from conftest import ROOT

from nnc.cli import EXIT_SPEC_ERROR, main

MLP = str(ROOT / "specs" / "mlp_digits.nn")


def run(*args):
    return CliRunner().invoke(main, list(args))


def test_check_prints_the_layer_table_and_totals():
    result = run("check", MLP)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    row = next(line for line in lines if line.strip().startswith("dense_1"))
    assert row.split() == ["dense_1", "dense", "[N,", "256]", "16,640"]
    # 64*256+256 + 256*128+128 + 128*10+10
    assert "50,826 trainable, 128 non-trainable (199 KiB as float32)" in result.output  # + mean, std
    assert "loss        cross_entropy(probs, target=label: int64[N]) x 1, fused with softmax" in result.output


def test_check_json_is_machine_readable():
    result = run("check", MLP, "--json")
    assert result.exit_code == 0
    out = json.loads(result.stdout)
    assert out["ok"] is True
    summary = out["summary"]
    assert summary["params"]["trainable"] == 50826
    assert [r["name"] for r in summary["layers"]][:3] == ["image", "image.standardize", "dropout_1"]
    assert summary["flops_per_sample"] >= 2 * (64 * 256 + 256 * 128 + 128 * 10)
    assert summary["train"]["early_stopping"]["monitor"] == "val_loss"


def test_check_ir_matches_golden():
    result = run("check", MLP, "--ir")
    assert result.exit_code == 0
    assert result.stdout == (ROOT / "tests" / "golden" / "mlp_digits.ir").read_text()


def test_set_overrides_constants_and_settings():
    result = run(
        "check",
        MLP,
        "--json",
        "--set",
        "hidden=32",
        "--set",
        "train.epochs=3",
        "--set",
        "optimizer.lr=0.5",
        "--set",
        'data.test="other.csv"',
    )
    out = json.loads(result.stdout)
    dense_1 = next(r for r in out["summary"]["layers"] if r["name"] == "dense_1")
    assert dense_1["shape"] == ["N", 32]
    assert out["summary"]["train"]["epochs"] == 3
    assert out["summary"]["train"]["optimizer"]["lr"] == 0.5
    assert out["summary"]["train"]["data"]["test"] == "other.csv"


def test_set_values_are_checked_like_spec_values():
    result = run("check", MLP, "--set", "train.epochs=-2")
    assert result.exit_code == EXIT_SPEC_ERROR
    assert "error[E303]: train expects epochs to be an integer >= 1. Received: epochs=-2" in result.output


def test_set_unknown_constant_is_refused():
    result = run("check", MLP, "--set", "hiden=3")
    assert result.exit_code == EXIT_SPEC_ERROR
    assert "the spec has no constant or setting `hiden`" in result.output


def test_spec_error_exit_code_and_json_diagnostics(tmp_path):
    spec = tmp_path / "bad.nn"
    spec.write_text("model m {\n  input x: float32[4]\n  dense(0)\n}\n")
    result = run("check", str(spec), "--format", "json")
    assert result.exit_code == EXIT_SPEC_ERROR
    out = json.loads(result.stdout)
    assert out["ok"] is False
    (d,) = [d for d in out["diagnostics"] if d["severity"] == "error"]
    assert (d["code"], d["line"], d["column"], d["end_column"]) == ("E303", 3, 9, 10)


def test_missing_or_binary_spec_is_a_diagnostic_not_a_traceback(tmp_path):
    result = run("check", str(tmp_path / "nope.nn"))
    assert result.exit_code == EXIT_SPEC_ERROR
    assert "error[E100]: spec file" in result.output and "does not exist" in result.output
    binary = tmp_path / "b.nn"
    binary.write_bytes(b"\xff\xfe\x00model")
    result = run("check", str(binary))
    assert result.exit_code == EXIT_SPEC_ERROR
    assert "is not UTF-8 text" in result.output


def test_help_imports_no_numpy_lark_onnx_or_ray():
    code = (
        "import sys; from nnc.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = {'numpy', 'lark', 'onnx', 'onnxruntime', 'ray'} & set(sys.modules)\n"
        "print('HEAVY', sorted(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("HEAVY []"), out


def test_check_imports_no_onnx():
    code = (
        "import sys; from nnc.cli import main\n"
        f"try:\n    main(['check', {MLP!r}])\nexcept SystemExit:\n    pass\n"
        "print('ONNX', sorted({'onnx', 'onnxruntime'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("ONNX []"), out


def test_console_script_runs(tmp_path):
    result = subprocess.run([sys.executable, "-m", "nnc", "check", MLP], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "model digits" in result.stdout


def test_several_specs_are_all_checked(tmp_path):
    bad = tmp_path / "bad.nn"
    bad.write_text("model m { input x: float32[4] dense(0) }")
    result = run("check", MLP, str(bad), "--json")
    assert result.exit_code == EXIT_SPEC_ERROR
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    assert first["ok"] is True and first["summary"]["model"] == "digits"
    assert second["ok"] is False and second["diagnostics"][0]["code"] == "E303"
