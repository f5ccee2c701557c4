"""Each runtime timed in a process of its own. In one process, two runtimes' worker threads
meet: torch's OpenMP threads and nnc's BLAS threads spin after their work, each slowing the
other, and a CPU-bound neighbour makes it worse (the MLP step went from 2.5 to 75 ms with torch
loaded beside it, against 1.4 ms without). A user runs one runtime; so does each worker here.

The parent sends a worker a number of steps on its stdin; the worker runs them and answers with
their times, one JSON line. `alternate` runs rounds over the workers in turn, so that changes in
machine load hit every runtime, with a pause before each round for the spinning threads of the
one before to go to sleep.

Run as a script, this file is the worker: python bench/workers.py RUNTIME THREADS, the
workload pickled on its first input line."""

from __future__ import annotations

import json
import pickle
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from side_by_side import SETTLE, pin_threads

WARM_UP = 3  # steps before any timing: allocations, lazy initialization, compilation


class Worker:
    """A process running one runtime's training step of one workload."""

    def __init__(self, runtime: str, workload, threads: int):
        self.runtime = runtime
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), runtime, str(threads)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self._send(pickle.dumps(workload).hex())
        ready = self.process.stdout.readline().strip()
        if ready != "ready":
            self.close()
            raise RuntimeError(f"the {runtime} worker did not start: {ready or 'it exited'}")

    def _send(self, line: str) -> None:
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def run(self, steps: int) -> list[float]:
        self._send(str(steps))
        return json.loads(self.process.stdout.readline())

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()
            self.process.wait(timeout=60)


def alternate(workers: dict[str, Worker], rounds: int, per_round: int) -> dict[str, float]:
    """The median seconds per step of each worker, timed in alternating rounds of `per_round`
    steps (a, b, a, b, ...)."""
    times: dict[str, list[float]] = {name: [] for name in workers}
    for _ in range(rounds):
        for name, worker in workers.items():
            time.sleep(SETTLE)
            times[name] += worker.run(per_round)
    return {name: statistics.median(t) for name, t in times.items()}


def timed(runtimes: list[str], workload, threads: int, rounds: int, per_round: int) -> dict[str, float]:
    """`alternate` over a worker per runtime, started here and stopped after."""
    workers: dict[str, Worker] = {}
    try:
        for runtime in runtimes:
            workers[runtime] = Worker(runtime, workload, threads)
        return alternate(workers, rounds, per_round)
    finally:
        for worker in workers.values():
            worker.close()


# ---- the worker's side ------------------------------------------------------------------------
def nnc_step(workload, threads: int) -> Callable[[], None]:
    import numpy as np
    from nnc.runtime.memory import retain_freed_memory
    from nnc.runtime.optim import make_optimizer

    import nnc

    retain_freed_memory()  # as `nnc train` does: a step reuses the memory the last one freed
    model = nnc.load(workload.spec)
    params = model.plan.params
    params.initialize(np.random.default_rng(0))
    feeds, rng = workload.feeds(np.random.default_rng(1)), np.random.default_rng(2)
    optimizer = make_optimizer(model.program.train.optimizer, params.flat.size)

    def step() -> None:
        model.plan.gradients(feeds, rng)
        optimizer.step(params.flat, params.grad, workload.lr)

    return step


def initial_weights(workload) -> dict:
    """nnc's initialization of the workload, which every runtime starts from."""
    import numpy as np

    import nnc

    model = nnc.load(workload.spec)
    model.plan.params.initialize(np.random.default_rng(0))
    return model.plan.params.to_dict()


def torch_step(workload, threads: int, fused: bool = False, compiled: bool = False) -> Callable[[], None]:
    """torch eager; `fused`: the optimizer's fused kernel; `compiled`: the module through
    torch.compile (peers.py)."""
    import numpy as np
    import torch

    torch.set_num_threads(threads)
    net = workload.net(torch, initial_weights(workload))
    trained = [p for p in net.parameters() if p.requires_grad]
    optimizer = workload.optimizer(torch, trained)
    if fused:
        optimizer = type(optimizer)(trained, **{**optimizer.defaults, "fused": True, "foreach": None})
    if compiled:
        net = torch.compile(net)
    feeds = workload.feeds(np.random.default_rng(1))
    inputs = [torch.from_numpy(feeds[name]) for name in workload.inputs]
    target = torch.from_numpy(feeds[workload.target_name])

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        workload.loss(torch, net(*inputs), target).backward()
        optimizer.step()

    return step


def _peer(name: str) -> Callable:
    def build(workload, threads):
        import peers

        return getattr(peers, name)(workload, threads)

    return build


STEPS: dict[str, Callable] = {
    "nnc": nnc_step,
    "torch": torch_step,
    "torch fused": _peer("torch_fused_step"),
    "torch.compile": _peer("torch_compile_step"),
    "jax jit": _peer("jax_step"),
}


def _serve() -> None:
    runtime, threads = sys.argv[1], int(sys.argv[2])
    pin_threads(threads)  # before numpy, torch or jax loads
    workload = pickle.loads(bytes.fromhex(sys.stdin.readline()))
    step = STEPS[runtime](workload, threads)
    for _ in range(WARM_UP):
        step()
    print("ready", flush=True)
    for line in sys.stdin:
        times = []
        for _ in range(int(line)):
            begin = time.perf_counter()
            step()
            times.append(time.perf_counter() - begin)
        print(json.dumps(times), flush=True)


if __name__ == "__main__":
    _serve()
