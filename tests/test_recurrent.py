"""rnn, lstm and gru against a direct per-time-step NumPy reference written from the op's
docstring, and against torch.nn.RNN / LSTM / GRU with the same weights (values and float64
gradients), beyond the registry's generated checks (a gradient check cannot see a wrong forward)."""

import numpy as np
import pytest
from nnc.runtime.ops import OPS
from nnc.runtime.ops.base import Context

# (N, T, F), units, return_sequences, bidirectional, layers, initial states given, forget_bias
CONFIGS = [
    ((3, 5, 4), 6, False, False, 1, 0, 1.0),
    ((2, 4, 3), 5, True, True, 2, 2, 0.7),
    ((3, 6, 2), 4, False, True, 2, 1, -0.3),
    ((2, 3, 4), 3, True, False, 2, 2, 0.0),
    ((2, 1, 3), 4, False, True, 1, 2, 1.0),  # one step: both directions read the same x
]
CASES = [
    pytest.param(name, config, id=f"{name}-{i}")
    for name in ("rnn", "lstm", "gru")
    for i, config in enumerate(CONFIGS)
]


def make_case(name, config, rng, dtype=np.float64):
    """Inputs (x, states..., params...) and attributes of one configuration."""
    (n, t, f), units, return_sequences, bidirectional, layers, n_states, forget_bias = config
    attrs = {
        "units": units,
        "return_sequences": return_sequences,
        "bidirectional": bidirectional,
        "layers": layers,
    }
    if name == "lstm":
        attrs["forget_bias"] = forget_bias
    op = OPS[name]
    dirs = 2 if bidirectional else 1
    x = rng.standard_normal((n, t, f))
    states = [0.5 * rng.standard_normal((n, layers * dirs, units)) for _ in op.inputs[1 : 1 + n_states]]
    specs = op.params(x.shape, *(s.shape for s in states), **attrs)
    params = [0.4 * rng.standard_normal(spec.shape) for spec in specs]
    return [a.astype(dtype) for a in (x, *states, *params)], attrs


def split(name, inputs, attrs):
    n_states = len(inputs) - 1 - 3 * attrs["layers"]
    return inputs[0], inputs[1 : 1 + n_states], inputs[1 + n_states :]


def ctx(needs_grad=()):
    return Context(training=True, rng=np.random.default_rng(0), needs_grad=needs_grad)


# ---- the reference -----------------------------------------------------------------------------
def sigmoid(a):
    return 1 / (1 + np.exp(-a))


def step(name, x, h, c, w, u, b, forget_bias):
    """One time step of one direction, as the docstring writes it; returns (h, c)."""
    if name == "rnn":
        return np.tanh(x @ w.T + h @ u.T + b), c
    if name == "lstm":
        i, f, g, o = np.split(x @ w.T + h @ u.T + b, 4, axis=1)
        i, f, g, o = sigmoid(i), sigmoid(f + forget_bias), np.tanh(g), sigmoid(o)
        c = f * c + i * g
        return o * np.tanh(c), c
    (w_r, w_z, w_n), (u_r, u_z, u_n), (b_r, b_z, b_n) = np.split(w, 3), np.split(u, 3), np.split(b, 3)
    r = sigmoid(x @ w_r.T + h @ u_r.T + b_r)
    z = sigmoid(x @ w_z.T + h @ u_z.T + b_z)
    n = np.tanh(x @ w_n.T + b_n + r * (h @ u_n.T))
    return (1 - z) * n + z * h, c


