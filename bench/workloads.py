"""The reference workloads of the benchmark suite, each written twice: as an nnc spec and as
the same network in PyTorch, which starts from nnc's initial weights (copied in by `net`) so
that both runtimes train the same model on the same batch. `grads` reads torch's parameter
gradients back in nnc's layouts, for the float64 check that runs before any timing."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np


def _copy(torch, module_param, value) -> None:
    with torch.no_grad():
        module_param.copy_(torch.from_numpy(np.ascontiguousarray(value)))


@dataclass(frozen=True)
class Workload(ABC):
    name: str
    spec: str
    batch: int
    lr: float
    inputs: ClassVar[tuple[str, ...]] = ()  # the model inputs torch's forward takes, in order
    target_name: ClassVar[str] = "label"

    @abstractmethod
    def feeds(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """A float32 training batch in nnc's input and target names."""

    @abstractmethod
    def net(self, torch, weights: dict):
        """The torch module, holding `weights` (nnc's initialization); forward takes the inputs
        in the order of `inputs`."""

    @abstractmethod
    def grads(self, net) -> dict:
        """torch's parameter gradients after backward, keyed and laid out as nnc's."""

    def loss(self, torch, output, target):
        return torch.nn.functional.cross_entropy(output, target)

    def optimizer(self, torch, params):
        return torch.optim.Adam(params, lr=self.lr)

    def matmul_flops(self) -> int | None:
        """Multiply-adds x 2 of one training step's matmuls, where the benchmark reports the
        fraction of the machine's matmul ceiling it reaches; None elsewhere."""
        return None


# ---- MLP ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MLP(Workload):
    widths: tuple[int, ...] = (784, 256, 128, 10)
    LAYERS: ClassVar = ("hidden1", "hidden2", "logits")

    def feeds(self, rng):
        x = rng.standard_normal((self.batch, self.widths[0])).astype(np.float32)
        return {"pixels": x, "label": rng.integers(0, 10, self.batch)}

    inputs = ("pixels",)

    def net(self, torch, weights):
        nn = torch.nn
        layers = [nn.Linear(a, b) for a, b in zip(self.widths, self.widths[1:], strict=False)]
        net = nn.Sequential(layers[0], nn.ReLU(), layers[1], nn.ReLU(), layers[2])
        for linear, name in zip(layers, self.LAYERS, strict=True):
            _copy(torch, linear.weight, weights[f"{name}.weight"].T)
            _copy(torch, linear.bias, weights[f"{name}.bias"])
        return net

    def grads(self, net):
        linears = [m for m in net if hasattr(m, "weight")]
        out = {}
        for linear, name in zip(linears, self.LAYERS, strict=True):
            out[f"{name}.weight"] = linear.weight.grad.numpy().T
            out[f"{name}.bias"] = linear.bias.grad.numpy()
        return out

    def matmul_flops(self):
        # forward x @ W per layer; backward dW per layer and dx for all but the first layer
        pairs = list(zip(self.widths, self.widths[1:], strict=False))
        forward = sum(a * b for a, b in pairs)
        return 2 * self.batch * (2 * forward + sum(a * b for a, b in pairs[1:]))


