"""The LSTM reference training step, nnc's NumPy runtime against PyTorch CPU eager, side by side.

Workload: sequences of 32 steps of 16 features, lstm(128) keeping the last state, dense 1, MSE,
Adam, batch 64. Both start from the same weights (nnc's initialization copied into the torch
modules: our bias as torch's bias_ih, and bias_hh frozen at zeros but for the forget gate's
block, which holds nnc's forget_bias of 1) and see the same batch.

Before timing, one step's gradients are computed by both in float64 and must agree to 1e-5
relative (max abs difference over max abs value, per parameter), so a fast wrong kernel cannot
pass. Timing is float32, in alternating rounds (nnc, torch, nnc, ...) so that drifts in machine
load hit both; the medians of the per-step times are reported, with the ratio nnc / torch. The
process keeps freed memory between steps, as `nnc train` does (runtime/memory.py).

Usage: python bench/lstm_step.py [--threads N] [--rounds 15] [--steps 10]
Needs torch (`pip install torch==2.13.0`, the CPU build); exits 2 without it and 1 when the
gradients disagree or nnc is more than 15% slower than torch."""

from __future__ import annotations

import sys

from side_by_side import compare, gradients_agree, start

SPEC = """
model forecaster {
    input sequence: float32[32, 16]
    lstm(128) as encoder
    dense(1) as prediction
}
loss mse(prediction, target=target)
optimizer adam(lr=1e-3)
train { batch_size = 64; seed = 0 }
"""
BATCH, STEPS, FEATURES, UNITS = 64, 32, 16, 128
FORGET_BIAS = 1.0  # lstm's default, added to the forget gate's pre-activation
TARGET = 1.15  # the ratio nnc / torch to stay under


def torch_model(torch, weights):
    nn = torch.nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(FEATURES, UNITS, batch_first=True)
            self.dense = nn.Linear(UNITS, 1)

        def forward(self, x):
            _, (h, _) = self.lstm(x)
            return self.dense(h[-1])

    net = Net()
    with torch.no_grad():
        net.lstm.weight_ih_l0.copy_(torch.from_numpy(weights["encoder.weight_ih_l0"][0]))
        net.lstm.weight_hh_l0.copy_(torch.from_numpy(weights["encoder.weight_hh_l0"][0]))
        net.lstm.bias_ih_l0.copy_(torch.from_numpy(weights["encoder.bias_l0"][0]))
        net.lstm.bias_hh_l0.zero_()
        net.lstm.bias_hh_l0[UNITS : 2 * UNITS] = FORGET_BIAS
        net.dense.weight.copy_(torch.from_numpy(weights["prediction.weight"].T))
        net.dense.bias.copy_(torch.from_numpy(weights["prediction.bias"]))
    net.lstm.bias_hh_l0.requires_grad_(False)  # a constant: nnc has one bias per gate
    return net


def torch_grads(net) -> dict:
    return {
        "encoder.weight_ih_l0": net.lstm.weight_ih_l0.grad.numpy()[None],
        "encoder.weight_hh_l0": net.lstm.weight_hh_l0.grad.numpy()[None],
        "encoder.bias_l0": net.lstm.bias_ih_l0.grad.numpy()[None],
        "prediction.weight": net.dense.weight.grad.numpy().T,
        "prediction.bias": net.dense.bias.grad.numpy(),
    }


def main() -> int:
    started = start(__doc__.splitlines()[0])
    if started is None:
        return 2
    args, np, torch = started
    from nnc.runtime.memory import retain_freed_memory
    from nnc.runtime.optim import make_optimizer

    import nnc

    # as `nnc train` does: a step reuses the memory the last one freed instead of page-faulting
    # it back in (the LSTM's buffers are large enough for glibc to hand them back otherwise)
    retain_freed_memory()
    model = nnc.load(SPEC)
    model.plan.params.initialize(np.random.default_rng(0))
    rng = np.random.default_rng(1)
    x = rng.standard_normal((BATCH, STEPS, FEATURES)).astype(np.float32)
    target = rng.standard_normal((BATCH, 1)).astype(np.float32)

    net = torch_model(torch, model.plan.params.to_dict()).double()
    prediction = net(torch.from_numpy(x.astype(np.float64)))
    torch.nn.functional.mse_loss(prediction, torch.from_numpy(target.astype(np.float64))).backward()
    feeds64 = {"sequence": x.astype(np.float64), "target": target.astype(np.float64)}
    if not gradients_agree(model, feeds64, torch_grads(net)):
        return 1

    params = model.plan.params
    optimizer = make_optimizer(model.program.train.optimizer, params.flat.size)
    net = torch_model(torch, params.to_dict())
    torch_opt = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=1e-3)
    feeds = {"sequence": x, "target": target}
    tx, ttarget = torch.from_numpy(x), torch.from_numpy(target)

    def nnc_step():
        model.plan.gradients(feeds, rng)
        optimizer.step(params.flat, params.grad, 1e-3)

    def torch_step():
        torch_opt.zero_grad(set_to_none=True)
        torch.nn.functional.mse_loss(net(tx), ttarget).backward()
        torch_opt.step()

    return compare("LSTM step", BATCH, args, nnc_step, torch_step, target=TARGET)


if __name__ == "__main__":
    sys.exit(main())
