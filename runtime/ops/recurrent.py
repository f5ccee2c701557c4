"""rnn / lstm / gru(units, return_sequences=false, bidirectional=false, layers=1): recurrent
layers over x: (N, T, F), batch first, with PyTorch's gate order and weight layout.

Per step t, with h the previous hidden state (c the cell state) and W x + U h + b per gate:
    rnn:  h = tanh(W x + U h + b)
    lstm: i, f, g, o = sigmoid(.), sigmoid(. + forget_bias), tanh(.), sigmoid(.)
          c = f * c + i * g;  h = o * tanh(c)
          (forget_bias is added in the forward pass, so bias_init stays the user's choice)
    gru:  r = sigmoid(W_r x + U_r h + b_r);  z = sigmoid(W_z x + U_z h + b_z)
          n = tanh(W_n x + b_n + r * (U_n h));  h = (1 - z) * n + z * h
          (the reset gate applies after U_n, ONNX linear_before_reset=1)
Direction 1 of a bidirectional layer reads the sequence reversed; the two outputs are
concatenated on the last axis, forward first. Layer l + 1 reads layer l's output sequence.

Optional initial states h0 (and c0 for lstm): (N, layers * dirs, units), entry l * dirs + d for
layer l, direction d; zeros when absent. Output: the last layer's sequence (N, T, units * dirs)
with return_sequences, else its final hidden states (N, units * dirs) — for direction 1 the
state after reading t = 0.

Layout, for layer l with in_0 = F and in_l = units * dirs, gates = 1 (rnn), 4 (lstm: i, f, g, o)
or 3 (gru: r, z, n), blocks of `units` rows stacked in that order:
    weight_ih_l{l}: (dirs, gates * units, in_l)   W, rows index gate outputs
    weight_hh_l{l}: (dirs, gates * units, units)  U; orthogonal per (direction, gate) block
    bias_l{l}:      (dirs, gates * units)         b
Glorot fans are those of one gate block: fan_in = in_l, fan_out = units.

Kernels work feature-major, (T, features, N): the values of one step are one (features, N)
block and a gate's rows within it are contiguous too, so every elementwise op of the time loop
runs on contiguous memory (NumPy is several times slower on strided rows). A layer's input
carries a last row of ones, so that one batched GEMM of [W | b] projects every step of both
directions, W x + b; the loop over time then adds U h, all gates in one GEMM, and applies the
gates in place. A layer's hidden states live in one (T + 2, dirs * units + 1, N) buffer: the
state after time t in row t + 1, direction 0's initial state in row 0 and direction 1's in row
T + 1, and the row of ones last, ready for the next layer. A step at time t then reads row t
(direction 0) or t + 2 (direction 1) and writes row t + 1, rows 1..T are the layer's output
sequence, and the states the steps read are one run of T rows. A sigmoid is
0.5 + 0.5 tanh(a / 2), the halving folded into the forward's copies of W, U and b (exact: a
power of two), so one tanh covers all of a step's gates; lstm's copies also take the gate
order i, f, o, g, making its sigmoids one block. Without initial states (zeros), the first
step skips U h and the backward skips the gradients on them. Backpropagation through time
writes each step's gradient with respect to the gate pre-activations, in PyTorch's order, into
one (T, dirs * gates * units, N) buffer; the elementwise factors the loop needs come from the
forward's values for all steps at once before it (lstm's written into that buffer and scaled
there in place). After it, that buffer copied to (dirs * gates * units, T * N) makes
[dU | dW | db] one GEMM per direction over every step, da [h_prev; x; 1]^T (gru: one for dU,
whose gradient differs, and one for [dW | db]), and dx one batched GEMM."""

from dataclasses import dataclass

import numpy as np
from nnc.runtime.ops.base import (
    OpDef,
    ParamSpec,
    Sample,
    ShapeError,
    check_rank,
    format_shape,
    glorot_uniform,
    zeros,
)
from nnc.runtime.schema import Arg, Bool, Float, Int, Named

