"""A provider is what it says. These run without a GPU: onnxruntime's session is replaced by
one that reports the providers and log a real GPU build would, and otherwise runs on the CPU.
(tests/test_gpu.py checks real CUDA against the CPU where a GPU is present.)"""

from __future__ import annotations

import os

import numpy as np
import onnxruntime
import pytest
from click.testing import CliRunner
from conftest import ROOT
from nnc.runtime.errors import UsageError
from nnc.runtime.onnx.predict import Predictor
from nnc.runtime.onnx.session import available_providers

import nnc
from nnc.cli import main

REAL = onnxruntime.InferenceSession


class GpuBuild:
    """An onnxruntime that lists CUDA and TensorRT. A session records how it was asked for,
    writes `log` to file descriptor 2 as onnxruntime's native logger does, runs on the CPU,
    and reports the providers in `got` (those asked for, by default)."""

    def __init__(self, monkeypatch, log: str = "", got=None):
        self.requests, self.log, self.got = [], log, got
        monkeypatch.setattr(
            onnxruntime,
            "get_available_providers",
            lambda: ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
        )
        monkeypatch.setattr(onnxruntime, "InferenceSession", self.session)

    def session(self, model, options, providers):
        self.requests.append((providers, options.log_severity_level))
        if self.log:
            os.write(2, self.log.encode())
        real = REAL(model, options, providers=["CPUExecutionProvider"])
        got = self.got if self.got is not None else [p for p, _ in providers] + ["CPUExecutionProvider"]
        real.get_providers = lambda: got
        return real


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("providers")
    model = nnc.load(ROOT / "specs" / "spirals.nn", ("train.epochs=1",))
    model.fit(out=folder / "run")
    model.export(folder / "m.onnx")
    np.savez(folder / "x.npz", point=np.random.default_rng(0).standard_normal((5, 2)).astype(np.float32))
    return folder


def test_a_session_that_fell_back_is_refused_with_onnxruntime_s_reason(exported, monkeypatch):
    reason = "Failed to load library libonnxruntime_providers_tensorrt.so with error: libnvinfer.so.10"
    GpuBuild(
        monkeypatch,
        log=f"[E:onnxruntime:Default] {reason}\n",
        got=["CUDAExecutionProvider", "CPUExecutionProvider"],
    )
    with pytest.raises(UsageError) as e:
        Predictor(exported / "m.onnx", provider="tensorrt")
    assert (
        e.value.code == "E540"
        and "fell back to CUDAExecutionProvider, CPUExecutionProvider" in e.value.message
    )
    assert reason in e.value.message and "never falls back silently" in e.value.help
    result = CliRunner().invoke(
        main,
        ["predict", str(exported / "m.onnx"), "--data", str(exported / "x.npz"), "--provider", "tensorrt"],
    )
    assert result.exit_code == 2 and "error[E540]" in result.output


def test_cuda_runs_without_tf32_on_the_device_asked_for(exported, monkeypatch):
    build = GpuBuild(monkeypatch)
    Predictor(exported / "m.onnx", provider="cuda")
    Predictor(exported / "m.onnx", provider="cuda:1")
    Predictor(exported / "m.onnx", provider="cuda:1", allow_tf32=True)
    assert [providers for providers, _ in build.requests] == [
        [("CUDAExecutionProvider", {"use_tf32": "0"})],
        [("CUDAExecutionProvider", {"device_id": "1", "use_tf32": "0"})],
        [("CUDAExecutionProvider", {"device_id": "1", "use_tf32": "1"})],
    ]
    with pytest.raises(UsageError) as e:
        Predictor(exported / "m.onnx", provider="cuda:one")
    assert e.value.code == "E540"


def test_onnxruntime_s_own_log_shows_only_with_verbose(exported, monkeypatch, capfd):
    build = GpuBuild(monkeypatch, log="[W:onnxruntime:, transformer_memcpy.cc] 2 Memcpy nodes are added\n")
    x = np.zeros((3, 2), np.float32)
    Predictor(exported / "m.onnx", provider="cuda").run({"point": x})
    assert "Memcpy" not in capfd.readouterr().err
    Predictor(exported / "m.onnx", provider="cuda", verbose=True).run({"point": x})
    assert "2 Memcpy nodes are added" in capfd.readouterr().err
    assert [level for _, level in build.requests] == [3, 1]  # errors only; info with --verbose


def test_the_gate_runs_on_the_provider_the_model_will_be_deployed_on(exported, monkeypatch):
    run = exported / "run"
    build = GpuBuild(monkeypatch)
    result = CliRunner().invoke(
        main, ["export", str(run), "-o", str(exported / "g.onnx"), "--verify-provider", "cuda"]
    )
    assert result.exit_code == 0, result.output
    assert "verified against the NumPy runtime on cuda" in result.output
    assert build.requests and all(
        p == [("CUDAExecutionProvider", {"use_tf32": "0"})] for p, _ in build.requests
    )


@pytest.mark.skipif("cuda" in available_providers(), reason="this onnxruntime has CUDA")
def test_a_provider_this_build_lacks_names_the_gpu_extra(exported):
    result = CliRunner().invoke(main, ["export", str(exported / "run"), "--verify-provider", "cuda"])
    assert (
        result.exit_code == 2
        and "error[E540]: execution provider `cuda` is not available here" in result.output
    )
    assert "pip install 'nnc[gpu]'" in result.output
