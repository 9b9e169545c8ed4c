"""The CPU engine's float arithmetic is exact by its bounds, and where a bound fails it widens the type.

Integer products run in float32 while every partial sum is at most ``2**24``, in float64 up to
``2**53`` and on the golden int64 kernel beyond; requantization runs in float64 while its proof's
bound holds and in int64 otherwise. Each regime is checked against the golden model, and the
narrower type is shown to be inexact there (so the bound is what makes the engine exact).
"""

from __future__ import annotations

import numpy as np
import pytest

from hwaccel.fixedpoint import Requant
from hwaccel.golden.fixed import run_golden
from hwaccel.ir.graph import Graph, Node, QuantParams, TensorInfo
from hwaccel.ir.ops import FIXED_DOMAIN
from hwaccel.ref.cpu import CpuEngine, exact_float_dtype
from hwaccel.ref.cpu_linear import gemm_dtype
from hwaccel.ref.cpu_requant import FeatureRequant
from hwaccel.ref.cpu_steps import Golden, Linear


def test_exact_float_dtype_bounds():
    # float32 has a 24-bit significand: every integer with |v| <= 2**24 (25 signed bits) is exact
    assert exact_float_dtype(25) == np.float32 and exact_float_dtype(26) == np.float64
    assert exact_float_dtype(54) == np.float64 and exact_float_dtype(55) is None
    assert gemm_dtype(2**24) == np.float32 and gemm_dtype(2**24 + 1) == np.float64
    assert gemm_dtype(2**53) == np.float64 and gemm_dtype(2**53 + 1) is None
    assert np.float32(2**24) + np.float32(1) == 2**24  # the first integer float32 loses
    assert np.float64(2**53) + np.float64(1) == 2**53


def _matmul_graph(weights: np.ndarray, shift: int) -> Graph:
    """16-bit codes (scale 1, zero point 0) times integer ``weights``, requantized by ``2**-shift`` to 16-bit codes."""
    k, m = weights.shape
    q16 = QuantParams(np.array([1.0]), np.array([0]), bits=16, signed=True)
    requant = Requant(np.array([1]), np.array([shift]), 0, -(2**15), 2**15 - 1)
    values = {"x": TensorInfo("x", ("N", k)), "xq": TensorInfo("xq", ("N", k), "int16", q16),
              "yq": TensorInfo("yq", ("N", m), "int16", q16)}
    nodes = (Node("quantize", "QuantizeLinear", ("x", "one", "zero"), ("xq",)),
             Node("matmul", "QMatMul", ("xq", "w"), ("yq",), {"x_zero_point": 0, "w_zero_point": 0, "requant": requant},
                  domain=FIXED_DOMAIN))
    inits = {"one": np.array(1.0, np.float32), "zero": np.array(0, np.int16), "w": weights}
    return Graph("matmul", nodes, (values["x"],), (values["yq"],), inits, values)


# weight magnitude, shift, the type the product must run in (None: golden int64), a narrower type that is inexact
REGIMES = [(6, 9, np.float32, None), (2**15 - 1, 21, np.float64, np.float32), (2**36 + 1, 42, None, np.float64)]