_GATES = {"rnn": 1, "lstm": 4, "gru": 3}
_STATES = {"rnn": ("h0",), "lstm": ("h0", "c0"), "gru": ("h0",)}
# ONNX's gate order in our gate blocks: LSTM i, o, f, c (c is our g), GRU z, r, h (h is our n)
_ONNX_ORDER = {"lstm": (0, 3, 1, 2), "gru": (1, 0, 2)}


@dataclass
class _Layer:
    """What one layer's forward keeps for its backward, feature-major: (T, features, N)."""

    seq: np.ndarray  # (T, in + 1, N): the layer's input and a row of ones (see _with_ones)
    gates: np.ndarray  # (T, dirs * rows, N): activated gates (lstm: i, f, o, g; rnn: s[1:T + 1])
    s: np.ndarray  # (T + 2, dirs * units + 1, N): hidden states and ones, as the module docstring says
    c: np.ndarray | None = None  # lstm: cell states, laid out as s
    tanh_c: np.ndarray | None = None  # lstm: (T, dirs * units, N)
    uh: np.ndarray | None = None  # gru: (T, dirs * rows, N), U h (its n block unscaled)


def _reading(d: int, steps: int) -> tuple[range, int]:
    """Direction d's time steps in reading order, and the offset from t to the row of the state
    step t reads: row t + offset (it writes row t + 1)."""
    return (range(steps), 0) if d == 0 else (range(steps - 1, -1, -1), 2)


def _first_read(steps: range, zero_start: bool) -> int | None:
    """The step that reads a zero initial state, None when the initial states are given. Where
    they are zeros (no h0, c0), U h is 0 at that step and the gradients on them go unread, so
    the kernels skip that work."""
    return steps[0] if zero_start else None


def _time_last(a: np.ndarray) -> np.ndarray:
    """(T, R, N) -> (R, T * N), contiguous: the operand of a GEMM summing over every step."""
    return np.ascontiguousarray(a.transpose(1, 0, 2)).reshape(a.shape[1], -1)


# ---- forward ----------------------------------------------------------------------------------
def _forward_weights(name, w_ih, w_hh, b, forget_bias):
    """The forward's [W | b], (dirs, rows, in + 1), and U: sigmoid rows halved, lstm's rows in
    the order i, f, o, g and forget_bias in f's bias."""
    w = np.concatenate([w_ih, b[:, :, None]], axis=2)  # b meets the input's row of ones
    if name == "rnn":
        return w, w_hh
    units, dtype = w_hh.shape[2], w_ih.dtype
    scale = np.full((w_ih.shape[1], 1), 0.5, dtype)
    scale[-units:] = 1  # lstm's g and gru's n are tanh gates
    if name == "lstm":
        w, u = (
            np.concatenate([a[:, : 2 * units], a[:, 3 * units :], a[:, 2 * units : 3 * units]], axis=1)
            for a in (w, w_hh)
        )
        w[:, units : 2 * units, -1] += dtype.type(forget_bias)
    else:
        u = w_hh.copy()
    w *= scale
    u *= scale
    return w, u


def _rnn_forward(layer, u, d, units, zero_start):
    s = layer.s  # rows 1..T hold W x + b until their step makes them states
    steps, back = _reading(d, len(s) - 2)
    h = slice(d * units, (d + 1) * units)
    uh, first = np.empty((units, s.shape[2]), s.dtype), _first_read(steps, zero_start)
    for t in steps:
        h_t = s[t + 1, h]
        if t != first:
            np.matmul(u, s[t + back, h], out=uh)
            np.add(h_t, uh, out=h_t)
        np.tanh(h_t, out=h_t)


