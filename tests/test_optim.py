"""Optimizers against PyTorch's published update rules, written out per element in plain
Python floats; clipping and penalties against numbers worked out by hand."""

import math

import numpy as np
import pytest
from nnc.runtime.optim import OPTIMIZERS, add_penalties, clip_gradients, make_optimizer
from nnc.runtime.schema import Named

P0 = [1.0, -2.0, 0.5]
GRADS = [[0.5, -1.0, 2.0], [-0.25, 0.5, 1.5], [1.0, 1.0, -3.0]]  # one row per step


def config(name: str, **overrides) -> Named:
    """The Named the compiler would hand over: every argument bound, defaults filled."""
    params = {a.name: a.default for a in OPTIMIZERS[name].args}
    params.update(overrides)
    return Named(name, params)


def run(cfg: Named, lr: float, steps=GRADS, p0=P0) -> np.ndarray:
    p = np.array(p0, np.float32)
    opt = make_optimizer(cfg, p.size)
    for g in steps:
        opt.step(p, np.array(g, np.float32), lr)
    return p


# ---- references: one element at a time, straight from the torch.optim docs ----------------
def sgd_ref(lr, momentum=0.0, nesterov=False, wd=0.0):
    out = []
    for i, p in enumerate(P0):
        b = None
        for g_row in GRADS:
            g = g_row[i] + wd * p
            if momentum:
                b = g if b is None else momentum * b + g
                g = g + momentum * b if nesterov else b
            p = p - lr * g
        out.append(p)
    return out


def adam_ref(lr, b1=0.9, b2=0.999, eps=1e-8, wd=0.0, amsgrad=False, decoupled=False, steps=GRADS):
    out = []
    for i, p in enumerate(P0):
        m = v = v_max = 0.0
        for t, g_row in enumerate(steps, start=1):
            g = g_row[i]
            if decoupled:
                p = p * (1 - lr * wd)
            else:
                g = g + wd * p
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g * g
            m_hat = m / (1 - b1**t)
            if amsgrad:
                v_max = max(v_max, v)
                denom = math.sqrt(v_max) / math.sqrt(1 - b2**t) + eps
            else:
                denom = math.sqrt(v / (1 - b2**t)) + eps
            p = p - lr * m_hat / denom
        out.append(p)
    return out


def rmsprop_ref(lr, alpha=0.99, eps=1e-8, momentum=0.0, centered=False, wd=0.0):
    out = []
    for i, p in enumerate(P0):
        v = g_avg = b = 0.0
        for g_row in GRADS:
            g = g_row[i] + wd * p
            v = alpha * v + (1 - alpha) * g * g
            v_tilde = v
            if centered:
                g_avg = alpha * g_avg + (1 - alpha) * g
                v_tilde = v - g_avg * g_avg
            if momentum:
                b = momentum * b + g / (math.sqrt(v_tilde) + eps)
                p = p - lr * b
            else:
                p = p - lr * g / (math.sqrt(v_tilde) + eps)
        out.append(p)
    return out


def adagrad_ref(lr, init=0.0, eps=1e-10, wd=0.0):
    out = []
    for i, p in enumerate(P0):
        state_sum = init
        for g_row in GRADS:
            g = g_row[i] + wd * p
            state_sum += g * g
            p = p - lr * g / (math.sqrt(state_sum) + eps)
        out.append(p)
    return out


