"""The peers a performance-minded user would pick instead of torch eager, for the worker
processes of workers.py: torch with a fused optimizer, torch.compile, and JAX with the whole
step (loss, gradients, optax update) under one `jax.jit`. Each starts from nnc's initial weights
and trains on the same batch.

torch fused and torch.compile run the same torch module as torch eager, whose float64
gradients the suite checks against nnc's first; JAX is a second implementation of the network,
so its own float64 gradients are checked against nnc's (`jax_gradient_difference`). JAX is
written for the MLP and the CNN, where the targets compare with it; the LSTM and transformer
are reported against the torch peers."""

from __future__ import annotations

import os
from collections.abc import Callable

JAX_WORKLOADS = ("MLP", "CNN")


def torch_fused_step(workload, threads: int) -> Callable[[], None]:
    """torch eager with the optimizer's fused kernel (`fused=True`: one pass per step)."""
    from workers import torch_step

    return torch_step(workload, threads, fused=True)


def torch_compile_step(workload, threads: int) -> Callable[[], None]:
    """The module compiled by torch.compile (forward and backward through Inductor's C++ code),
    the optimizer eager; compilation happens in the worker's warm-up steps."""
    from workers import torch_step

    return torch_step(workload, threads, compiled=True)


def pin_jax_threads(threads: int) -> None:
    """XLA reads its thread count when it loads: one thread means no Eigen thread pool."""
    if threads == 1:
        flags = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {flags}".strip()


def _jax_net(workload):
    """(init params from nnc's weights, forward(params, x) -> logits), float32 or float64."""
    import jax
    import jax.numpy as jnp

    if workload.name == "MLP":
        layers = workload.LAYERS

        def params_of(weights, dtype):
            return {
                f"{n}.{p}": jnp.asarray(weights[f"{n}.{p}"], dtype)
                for n in layers
                for p in ("weight", "bias")
            }

        def forward(params, x):
            for i, n in enumerate(layers):
                x = x @ params[f"{n}.weight"] + params[f"{n}.bias"]
                if i < len(layers) - 1:
                    x = jax.nn.relu(x)
            return x

        return params_of, forward
    if workload.name == "CNN":
        names = ("conv2d_1", "conv2d_2", "logits")

        def params_of(weights, dtype):
            return {
                f"{n}.{p}": jnp.asarray(weights[f"{n}.{p}"], dtype) for n in names for p in ("weight", "bias")
            }

        def conv_relu_pool(x, w, b):
            y = jax.lax.conv_general_dilated(
                x, w, (1, 1), "VALID", dimension_numbers=("NCHW", "OIHW", "NCHW")
            )
            y = jax.nn.relu(y + b[None, :, None, None])
            return jax.lax.reduce_window(y, -jnp.inf, jax.lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")

        def forward(params, x):
            x = conv_relu_pool(x, params["conv2d_1.weight"], params["conv2d_1.bias"])
            x = conv_relu_pool(x, params["conv2d_2.weight"], params["conv2d_2.bias"])
            # nnc's flatten is (C, H, W) order, as torch's
            return x.reshape(x.shape[0], -1) @ params["logits.weight"] + params["logits.bias"]

        return params_of, forward
    raise KeyError(workload.name)


def _jax_loss(forward):
    import jax
    import jax.numpy as jnp

    def loss(params, x, labels):
        logits = forward(params, x)
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), labels[:, None], axis=1))

    return loss


def jax_step(workload, threads: int) -> Callable[[], None]:
    """The whole step, loss to update, under one jax.jit, the parameters and optimizer state
    donated so XLA updates them in place; optax's adam or sgd(momentum=0.9) with PyTorch's
    settings."""
    pin_jax_threads(threads)
    import jax
    import numpy as np
    import optax
    from workers import initial_weights

    params_of, forward = _jax_net(workload)
    params = params_of(initial_weights(workload), np.float32)
    optimizer = (
        optax.sgd(workload.lr, momentum=0.9) if workload.name == "CNN" else optax.adam(workload.lr, eps=1e-8)
    )
    state = optimizer.init(params)
    feeds = workload.feeds(np.random.default_rng(1))
    x, labels = jax.device_put(feeds[workload.inputs[0]]), jax.device_put(feeds[workload.target_name])
    loss = _jax_loss(forward)

    @jax.jit
    def update(params, state, x, labels):
        grads = jax.grad(loss)(params, x, labels)
        changes, state = optimizer.update(grads, state, params)
        return optax.apply_updates(params, changes), state

    update = jax.jit(update.__wrapped__, donate_argnums=(0, 1))
    held = [params, state]

    def step() -> None:
        held[0], held[1] = update(held[0], held[1], x, labels)
        jax.block_until_ready(held[0])

    return step


def jax_gradient_difference(workload, weights: dict, feeds: dict, expected: dict) -> float:
    """JAX's float64 gradients of one step from `weights`, against `expected` (nnc's), by
    side_by_side.gradient_difference's measure."""
    import jax
    import numpy as np

    jax.config.update("jax_enable_x64", True)
    params_of, forward = _jax_net(workload)
    params = params_of(weights, np.float64)
    x = np.asarray(feeds[workload.inputs[0]], np.float64)
    grads = jax.grad(_jax_loss(forward))(params, x, np.asarray(feeds[workload.target_name]))
    floor = 1e-6 * max(float(np.abs(want).max()) for want in expected.values())
    return max(
        float(np.abs(np.asarray(grads[key]) - want).max() / max(float(np.abs(want).max()), floor))
        for key, want in expected.items()
    )