def _lstm_forward(layer, u, d, units, zero_start):
    s, c, tanh_c = layer.s, layer.c, layer.tanh_c
    gates = layer.gates[:, 4 * d * units : 4 * (d + 1) * units]
    steps, back = _reading(d, len(gates))
    h, half = slice(d * units, (d + 1) * units), s.dtype.type(0.5)
    uh = np.empty(gates.shape[1:], s.dtype)
    ig, first = np.empty((units, s.shape[2]), s.dtype), _first_read(steps, zero_start)
    for t in steps:
        a = gates[t]
        if t != first:
            np.matmul(u, s[t + back, h], out=uh)
            np.add(a, uh, out=a)
        np.tanh(a, out=a)
        sigmoids = a[: 3 * units]  # i, f, o: sigmoid(x) = 0.5 + 0.5 tanh(x / 2)
        np.multiply(sigmoids, half, out=sigmoids)
        np.add(sigmoids, half, out=sigmoids)
        i, f, o, g = a[:units], a[units : 2 * units], a[2 * units : 3 * units], a[3 * units :]
        c_t = c[t + 1, h]
        np.multiply(f, c[t + back, h], out=c_t)
        np.multiply(i, g, out=ig)
        np.add(c_t, ig, out=c_t)
        np.tanh(c_t, out=tanh_c[t, h])
        np.multiply(o, tanh_c[t, h], out=s[t + 1, h])


def _gru_forward(layer, u, d, units, zero_start):
    s = layer.s
    cols = slice(3 * d * units, 3 * (d + 1) * units)
    gates, uh_all = layer.gates[:, cols], layer.uh[:, cols]
    steps, back = _reading(d, len(gates))
    h, half = slice(d * units, (d + 1) * units), s.dtype.type(0.5)
    r_uh, first = np.empty((units, s.shape[2]), s.dtype), _first_read(steps, zero_start)
    for t in steps:
        a, uh, h_prev = gates[t], uh_all[t], s[t + back, h]
        if t == first:
            uh[...] = 0
        else:
            np.matmul(u, h_prev, out=uh)
        rz = a[: 2 * units]
        np.add(rz, uh[: 2 * units], out=rz)
        np.tanh(rz, out=rz)
        np.multiply(rz, half, out=rz)
        np.add(rz, half, out=rz)
        r, z, n = a[:units], a[units : 2 * units], a[2 * units :]
        np.multiply(r, uh[2 * units :], out=r_uh)
        np.add(n, r_uh, out=n)
        np.tanh(n, out=n)
        h_t = s[t + 1, h]  # n + z * (h_prev - n)
        np.subtract(h_prev, n, out=h_t)
        np.multiply(h_t, z, out=h_t)
        np.add(h_t, n, out=h_t)


_FORWARD = {"rnn": _rnn_forward, "lstm": _lstm_forward, "gru": _gru_forward}


def _with_ones(a: np.ndarray) -> np.ndarray:
    """(steps, features, N) -> (steps, features + 1, N), a row of ones appended, which carries
    the bias through the input projection's GEMM and the bias gradient through dW's."""
    out = np.empty((a.shape[0], a.shape[1] + 1, a.shape[2]), a.dtype)
    out[:, :-1] = a
    out[:, -1] = 1
    return out


def _state_buffer(init, steps, batch, dirs, units, dtype, ones=False):
    """A (T + 2, dirs * units, N) state buffer holding the initial states, init: (N, dirs,
    units) or None for zeros, in rows 0 (direction 0) and T + 1 (direction 1); with `ones`, a
    last row of ones follows the states, as in _with_ones."""
    s = np.empty((steps + 2, dirs * units + int(ones), batch), dtype)
    if ones:
        s[:, -1] = 1
    for d in range(dirs):
        s[0 if d == 0 else steps + 1, d * units : (d + 1) * units] = 0 if init is None else init[:, d].T
    return s


def _layer_forward(name, seq, w_ih, w_hh, b, h0, c0, forget_bias) -> _Layer:
    """One layer, every direction, over seq: (T, in + 1, N), its last row ones; h0, c0: (N,
    dirs, units) or None."""
    steps, n_in, batch = seq.shape
    dirs, rows, units = w_hh.shape
    w, u = _forward_weights(name, w_ih, w_hh, b, forget_bias)
    s = _state_buffer(h0, steps, batch, dirs, units, seq.dtype, ones=True)  # the next layer's input
    # rnn's one gate is its state: the input projection goes straight into the state rows
    gates = s[1 : steps + 1, :-1] if name == "rnn" else np.empty((steps, dirs * rows, batch), seq.dtype)
    np.matmul(w.reshape(-1, n_in), seq, out=gates)
    layer = _Layer(seq, gates, s)
    if name == "lstm":
        layer.c = _state_buffer(c0, steps, batch, dirs, units, seq.dtype)
        layer.tanh_c = np.empty((steps, dirs * units, batch), seq.dtype)
    elif name == "gru":
        layer.uh = np.empty_like(gates)
    for d in range(dirs):
        _FORWARD[name](layer, u[d], d, units, h0 is None)
    return layer