@pytest.mark.parametrize("magnitude, shift, dtype, narrower", REGIMES)
def test_products_widen_to_the_type_that_is_exact(magnitude, shift, dtype, narrower):
    rng = np.random.default_rng(magnitude)
    weights = rng.integers(-magnitude, magnitude + 1, (64, 6), dtype=np.int64) | 1  # odd: low bits matter
    graph = _matmul_graph(weights, shift)
    codes = rng.integers(-(2**15), 2**15, (37, 64)) | 1
    for i in range(0, len(codes), 2):  # near the bound: sums of large odd products
        codes[i] = np.sign(weights[:, i % 6]) * (rng.integers(2**15 - 64, 2**15, 64) | 1)
    x = {"x": codes.astype(np.float32)}  # exact codes: scale 1
    with CpuEngine(graph, workers=2) as engine:
        linear = [s for s in engine.stages[0] if isinstance(s, Linear)]
        if dtype is None:  # the node runs on golden
            assert not linear and any(isinstance(s, Golden) and s.node.op == "QMatMul" for s in engine.stages[0])
        else:
            assert len(linear) == 1 and all(b.matrix.dtype == dtype for b in linear[0].bands)
        out = engine.run(x)
    golden = run_golden(graph, x)
    assert out["yq"].dtype == np.int16
    np.testing.assert_array_equal(out["yq"], golden["yq"])
    exact = codes @ weights  # int64: |sums| < 2**58
    if narrower is not None:  # the narrower float type gets these accumulators wrong
        assert not np.array_equal((codes.astype(narrower) @ weights.astype(narrower)).astype(np.int64), exact)


def _golden_requant(m0, n, zp, lo, hi, rounding, acc):
    return Requant(np.asarray(m0), np.asarray(n), zp, lo, hi, rounding).apply(acc, channel_axis=1)


def _ties(m0: int, n: int, count: int) -> np.ndarray:
    """Accumulators with ``acc * m0`` an odd multiple of ``2**(n-1)``: exact rounding ties (``m0`` odd)."""
    base = (2 ** (n - 1) * pow(m0, -1, 2**n)) % 2**n
    return base + 2**n * np.arange(-count, count)


@pytest.mark.parametrize("rounding", ["half_even", "half_up"])
@pytest.mark.parametrize("zero_point, offset", [(-128, -128), (3, 0), (-3, 2)])  # odd zp - offset: round, then shift
def test_float_requant_equals_golden_on_ties_and_random_accumulators(rounding, zero_point, offset):
    rng = np.random.default_rng(5)
    m0 = np.array([1, 3, -5, 2**15 + 1, -(2**24) + 3, 7, 33269317])
    n = np.array([1, 2, 3, 17, 30, 90, 34])  # 90: a dead channel, always 0
    acc = rng.integers(-(2**20), 2**20, (64 * 4, len(m0)))
    for f in range(4):  # exact ties for the odd multipliers with small shifts
        acc[:64, f] = _ties(int(m0[f]), int(n[f]), 32)
    bias = rng.integers(-1000, 1000, len(m0))
    rq = Requant(np.ones(1, np.int64), np.zeros(1, np.int64), zero_point, -128, 127, rounding)
    bound = float(np.abs(acc).max())
    feature_rq = FeatureRequant(rq, np.zeros(len(m0), np.int64), [1], bias, [bound], offset, m0, n)
    assert feature_rq.exact_float
    got = feature_rq([acc.astype(np.float32)])
    want = _golden_requant(m0, n, zero_point, -128, 127, rounding, acc + bias) - offset
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, want)


def test_requant_beyond_the_float64_bound_runs_in_int64():
    # acc * M0 * 2**-50 = 17.5 - 2**-50: exactly 17, but the float64 product rounds to the tie 17.5 (then 18)
    acc = np.array([[6567749456581973], [7], [-6567749456581973]], np.int64)
    m0, n = np.array([3]), np.array([50])
    rq = Requant(m0, n, 0, -128, 127, "half_even")
    feature_rq = FeatureRequant(rq, np.zeros(1, np.int64), [1], 0, [float(acc.max())], 0)
    assert not feature_rq.exact_float  # S = 3 * 2**52.5 > 2**53
    want = _golden_requant(m0, n, 0, -128, 127, "half_even", acc)
    assert want.ravel().tolist() == [17, 0, -17]
    np.testing.assert_array_equal(feature_rq([acc.astype(np.float64)]), want)
    naive = np.rint(acc * (float(m0[0]) * 2.0 ** -int(n[0])))  # the float64 formula without its bound
    assert naive.ravel().tolist() == [18, 0, -18]
