"""Shape rules, parameters and costs of the registered ops, on concrete values with exact results.

Attributes are passed the way the compiler passes them: every argument normalized by its kind,
defaults included (`bind`)."""

import importlib
import inspect
import pkgutil

import pytest
from nnc.runtime import ops
from nnc.runtime.init import INITIALIZERS
from nnc.runtime.ops import OPS
from nnc.runtime.ops.base import ShapeError
from nnc.runtime.schema import REQUIRED, ArgError, Named


def bind(name, **given):
    op = OPS[name]
    unknown = set(given) - {a.name for a in op.attrs}
    assert not unknown, f"{name} has no attributes {unknown}"
    attrs = {}
    for arg in op.attrs:
        value = given.get(arg.name, arg.default)
        assert value is not REQUIRED, f"{name} needs {arg.name}="
        attrs[arg.name] = arg.kind.check(value)
    return attrs


def infer(name, *shapes, **given):
    return OPS[name].shape(*shapes, **bind(name, **given))


def params(name, *shapes, **given):
    return {p.name: p for p in OPS[name].params(*shapes, **bind(name, **given))}


def flops(name, *shapes, **given):
    return OPS[name].flops(*shapes, **bind(name, **given))


# (op, input shapes, attributes, output shape); "N" is replaced by a concrete batch too
CASES = [
    ("standardize", [("N", 1, 8, 8)], {}, ("N", 1, 8, 8)),
    ("unstandardize", [("N", 3)], {"target": "y"}, ("N", 3)),
    ("cast", [("N", 1, 28, 28)], {}, ("N", 1, 28, 28)),
    ("lookup", [("N", 2)], {"max_tokens": 8}, ("N", 2)),
    ("lookup", [("N", 1)], {"max_tokens": 8, "output": "one_hot"}, ("N", 1, 8)),
    ("impute", [("N", 5)], {"strategy": "median"}, ("N", 5)),
    ("impute", [("N", 5)], {"indicator": True}, ("N", 10)),
    ("tokenize", [("N", 1)], {"max_tokens": 5000, "length": 64}, ("N", 64)),
    ("dense", [("N", 784)], {"units": 64}, ("N", 64)),
    ("conv1d", [("N", 3, 100)], {"filters": 8, "kernel": 5}, ("N", 8, 96)),
    (
        "conv2d",
        [("N", 1, 28, 28)],
        {"filters": 32, "kernel": 3, "stride": 2, "padding": "same"},
        ("N", 32, 14, 14),
    ),
    (
        "conv2d_transpose",
        [("N", 16, 7, 7)],
        {"filters": 8, "kernel": 3, "stride": 2, "padding": 1, "output_padding": 1},
        ("N", 8, 14, 14),
    ),
    ("embedding", [("N", 12)], {"vocab": 1000, "dim": 32}, ("N", 12, 32)),
    ("positional_encoding", [("N", 12, 32)], {"kind": "learned", "max_length": 64}, ("N", 12, 32)),
    ("rnn", [("N", 10, 8)], {"units": 16}, ("N", 16)),
    ("lstm", [("N", 10, 8)], {"units": 16, "return_sequences": True, "bidirectional": True}, ("N", 10, 32)),
    ("gru", [("N", 10, 8), ("N", 2, 16)], {"units": 16, "layers": 2}, ("N", 16)),
    ("multi_head_attention", [("N", 10, 64), ("N", 20, 48)], {"heads": 8}, ("N", 10, 64)),
    ("batch_norm", [("N", 16, 8, 8)], {}, ("N", 16, 8, 8)),
    ("layer_norm", [("N", 10, 64)], {}, ("N", 10, 64)),
    ("max_pool1d", [("N", 4, 10)], {"size": 3}, ("N", 4, 3)),
    ("max_pool2d", [("N", 4, 28, 28)], {"size": 2}, ("N", 4, 14, 14)),
    ("avg_pool1d", [("N", 4, 10)], {"size": 2, "stride": 1}, ("N", 4, 9)),
    ("avg_pool2d", [("N", 4, 7, 7)], {"size": 2, "padding": "same"}, ("N", 4, 4, 4)),
    ("global_avg_pool", [("N", 16, 8, 8)], {}, ("N", 16)),
    ("global_max_pool", [("N", 16, 20)], {}, ("N", 16)),
    ("sequence_pool", [("N", 10, 32)], {"mode": "max"}, ("N", 32)),
    ("flatten", [("N", 3, 4, 5)], {}, ("N", 60)),
    ("reshape", [("N", 60)], {"shape": (3, -1, 5)}, ("N", 3, 4, 5)),
    ("dropout", [("N", 10)], {"rate": 0.5}, ("N", 10)),
    ("relu", [("N", 10)], {}, ("N", 10)),
    ("leaky_relu", [("N", 10)], {"alpha": 0.2}, ("N", 10)),
    ("elu", [("N", 10)], {}, ("N", 10)),
    ("gelu", [("N", 10)], {"approximate": "tanh"}, ("N", 10)),
    ("sigmoid", [("N", 10)], {}, ("N", 10)),
    ("tanh", [("N", 10)], {}, ("N", 10)),
    ("softmax", [("N", 4, 10)], {"axis": 1}, ("N", 4, 10)),
    ("log_softmax", [("N", 10)], {}, ("N", 10)),
    ("linear", [("N", 10)], {}, ("N", 10)),
    ("add", [("N", 10)] * 3, {}, ("N", 10)),
    ("multiply", [("N", 10)] * 2, {}, ("N", 10)),
    ("concat", [("N", 3, 8), ("N", 5, 8)], {"axis": 1}, ("N", 8, 8)),
    ("mse", [("N", 10)], {}, ()),
    ("mae", [("N", 10)], {}, ()),
    ("huber", [("N", 10)], {"delta": 0.5}, ()),
    ("binary_cross_entropy", [("N", 1)], {"class_weights": (1.0, 3.0)}, ()),
    ("cross_entropy", [("N", 10)], {}, ()),
]


