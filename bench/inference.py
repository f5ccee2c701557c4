"""Inference: each reference model exported to ONNX and run through `nnc predict`'s path
(runtime/onnx/predict.py's Predictor on onnxruntime's CPU provider) against PyTorch eager."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from side_by_side import alternate
from tables import Section
from workloads import chosen

BATCHES = (1, 256)
TARGET = 0.5  # onnxruntime's time over torch's at batch 1: at least twice as fast
AGREE = 1e-4  # the outputs' max abs difference over their max abs value


def inference(torch, args, ceiling: float) -> Section:
    from nnc.compiler.summary import summarize
    from nnc.runtime.onnx.predict import Predictor

    import nnc

    judged = args.threads == 1
    section = Section(
        f"Inference: onnxruntime (nnc predict) against PyTorch eager ({args.threads} thread(s))",
        ["workload", "batch", "onnxruntime ms", "torch ms", "onnxruntime / torch", "target",
         "onnxruntime samples/s", "torch samples/s", "FLOPs at the ceiling, ms"],
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        for workload in chosen(args.workloads):
            model = nnc.load(workload.spec)
            model.plan.params.initialize(np.random.default_rng(0))
            path = model.export(Path(tmp) / f"{workload.name}.onnx")
            predictor = Predictor(str(path), threads=args.threads)
            net = workload.net(torch, model.plan.params.to_dict()).eval()
            flops = summarize(model.program)["flops_per_sample"]
            for batch in BATCHES:
                difference, seconds = _compare(torch, workload, predictor, net, batch, args.rounds)
                if difference > AGREE:
                    section.fail(
                        f"{workload.name} batch {batch}: outputs differ from torch's by {difference:.1e}"
                    )
                ratio = seconds["onnx"] / seconds["torch"]
                target, verdict = "", ""
                if batch == 1:
                    target = f"<= {TARGET}"
                    if judged:
                        verdict = " PASS" if ratio <= TARGET else " FAIL"
                        if ratio > TARGET:
                            section.fail(
                                f"{workload.name} inference at batch 1: onnxruntime / torch {ratio:.2f}"
                            )
                section.row(
                    workload.name, batch, f"{seconds['onnx'] * 1e3:.3f}", f"{seconds['torch'] * 1e3:.3f}",
                    f"{ratio:.2f}{verdict}", target, f"{batch / seconds['onnx']:.0f}",
                    f"{batch / seconds['torch']:.0f}", f"{flops * batch / ceiling * 1e3:.3f}",
                )  # fmt: skip
    section.note(
        "The models of the training table, exported from their initial weights; torch in eval mode "
        f"under inference_mode. Outputs agree to {AGREE:g} relative before timing. Target at one thread. "
        "The last column is the model's forward FLOPs (`nnc check`'s count) at the measured matmul "
        "ceiling: no runtime computing in float32 on these cores is faster."
    )
    return section


def _compare(torch, workload, predictor, net, batch: int, rounds: int) -> tuple[float, dict[str, float]]:
    """(the outputs' relative difference, median seconds per call of each) at `batch`."""
    feeds = workload.feeds(np.random.default_rng(batch))
    feeds = {name: np.resize(feeds[name], (batch, *feeds[name].shape[1:])) for name in workload.inputs}
    inputs = [torch.from_numpy(feeds[name]) for name in workload.inputs]

    def run_torch():
        with torch.inference_mode():
            return net(*inputs)

    def run_onnx():
        return predictor.run(feeds, batch_size=batch)

    ours, theirs = next(iter(run_onnx().values())), run_torch().numpy()
    difference = float(np.abs(ours - theirs).max() / np.abs(theirs).max())
    per_round = max(1, 20 // batch)  # calls per round: enough to time a batch of one
    return difference, alternate({"onnx": run_onnx, "torch": run_torch}, rounds, per_round)