CASES = [
    ("sgd plain", config("sgd"), 0.1, sgd_ref(0.1)),
    ("sgd momentum", config("sgd", momentum=0.9), 0.1, sgd_ref(0.1, momentum=0.9)),
    ("sgd nesterov", config("sgd", momentum=0.9, nesterov=True), 0.1, sgd_ref(0.1, 0.9, nesterov=True)),
    ("sgd weight_decay", config("sgd", momentum=0.5, weight_decay=0.1), 0.1, sgd_ref(0.1, 0.5, wd=0.1)),
    ("adam", config("adam"), 0.01, adam_ref(0.01)),
    (
        "adam betas eps",
        config("adam", beta1=0.5, beta2=0.9, epsilon=0.1),
        0.01,
        adam_ref(0.01, 0.5, 0.9, 0.1),
    ),
    ("adam amsgrad", config("adam", amsgrad=True, beta2=0.5), 0.01, adam_ref(0.01, b2=0.5, amsgrad=True)),
    ("adam weight_decay", config("adam", weight_decay=0.5), 0.01, adam_ref(0.01, wd=0.5)),
    ("adamw", config("adamw", weight_decay=0.5), 0.1, adam_ref(0.1, wd=0.5, decoupled=True)),
    (
        "adamw amsgrad",
        config("adamw", amsgrad=True, beta2=0.5),
        0.1,
        adam_ref(0.1, b2=0.5, wd=0.01, amsgrad=True, decoupled=True),
    ),
    ("rmsprop", config("rmsprop"), 0.01, rmsprop_ref(0.01)),
    ("rmsprop momentum", config("rmsprop", momentum=0.9), 0.01, rmsprop_ref(0.01, momentum=0.9)),
    ("rmsprop epsilon", config("rmsprop", epsilon=0.5), 0.01, rmsprop_ref(0.01, eps=0.5)),
    (
        "rmsprop centered",
        config("rmsprop", centered=True, rho=0.9),
        0.01,
        rmsprop_ref(0.01, 0.9, centered=True),
    ),
    (
        "rmsprop centered momentum weight_decay",
        config("rmsprop", centered=True, momentum=0.5, weight_decay=0.1),
        0.01,
        rmsprop_ref(0.01, momentum=0.5, centered=True, wd=0.1),
    ),
    ("adagrad", config("adagrad"), 0.1, adagrad_ref(0.1)),
    ("adagrad epsilon", config("adagrad", epsilon=0.5), 0.1, adagrad_ref(0.1, eps=0.5)),
    (
        "adagrad initial_accumulator weight_decay",
        config("adagrad", initial_accumulator=0.1, weight_decay=0.2),
        0.1,
        adagrad_ref(0.1, init=0.1, wd=0.2),
    ),
]


@pytest.mark.parametrize("name, cfg, lr, expected", CASES, ids=[c[0] for c in CASES])
def test_three_steps_match_the_published_rule(name, cfg, lr, expected):
    p = run(cfg, lr)
    assert p.dtype == np.float32
    np.testing.assert_allclose(p, expected, rtol=2e-6, atol=1e-7)


def test_first_steps_by_hand():
    # sgd: 1 - 0.1 * 0.5 = 0.95, then 0.95 - 0.1 * (-0.25) = 0.975
    assert run(config("sgd"), 0.1, steps=[[0.5], [-0.25]], p0=[1.0])[0] == pytest.approx(0.975)
    # momentum 0.9: b1 = 0.5, b2 = 0.45 - 0.25 = 0.2 -> 1 - 0.05 - 0.02 = 0.93
    assert run(config("sgd", momentum=0.9), 0.1, steps=[[0.5], [-0.25]], p0=[1.0])[0] == pytest.approx(0.93)
    # nesterov: d1 = 0.5 + 0.9 * 0.5 = 0.95, d2 = -0.25 + 0.9 * 0.2 = -0.07 -> 1 - 0.095 + 0.007
    nesterov = config("sgd", momentum=0.9, nesterov=True)
    assert run(nesterov, 0.1, steps=[[0.5], [-0.25]], p0=[1.0])[0] == pytest.approx(0.912)
    # adam's first step moves by lr * g / (|g| + eps'), eps' = eps / sqrt(1 - b2) -> ~lr
    assert run(config("adam"), 0.01, steps=[[0.5]], p0=[1.0])[0] == pytest.approx(0.99, abs=1e-7)
    # adagrad's first step: lr * g / |g| = lr
    assert run(config("adagrad"), 0.1, steps=[[-3.0]], p0=[1.0])[0] == pytest.approx(1.1)
    # adamw decays first: 1 * (1 - 0.1 * 0.5) = 0.95, then the adam step of 0.1
    assert run(config("adamw", weight_decay=0.5), 0.1, steps=[[2.0]], p0=[1.0])[0] == pytest.approx(0.85)


