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

import sys

from side_by_side import compare, gradients_agree, start

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


def main() -> int:
    started = start(__doc__.splitlines()[0])
    if started is None:
        return 2
    args, np, torch = started
    from nnc.runtime.optim import make_optimizer

    import nnc

    model = nnc.load(SPEC)
    model.plan.params.initialize(np.random.default_rng(0))
    rng = np.random.default_rng(1)
    x = rng.standard_normal((BATCH, 1, 28, 28)).astype(np.float32)
    label = rng.integers(0, 10, BATCH)

    net = torch_model(torch, model.plan.params.to_dict()).double()
    torch.nn.functional.cross_entropy(
        net(torch.from_numpy(x.astype(np.float64))), torch.from_numpy(label)
    ).backward()
    if not gradients_agree(model, {"image": x.astype(np.float64), "label": label}, torch_grads(torch, net)):
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

    return compare("CNN step", BATCH, args, nnc_step, torch_step, target=1.0)


if __name__ == "__main__":
    sys.exit(main())