def mlp(width: int = 256, batch: int = 128) -> MLP:
    """The MLP workload; the scaling table varies its hidden width (the second is half of it)."""
    return MLP(
        "MLP",
        f"""
model mlp {{
    input pixels: float32[784]
    dense({width}) as hidden1
    relu
    dense({width // 2}) as hidden2
    relu
    dense(10) as logits
}}
loss cross_entropy(logits, target=label)
optimizer adam(lr=1e-3)
train {{ batch_size = {batch}; seed = 0 }}
""",
        batch,
        lr=1e-3,
        widths=(784, width, width // 2, 10),
    )


# ---- CNN ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CNN(Workload):
    LAYERS: ClassVar = {
        "conv": "conv2d_1",
        "conv2": "conv2d_2",
        "dense": "logits",
    }  # torch module -> nnc layer
    inputs = ("image",)

    def feeds(self, rng):
        x = rng.standard_normal((self.batch, 1, 28, 28)).astype(np.float32)
        return {"image": x, "label": rng.integers(0, 10, self.batch)}

    def net(self, torch, weights):
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
        for module, layer in self.LAYERS.items():
            weight = weights[f"{layer}.weight"]
            _copy(torch, getattr(net, module).weight, weight.T if module == "dense" else weight)
            _copy(torch, getattr(net, module).bias, weights[f"{layer}.bias"])
        return net

    def grads(self, net):
        out = {}
        for module, layer in self.LAYERS.items():
            weight = getattr(net, module).weight.grad.numpy()
            out[f"{layer}.weight"] = weight.T if module == "dense" else weight
            out[f"{layer}.bias"] = getattr(net, module).bias.grad.numpy()
        return out

    def optimizer(self, torch, params):
        return torch.optim.SGD(params, lr=self.lr, momentum=0.9)


CNN_WORKLOAD = CNN(
    "CNN",
    """
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
""",
    64,
    lr=0.01,
)


# ---- LSTM --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LSTM(Workload):
    STEPS: ClassVar = 32
    FEATURES: ClassVar = 16
    UNITS: ClassVar = 128
    FORGET_BIAS: ClassVar = 1.0  # lstm's default, added to the forget gate's pre-activation
    inputs = ("sequence",)
    target_name = "target"

    def feeds(self, rng):
        x = rng.standard_normal((self.batch, self.STEPS, self.FEATURES)).astype(np.float32)
        return {"sequence": x, "target": rng.standard_normal((self.batch, 1)).astype(np.float32)}

    def net(self, torch, weights):
        nn, units = torch.nn, self.UNITS

        class Net(nn.Module):
            def __init__(self, features):
                super().__init__()
                self.lstm = nn.LSTM(features, units, batch_first=True)
                self.dense = nn.Linear(units, 1)

            def forward(self, x):
                _, (h, _) = self.lstm(x)
                return self.dense(h[-1])

        net = Net(self.FEATURES)
        _copy(torch, net.lstm.weight_ih_l0, weights["encoder.weight_ih_l0"][0])
        _copy(torch, net.lstm.weight_hh_l0, weights["encoder.weight_hh_l0"][0])
        _copy(torch, net.lstm.bias_ih_l0, weights["encoder.bias_l0"][0])
        # nnc has one bias per gate: torch's second bias is a constant, zero but for the forget
        # gate's block, which holds nnc's forget_bias
        hidden_bias = np.zeros(4 * units, np.float32)
        hidden_bias[units : 2 * units] = self.FORGET_BIAS
        _copy(torch, net.lstm.bias_hh_l0, hidden_bias)
        net.lstm.bias_hh_l0.requires_grad_(False)
        _copy(torch, net.dense.weight, weights["prediction.weight"].T)
        _copy(torch, net.dense.bias, weights["prediction.bias"])
        return net

    def grads(self, net):
        return {
            "encoder.weight_ih_l0": net.lstm.weight_ih_l0.grad.numpy()[None],
            "encoder.weight_hh_l0": net.lstm.weight_hh_l0.grad.numpy()[None],
            "encoder.bias_l0": net.lstm.bias_ih_l0.grad.numpy()[None],
            "prediction.weight": net.dense.weight.grad.numpy().T,
            "prediction.bias": net.dense.bias.grad.numpy(),
        }

    def loss(self, torch, output, target):
        return torch.nn.functional.mse_loss(output, target)


LSTM_WORKLOAD = LSTM(
    "LSTM",
    """
model forecaster {
    input sequence: float32[32, 16]
    lstm(128) as encoder
    dense(1) as prediction
}
loss mse(prediction, target=target)
optimizer adam(lr=1e-3)
train { batch_size = 64; seed = 0 }
""",
    64,
    lr=1e-3,
)


# ---- transformer encoder -----------------------------------------------------------------------
@dataclass(frozen=True)
class Transformer(Workload):
    """Two post-norm encoder layers as torch.nn.TransformerEncoderLayer (relu, no dropout, so
    that both runtimes compute the same function), mean over positions, dense 10."""

    LENGTH: ClassVar = 64
    WIDTH: ClassVar = 128
    HEADS: ClassVar = 4
    FF: ClassVar = 512
    BLOCKS: ClassVar = 2
    inputs = ("sequence",)

    def feeds(self, rng):
        x = rng.standard_normal((self.batch, self.LENGTH, self.WIDTH)).astype(np.float32)
        return {"sequence": x, "label": rng.integers(0, 10, self.batch)}

    def net(self, torch, weights):
        nn = torch.nn
        width = self.WIDTH

        class Net(nn.Module):
            def __init__(self, heads, ff, blocks):
                super().__init__()
                self.blocks = nn.ModuleList(
                    nn.TransformerEncoderLayer(width, heads, ff, dropout=0.0, batch_first=True)
                    for _ in range(blocks)
                )
                self.dense = nn.Linear(width, 10)

            def forward(self, x):
                for block in self.blocks:
                    x = block(x)
                return self.dense(x.mean(1))

        net = Net(self.HEADS, self.FF, self.BLOCKS)
        for index, block in enumerate(net.blocks, 1):
            at = f"encoder_layer_{index}."
            attention = at + "attended."
            in_proj = [weights[f"{attention}{part}_weight"].T for part in ("query", "key", "value")]
            _copy(torch, block.self_attn.in_proj_weight, np.concatenate(in_proj))
            biases = [weights[f"{attention}{part}_bias"] for part in ("query", "key", "value")]
            _copy(torch, block.self_attn.in_proj_bias, np.concatenate(biases))
            _copy(torch, block.self_attn.out_proj.weight, weights[attention + "output_weight"].T)
            _copy(torch, block.self_attn.out_proj.bias, weights[attention + "output_bias"])
            for module, layer in (("linear1", "dense_1"), ("linear2", "fed")):
                _copy(torch, getattr(block, module).weight, weights[f"{at}{layer}.weight"].T)
                _copy(torch, getattr(block, module).bias, weights[f"{at}{layer}.bias"])
            for module, layer in (("norm1", "h"), ("norm2", "layer_norm_1")):
                _copy(torch, getattr(block, module).weight, weights[f"{at}{layer}.scale"])
                _copy(torch, getattr(block, module).bias, weights[f"{at}{layer}.bias"])
        _copy(torch, net.dense.weight, weights["logits.weight"].T)
        _copy(torch, net.dense.bias, weights["logits.bias"])
        return net

    def grads(self, net):
        out = {"logits.weight": net.dense.weight.grad.numpy().T, "logits.bias": net.dense.bias.grad.numpy()}
        for index, block in enumerate(net.blocks, 1):
            at = f"encoder_layer_{index}."
            attention = at + "attended."
            weights = np.split(block.self_attn.in_proj_weight.grad.numpy(), 3)
            biases = np.split(block.self_attn.in_proj_bias.grad.numpy(), 3)
            for part, weight, bias in zip(("query", "key", "value"), weights, biases, strict=True):
                out[f"{attention}{part}_weight"] = weight.T
                out[f"{attention}{part}_bias"] = bias
            out[attention + "output_weight"] = block.self_attn.out_proj.weight.grad.numpy().T
            out[attention + "output_bias"] = block.self_attn.out_proj.bias.grad.numpy()
            for module, layer in (("linear1", "dense_1"), ("linear2", "fed")):
                out[f"{at}{layer}.weight"] = getattr(block, module).weight.grad.numpy().T
                out[f"{at}{layer}.bias"] = getattr(block, module).bias.grad.numpy()
            for module, layer in (("norm1", "h"), ("norm2", "layer_norm_1")):
                out[f"{at}{layer}.scale"] = getattr(block, module).weight.grad.numpy()
                out[f"{at}{layer}.bias"] = getattr(block, module).bias.grad.numpy()
        return out


TRANSFORMER_WORKLOAD = Transformer(
    "Transformer",
    """
# torch.nn.TransformerEncoderLayer's post-norm block, without dropout
block encoder_layer(width, heads, ff) {
    input x
    multi_head_attention(heads) as attended
    [x, attended] -> add -> layer_norm as h
    dense(ff) -> relu -> dense(width) as fed
    [h, fed] -> add -> layer_norm
}

model encoder {
    input sequence: float32[64, 128]
    repeat 2 { encoder_layer(128, heads=4, ff=512) }
    sequence_pool(mean)
    dense(10) as logits
}
loss cross_entropy(logits, target=label)
optimizer adam(lr=1e-3)
train { batch_size = 32; seed = 0 }
""",
    32,
    lr=1e-3,
)

TRAINING = (mlp(), CNN_WORKLOAD, LSTM_WORKLOAD, TRANSFORMER_WORKLOAD)


def chosen(names: tuple[str, ...]) -> tuple[Workload, ...]:
    """The workloads named (lower case, as --workloads takes them), every one when none is."""
    return tuple(w for w in TRAINING if not names or w.name.lower() in names)
