"""Every example, exported and run on the CPU and on CUDA: do the providers agree within the
export gate's tolerance (rtol 1e-4, atol 1e-5)? With TF32 off, as nnc runs CUDA by default,
they must; the TF32 column shows what turning it on (--allow-tf32) costs.

    python bench/gpu_check.py [--epochs 2]

Needs onnxruntime-gpu (`pip install 'nnc[gpu]'`, then `pip uninstall onnxruntime`) and a GPU;
without CUDA it says so and exits 0. tests/test_gpu.py runs it where a GPU is present."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def compare(epochs: int = 2) -> list[dict]:
    """One row per example: the largest differences between CUDA (without and with TF32) and
    the CPU on the gate's sample inputs, and whether CUDA without TF32 is within tolerance."""
    from nnc.runtime.onnx.gate import ATOL, RTOL, sample_inputs
    from nnc.runtime.onnx.predict import Predictor

    import nnc

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for spec in sorted((ROOT / "specs").glob("*.nn")):
            model = nnc.load(spec, (f"train.epochs={epochs}",))
            model.fit(out=Path(tmp) / spec.stem)
            path = model.export(Path(tmp) / f"{spec.stem}.onnx")
            feeds = sample_inputs(model.program.graph, 64, {}, np.random.default_rng(0))
            runs = {
                name: Predictor(path, provider=provider, allow_tf32=tf32).run(feeds)
                for name, provider, tf32 in (
                    ("cpu", "cpu", False),
                    ("cuda", "cuda", False),
                    ("tf32", "cuda", True),
                )
            }
            row = {"example": spec.stem, "within": True}
            for name in ("cuda", "tf32"):
                diffs = [np.abs(runs[name][k] - runs["cpu"][k]).max() for k in runs["cpu"]]
                row[name] = float(max(diffs))
            row["within"] = all(
                np.allclose(runs["cuda"][k], runs["cpu"][k], rtol=RTOL, atol=ATOL) for k in runs["cpu"]
            )
            rows.append(row)
    return rows


def main() -> int:
    from nnc.runtime.onnx.session import available_providers

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    if "cuda" not in available_providers():
        print(f"no CUDA provider here ({', '.join(available_providers())}): nothing to compare")
        return 0
    rows = compare(args.epochs)
    print(f"{'example':<18} {'max |cuda - cpu|':>18} {'with tf32':>12}  within the gate's tolerance")
    for r in rows:
        print(f"{r['example']:<18} {r['cuda']:>18.3g} {r['tf32']:>12.3g}  {'yes' if r['within'] else 'NO'}")
    return 0 if all(r["within"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