def _forward(name, x, rest, units, return_sequences, bidirectional, layers, forget_bias):
    dirs = 2 if bidirectional else 1
    n_states = len(rest) - 3 * layers
    states, params = rest[:n_states], rest[n_states:]
    seq = _with_ones(x.transpose(1, 2, 0))
    steps = seq.shape[0]
    trace = []
    for layer in range(layers):
        h0, c0 = [state[:, layer * dirs : (layer + 1) * dirs] for state in states] + [None] * (2 - n_states)
        trace.append(_layer_forward(name, seq, *params[3 * layer : 3 * layer + 3], h0, c0, forget_bias))
        seq = trace[-1].s[1 : steps + 1]
    if return_sequences:
        y = seq[:, :-1].transpose(2, 0, 1)
    else:  # direction 0's state after t = T - 1 (row T), direction 1's after t = 0 (row 1)
        s = trace[-1].s
        y = np.concatenate([s[steps, :units], s[1, units:-1]]).T
    return np.ascontiguousarray(y), (trace, params, n_states)


# ---- backward ---------------------------------------------------------------------------------
# One direction's backpropagation through time. dh: (units, N), the gradient on the state the
# last step read arrives in (the final state's, or zeros), and leaves as the initial state's;
# dy: (T, dirs * units, N), the gradient on the layer's output sequence, or None; u_t: U^T.
# Fills direction d's rows of da: (T, dirs * rows, N), the gradient on the gate
# pre-activations, and returns the gradient on U h's pre-activations, (T, rows, N), where it
# differs from da's (gru; None otherwise), and the initial cell state's gradient (lstm). The
# initial states' gradients are left unfinished where they are zeros (zero_start).
def _rnn_backward(layer, u_t, d, units, dh, dy, da, zero_start):
    steps, _ = _reading(d, len(da))
    h = slice(d * units, (d + 1) * units)
    tanh_grad, first = _tanh_grad(layer.s[1 : len(da) + 1, h]), _first_read(steps, zero_start)
    for t in reversed(steps):
        if dy is not None:
            np.add(dh, dy[t, h], out=dh)
        np.multiply(dh, tanh_grad[t], out=da[t, h])
        if t == first:
            break
        np.matmul(u_t, da[t, h], out=dh)
    return None, None


