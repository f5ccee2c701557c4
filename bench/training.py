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
        self.expected = workload.grads(net)  # torch's, in nnc's layouts: what JAX's must match too
        self.feeds64 = feeds64
        return gradient_difference(self.model, feeds64, self.expected)

    def peers(self) -> tuple[list[str], dict[str, float]]:
        """The peers to time for this workload, and JAX's float64 gradient difference where it
        runs (JAX is missing: left out)."""
        from peers import JAX_WORKLOADS, jax_gradient_difference

        runtimes, checked = ["torch fused", "torch.compile"], {}
        if self.workload.name in JAX_WORKLOADS:
            try:
                weights = self.model.plan.params.to_dict()
                checked["jax jit"] = jax_gradient_difference(
                    self.workload, weights, self.feeds64, self.expected
                )
                runtimes.append("jax jit")
            except ImportError:
                pass
        return runtimes, checked

    def optimizer_step(self) -> None:
        params = self.model.plan.params
        self.optimizer.step(params.flat, params.grad, self.workload.lr)


PEER_TARGET = 1.0  # nnc / the fastest peer, MLP and CNN, at every thread setting
PEER_JUDGED = ("MLP", "CNN")
PEERS = ("torch fused", "torch.compile", "jax jit")


def training_steps(torch, args, ceiling: float) -> list[Section]:
    """Two tables from one timing: nnc against torch eager, and against the fastest peer."""
    section = Section(
        f"Training steps: nnc against torch eager ({args.threads} thread(s))",
        ["workload", "batch", "gradients (max rel. diff)", "nnc ms", "torch ms", "nnc / torch", "target",
         "nnc samples/s", "torch samples/s"],
    )  # fmt: skip
    against = Section(
        f"Training steps: nnc against the fastest peers ({args.threads} thread(s))",
        ["workload", "nnc ms", "torch fused ms", "torch.compile ms", "jax jit ms", "JAX gradients",
         "nnc / fastest", "target"],
    )  # fmt: skip
    for workload in chosen(args.workloads):
        pair = Pair(torch, workload)
        difference = pair.gradient_difference()
        if difference > TOLERANCE:
            section.fail(
                f"{workload.name}: gradients differ from torch's by {difference:.1e} (> {TOLERANCE:g})"
            )
            section.row(workload.name, workload.batch, f"{difference:.1e} FAIL", *["-"] * 6)
            continue
        peers, checked = pair.peers()
        wrong = [name for name, d in checked.items() if d > TOLERANCE]
        for name in wrong:
            against.fail(f"{workload.name}: {name}'s gradients differ from torch's by {checked[name]:.1e}")
        timed = ["nnc", "torch", *(p for p in peers if p not in wrong)]
        seconds = workers.timed(timed, workload, args.threads, args.rounds, args.steps)
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
        fastest = min(seconds[p] for p in timed if p not in ("nnc", "torch"))
        to_peer = seconds["nnc"] / fastest
        judged = workload.name in PEER_JUDGED
        verdict = (" PASS" if to_peer <= PEER_TARGET else " FAIL") if judged else ""
        if judged and to_peer > PEER_TARGET:
            against.fail(
                f"{workload.name}, {args.threads} thread(s): nnc / fastest peer {to_peer:.2f} > {PEER_TARGET}"
            )
        ms = {name: f"{seconds[name] * 1e3:.2f}" for name in seconds}

        jax_check = f"{checked['jax jit']:.1e}" if "jax jit" in checked else "—"
        against.row(
            workload.name, *(ms.get(n, "—") for n in ("nnc", *PEERS)), jax_check,
            f"{to_peer:.2f}{verdict}", f"<= {PEER_TARGET}" if judged else "reported",
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
        f"Median of {args.rounds} alternating rounds of {args.steps} steps, {args.threads} thread(s), "
        "each runtime in a process of its own. Gradients: one float64 step from the same weights, "
        f"worst parameter's max abs difference over its max abs value (must be <= {TOLERANCE:g})."
    )
    against.note(
        "The same rounds. torch fused: Adam/SGD with fused=True; torch.compile: the module through "
        "Inductor, the optimizer eager; jax jit: loss, gradients and the optax update under one "
        "jax.jit, its float64 gradients checked against torch's (written for the MLP and CNN). "
        "Targets for the MLP and CNN; the LSTM and transformer are reported."
    )
    return [section, against]


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