def with_batch(shape, batch):
    return tuple(batch if d == "N" else d for d in shape)


def test_every_registered_op_has_a_case():
    assert sorted({c[0] for c in CASES}) == sorted(OPS)


@pytest.mark.parametrize("batch", ["N", 8])
@pytest.mark.parametrize("name, inputs, attrs, expected", CASES, ids=[c[0] for c in CASES])
def test_shape_rule(name, inputs, attrs, expected, batch):
    inputs = [with_batch(x, batch) for x in inputs]
    assert tuple(infer(name, *inputs, **attrs)) == with_batch(expected, batch)


WITH_PARAMS = [c for c in CASES if OPS[c[0]].params is not None]


@pytest.mark.parametrize("name, inputs, attrs, expected", WITH_PARAMS, ids=[c[0] for c in WITH_PARAMS])
def test_default_initializers_name_every_argument(name, inputs, attrs, expected):
    specs = OPS[name].params(*inputs, **bind(name, **attrs))
    assert specs
    for p in specs:
        assert all(isinstance(d, int) and d >= 1 for d in p.shape), p
        signature = INITIALIZERS[p.init.name]
        assert set(p.init.params) == {a.name for a in signature.args}, p


def test_every_op_file_is_named_after_its_ops():
    defined = []
    for module in pkgutil.iter_modules(ops.__path__):
        if module.name in {"base", "windows", "rows"}:  # shared: the contract, sliding windows, row sums
            continue
        mod = importlib.import_module(f"nnc.runtime.ops.{module.name}")
        assert mod.__doc__ and mod.__doc__.strip(), module.name
        if hasattr(mod, "OP"):
            assert mod.OP.name == module.name
            defined.append(mod.OP)
        else:
            defined.extend(mod.OPS)
    assert sorted(op.name for op in defined) == sorted(OPS)
    assert all(OPS[op.name] is op for op in defined)