def _lstm_backward(layer, u_t, d, units, dh, dy, da, zero_start):
    steps, back = _reading(d, len(da))
    h, cols = slice(d * units, (d + 1) * units), slice(4 * d * units, 4 * (d + 1) * units)
    gates = layer.gates[:, cols]
    i, f, o, g = (gates[:, k * units : (k + 1) * units] for k in range(4))
    tanh_c, c_prev = layer.tanh_c[:, h], layer.c[back : back + len(da), h]
    h_out = layer.s[1 : len(da) + 1, h]  # o tanh(c)
    # da = [dc i' g, dc f' c_prev, dc g' i, dh o' tanh(c)] (PyTorch's order; ' the derivative),
    # and dc gains dh o tanh'(c): the factors of dc and dh, for every step at once, from
    # sigmoid' = y (1 - y) and tanh' = 1 - y^2, with products the forward has made reused. The
    # factors are written where their da goes, which the loop then scales in place.
    factors = da[:, cols].reshape(len(da), 4, units, -1)
    by_i, by_f, by_g, by_o = (factors[:, k] for k in range(4))
    np.multiply(i, g, out=by_i)
    np.multiply(by_i, g, out=by_g)
    np.subtract(i, by_g, out=by_g)  # i (1 - g^2)
    np.subtract(1, i, out=by_f)
    np.multiply(by_i, by_f, out=by_i)  # i (1 - i) g
    np.subtract(1, f, out=by_f)
    np.multiply(by_f, f, out=by_f)
    np.multiply(by_f, c_prev, out=by_f)  # f (1 - f) c_prev
    np.multiply(h_out, o, out=by_o)
    np.subtract(h_out, by_o, out=by_o)  # o (1 - o) tanh(c) = h - h o
    dc_from_dh = np.multiply(h_out, tanh_c)
    np.subtract(o, dc_from_dh, out=dc_from_dh)  # o (1 - tanh(c)^2) = o - h tanh(c)
    dc, tmp, first = np.zeros_like(dh), np.empty_like(dh), _first_read(steps, zero_start)
    for t in reversed(steps):
        if dy is not None:
            np.add(dh, dy[t, h], out=dh)
        np.multiply(dh, dc_from_dh[t], out=tmp)
        np.add(dc, tmp, out=dc)
        np.multiply(dc, factors[t, :3], out=factors[t, :3])
        np.multiply(dh, by_o[t], out=by_o[t])
        if t == first:
            break
        np.multiply(dc, f[t], out=dc)
        np.matmul(u_t, da[t, cols], out=dh)
    return None, dc


def _gru_backward(layer, u_t, d, units, dh, dy, da, zero_start):
    steps, back = _reading(d, len(da))
    h, cols = slice(d * units, (d + 1) * units), slice(3 * d * units, 3 * (d + 1) * units)
    r, z, n = (layer.gates[:, cols][:, k * units : (k + 1) * units] for k in range(3))
    un = layer.uh[:, cols][:, 2 * units :]
    h_prev = layer.s[back : back + len(da), h]
    # dn = dh (1 - z) n';  dr = dn (U_n h) r';  dz = dh (h_prev - n) z': the factors, every step
    dn_from_dh = _tanh_grad(n)
    np.multiply(dn_from_dh, 1 - z, out=dn_from_dh)
    dz_from_dh = np.subtract(h_prev, n)
    np.multiply(dz_from_dh, _sigmoid_grad(z), out=dz_from_dh)
    dr_from_dn = _sigmoid_grad(r)
    np.multiply(dr_from_dn, un, out=dr_from_dn)
    # U h's pre-activations get [dr, dz, dn r], the input's [dr, dz, dn]
    duh = np.empty((len(da), 3 * units, dh.shape[1]), da.dtype)
    dn_all = da[:, cols][:, 2 * units :]
    tmp, first = np.empty_like(dh), _first_read(steps, zero_start)
    for t in reversed(steps):
        if dy is not None:
            np.add(dh, dy[t, h], out=dh)
        dn = dn_all[t]
        np.multiply(dh, dn_from_dh[t], out=dn)
        np.multiply(dn, dr_from_dn[t], out=duh[t, :units])
        np.multiply(dh, dz_from_dh[t], out=duh[t, units : 2 * units])
        np.multiply(dn, r[t], out=duh[t, 2 * units :])
        if t == first:
            break
        np.matmul(u_t, duh[t], out=tmp)
        np.multiply(dh, z[t], out=dh)
        np.add(dh, tmp, out=dh)
    da[:, cols][:, : 2 * units] = duh[:, : 2 * units]
    return duh, None


