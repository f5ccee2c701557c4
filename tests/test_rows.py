"""The BLAS row sums and the softmax along the last axis (runtime/ops/rows.py) that dense,
layer_norm, softmax and attention use: the sums equal NumPy's, and softmax equals the
textbook one in float64 on every path — rows whose exp overflows, rows whose every term
underflows, masked rows, NaN."""

import numpy as np
import pytest
from nnc.runtime.ops import rows


def reference_softmax(x):
    x = np.asarray(x, np.float64)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(7,), (5, 3), (4, 6, 9), (2, 3, 4, 5)])
def test_sums_equal_numpys(shape, dtype):
    x = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    tolerance = 1e-5 if dtype == np.float32 else 1e-12
    assert rows.sum_last(x).dtype == dtype
    np.testing.assert_allclose(rows.sum_last(x), x.sum(axis=-1), rtol=tolerance, atol=tolerance)
    out = np.empty(shape[-1], dtype)
    assert rows.sum_leading(x, out=out) is out
    np.testing.assert_allclose(out, x.reshape(-1, shape[-1]).sum(axis=0), rtol=tolerance, atol=tolerance)


def test_shared_vectors_cannot_be_written():
    for vector in (rows.ones(4, np.dtype(np.float32)), rows.zeros(4, np.dtype(np.float32))):
        with pytest.raises(ValueError):
            vector[0] = 2


@pytest.mark.parametrize(
    "case",
    [
        [[0.5, -1.0, 2.0, 0.0]],  # the plain path: exp(x) neither overflows nor underflows
        [[1000.0, 999.0, 0.0, -5.0]],  # exp overflows: the row maximum is subtracted
        [[-1000.0, -1001.0, -1002.0, -1000.5]],  # every term underflows: likewise
        [[-1e9, -1e9, -1e9, -1e9]],  # attention's fully hidden row: uniform weights
        [[0.1, 0.2, 0.3, 0.4], [90.0, 0.0, -90.0, 1.0], [-80.0, -85.0, -99.0, -200.0]],  # mixed rows
    ],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_equals_the_textbook_one_on_every_path(case, dtype):
    x = np.array(case, dtype)
    with np.errstate(over="raise", invalid="raise"):  # no warning escapes from an overflowing exp
        y = rows.softmax_last(x)
    assert y.dtype == dtype
    tolerance = 1e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(y, reference_softmax(x), rtol=tolerance, atol=1e-30)
    np.testing.assert_allclose(y.sum(axis=-1), 1, rtol=tolerance)


def test_softmax_keeps_nan_where_the_input_has_it():
    y = rows.softmax_last(np.array([[0.0, np.nan, 1.0], [0.0, 1.0, 2.0]], np.float32))
    assert np.isnan(y[0]).all()
    np.testing.assert_allclose(y[1], reference_softmax([0.0, 1.0, 2.0]), rtol=1e-6)