@pytest.mark.parametrize("op", list(OPS.values()), ids=list(OPS))
def test_op_rules_take_exactly_its_attributes(op):
    assert op.doc and op.doc.strip()
    names = {a.name for a in op.attrs}
    for rule in (op.shape, op.params, op.flops, op.target):
        if rule is None:
            continue
        parameters = inspect.signature(rule).parameters.values()
        keywords = {p.name for p in parameters if p.kind is p.KEYWORD_ONLY}
        takes_rest = any(p.kind is p.VAR_KEYWORD for p in parameters)
        assert keywords <= names and (takes_rest or keywords == names), rule
    for arg in op.attrs:
        if arg.default is not REQUIRED:
            assert arg.kind.check(arg.default) is not REQUIRED


# ---- conv -----------------------------------------------------------------------------------
def test_conv2d_params_and_flops():
    p = params("conv2d", ("N", 3, 28, 28), filters=32, kernel=(3, 5))
    assert p["weight"].shape == (32, 3, 3, 5)
    assert (p["weight"].fan_in, p["weight"].fan_out) == (45, 480)
    assert p["bias"].shape == (32,) and p["bias"].init_arg == "bias_init" and not p["bias"].regularized
    assert list(params("conv2d", ("N", 3, 28, 28), filters=32, kernel=3, bias=False)) == ["weight"]
    n = flops("conv2d", (1, 1, 28, 28), filters=32, kernel=3, stride=2, padding="same")
    assert n == 2 * 32 * 14 * 14 * 9


def test_conv_dilation_and_explicit_padding():
    assert infer("conv2d", ("N", 1, 28, 28), filters=4, kernel=3, dilation=2) == ("N", 4, 24, 24)
    y = infer("conv2d", ("N", 1, 28, 28), filters=4, kernel=3, dilation=2, padding="same")
    assert y == ("N", 4, 28, 28)
    # (top, left, bottom, right): 1 extra row, 2 extra columns
    assert infer("conv2d", ("N", 1, 28, 28), filters=4, kernel=3, padding=(1, 2, 0, 0)) == ("N", 4, 27, 28)
    assert infer("conv1d", ("N", 2, 10), filters=4, kernel=3, stride=3, padding=1) == ("N", 4, 4)


def test_conv_groups():
    p = params("conv2d", ("N", 4, 8, 8), filters=8, kernel=3, groups=2)
    assert p["weight"].shape == (8, 2, 3, 3)
    assert (p["weight"].fan_in, p["weight"].fan_out) == (18, 72)  # Keras and PyTorch: filters * kh * kw
    with pytest.raises(ShapeError, match="input channels divisible by groups") as e:
        infer("conv2d", ("N", 3, 8, 8), filters=8, kernel=3, groups=2)
    assert e.value.arg == "groups"
    with pytest.raises(ShapeError, match="filters divisible by groups") as e:
        infer("conv2d", ("N", 4, 8, 8), filters=5, kernel=3, groups=2)
    assert e.value.arg == "groups"


def test_conv_errors():
    with pytest.raises(ShapeError, match="input size 2, kernel 3, dilation 1") as e:
        infer("conv2d", ("N", 1, 2, 2), filters=4, kernel=3)
    assert e.value.arg == "kernel"
    with pytest.raises(ShapeError, match=r"rank 3 \(N, C, L\). Received: x: \[N, 28, 28, 1\]") as e:
        infer("conv1d", ("N", 28, 28, 1), filters=4, kernel=3)
    assert e.value.arg == "x"


def test_conv2d_transpose_inverts_conv2d_sizes():
    for n in (13, 14, 15):
        (m,) = set(infer("conv2d", ("N", 1, n, n), filters=1, kernel=3, stride=2, padding=1)[2:])
        extra = (n + 2 - 3) % 2
        y = infer(
            "conv2d_transpose", ("N", 1, m, m), filters=1, kernel=3, stride=2, padding=1, output_padding=extra
        )
        assert y == ("N", 1, n, n)
    assert infer("conv2d_transpose", ("N", 3, 7, 5), filters=2, kernel=3, stride=2, padding="same") == (
        "N",
        2,
        14,
        10,
    )
    p = params("conv2d_transpose", ("N", 16, 7, 7), filters=8, kernel=(3, 2))
    assert p["weight"].shape == (16, 8, 3, 2) and p["bias"].shape == (8,)