def test_amsgrad_uses_the_largest_second_moment():
    # a large then a small gradient: v falls at step 2, v_max does not, so the step is smaller
    steps = [[4.0, 4.0, 4.0], [0.1, 0.1, 0.1]]
    plain = run(config("adam", beta2=0.5), 0.01, steps=steps)
    ams = run(config("adam", beta2=0.5, amsgrad=True), 0.01, steps=steps)
    np.testing.assert_allclose(ams, adam_ref(0.01, b2=0.5, amsgrad=True, steps=steps), rtol=2e-6)
    assert np.all(np.abs(np.array(P0) - ams) < np.abs(np.array(P0) - plain))


def test_adamw_default_decay_differs_from_adam():
    assert not np.allclose(run(config("adamw"), 0.1), run(config("adam"), 0.1))


def test_nesterov_needs_momentum():
    with pytest.raises(ValueError, match="momentum"):
        make_optimizer(config("sgd", nesterov=True), 3)


@pytest.mark.parametrize(
    "cfg",
    [
        config("sgd", momentum=0.9, nesterov=True),
        config("adam", amsgrad=True),
        config("adamw"),
        config("rmsprop", centered=True, momentum=0.9),
        config("adagrad", initial_accumulator=0.1),
    ],
    ids=lambda c: c.name,
)
def test_state_round_trip_continues_bit_identically(cfg):
    rng = np.random.default_rng(0)
    grads = rng.standard_normal((6, 5)).astype(np.float32)
    p = rng.standard_normal(5).astype(np.float32)
    straight = make_optimizer(cfg, 5)
    p_straight = p.copy()
    for g in grads:
        straight.step(p_straight, g.copy(), 0.01)

    first = make_optimizer(cfg, 5)
    p_resumed = p.copy()
    for g in grads[:3]:
        first.step(p_resumed, g.copy(), 0.01)
    saved = first.state()
    assert saved["step"].dtype == np.int64 and saved["step"].shape == () and int(saved["step"]) == 3
    first.step(p_resumed.copy(), grads[3].copy(), 0.01)  # the saved copies must not move
    resumed = make_optimizer(cfg, 5)
    resumed.load_state(saved)
    for g in grads[3:]:
        resumed.step(p_resumed, g.copy(), 0.01)
    assert np.array_equal(p_resumed, p_straight)


def test_load_state_rejects_a_wrong_shape_or_name():
    opt = make_optimizer(config("adam"), 4)
    state = make_optimizer(config("adam"), 5).state()
    with pytest.raises(ValueError, match=r"`m` should have shape \(4,\)"):
        opt.load_state(state)
    with pytest.raises(ValueError, match="expected entries"):
        opt.load_state(make_optimizer(config("adam", amsgrad=True), 4).state())
    with pytest.raises(ValueError, match="expected entries"):
        opt.load_state(make_optimizer(config("sgd", momentum=0.9), 4).state())


def test_step_updates_the_buffer_in_place():
    p = np.ones(3, np.float32)
    view = p[:]
    make_optimizer(config("rmsprop", momentum=0.9), 3).step(p, np.ones(3, np.float32), 0.1)
    assert view[0] != 1.0


# ---- clipping -------------------------------------------------------------------------------
def test_clip_by_norm():
    g = np.array([3.0, 4.0], np.float32)  # norm 5
    assert clip_gradients(g, clip_norm=1.0, clip_value=None) == pytest.approx(5.0)
    np.testing.assert_allclose(g, [0.6, 0.8], rtol=1e-6)  # times 1 / (5 + 1e-6)
    g = np.array([3.0, 4.0], np.float32)
    assert clip_gradients(g, clip_norm=10.0, clip_value=None) == pytest.approx(5.0)
    assert g.tolist() == [3.0, 4.0]