def _parameter_grads(layer, da, duh, units):
    """dW, dU and db of one layer, each summed over every step by a GEMM over T * N. da: (T,
    dirs * rows, N); duh: per direction, the gradient on U h's pre-activations, None where it
    is da's own (rnn, lstm): then one GEMM gives [dU | dW | db] = da [h_prev; seq]^T (seq's
    last row is ones), else (gru) one gives dU and one [dW | db]."""
    steps, n_in = layer.seq.shape[:2]
    dirs = len(duh)
    rows = da.shape[1] // dirs
    da2 = _time_last(da)  # (dirs * rows, T * N)
    grads = np.empty((dirs, rows, units + n_in), da.dtype)
    for d in range(dirs):
        back = _reading(d, steps)[1]
        h_prev = layer.s[back : back + steps, d * units : (d + 1) * units]
        da_d = da2[d * rows : (d + 1) * rows]
        if duh[d] is None:
            operand = np.empty((units + n_in, steps, da.shape[2]), da.dtype)
            operand[:units] = h_prev.transpose(1, 0, 2)
            operand[units:] = layer.seq.transpose(1, 0, 2)
            np.matmul(da_d, operand.reshape(units + n_in, -1).T, out=grads[d])
        else:
            np.matmul(_time_last(duh[d]), _time_last(h_prev).T, out=grads[d, :, :units])
            np.matmul(da_d, _time_last(layer.seq).T, out=grads[d, :, units:])
    return grads[..., units:-1], grads[..., :units], grads[..., -1]


def _sigmoid_grad(y):
    """sigmoid'(a) from y = sigmoid(a): y (1 - y)."""
    out = np.subtract(1, y)
    return np.multiply(out, y, out=out)


def _tanh_grad(y):
    """tanh'(a) from y = tanh(a): 1 - y^2."""
    out = np.square(y)
    return np.subtract(1, out, out=out)


_BACKWARD = {"rnn": _rnn_backward, "lstm": _lstm_backward, "gru": _gru_backward}