def reference(name, inputs, attrs):
    x, states, params = split(name, inputs, attrs)
    units, layers = attrs["units"], attrs["layers"]
    dirs = 2 if attrs["bidirectional"] else 1
    batch, steps, _ = x.shape
    h0 = states[0] if states else np.zeros((batch, layers * dirs, units))
    c0 = states[1] if len(states) > 1 else np.zeros((batch, layers * dirs, units))
    seq = x
    for layer in range(layers):
        w_ih, w_hh, b = params[3 * layer : 3 * layer + 3]
        outputs, finals = [], []
        for d in range(dirs):
            h, c = h0[:, layer * dirs + d], c0[:, layer * dirs + d]
            out = np.zeros((batch, steps, units))
            for t in range(steps) if d == 0 else reversed(range(steps)):
                h, c = step(name, seq[:, t], h, c, w_ih[d], w_hh[d], b[d], attrs.get("forget_bias", 0.0))
                out[:, t] = h
            outputs.append(out)
            finals.append(h)  # direction 1's after reading t = 0
        seq = np.concatenate(outputs, axis=2)
    return seq if attrs["return_sequences"] else np.concatenate(finals, axis=1)


@pytest.mark.parametrize(("name", "config"), CASES)
def test_forward_matches_the_per_step_reference(name, config):
    inputs, attrs = make_case(name, config, np.random.default_rng(0))
    y, _ = OPS[name].forward(ctx(), *inputs, **attrs)
    np.testing.assert_allclose(y, reference(name, inputs, attrs), rtol=1e-12, atol=1e-14)


def test_bidirectional_last_state_is_the_reversed_direction_after_t_0():
    inputs, attrs = make_case("gru", ((2, 4, 3), 5, False, True, 1, 1, 0.0), np.random.default_rng(1))
    last, _ = OPS["gru"].forward(ctx(), *inputs, **attrs)
    sequence, _ = OPS["gru"].forward(ctx(), *inputs, **(attrs | {"return_sequences": True}))
    np.testing.assert_array_equal(last[:, :5], sequence[:, -1, :5])
    np.testing.assert_array_equal(last[:, 5:], sequence[:, 0, 5:])


def test_forget_bias_is_the_forget_gate_bias():
    inputs, attrs = make_case("lstm", ((2, 4, 3), 3, True, False, 1, 0, 0.75), np.random.default_rng(2))
    moved = [a.copy() for a in inputs]
    moved[-1][:, 3:6] += 0.75  # bias_l0, rows of f
    y, _ = OPS["lstm"].forward(ctx(), *inputs, **attrs)
    y_moved, _ = OPS["lstm"].forward(ctx(), *moved, **(attrs | {"forget_bias": 0.0}))
    np.testing.assert_allclose(y, y_moved, rtol=1e-14, atol=1e-15)


def test_only_an_upper_layer_wanted_gives_its_full_gradients():
    inputs, attrs = make_case("lstm", ((2, 4, 3), 3, True, True, 2, 2, 1.0), np.random.default_rng(3))
    op = OPS["lstm"]
    y, cache = op.forward(ctx(), *inputs, **attrs)
    dy = np.random.default_rng(4).standard_normal(y.shape)
    full = op.backward(ctx(), dy, cache, **attrs)
    wanted = tuple(i >= len(inputs) - 3 for i in range(len(inputs)))  # layer 1's parameters
    _, cache = op.forward(ctx(), *inputs, **attrs)
    grads = op.backward(ctx(wanted), dy, cache, **attrs)
    for i, (grad, want) in enumerate(zip(grads, wanted, strict=True)):
        if want:
            np.testing.assert_array_equal(grad, full[i])
        else:
            assert grad is None, f"input {i}"


@pytest.mark.parametrize("name", ["rnn", "lstm", "gru"])
def test_float32_end_to_end(name):
    inputs, attrs = make_case(name, CONFIGS[1], np.random.default_rng(5), np.float32)
    op = OPS[name]
    y, cache = op.forward(ctx(), *inputs, **attrs)
    assert y.dtype == np.float32
    trace = cache[0]
    for layer in trace:  # every buffer the forward kept
        for value in vars(layer).values():
            assert value is None or value.dtype == np.float32
    grads = op.backward(ctx(), np.ones_like(y), cache, **attrs)
    assert [g.dtype for g in grads] == [np.float32] * len(inputs)
    y64, _ = op.forward(ctx(), *(a.astype(np.float64) for a in inputs), **attrs)
    np.testing.assert_allclose(y, y64, rtol=1e-5, atol=1e-6)


