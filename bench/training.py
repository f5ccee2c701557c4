"""Training steps, nnc against PyTorch: the reference workloads, the matmul ceiling the MLP is
measured against, and the scaling table."""

from __future__ import annotations

import statistics
import time

import numpy as np
import workers
from side_by_side import TOLERANCE, alternate, gradient_difference
from tables import Section
from workloads import chosen, mlp

CEILING_SIZE = 1024  # the square float32 matmul whose speed is the ceiling
EAGER_TARGET = 0.9  # nnc / torch eager, every workload, at every thread setting
CEILING_TARGET = 0.8  # the MLP step's matmul work over the ceiling, at one thread


def matmul_ceiling(runs: int = 15) -> float:
    """FLOP/s of a large square float32 matmul through numpy's BLAS, the median of `runs`."""
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((CEILING_SIZE, CEILING_SIZE)).astype(np.float32) for _ in range(2))
    out = np.empty_like(a)
    np.matmul(a, b, out=out)
    times = []
    for _ in range(runs):
        begin = time.perf_counter()
        np.matmul(a, b, out=out)
        times.append(time.perf_counter() - begin)
    return 2 * CEILING_SIZE**3 / statistics.median(times)


class Pair:
    """One workload built in nnc, for the float64 gradient check against torch (from the same
    initial weights) and the timing of the MLP step's parts; the steps themselves are timed in
    processes of their own (workers.py)."""

    def __init__(self, torch, workload):
        from nnc.runtime.optim import make_optimizer

        import nnc

        self.workload = workload
        self.model = nnc.load(workload.spec)
        params = self.model.plan.params
        params.initialize(np.random.default_rng(0))
        self.feeds = workload.feeds(np.random.default_rng(1))
        self.rng = np.random.default_rng(2)
        self.optimizer = make_optimizer(self.model.program.train.optimizer, params.flat.size)
        self.torch = torch

    def gradient_difference(self) -> float:
        """Both runtimes' float64 gradients of one step from the initial weights, compared."""
        torch, workload = self.torch, self.workload
        net = workload.net(torch, self.model.plan.params.to_dict()).double()
        feeds64 = {k: v.astype(np.float64) if v.dtype == np.float32 else v for k, v in self.feeds.items()}
        output = net(*(torch.from_numpy(feeds64[name]) for name in workload.inputs))
        workload.loss(torch, output, torch.from_numpy(feeds64[workload.target_name])).backward()
        return gradient_difference(self.model, feeds64, workload.grads(net))

    def optimizer_step(self) -> None:
        params = self.model.plan.params
        self.optimizer.step(params.flat, params.grad, self.workload.lr)


def training_steps(torch, args, ceiling: float) -> Section:
    section = Section(
        f"Training steps: nnc against torch eager ({args.threads} thread(s))",
        [
            "workload",
            "batch",
            "gradients (max rel. diff)",
            "nnc ms",
            "torch ms",
            "nnc / torch",
            "target",
            "nnc samples/s",
            "torch samples/s",
        ],
    )
    for workload in chosen(args.workloads):
        pair = Pair(torch, workload)
        difference = pair.gradient_difference()
        if difference > TOLERANCE:
            section.fail(
                f"{workload.name}: gradients differ from torch's by {difference:.1e} (> {TOLERANCE:g})"
            )
            section.row(workload.name, workload.batch, f"{difference:.1e} FAIL", *["-"] * 6)
            continue
        seconds = workers.timed(["nnc", "torch"], workload, args.threads, args.rounds, args.steps)
        ratio = seconds["nnc"] / seconds["torch"]
        verdict = " PASS" if ratio <= EAGER_TARGET else " FAIL"
        if ratio > EAGER_TARGET:
            section.fail(
                f"{workload.name}, {args.threads} thread(s): nnc / torch {ratio:.2f} > {EAGER_TARGET}"
            )
        section.row(
            workload.name, workload.batch, f"{difference:.1e}",
            f"{seconds['nnc'] * 1e3:.2f}", f"{seconds['torch'] * 1e3:.2f}", f"{ratio:.2f}{verdict}",
            f"<= {EAGER_TARGET}", f"{workload.batch / seconds['nnc']:.0f}",
            f"{workload.batch / seconds['torch']:.0f}",
        )  # fmt: skip
        flops = workload.matmul_flops()
        if flops is not None:
            fraction = flops / seconds["nnc"] / ceiling
            line = (
                f"{workload.name} step: {flops / seconds['nnc'] / 1e9:.1f} GFLOP/s of matmul work "
                f"({flops / 1e6:.0f} MFLOP per step), {fraction:.0%} of the ceiling"
            )
            if args.threads == 1:  # the target is set at one thread
                line += (
                    f" (target >= {CEILING_TARGET:.0%}) {'PASS' if fraction >= CEILING_TARGET else 'FAIL'}"
                )
                if fraction < CEILING_TARGET:
                    section.fail(
                        f"{workload.name}: {fraction:.0%} of the matmul ceiling (< {CEILING_TARGET:.0%})"
                    )
            section.note(line)
            # Where the rest of the step goes: the optimizer's elementwise passes over every
            # parameter, which no matmul speed shortens.
            parts = alternate(
                {"gradients": lambda pair=pair: pair.model.plan.gradients(pair.feeds, pair.rng),
                 "optimizer": pair.optimizer_step},
                args.rounds, args.steps,
            )  # fmt: skip
            section.note(
                f"Of the {workload.name} step: forward and backward {parts['gradients'] * 1e3:.2f} ms "
                f"({flops / parts['gradients'] / ceiling:.0%} of the ceiling on their own), the "
                f"optimizer update {parts['optimizer'] * 1e3:.2f} ms."
            )
    section.note(
        f"Median of {args.rounds} alternating rounds of {args.steps} steps, {args.threads} thread(s). "
        "Gradients: one float64 step from the same weights, worst parameter's max abs difference "
        f"over its max abs value (must be <= {TOLERANCE:g})."
    )
    return section


def scaling(torch, args) -> Section:
    """The MLP step as its batch and its width grow: time should grow with the work, and the
    matmul throughput show where per-call overhead stops mattering."""
    section = Section(
        "Scaling: the MLP step against batch size and width",
        ["hidden widths", "batch", "MFLOP/step", "nnc ms", "torch ms", "nnc / torch", "nnc GFLOP/s"],
    )
    configs = [(256, b) for b in (16, 64, 256, 1024)] + [(w, 128) for w in (64, 512, 1024, 2048)]
    for width, batch in configs:
        workload = mlp(width, batch)
        seconds = workers.timed(
            ["nnc", "torch"], workload, args.threads, max(3, args.rounds // 3), args.steps
        )
        flops = workload.matmul_flops()
        section.row(
            f"{width}-{width // 2}", batch, f"{flops / 1e6:.0f}", f"{seconds['nnc'] * 1e3:.2f}",
            f"{seconds['torch'] * 1e3:.2f}", f"{seconds['nnc'] / seconds['torch']:.2f}",
            f"{flops / seconds['nnc'] / 1e9:.1f}",
        )  # fmt: skip
    section.note(
        "784-W-W/2-10 relu MLP, softmax cross-entropy, Adam; a third of the rounds of the table above."
    )
    return section
