"""On a machine with an NVIDIA GPU and onnxruntime-gpu: every example exported and run through
CUDA (TF32 off, as nnc runs it) agrees with the CPU within the export gate's tolerance
(bench/gpu_check.py; its table is the measurement to quote). Skipped where CUDA is absent."""

import sys

import pytest
from conftest import ROOT
from nnc.runtime.onnx.session import available_providers


@pytest.mark.skipif("cuda" not in available_providers(), reason="no CUDA execution provider here")
def test_cuda_agrees_with_the_cpu_on_every_example():
    sys.path.insert(0, str(ROOT / "bench"))
    from gpu_check import compare

    rows = compare(epochs=1)
    assert len(rows) == len(list((ROOT / "specs").glob("*.nn")))
    assert all(r["within"] for r in rows), rows