def _backward(name, ctx, dy, cache, units, return_sequences, bidirectional):
    trace, params, n_states = cache
    dirs, layers = 2 if bidirectional else 1, len(trace)
    first_param = 1 + n_states
    grads = [None] * (first_param + len(params))
    # Layers run from the top down to the lowest one that matters: 0 when x or an initial state
    # (which every layer reads) needs a gradient, else the lowest with a parameter that does.
    if any(ctx.wants(i) for i in range(first_param)):
        lowest = 0
    else:
        wanted = [k // 3 for k in range(len(params)) if ctx.wants(first_param + k)]
        if not wanted:
            return tuple(grads)
        lowest = min(wanted)
    steps, _, batch = trace[0].seq.shape
    dstates = [np.empty((batch, layers * dirs, units), dy.dtype) for _ in range(n_states)]
    # feature-major, as the forward: dseq (T, dirs * units, N), dlast (dirs * units, N)
    dseq = np.ascontiguousarray(dy.transpose(1, 2, 0)) if return_sequences else None
    dlast = None if return_sequences else dy.T
    for layer in range(layers - 1, lowest - 1, -1):
        w_ih, w_hh, _ = params[3 * layer : 3 * layer + 3]
        index, rows, at = first_param + 3 * layer, w_hh.shape[1], trace[layer]
        da = np.empty((steps, dirs * rows, batch), dy.dtype)
        duh = []
        for d in range(dirs):
            h = slice(d * units, (d + 1) * units)
            dh = np.zeros((units, batch), dy.dtype) if dlast is None else np.array(dlast[h], order="C")
            u_t = np.ascontiguousarray(w_hh[d].T)
            duh_d, dc = _BACKWARD[name](at, u_t, d, units, dh, dseq, da, n_states == 0)
            duh.append(duh_d)
            for k, grad in enumerate((dh, dc)[:n_states]):
                dstates[k][:, layer * dirs + d] = grad.T
        if any(ctx.wants(index + k) for k in range(3)):
            for k, grad in enumerate(_parameter_grads(at, da, duh, units)):
                grads[index + k] = grad if ctx.wants(index + k) else None
        if layer > lowest or ctx.wants(0):  # the gradient on the layer's input sequence
            dseq = np.matmul(w_ih.reshape(dirs * rows, -1).T, da)
        dlast = None
    if ctx.wants(0):
        grads[0] = np.ascontiguousarray(dseq.transpose(2, 0, 1))
    for k, dstate in enumerate(dstates):
        if ctx.wants(1 + k):
            grads[1 + k] = dstate
    return tuple(grads)


# ---- ONNX -------------------------------------------------------------------------------------
def _to_onnx(name, g, x, rest, units, return_sequences, bidirectional, layers, forget_bias):
    """ONNX's RNN, LSTM or GRU node per layer, time-major (layout 0, the only one onnxruntime's
    CPU kernels take): gate blocks reordered by a Gather on the initializers, b as ONNX's input
    bias with a zero recurrent bias (for GRU, b_n outside r * (...): linear_before_reset), and
    no batch size or length baked in."""
    dirs, rows = 2 if bidirectional else 1, _GATES[name] * units
    n_states = len(rest) - 3 * layers
    states, params = rest[:n_states], rest[n_states:]
    seq = g.node("Transpose", [x], perm=[1, 0, 2])  # (T, N, F)
    states = [g.node("Transpose", [s], perm=[1, 0, 2]) for s in states]  # (layers * dirs, N, units)
    order = None
    if name in _ONNX_ORDER:
        blocks = [np.arange(k * units, (k + 1) * units) for k in _ONNX_ORDER[name]]
        order = g.const(np.concatenate(blocks), hint="gate_order")
    recurrent_bias = g.const(np.zeros((dirs, rows)), hint="recurrent_bias")
    if layers > 1 or return_sequences:
        merge = g.const([0, 0, -1], hint="shape")  # (a, b, dirs, units) -> (a, b, dirs * units)
    attrs = {"hidden_size": units, "direction": "bidirectional" if bidirectional else "forward"}
    if name == "gru":
        attrs["linear_before_reset"] = 1
    for layer in range(layers):
        w, r, b = params[3 * layer : 3 * layer + 3]
        if order is not None:
            w, r, b = (g.node("Gather", [p, order], axis=1) for p in (w, r, b))
        if name == "lstm" and forget_bias:
            shift = np.zeros(rows)
            shift[2 * units : 3 * units] = forget_bias  # f is ONNX's third block
            b = g.node("Add", [b, g.const(shift, hint="forget_bias")])
        inputs = [seq, w, r, g.node("Concat", [b, recurrent_bias], axis=1)]
        if states:
            layer_states = states
            if layers > 1:  # this layer's entries, l * dirs + d
                bounds = [g.const([k * dirs], hint="bound") for k in (layer, layer + 1)]
                layer_states = [g.node("Slice", [s, *bounds]) for s in states]
            inputs += ["", *layer_states]  # "": no sequence_lens
        y, y_h = g.node(name.upper(), inputs, outputs=2, **attrs)  # (T, dirs, N, units), (dirs, N, units)
        if layer < layers - 1 or return_sequences:
            # (T, N, dirs * units) for the next layer, (N, T, dirs * units) for the output
            perm = [0, 2, 1, 3] if layer < layers - 1 else [2, 0, 1, 3]
            seq = g.node("Reshape", [g.node("Transpose", [y], perm=perm), merge])
    if return_sequences:
        return seq
    last = g.node("Transpose", [y_h], perm=[1, 0, 2])
    return g.node("Reshape", [last, g.const([0, -1], hint="shape")])


# ---- the ops ----------------------------------------------------------------------------------
# return_sequences, bidirectional, layers, initial states given (h0, then c0), forget_bias.
# Those without states are also exported at other lengths by the ONNX tests (a state's axis 1
# is not a length).
_SAMPLES = (
    (False, False, 1, 0, 1.0),
    (True, True, 1, 2, 0.5),
    (False, True, 2, 0, -0.5),
    (True, False, 2, 1, 1.0),
    (False, True, 2, 2, 0.0),
)


def _make(name: str) -> OpDef:
    gates = _GATES[name]

    def shape(x, *states, units, return_sequences, bidirectional, layers, **_attrs):
        check_rank(x, 3, 3, layout="N, T, F")
        dirs = 2 if bidirectional else 1
        want = (x[0], layers * dirs, units)
        for state_name, state in zip(_STATES[name], states, strict=False):  # states are optional
            if tuple(state) != want:
                raise ShapeError(
                    f"{name} needs {state_name} of shape {format_shape(want)} (N, layers * "
                    f"directions, units). Received: {state_name}: {format_shape(state)}",
                    arg=state_name,
                )
        return (x[0], x[1], units * dirs) if return_sequences else (x[0], units * dirs)

    def params(x, *states, units, bidirectional, layers, **_attrs):
        dirs = 2 if bidirectional else 1
        rows = gates * units
        out = []
        for layer in range(layers):
            n_in = x[2] if layer == 0 else units * dirs
            out += [
                ParamSpec(
                    f"weight_ih_l{layer}", (dirs, rows, n_in), glorot_uniform(), fan_in=n_in, fan_out=units
                ),
                ParamSpec(
                    f"weight_hh_l{layer}",
                    (dirs, rows, units),
                    Named("orthogonal", {"gain": 1.0}),
                    init_arg="recurrent_init",
                ),
                ParamSpec(f"bias_l{layer}", (dirs, rows), zeros(), init_arg="bias_init", regularized=False),
            ]
        return tuple(out)

    def flops(x, *states, units, bidirectional, layers, **_attrs):
        dirs = 2 if bidirectional else 1
        total = 0
        for layer in range(layers):
            n_in = x[2] if layer == 0 else units * dirs
            total += 2 * x[1] * dirs * gates * units * (n_in + units)
        return total

    # The kernels take exactly the op's attributes: lstm's forget_bias is its own.
    if name == "lstm":

        def forward(ctx, x, *rest, units, return_sequences, bidirectional, layers, forget_bias):
            return _forward(name, x, rest, units, return_sequences, bidirectional, layers, forget_bias)

        def backward(ctx, dy, cache, *, units, return_sequences, bidirectional, layers, forget_bias):
            return _backward(name, ctx, dy, cache, units, return_sequences, bidirectional)

        def to_onnx(g, x, *rest, units, return_sequences, bidirectional, layers, forget_bias):
            return _to_onnx(name, g, x, rest, units, return_sequences, bidirectional, layers, forget_bias)

    else:

        def forward(ctx, x, *rest, units, return_sequences, bidirectional, layers):
            return _forward(name, x, rest, units, return_sequences, bidirectional, layers, 0.0)

        def backward(ctx, dy, cache, *, units, return_sequences, bidirectional, layers):
            return _backward(name, ctx, dy, cache, units, return_sequences, bidirectional)

        def to_onnx(g, x, *rest, units, return_sequences, bidirectional, layers):
            return _to_onnx(name, g, x, rest, units, return_sequences, bidirectional, layers, 0.0)

    def samples(rng):
        # N=2, T=3, F=2, units=3; weights scaled so that no gate saturates
        for return_sequences, bidirectional, layers, n_states, forget_bias in _SAMPLES:
            attrs = {
                "units": 3,
                "return_sequences": return_sequences,
                "bidirectional": bidirectional,
                "layers": layers,
            }
            if name == "lstm":
                attrs["forget_bias"] = forget_bias
            x = rng.standard_normal((2, 3, 2))
            state_shape = (2, layers * (2 if bidirectional else 1), 3)
            states = [0.5 * rng.standard_normal(state_shape) for _ in _STATES[name][:n_states]]
            specs = params(x.shape, *(s.shape for s in states), **attrs)
            yield Sample((x, *states, *(0.5 * rng.standard_normal(s.shape) for s in specs)), attrs)

    attrs = (
        Arg("units", Int(1), doc="hidden size per direction"),
        Arg("return_sequences", Bool(), False, "output every step, not only the last"),
        Arg("bidirectional", Bool(), False, "also read the sequence backwards"),
        Arg("layers", Int(1), 1, "stacked layers"),
    )
    if name == "lstm":
        attrs += (Arg("forget_bias", Float(), 1.0, "added to the forget gate"),)
    inputs = ("x", *_STATES[name])
    return OpDef(
        name,
        __doc__,
        shape,
        inputs=inputs,
        max_inputs=len(inputs),
        attrs=attrs,
        params=params,
        flops=flops,
        forward=forward,
        backward=backward,
        samples=samples,
        to_onnx=to_onnx,
    )


RNN = _make("rnn")
LSTM = _make("lstm")
GRU = _make("gru")
OPS = (RNN, LSTM, GRU)
