"""Every example spec parses, checks, and its IR dump matches its golden file. After an
intended change, regenerate them: NNC_UPDATE_GOLDEN=1 pytest tests/test_examples.py"""

import os

import pytest
from conftest import ROOT, SPECS
from nnc.compiler.ir import format_program
from nnc.compiler.pipeline import compile_file

GOLDEN = ROOT / "tests" / "golden"


def test_there_are_examples_of_every_kind():
    names = {p.stem for p in SPECS}
    for required in (
        "mlp_digits",
        "regression",
        "cnn_digits",
        "lstm_sine",
        "autoencoder",
        "conv_autoencoder",
        "transformer",
        "residual_mlp",
    ):
        assert required in names


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.stem)
def test_example_ir_matches_golden(spec):
    compiled = compile_file(spec)
    assert not [w for w in compiled.warnings if w.code != "W401"], compiled.warnings
    dump = format_program(compiled.program)
    golden = GOLDEN / f"{spec.stem}.ir"
    if os.environ.get("NNC_UPDATE_GOLDEN"):
        golden.write_text(dump)
    assert golden.exists(), f"no golden file for {spec.name}: run with NNC_UPDATE_GOLDEN=1"
    assert dump == golden.read_text()


def test_transformer_repeats_an_imported_block():
    graph = compile_file(ROOT / "specs" / "transformer.nn").program.graph
    blocks = {n.name.split(".")[0] for n in graph.nodes if "." in n.name}
    assert blocks == {"encoder_block_1", "encoder_block_2"}
    # Each instance has its own parameters.
    keys = [p.key for p in graph.params]
    assert "encoder_block_1.multi_head_attention_1.query_weight" in keys
    assert "encoder_block_2.multi_head_attention_1.query_weight" in keys


def test_autoencoder_exposes_encoder_and_decoder_outputs():
    graph = compile_file(ROOT / "specs" / "autoencoder.nn").program.graph
    assert graph.outputs == ("reconstruction", "code")
    assert str(graph.type_of("code")) == "float32[N, 8]"


def test_flatten_size_after_conv_and_pool_is_inferred(compile_text):
    program = compile_text("""
        model m {
            input image: float32[3, 28, 28]
            conv2d(32, kernel=3) -> relu -> max_pool2d(2)
            conv2d(64, kernel=3, stride=2, padding=same) -> flatten
            dense(10)
        }""").program
    flat = next(n for n in program.graph.nodes if n.op == "flatten")
    assert str(flat.type) == "float32[N, 3136]"  # 64 * 7 * 7
    dense = next(p for p in program.graph.params if p.key == "dense_1.weight")
    assert dense.shape == (3136, 10) and dense.fan_in == 3136


def test_derived_sizes_are_resolved_in_the_ir(compile_text):
    graph = compile_text("""
        model m {
            input x: float32[10, 48]
            multi_head_attention(heads=4) as a
            reshape((1, 10, 48)) -> max_pool2d((2, 2)) as p
        }""").program.graph
    assert graph.producer("a").attrs["key_dim"] == 12  # 48 / 4 heads
    assert graph.producer("p").attrs["stride"] == (2, 2)  # defaults to the window size
