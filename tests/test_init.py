"""Initializers: shapes, dtype, determinism, and the distributions' bounds and spreads."""

import math

import numpy as np
import pytest
from nnc.runtime.init import INITIALIZERS, initialize
from nnc.runtime.schema import REQUIRED, Named

TRUNCATED_STD = 0.87962566103423978


def config(name: str, **params) -> Named:
    signature = INITIALIZERS[name]
    bound = {a.name: a.default for a in signature.args if a.default is not REQUIRED}
    bound.update(params)
    return Named(name, bound)


def draw(name, shape, seed=0, fan_in=None, fan_out=None, **params):
    return initialize(
        config(name, **params), shape, np.random.default_rng(seed), fan_in=fan_in, fan_out=fan_out
    )


ALL = [(n, {"value": 0.3} if n == "constant" else {}) for n in INITIALIZERS]


@pytest.mark.parametrize("name, params", ALL, ids=[n for n, _ in ALL])
def test_shape_dtype_and_determinism(name, params):
    a = draw(name, (6, 4, 3), seed=1, fan_in=12, fan_out=18, **params)
    b = draw(name, (6, 4, 3), seed=1, fan_in=12, fan_out=18, **params)
    assert a.shape == (6, 4, 3) and a.dtype == np.float32
    assert np.array_equal(a, b)


@pytest.mark.parametrize("name", ["glorot_uniform", "he_normal", "normal", "uniform", "orthogonal"])
def test_different_seeds_differ(name):
    assert not np.array_equal(draw(name, (8, 8), seed=1), draw(name, (8, 8), seed=2))


# limit a = sqrt(3 scale / fan): glorot sqrt(6 / (100 + 300)), he sqrt(6 / 100), lecun sqrt(3 / 100)
@pytest.mark.parametrize(
    "name, limit",
    [
        ("glorot_uniform", math.sqrt(6 / 400)),
        ("he_uniform", math.sqrt(0.06)),
        ("lecun_uniform", math.sqrt(0.03)),
    ],
)
def test_uniform_variants_fill_their_interval(name, limit):
    w = draw(name, (200, 500), fan_in=100, fan_out=300)
    assert np.abs(w).max() <= limit
    assert np.abs(w).max() > 0.999 * limit
    assert w.std() == pytest.approx(limit / math.sqrt(3), rel=0.01)
    assert abs(w.mean()) < 0.01 * limit


# the std of the truncated draw is sqrt(scale / fan): glorot 2 / (100 + 300), he 2 / 100, lecun 1 / 100
@pytest.mark.parametrize(
    "name, std",
    [("glorot_normal", math.sqrt(2 / 400)), ("he_normal", math.sqrt(0.02)), ("lecun_normal", 0.1)],
)
def test_normal_variants_are_truncated_at_two_std(name, std):
    w = draw(name, (400, 500), fan_in=100, fan_out=300)
    assert w.std() == pytest.approx(std, rel=0.01)
    bound = 2 * std / TRUNCATED_STD  # two std of the normal before truncation
    assert np.abs(w).max() <= bound * (1 + 1e-6)
    assert np.abs(w).max() > 0.999 * bound


def test_fans_from_the_shape_when_not_given():
    # (3, 3, 20, 40) -> fan_in = 9 * 20, fan_out = 9 * 40 (Keras); (50,) -> 50, 50
    w = draw("glorot_uniform", (3, 3, 20, 40))
    limit = math.sqrt(6 / (180 + 360))
    assert limit * 0.99 < np.abs(w).max() <= limit
    v = draw("he_uniform", (5000,))
    assert math.sqrt(6 / 5000) * 0.99 < np.abs(v).max() <= math.sqrt(6 / 5000)
    # a given fan wins over the shape; the missing one still comes from it
    u = draw("glorot_uniform", (20, 40), fan_in=60)
    assert np.abs(u).max() <= math.sqrt(6 / (60 + 40))
    assert np.abs(u).max() > 0.99 * math.sqrt(6 / (60 + 40))


def test_normal_and_uniform():
    w = draw("normal", (500, 400), std=0.5, mean=2.0)
    assert w.mean() == pytest.approx(2.0, abs=0.005)
    assert w.std() == pytest.approx(0.5, rel=0.01)
    assert np.abs(w - 2.0).max() > 4 * 0.5  # not truncated
    u = draw("uniform", (500, 400), a=-1.0, b=3.0)
    assert -1.0 <= u.min() < -0.99 and 2.99 < u.max() <= 3.0
    assert u.mean() == pytest.approx(1.0, abs=0.01)


def test_constants():
    assert np.array_equal(draw("zeros", (2, 3)), np.zeros((2, 3), np.float32))
    assert np.array_equal(draw("ones", (4,)), np.ones(4, np.float32))
    assert np.array_equal(draw("constant", (2, 2), value=-0.25), np.full((2, 2), -0.25, np.float32))


@pytest.mark.parametrize("shape", [(16, 16), (32, 8), (8, 32)])
def test_orthogonal(shape):
    w = draw("orthogonal", shape, gain=2.0).astype(np.float64)
    rows, cols = shape
    # the short side is orthonormal (times gain): W^T W = 4 I for tall W, W W^T = 4 I for wide
    gram = w.T @ w if rows >= cols else w @ w.T
    np.testing.assert_allclose(gram, 4.0 * np.eye(min(shape)), atol=1e-5)


def test_orthogonal_is_sign_symmetric():
    # Haar-distributed Q has entries symmetric about 0; QR without the sign correction gives
    # the first entry one sign every time
    rng = np.random.default_rng(0)
    corner = np.array([initialize(config("orthogonal"), (3, 3), rng)[0, 0] for _ in range(400)])
    assert 150 < np.count_nonzero(corner > 0) < 250


def test_orthogonal_views_the_first_axis_as_rows():
    w = draw("orthogonal", (4, 2, 3)).reshape(4, 6).astype(np.float64)
    np.testing.assert_allclose(w @ w.T, np.eye(4), atol=1e-6)


def test_orthogonal_needs_a_matrix():
    with pytest.raises(ValueError, match="rank >= 2"):
        draw("orthogonal", (5,))


@pytest.mark.parametrize(
    "alias, name",
    [
        ("xavier_uniform", "glorot_uniform"),
        ("xavier_normal", "glorot_normal"),
        ("kaiming_uniform", "he_uniform"),
        ("kaiming_normal", "he_normal"),
        ("lecun", "lecun_normal"),
    ],
)
def test_aliases_draw_the_same(alias, name):
    assert np.array_equal(
        draw(alias, (7, 5), seed=3, fan_in=7, fan_out=5), draw(name, (7, 5), seed=3, fan_in=7, fan_out=5)
    )
