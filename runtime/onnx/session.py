"""onnxruntime sessions on the execution provider asked for, and only on it. onnxruntime lists
the providers a build was compiled with, but a session silently falls back to the CPU when a
provider's library fails to load (a TensorRT the machine lacks): a session is refused (E540)
unless it got the provider it was asked for, with onnxruntime's own reason.

A provider is named short (cpu, cuda, tensorrt, ...) with an optional device: `cuda:1`. The CUDA
provider computes with TF32 by default, which moves outputs by up to 1e-2 from the CPU's; nnc
turns it off unless `allow_tf32`. onnxruntime's own log (Memcpy nodes, node placement) is kept
to errors unless `verbose`."""

from __future__ import annotations

import os
import sys
import tempfile
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version

from nnc.runtime.errors import UsageError

PROVIDERS = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "rocm": "ROCMExecutionProvider",
    "openvino": "OpenVINOExecutionProvider",
    "dml": "DmlExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
    "azure": "AzureExecutionProvider",
}
GPU_PROVIDERS = {"cuda", "tensorrt"}  # an actor running them needs a GPU (nnc/ray.py)
_LOG_ERRORS, _LOG_VERBOSE = 3, 1  # onnxruntime's severities: 0 verbose, 1 info, 2 warning, 3 error


def available_providers() -> list[str]:
    """Short names (cpu, cuda, ...) of the execution providers this onnxruntime was built with."""
    import onnxruntime

    short = {v: k for k, v in PROVIDERS.items()}
    return [short.get(p, p) for p in onnxruntime.get_available_providers()]


def parse_provider(text: str) -> tuple[str, int | None]:
    """`cuda:1` -> ("cuda", 1); `cpu` -> ("cpu", None)."""
    name, colon, device = text.partition(":")
    if colon and not device.isdigit():
        raise UsageError(
            "E540", f"`{text}`: a device is a number, as in cuda:1", help="providers: cpu, cuda, cuda:1, ..."
        )
    return name, int(device) if colon else None


def open_session(
    model,
    *,
    provider: str = "cpu",
    threads: int | None = None,
    verbose: bool = False,
    allow_tf32: bool = False,
    path: str = "<model>",
):
    """An InferenceSession on `provider`, or E540 (a usage error) when this onnxruntime lacks
    it or the session did not get it. `model` is a file path or a serialized model."""
    import onnxruntime

    name, device = parse_provider(provider)
    available = available_providers()
    if name not in available:
        raise UsageError(
            "E540",
            f"execution provider `{name}` is not available here",
            help=f"available: {', '.join(available)} (onnxruntime {onnxruntime.__version__})"
            + _gpu_help(name),
        )
    options = onnxruntime.SessionOptions()
    options.log_severity_level = _LOG_VERBOSE if verbose else _LOG_ERRORS
    if threads is not None:
        options.intra_op_num_threads = threads
    full = PROVIDERS.get(name, name)
    settings = {}
    if device is not None:
        settings["device_id"] = str(device)
    if name == "cuda":
        settings["use_tf32"] = "1" if allow_tf32 else "0"
    with _native_stderr() as log:
        session = onnxruntime.InferenceSession(model, options, providers=[(full, settings)])
    said = "".join(log).strip()
    if verbose and said:
        print(said, file=sys.stderr)
    if full not in session.get_providers():
        reason = f": {said.splitlines()[-1]}" if said else ""
        raise UsageError(
            "E540",
            f"onnxruntime could not run {path} on `{provider}` and fell back to "
            f"{', '.join(session.get_providers())}{reason}",
            help="nnc never falls back silently; install what the provider needs, or choose another"
            + _gpu_help(name),
        )
    return session


def _gpu_help(name: str) -> str:
    if name not in GPU_PROVIDERS:
        return ""
    both = all(_installed(d) for d in ("onnxruntime", "onnxruntime-gpu"))
    if both:
        return (
            "; onnxruntime and onnxruntime-gpu are both installed and the CPU one wins: "
            "`pip uninstall -y onnxruntime onnxruntime-gpu && pip install onnxruntime-gpu`"
        )
    return "; GPU providers come with `pip install 'nnc[gpu]'` (onnxruntime-gpu: see docs/export.md)"


def _installed(distribution: str) -> bool:
    try:
        version(distribution)
    except PackageNotFoundError:
        return False
    return True


@contextmanager
def _native_stderr():
    """Collects what native code (onnxruntime's logger) writes to file descriptor 2 meanwhile,
    instead of showing it: the list yielded holds it once the block ends."""
    said: list[str] = []
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+", errors="replace") as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield said
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            said.append(capture.read())
