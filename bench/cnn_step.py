"""The CNN reference training step, nnc's NumPy runtime against PyTorch CPU eager, side by side.

Workload: input 1x28x28, conv3x3 32 + relu, max_pool 2, conv3x3 64 + relu, max_pool 2, flatten,
dense 10, softmax cross-entropy, SGD with momentum 0.9, batch 64. Both start from the same
weights (nnc's initialization copied into the torch modules) and see the same batches.

Before timing, one step's gradients are computed by both in float64 and must agree to 1e-5
relative (max abs difference over max abs value, per parameter), so a fast wrong kernel cannot
pass. Timing is float32, in alternating rounds (nnc, torch, nnc, ...) so that drifts in machine
load hit both; the medians of the per-step times are reported, with the ratio nnc / torch.

Usage: python bench/cnn_step.py [--threads N] [--rounds 15] [--steps 10]
Needs torch (`pip install torch==2.13.0`, the CPU build); exits 2 without it and 1 when the
gradients disagree or nnc is slower than torch."""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

SPEC = """
model cnn {
    input image: float32[1, 28, 28]
    conv2d(32, kernel=3) -> relu
    max_pool2d(2)
    conv2d(64, kernel=3) -> relu
    max_pool2d(2)
    flatten
    dense(10) as logits
}
loss cross_entropy(logits, target=label)
optimizer sgd(lr=0.01, momentum=0.9)
train { batch_size = 64; seed = 0 }
"""
BATCH = 64
LAYERS = {"conv": "conv2d_1", "conv2": "conv2d_2", "dense": "logits"}  # torch module -> nnc layer


def pin_threads(threads: int) -> None:
    """BLAS reads its thread count once, at import: set it before numpy loads."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)


def torch_model(torch, weights):
    nn = torch.nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 32, 3)
            self.conv2 = nn.Conv2d(32, 64, 3)
            self.dense = nn.Linear(64 * 5 * 5, 10)

        def forward(self, x):
            x = nn.functional.max_pool2d(torch.relu(self.conv(x)), 2)
            x = nn.functional.max_pool2d(torch.relu(self.conv2(x)), 2)
            return self.dense(x.flatten(1))

    net = Net()
    with torch.no_grad():
        for module, layer in LAYERS.items():
            weight = weights[f"{layer}.weight"]
            getattr(net, module).weight.copy_(torch.from_numpy(weight.T if module == "dense" else weight))
            getattr(net, module).bias.copy_(torch.from_numpy(weights[f"{layer}.bias"]))
    return net


def torch_grads(torch, net) -> dict:
    out = {}
    for module, layer in LAYERS.items():
        weight = getattr(net, module).weight.grad.numpy()
        out[f"{layer}.weight"] = weight.T if module == "dense" else weight
        out[f"{layer}.bias"] = getattr(net, module).bias.grad.numpy()
    return out


def check_gradients(np, torch, model, x, label) -> float:
    """Worst relative disagreement between the two frameworks' float64 gradients."""
    from nnc.runtime.executor import Plan

    plan = Plan(model.program.graph, model.program.train.losses)
    weights = model.plan.params.to_dict()
    net = torch_model(torch, weights).double()
    loss = torch.nn.functional.cross_entropy(
        net(torch.from_numpy(x.astype(np.float64))), torch.from_numpy(label)
    )
    loss.backward()
    expected = torch_grads(torch, net)
    # A second plan, its parameter and gradient views swapped for float64 arrays: the kernels
    # keep the dtype they are given, so this runs the same code in float64.
    plan.params.values.update({key: value.astype(np.float64) for key, value in weights.items()})
    plan.params.grads.update({key: np.zeros(value.shape) for key, value in weights.items()})
    feeds = {"image": x.astype(np.float64), "label": label}
    plan.gradients(feeds, np.random.default_rng(0))
    worst = 0.0
    for key, want in expected.items():
        got = plan.params.grads[key]
        worst = max(worst, float(np.abs(got - want).max() / np.abs(want).max()))
    return worst


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="BLAS and torch threads")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--steps", type=int, default=10, help="training steps per round")
    args = parser.parse_args()
    pin_threads(args.threads)
    import numpy as np

    try:
        import torch
    except ImportError:
        print("torch is not installed: pip install torch==2.13.0 (the CPU build)", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    from nnc.runtime.optim import make_optimizer

    import nnc

    model = nnc.load(SPEC)
    model.plan.params.initialize(np.random.default_rng(0))
    rng = np.random.default_rng(1)
    x = rng.standard_normal((BATCH, 1, 28, 28)).astype(np.float32)
    label = rng.integers(0, 10, BATCH)

    worst = check_gradients(np, torch, model, x, label)
    print(f"gradients, float64, nnc vs torch: max relative difference {worst:.1e} (must be <= 1e-5)")
    if worst > 1e-5:
        return 1

    params = model.plan.params
    optimizer = make_optimizer(model.program.train.optimizer, params.flat.size)
    net = torch_model(torch, params.to_dict())
    torch_opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    feeds = {"image": x, "label": label}
    tx, tlabel = torch.from_numpy(x), torch.from_numpy(label)

    def nnc_step():
        model.plan.gradients(feeds, rng)
        optimizer.step(params.flat, params.grad, 0.01)

    def torch_step():
        torch_opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(net(tx), tlabel).backward()
        torch_opt.step()

    times = {"nnc": [], "torch": []}
    for step in (nnc_step, torch_step):  # warm-up: allocations, lazy inits
        for _ in range(3):
            step()
    for _ in range(args.rounds):
        for name, step in (("nnc", nnc_step), ("torch", torch_step)):
            for _ in range(args.steps):
                start = time.perf_counter()
                step()
                times[name].append(time.perf_counter() - start)
    ms = {name: 1e3 * statistics.median(t) for name, t in times.items()}
    ratio = ms["nnc"] / ms["torch"]
    print(f"CNN step, batch {BATCH}, {args.threads} thread(s), {args.rounds} rounds x {args.steps} steps")
    print("| runtime | ms/step (median) | samples/s |")
    print("|---|---|---|")
    for name, value in ms.items():
        print(f"| {name} | {value:.2f} | {BATCH / value * 1e3:.0f} |")
    print(f"ratio nnc / torch: {ratio:.2f} (target <= 1.00)")
    return 0 if ratio <= 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())