def test_conv2d_transpose_errors():
    with pytest.raises(ShapeError, match="smaller than stride or dilation") as e:
        infer("conv2d_transpose", ("N", 1, 7, 7), filters=1, kernel=3, stride=2, output_padding=2)
    assert e.value.arg == "output_padding"
    # below the dilation is enough, as in PyTorch: (7 - 1) + 2 * 2 + 1 + 1
    y = infer("conv2d_transpose", ("N", 1, 7, 7), filters=1, kernel=3, dilation=2, output_padding=1)
    assert y == ("N", 1, 12, 12)
    with pytest.raises(ShapeError) as e:
        infer(
            "conv2d_transpose",
            ("N", 1, 7, 7),
            filters=1,
            kernel=3,
            stride=2,
            padding="same",
            output_padding=1,
        )
    assert e.value.arg == "output_padding"
    with pytest.raises(ShapeError, match="empty along axis 2") as e:
        infer("conv2d_transpose", ("N", 1, 1, 1), filters=1, kernel=1, padding=1)
    assert e.value.arg == "padding"


# ---- pooling ---------------------------------------------------------------------------------
def test_pool_sizes():
    assert infer("max_pool2d", ("N", 3, 7, 7), size=2) == ("N", 3, 3, 3)
    assert infer("max_pool2d", ("N", 3, 7, 7), size=3, stride=2, padding=1) == ("N", 3, 4, 4)
    assert infer("avg_pool1d", ("N", 3, 7), size=3, stride=2, padding="same") == ("N", 3, 4)
    assert flops("max_pool2d", (1, 3, 8, 8), size=2) == 3 * 4 * 4 * 4


def test_pool_errors():
    with pytest.raises(ShapeError, match="padding smaller than the window") as e:
        infer("max_pool2d", ("N", 3, 8, 8), size=2, padding=2)
    assert e.value.arg == "padding"
    with pytest.raises(ShapeError, match="input size 2, kernel 3") as e:
        infer("avg_pool2d", ("N", 3, 2, 8), size=3)
    assert e.value.arg == "size"
    with pytest.raises(ShapeError, match="rank >= 3") as e:
        infer("global_avg_pool", ("N", 16))
    assert e.value.arg == "x"


# ---- recurrent -------------------------------------------------------------------------------
def test_lstm_bidirectional_stack():
    given = {"units": 16, "return_sequences": True, "bidirectional": True, "layers": 2}
    assert infer("lstm", ("N", 10, 8), **given) == ("N", 10, 32)
    assert infer("lstm", ("N", 10, 8), ("N", 4, 16), ("N", 4, 16), **given) == ("N", 10, 32)
    p = params("lstm", ("N", 10, 8), **given)
    assert {name: q.shape for name, q in p.items()} == {
        "weight_ih_l0": (2, 64, 8),
        "weight_hh_l0": (2, 64, 16),
        "bias_l0": (2, 64),
        "weight_ih_l1": (2, 64, 32),
        "weight_hh_l1": (2, 64, 16),
        "bias_l1": (2, 64),
    }
    assert p["weight_hh_l1"].init == Named("orthogonal", {"gain": 1.0})
    assert p["weight_hh_l1"].init_arg == "recurrent_init" and p["weight_hh_l1"].regularized
    assert (p["weight_ih_l1"].fan_in, p["weight_ih_l1"].fan_out) == (32, 16)
    assert flops("lstm", (1, 10, 8), **given) == 2 * 10 * 2 * 4 * 16 * ((8 + 16) + (32 + 16))


