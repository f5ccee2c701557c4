import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "specs").glob("*.nn"))
TIMEOUT = 180  # seconds: every command run_nnc runs is bounded, so a hang fails instead of blocking CI


def run_nnc(cwd, *args, timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
    """`nnc ARGS...` as a user runs it: the console script in a subprocess, in `cwd`, no stdin."""
    return subprocess.run(
        [sys.executable, "-m", "nnc", *map(str, args)],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def ok(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    """The command's result, after checking it succeeded without a traceback."""
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result


@pytest.fixture(scope="session")
def ray_cluster():
    """One local Ray cluster of 2 CPUs for the whole session, joined by this process (for the
    Python API) and by commands run with `--address`, which this yields."""
    ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install 'nnc[ray]')")
    pytest.importorskip("ray.tune", reason="the ray extra is not installed (pip install 'nnc[ray]')")
    context = ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    yield context.address_info["gcs_address"]
    ray.shutdown()


@pytest.fixture
def compile_text(tmp_path):
    """Compile spec text written to a file in a temporary folder; returns the Compiled result
    or raises CompileError."""
    from nnc.compiler.pipeline import compile_file

    def run(text: str, name: str = "spec.nn", overrides=()):
        path = tmp_path / name
        path.write_text(text)
        return compile_file(path, overrides)

    return run


# ---- shared by the registry-generated op tests (test_op_kernels, test_op_onnx) ----------------
def n_data_inputs(op, sample):
    """How many of the sample's inputs are data inputs, the rest being the op's parameters."""
    if op.params is None:
        return len(sample.inputs)
    shapes = [x.shape for x in sample.inputs]
    for k in range(op.min_inputs, len(shapes) + 1):
        if k + len(op.params(*shapes[:k], **sample.attrs)) == len(shapes):
            return k
    pytest.fail(f"{op.name}: no split of the sample's inputs into data and parameters")


def as_float32(a):
    """Float arrays as float32; integer ones (class targets, token ids) unchanged."""
    a = np.asarray(a)
    return a.astype(np.float32) if np.issubdtype(a.dtype, np.floating) else a