def test_clip_by_value():
    g = np.array([-3.0, 0.5, 4.0], np.float32)
    norm = clip_gradients(g, clip_norm=None, clip_value=1.0)
    assert norm == pytest.approx(math.sqrt(9 + 0.25 + 16))
    assert g.tolist() == [-1.0, 0.5, 1.0]


def test_clip_value_then_norm():
    g = np.array([3.0, -4.0, 0.0], np.float32)
    # value first: (1, -1, 0), norm sqrt(2); then the norm to 1: (1, -1, 0) / sqrt(2)
    assert clip_gradients(g, clip_norm=1.0, clip_value=1.0) == pytest.approx(5.0)
    h = 1 / math.sqrt(2)
    np.testing.assert_allclose(g, [h, -h, 0.0], rtol=1e-5)


# ---- penalties ------------------------------------------------------------------------------
def test_penalties_value_and_gradient():
    p = np.array([1.0, -2.0, 0.0, 3.0, 0.5], np.float32)
    g = np.zeros(5, np.float32)
    # [0:3) with l1 = 0.1, l2 = 0.01; [3:5) with l2 = 0.5 only; an empty-penalty segment skipped
    value = add_penalties(p, g, [(0, 3, 0.1, 0.01), (3, 5, 0.0, 0.5), (0, 5, 0.0, 0.0)])
    # 0.1 * (1 + 2 + 0) + 0.01 * (1 + 4 + 0) + 0.5 * (9 + 0.25) = 0.3 + 0.05 + 4.625
    assert value == pytest.approx(4.975)
    # l1 sign(w) + 2 l2 w: 0.1 + 0.02, -0.1 - 0.04, 0 (sign 0), then 2 * 0.5 * (3, 0.5)
    np.testing.assert_allclose(g, [0.12, -0.14, 0.0, 3.0, 0.5], rtol=1e-6)
    assert p.tolist() == [1.0, -2.0, 0.0, 3.0, 0.5]


def test_penalties_add_to_existing_gradients():
    p = np.array([2.0], np.float32)
    g = np.array([1.0], np.float32)
    assert add_penalties(p, g, [(0, 1, 0.0, 0.25)]) == pytest.approx(1.0)
    assert g[0] == pytest.approx(2.0)


# ---- torch, when it happens to be installed ------------------------------------------------
@pytest.mark.parametrize(
    "cfg",
    [
        config("sgd", momentum=0.9, nesterov=True, weight_decay=0.1),
        config("adam", amsgrad=True, weight_decay=0.1),
        config("adamw", amsgrad=True),
        config("rmsprop", centered=True, momentum=0.5, weight_decay=0.1),
        config("adagrad", initial_accumulator=0.1, weight_decay=0.1),
    ],
    ids=lambda c: c.name,
)
def test_matches_torch(cfg):
    torch = pytest.importorskip("torch")
    q = cfg.params
    p = torch.tensor(P0, requires_grad=True)
    make = {
        "sgd": lambda: torch.optim.SGD(
            [p], lr=0.1, momentum=q["momentum"], nesterov=q["nesterov"], weight_decay=q["weight_decay"]
        ),
        "adam": lambda: torch.optim.Adam([p], lr=0.1, weight_decay=q["weight_decay"], amsgrad=q["amsgrad"]),
        "adamw": lambda: torch.optim.AdamW([p], lr=0.1, weight_decay=q["weight_decay"], amsgrad=q["amsgrad"]),
        "rmsprop": lambda: torch.optim.RMSprop(
            [p],
            lr=0.1,
            alpha=q["rho"],
            momentum=q["momentum"],
            centered=q["centered"],
            weight_decay=q["weight_decay"],
        ),
        "adagrad": lambda: torch.optim.Adagrad(
            [p], lr=0.1, initial_accumulator_value=q["initial_accumulator"], weight_decay=q["weight_decay"]
        ),
    }
    opt = make[cfg.name]()
    for g in GRADS:
        p.grad = torch.tensor(g)
        opt.step()
    np.testing.assert_allclose(run(cfg, 0.1), p.detach().numpy(), rtol=1e-5, atol=1e-7)