def test_recurrent_state_shapes():
    with pytest.raises(ShapeError, match=r"c0 of shape \[N, 2, 16\]") as e:
        infer("lstm", ("N", 10, 8), ("N", 2, 16), ("N", 1, 16), units=16, bidirectional=True)
    assert e.value.arg == "c0"
    with pytest.raises(ShapeError) as e:
        infer("gru", ("N", 10, 8), ("N", 1, 8), units=16)
    assert e.value.arg == "h0"
    assert params("gru", ("N", 10, 8), units=16)["weight_ih_l0"].shape == (1, 48, 8)
    assert params("rnn", ("N", 10, 8), units=16)["weight_hh_l0"].shape == (1, 16, 16)
    assert (OPS["rnn"].max_inputs, OPS["lstm"].max_inputs, OPS["lstm"].inputs) == (2, 3, ("x", "h0", "c0"))


# ---- attention -------------------------------------------------------------------------------
def test_attention_head_inference():
    p = params("multi_head_attention", ("N", 10, 64), heads=8)
    assert p["query_weight"].shape == (64, 64) and p["output_bias"].shape == (64,)
    p = params("multi_head_attention", ("N", 10, 30), ("N", 20, 48), heads=4, key_dim=8)
    assert {name: q.shape for name, q in p.items()} == {
        "query_weight": (30, 32),
        "key_weight": (48, 32),
        "value_weight": (48, 32),
        "output_weight": (32, 30),
        "query_bias": (32,),
        "key_bias": (32,),
        "value_bias": (32,),
        "output_bias": (30,),
    }
    assert "query_bias" not in params("multi_head_attention", ("N", 10, 64), heads=8, bias=False)
    assert infer("multi_head_attention", ("N", 10, 30), ("N", 20, 48), heads=4, key_dim=8, causal=True) == (
        "N",
        10,
        30,
    )
    # self-attention, T=10, D=64, 8 heads of 8: four projections plus scores and weighted sum
    assert flops("multi_head_attention", (1, 10, 64), heads=8) == 4 * 2 * 10 * 64 * 64 + 4 * 8 * 10 * 10 * 8


def test_attention_heads_must_divide_features():
    with pytest.raises(ShapeError, match=r"Received: query: \[N, 10, 30\], heads=4") as e:
        infer("multi_head_attention", ("N", 10, 30), heads=4)
    assert e.value.arg == "heads"
    assert "3 or 5" in e.value.help and "key_dim=" in e.value.help
    with pytest.raises(ShapeError) as e:
        infer("multi_head_attention", ("N", 10, 30), ("N", 30), heads=3)
    assert e.value.arg == "memory"


# ---- reshaping and merging -------------------------------------------------------------------
def test_reshape():
    assert infer("reshape", ("N", 60), shape=(-1, 4)) == ("N", 15, 4)
    assert infer("reshape", (8, 3, 20), shape=(60,)) == (8, 60)
    with pytest.raises(ShapeError, match="60 elements per sample are not divisible by 7") as e:
        infer("reshape", ("N", 60), shape=(7, -1))
    assert e.value.arg == "shape"
    with pytest.raises(ShapeError, match=r"x has 60 elements per sample, shape=\(4, 4\) has 16") as e:
        infer("reshape", ("N", 3, 20), shape=(4, 4))
    assert e.value.arg == "shape"


def test_concat_errors():
    with pytest.raises(ShapeError, match=r"axis 1 .* input 1: \[N, 3, 8\], input 2: \[N, 5, 9\]") as e:
        infer("concat", ("N", 3, 8), ("N", 5, 9), axis=1)
    assert e.value.arg == "x2"
    with pytest.raises(ShapeError) as e:
        infer("concat", ("N", 3, 8), ("N", 3, 8, 1))
    assert e.value.arg == "x2"
    with pytest.raises(ShapeError, match="axis 0 is the batch") as e:
        infer("concat", ("N", 3), ("N", 3), axis=0)
    assert e.value.arg == "axis"
    assert infer("concat", ("N", 3, 8), ("N", 3, 2), ("N", 3, 1)) == ("N", 3, 11)


def test_merge_shape_mismatch():
    for name in ("add", "multiply"):
        with pytest.raises(ShapeError, match=rf"{name} needs inputs of one shape.*input 3: \[N, 9\]") as e:
            infer(name, ("N", 10), ("N", 10), ("N", 9))
        assert e.value.arg == "x3"


