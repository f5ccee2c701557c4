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
Glorot fans are those of one gate block: fan_in = in_l, fan_out = units."""

from nnc.runtime.ops.base import OpDef, ParamSpec, ShapeError, check_rank, format_shape, glorot_uniform, zeros
from nnc.runtime.schema import Arg, Bool, Float, Int, Named

_GATES = {"rnn": 1, "lstm": 4, "gru": 3}
_STATES = {"rnn": ("h0",), "lstm": ("h0", "c0"), "gru": ("h0",)}


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
        name, __doc__, shape, inputs=inputs, max_inputs=len(inputs), attrs=attrs, params=params, flops=flops
    )


RNN = _make("rnn")
LSTM = _make("lstm")
GRU = _make("gru")
OPS = (RNN, LSTM, GRU)