# ---- torch -------------------------------------------------------------------------------------
def torch_module(torch, name, inputs, attrs):
    """torch's RNN / LSTM / GRU holding our weights: b as bias_ih and zeros as bias_hh (for GRU
    b_n then sits outside r * (...), as ours), lstm's forget_bias as bias_hh's f block."""
    x, _, params = split(name, inputs, attrs)
    units, layers, dirs = attrs["units"], attrs["layers"], 2 if attrs["bidirectional"] else 1
    kind = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[name]
    net = kind(x.shape[2], units, num_layers=layers, bidirectional=dirs == 2, batch_first=True).double()
    with torch.no_grad():
        for layer in range(layers):
            w_ih, w_hh, b = params[3 * layer : 3 * layer + 3]
            for d in range(dirs):
                suffix = f"_l{layer}" + ("_reverse" if d else "")
                getattr(net, "weight_ih" + suffix).copy_(torch.from_numpy(w_ih[d]))
                getattr(net, "weight_hh" + suffix).copy_(torch.from_numpy(w_hh[d]))
                getattr(net, "bias_ih" + suffix).copy_(torch.from_numpy(b[d]))
                recurrent_bias = getattr(net, "bias_hh" + suffix)
                recurrent_bias.zero_()
                if name == "lstm":
                    recurrent_bias[units : 2 * units] = attrs["forget_bias"]
    return net


def torch_forward_backward(torch, name, inputs, attrs, dy):
    """torch's output and its gradients in our layout, one per input."""
    x, states, params = split(name, inputs, attrs)
    units, layers, dirs = attrs["units"], attrs["layers"], 2 if attrs["bidirectional"] else 1
    net = torch_module(torch, name, inputs, attrs)
    tx = torch.tensor(x, requires_grad=True)
    tstates = [torch.tensor(s.transpose(1, 0, 2).copy(), requires_grad=True) for s in states]
    hx = tstates[0] if tstates else None
    if name == "lstm" and tstates:
        hx = (tstates[0], tstates[1] if len(tstates) > 1 else torch.zeros_like(tstates[0]))
    out, final = net(tx, hx)
    final_h = final[0] if name == "lstm" else final
    y = (
        out
        if attrs["return_sequences"]
        else final_h[-dirs:].transpose(0, 1).reshape(x.shape[0], dirs * units)
    )
    (y * torch.from_numpy(dy)).sum().backward()
    grads = [tx.grad.numpy()] + [s.grad.numpy().transpose(1, 0, 2) for s in tstates]
    for layer in range(layers):
        for kind in ("weight_ih", "weight_hh", "bias_ih"):
            suffixes = [f"_l{layer}" + ("_reverse" if d else "") for d in range(dirs)]
            grads.append(np.stack([getattr(net, kind + s).grad.numpy() for s in suffixes]))
    return y.detach().numpy(), grads


@pytest.mark.parametrize(("name", "config"), CASES)
def test_forward_and_float64_gradients_match_torch(name, config):
    torch = pytest.importorskip("torch")
    inputs, attrs = make_case(name, config, np.random.default_rng(6))
    op = OPS[name]
    y, cache = op.forward(ctx(), *inputs, **attrs)
    dy = np.random.default_rng(7).standard_normal(y.shape)
    grads = op.backward(ctx(), dy, cache, **attrs)
    want_y, want_grads = torch_forward_backward(torch, name, inputs, attrs, dy)
    np.testing.assert_allclose(y, want_y, rtol=1e-10, atol=1e-12)
    assert len(grads) == len(want_grads)
    for i, (got, want) in enumerate(zip(grads, want_grads, strict=True)):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12, err_msg=f"input {i}")