def test_flatten_and_softmax_axes():
    with pytest.raises(ShapeError, match="rank >= 2"):
        infer("flatten", ("N",))
    for name in ("softmax", "log_softmax"):
        with pytest.raises(ShapeError) as e:
            infer(name, ("N", 10), axis=2)
        assert e.value.arg == "axis"


# ---- normalization, embeddings ---------------------------------------------------------------
def test_batch_norm_params():
    p = params("batch_norm", ("N", 16, 8, 8))
    got = {name: (q.shape, q.init.name, q.init_arg, q.trainable, q.regularized) for name, q in p.items()}
    assert got == {
        "scale": ((16,), "ones", "scale_init", True, False),
        "bias": ((16,), "zeros", "bias_init", True, False),
        "running_mean": ((16,), "zeros", None, False, False),
        "running_var": ((16,), "ones", None, False, False),
    }
    assert params("layer_norm", ("N", 10, 64))["scale"].shape == (64,)


def test_embedding():
    assert OPS["embedding"].input_dtype(0) == ("int64",)
    p = params("embedding", ("N", 12), vocab=1000, dim=32)
    assert p["weight"].shape == (1000, 32) and p["weight"].init == Named("normal", {"std": 0.05, "mean": 0.0})
    with pytest.raises(ShapeError, match="padding_index=1000, vocab=1000") as e:
        infer("embedding", ("N", 12), vocab=1000, dim=32, padding_index=1000)
    assert e.value.arg == "padding_index"


def test_positional_encoding():
    with pytest.raises(ShapeError, match="even feature size") as e:
        infer("positional_encoding", ("N", 12, 33))
    assert "kind=learned" in e.value.help
    assert infer("positional_encoding", ("N", 12, 32)) == ("N", 12, 32)
    assert infer("positional_encoding", ("N", 12, 33), kind="learned") == ("N", 12, 33)
    assert params("positional_encoding", ("N", 12, 32)) == {}
    p = params("positional_encoding", ("N", 12, 32), kind="learned", max_length=512)
    assert p["weight"].shape == (512, 32) and p["weight"].init.params["std"] == 0.02
    assert params("positional_encoding", ("N", 12, 32), kind="learned")["weight"].shape == (12, 32)
    with pytest.raises(ShapeError, match="max_length >= the sequence length 12") as e:
        infer("positional_encoding", ("N", 12, 8), max_length=10)
    assert e.value.arg == "max_length"
    assert infer("positional_encoding", ("N", 12, 32), max_length=12) == ("N", 12, 32)


# ---- losses and kinds ------------------------------------------------------------------------
def test_loss_targets():
    x = ("N", 4, 10)
    for name in ("mse", "mae", "huber", "binary_cross_entropy"):
        assert OPS[name].is_loss and OPS[name].target(x, **bind(name)) == ("float32", x)
    assert OPS["cross_entropy"].target(x, **bind("cross_entropy")) == ("int64", ("N", 4))
    with pytest.raises(ShapeError) as e:
        infer("mse", ("N",))
    assert e.value.arg == "prediction"
    for weights in ((1.0,), (1.0, 2.0, 3.0)):
        with pytest.raises(ShapeError, match="2 class_weights") as e:
            infer("binary_cross_entropy", ("N", 1), class_weights=weights)
        assert e.value.arg == "class_weights"


def test_kinds_refuse_bad_attributes():
    (rate,) = OPS["dropout"].attrs
    assert rate.default is REQUIRED
    with pytest.raises(ArgError):
        rate.kind.check(1.0)
    assert rate.kind.check(0) == 0.0
    with pytest.raises(ArgError):
        bind("batch_norm", momentum=1.0)
    with pytest.raises(ArgError):
        bind("conv2d_transpose", filters=1, kernel=3, output_padding=-1)
    assert bind("max_pool2d", size=2)["padding"] == (0, 0, 0, 0)
