"""The numeric contract vs independent references: exact rationals (Fraction), ONNX reference ops,
onnxruntime's quantization helpers, brute-force enumeration and hand-derived values."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator
from onnx.reference.ops.op_sigmoid import sigmoid as onnx_sigmoid

from hwaccel import fixedpoint as fp
from hwaccel.errors import QuantizationError
from hwaccel.ir.graph import QuantParams

FAST = settings(max_examples=150, deadline=None)
HALF = Fraction(1, 2)


def exact_round(v: Fraction, rounding: str) -> int:
    """Reference rounding of an exact rational (Python's round() on a Fraction is half-to-even)."""
    return round(v) if rounding == "half_even" else math.floor(v + HALF)


def dist_to_tie(v: Fraction) -> Fraction:
    return abs(v - math.floor(v) - HALF)


rounding_modes = st.sampled_from(fp.ROUNDING_MODES)


# -- round_shift -------------------------------------------------------------------------------


def test_round_shift_hand_values():
    x = np.array([5, -5, 6, -6, 7, -7, 3, -3])  # / 2: 2.5 -2.5 3 -3 3.5 -3.5 1.5 -1.5
    assert fp.round_shift(x, 1).tolist() == [2, -2, 3, -3, 4, -4, 2, -2]
    assert fp.round_shift(x, 1, "half_up").tolist() == [3, -2, 3, -3, 4, -3, 2, -1]
    assert fp.round_shift(x, -2).tolist() == [20, -20, 24, -24, 28, -28, 12, -12]
    assert fp.round_shift(x, 0).tolist() == x.tolist()
    assert fp.round_shift(np.array([-(2**63), 2**63 - 1]), 64).tolist() == [0, 0]
    assert fp.round_shift(np.array([-(2**63), 2**62]), 63).tolist() == [-1, 0]  # 2**62 / 2**63 = 0.5: tie to 0


@FAST
@given(st.integers(-(2**63), 2**63 - 1), st.integers(-70, 80), rounding_modes)
def test_round_shift_matches_fraction(x, shift, rounding):
    exact = Fraction(x) * Fraction(2) ** -shift
    if shift < 0 and not -(2**63) <= exact < 2**63:
        with pytest.raises(QuantizationError, match="must fit in int64"):
            fp.round_shift(np.array([x]), shift, rounding)
        return
    assert fp.round_shift(np.array([x]), shift, rounding)[0] == exact_round(exact, rounding)


@FAST
@given(st.integers(-(2**20), 2**20), st.integers(1, 40), rounding_modes)
def test_round_shift_exact_ties(k, shift, rounding):
    x = (2 * k + 1) << (shift - 1)  # x / 2**shift = k + 1/2 exactly
    expected = k + 1 if rounding == "half_up" else (k if k % 2 == 0 else k + 1)
    assert fp.round_shift(x, shift, rounding) == expected


@FAST
@given(st.lists(st.tuples(st.integers(-(2**50), 2**50), st.integers(-8, 60)), min_size=1, max_size=20), rounding_modes)
def test_round_shift_per_element_shifts(pairs, rounding):
    x, s = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
    expected = [exact_round(Fraction(int(a)) * Fraction(2) ** -int(b), rounding) for a, b in pairs]
    assert fp.round_shift(x, s, rounding).tolist() == expected


def test_round_shift_errors():
    with pytest.raises(QuantizationError, match="rounding must be one of"):
        fp.round_shift(np.array([1]), 1, "nearest")
    with pytest.raises(QuantizationError, match="x must be an integer array, not float64"):
        fp.round_shift(np.array([1.5]), 1)


# -- accumulator width -------------------------------------------------------------------------


def test_signed_bits_hand_values():
    assert [fp.signed_bits(*r) for r in [(-128, 127), (-129, 0), (0, 128), (0, 0), (-1, 0), (-2, 1)]] == [8, 9, 9, 1, 1, 2]
    assert fp.accumulator_bits(8, 8, 9) == 8 + 8 + 4 + 1
    assert fp.accumulator_bits(8, 8, 1) == 17


codes = st.tuples(st.integers(1, 16), st.booleans(), st.floats(0, 1))  # bits, signed, zero-point position


def _zero_point(bits: int, signed: bool, pos: float) -> int:
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    return lo + round(pos * (hi - lo))


@FAST
@given(codes, codes, st.integers(1, 2**20))
def test_accumulator_never_overflows(xq, wq, terms):
    (bx, sx, px), (bw, sw, pw) = xq, wq
    zx, zw = _zero_point(bx, sx, px), _zero_point(bw, sw, pw)
    lo, hi = fp.accumulator_range(bx, bw, terms, signed_x=sx, signed_w=sw, x_zero_point=zx, w_zero_point=zw)
    width = fp.accumulator_bits(bx, bw, terms)
    assert -(2 ** (width - 1)) <= lo and hi <= 2 ** (width - 1) - 1
    # an actual worst-case operand pair, summed with Python ints
    xs = [(-(1 << (bx - 1)) if sx else 0) - zx, ((1 << (bx - 1)) - 1 if sx else (1 << bx) - 1) - zx]
    ws = [(-(1 << (bw - 1)) if sw else 0) - zw, ((1 << (bw - 1)) - 1 if sw else (1 << bw) - 1) - zw]
    extreme = max((a * b for a in xs for b in ws), key=abs) * terms
    assert lo <= extreme <= hi and -(2 ** (width - 1)) <= extreme < 2 ** (width - 1)


@pytest.mark.parametrize("bx,bw,sx,sw,terms", [(1, 2, False, True, 3), (3, 2, True, False, 5), (2, 3, True, True, 4), (3, 3, False, False, 7)])
def test_accumulator_range_brute_force(bx, bw, sx, sw, terms):
    """Exhaustive over all codes and zero points of tiny widths: range attained, width enough."""
    xr = range(-(1 << (bx - 1)), 1 << (bx - 1)) if sx else range(1 << bx)
    wr = range(-(1 << (bw - 1)), 1 << (bw - 1)) if sw else range(1 << bw)
    for zx in xr:
        for zw in wr:
            products = [(x - zx) * (w - zw) for x in xr for w in wr]
            lo, hi = fp.accumulator_range(bx, bw, terms, signed_x=sx, signed_w=sw, x_zero_point=zx, w_zero_point=zw)
            assert (lo, hi) == (terms * min(products), terms * max(products))
            assert fp.signed_bits(lo, hi) <= fp.accumulator_bits(bx, bw, terms)


@pytest.mark.parametrize("bx,bw,log_terms", [(2, 2, 0), (8, 8, 6), (4, 16, 10), (16, 16, 20)])
def test_accumulator_width_is_tight(bx, bw, log_terms):
    """With extreme zero points (uint x at z=max, int w at z=max) one bit fewer would overflow."""
    lo, hi = fp.accumulator_range(bx, bw, 1 << log_terms, signed_x=False, signed_w=True, x_zero_point=(1 << bx) - 1, w_zero_point=(1 << (bw - 1)) - 1)
    assert fp.signed_bits(lo, hi) == fp.accumulator_bits(bx, bw, 1 << log_terms)


@FAST
@given(st.integers(2, 16), st.integers(2, 16), st.integers(1, 4096), st.integers(0, 2**31 - 1))
def test_bias_counts_as_terms(bx, bw, terms, bias):
    extra = fp.bias_terms(np.array([bias, -bias]), bx, bw)
    lo, hi = fp.accumulator_range(bx, bw, terms, signed_x=False, x_zero_point=(1 << bx) - 1, bias=(-bias, bias))
    assert fp.signed_bits(lo, hi) <= fp.accumulator_bits(bx, bw, terms + extra)
    assert extra == (0 if bias == 0 else -(-bias // (((1 << bx) - 1) * ((1 << bw) - 1))))


# -- multipliers -------------------------------------------------------------------------------


def test_quantize_multiplier_hand_values():
    assert fp.quantize_multiplier(0.5, 8) == (128, 8)
    assert fp.quantize_multiplier(0.75, 4) == (12, 4)
    assert fp.quantize_multiplier(1.0) == (32768, 15)
    assert fp.quantize_multiplier(3.0, 2) == (3, 0)
    assert fp.quantize_multiplier(1 - 2**-20, 8) == (128, 7)  # rounds up to 256: renormalised
    assert fp.quantize_multiplier(-0.375, 3) == (-6, 4)
    assert fp.quantize_multiplier(0.0) == (0, 0)
    assert [fp.pow2_multiplier(r) for r in (0.74, 0.75, 3.0, -0.2, 0.0)] == [(1, 1), (1, 0), (1, -2), (-1, 2), (0, 0)]


real_multipliers = st.floats(2.0**-40, 2.0**20).flatmap(lambda r: st.sampled_from([r, -r]))


@FAST
@given(real_multipliers, st.integers(1, 48))
def test_quantize_multiplier_bound(real, mult_bits):
    m0, n = fp.quantize_multiplier(real, mult_bits)
    assert 2 ** (mult_bits - 1) <= abs(m0) < 2**mult_bits and (m0 > 0) == (real > 0)
    assert abs(Fraction(m0) * Fraction(2) ** -n - Fraction(real)) <= abs(Fraction(real)) * Fraction(2) ** -mult_bits


@FAST
@given(real_multipliers)
def test_pow2_multiplier_nearest(real):
    m0, n = fp.pow2_multiplier(real)
    err = abs(Fraction(2) ** -n - abs(Fraction(real)))
    assert m0 == (1 if real > 0 else -1) and err <= abs(Fraction(real)) / 3
    assert err <= min(abs(Fraction(2) ** -(n + d) - abs(Fraction(real))) for d in (-1, 1))


@FAST
@given(st.lists(st.floats(0, 8.0), min_size=1, max_size=6), st.integers(2, 24))
def test_common_shift_multipliers(reals, mult_bits):
    assume(max(reals) > 0)
    m, n = fp.quantize_multipliers(reals, mult_bits, common_shift=True)
    assert len(set(n.tolist())) == 1 and int(np.abs(m).max()) < 2**mult_bits
    step = Fraction(2) ** -int(n[0])
    assert step / 2 <= Fraction(max(reals)) * Fraction(2) ** (1 - mult_bits)
    for mi, r in zip(m.tolist(), reals):
        assert abs(Fraction(mi) * step - Fraction(r)) <= step / 2


# -- requantization vs exact rescaling ------------------------------------------------------------


@st.composite
def requant_cases(draw):
    bits, signed = draw(st.integers(2, 16)), draw(st.booleans())
    qmin, qmax = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    zp = draw(st.sampled_from([qmin, qmax, (qmin + qmax) // 2])) if draw(st.booleans()) else draw(st.integers(qmin, qmax))
    lo = draw(st.integers(qmin, qmax))
    hi = draw(st.integers(lo, qmax))
    real = draw(st.floats(2.0**-24, 2.0**4))
    mult_bits = draw(st.one_of(st.none(), st.integers(1, 30)))
    rounding = draw(rounding_modes)
    # accumulators whose rescaled value sits near a rounding tie, plus random ones
    ties = draw(st.lists(st.integers(-2 * (qmax - qmin), 2 * (qmax - qmin)), min_size=1, max_size=16))
    accs = [round((Fraction(t) + HALF) / Fraction(real)) + draw(st.integers(-2, 2)) for t in ties]
    accs += draw(st.lists(st.integers(-(2**30), 2**30), max_size=8))
    accs = [a for a in accs if abs(a) < 2**30]
    return fp.Requant.from_scales(real, zp, lo, hi, mult_bits=mult_bits, rounding=rounding), real, accs


@settings(max_examples=300, deadline=None)
@given(requant_cases())
def test_requant_against_exact_rescaling(case):
    rq, real, accs = case
    r = Fraction(real)
    mult_bits = max(abs(int(rq.multiplier[0])).bit_length(), 1)
    t = max(rq.hi - rq.zero_point, rq.zero_point - rq.lo) + 1
    got = rq.apply(np.array(accs, dtype=np.int64)[None, :], channel_axis=0)[0]
    for acc, y in zip(accs, got.tolist()):
        v = acc * r
        exact = min(max(rq.zero_point + exact_round(v, rq.rounding), rq.lo), rq.hi)
        if y != exact:  # only near a tie, and at most one code off when 2**mult_bits >= 2T
            assert abs(v) < 2 * t and dist_to_tie(v) <= abs(v) * Fraction(2) ** -mult_bits
            assert 2**mult_bits < 2 * t or abs(y - exact) == 1
            if mult_bits == fp.multiplier_bits_for_exactness(rq.lo, rq.hi, rq.zero_point):
                assert dist_to_tie(v) <= Fraction(2) ** -fp.DEFAULT_TIE_BITS
        if Fraction(int(rq.multiplier[0])) * Fraction(2) ** -int(rq.shift[0]) == r:
            assert y == exact


def test_requant_cannot_be_exact_with_fewer_bits_than_the_multiplier():
    """DESIGN's claim taken literally is impossible: r = 1/2 + 2**-20, acc = 1 is 2**-20 above a tie."""
    rq = fp.Requant.from_scales(0.5 + 2**-20, 0, -128, 127, mult_bits=16)
    assert rq.apply(np.array([1]), channel_axis=0).tolist() == [0]  # exact: round(0.50000095) = 1
    assert fp.Requant.from_scales(0.5 + 2**-20, 0, -128, 127, mult_bits=21).apply(np.array([1]), 0).tolist() == [1]


def test_multiplier_bits_for_exactness_values():
    assert fp.multiplier_bits_for_exactness(0, 255, 0) == 16  # T = 256: 2T = 2**9, + 7 tie bits
    assert fp.multiplier_bits_for_exactness(-128, 127, -128) == 16  # T = 256
    assert fp.multiplier_bits_for_exactness(0, 15, 8) == 12  # T = 9: 2T = 18 <= 2**5
    assert fp.multiplier_bits_for_exactness(-32768, 32767, 32767) == 24
    with pytest.raises(QuantizationError, match="acc_bits \\+ mult_bits must be <= 63, not 48 \\+ 24"):
        fp.multiplier_bits_for_exactness(0, 65535, 0, acc_bits=48)


def test_requant_saturation_per_channel_and_errors():
    rq = fp.Requant(np.array([1, 3]), np.array([0, 1]), zero_point=-3, lo=-128, hi=127, rounding="half_up")
    acc = np.array([[1000, -1000, 1, 5], [1000, -1000, 1, 5]])  # channel axis 0: M=1,n=0 then M=3,n=1
    assert rq.apply(acc, channel_axis=0).tolist() == [[127, -128, -2, 2], [127, -128, -1, 5]]
    assert rq.apply(acc.T, channel_axis=1).tolist() == [[127, 127], [-128, -128], [-2, -1], [2, 5]]
    with pytest.raises(QuantizationError, match="acc axis 1 must have 2 channels, not shape"):
        rq.apply(np.zeros((2, 3), np.int64), channel_axis=1)
    with pytest.raises(QuantizationError, match="acc_bits \\+ mult_bits must be <= 63, not 62 \\+ 2"):
        rq.apply(np.array([[2**61], [0]]), channel_axis=0)
    with pytest.raises(QuantizationError, match="lo must be <= hi, not 3 > 2"):
        fp.Requant(np.array([1]), np.array([0]), 0, 3, 2)
    with pytest.raises(QuantizationError, match="scheme must be one of"):
        fp.Requant.from_scales(0.5, 0, 0, 255, scheme="float")
    pow2 = fp.Requant.from_scales([0.3, 0.1], 0, -128, 127, scheme="pow2")
    assert pow2.multiplier.tolist() == [1, 1] and pow2.shift.tolist() == [2, 3]


# -- quantize / dequantize vs the ONNX reference ------------------------------------------------


def _qdq_eval(op: str, x: np.ndarray, scale: np.ndarray, zp: np.ndarray, axis: int | None):
    attrs = {} if axis is None else {"axis": axis}
    node = helper.make_node(op, ["x", "s", "z"], ["y"], **attrs)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", helper.np_dtype_to_tensor_dtype(x.dtype), None)],
                              [helper.make_tensor_value_info("y", TensorProto.UNDEFINED, None)],
                              [numpy_helper.from_array(scale, "s"), numpy_helper.from_array(zp, "z")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
    return ReferenceEvaluator(model).run(None, {"x": x})[0]


@settings(max_examples=60, deadline=None)
@given(st.sampled_from([np.uint8, np.int8]), st.booleans(), st.integers(0, 2**32 - 1), st.floats(2.0**-10, 4.0))
def test_quantize_dequantize_match_onnx_reference(dtype, per_axis, seed, scale0):
    rng = np.random.default_rng(seed)
    info = np.iinfo(dtype)
    x = (rng.normal(size=(2, 3, 4)) * scale0 * 100).astype(np.float32)
    scale = (scale0 * rng.uniform(0.5, 2.0, 3 if per_axis else ())).astype(np.float32)
    x[0, 0, :2] = np.float32((np.array([0.5, -2.5]) * scale.reshape(-1)[0]))  # exact ties
    zp = rng.integers(info.min, info.max, endpoint=True, size=3 if per_axis else ()).astype(dtype)
    axis = 1 if per_axis else None
    codes = fp.quantize(x, scale, zp, int(info.min), int(info.max), axis=axis)
    np.testing.assert_array_equal(codes, _qdq_eval("QuantizeLinear", x, scale, zp, axis).astype(np.int64))
    real = fp.dequantize(codes, scale, zp, axis=axis)
    ref = _qdq_eval("DequantizeLinear", codes.astype(dtype), scale, zp, axis)
    assert real.dtype == np.float32 and np.array_equal(real, ref)


@FAST
@given(st.lists(st.integers(-(2**12), 2**12), min_size=1, max_size=20), st.integers(-4, 4), st.integers(-20, 20), rounding_modes)
def test_quantize_rounding_and_saturation_exact(numerators, log_scale, zp, rounding):
    """x = k/8 and scale = 2**e make x/scale exact, so the reference is rational rounding + clip."""
    x = np.array(numerators, dtype=np.float64) / 8
    got = fp.quantize(x, 2.0**log_scale, zp, -20, 20, rounding)
    want = [min(max(exact_round(Fraction(k, 8) / Fraction(2) ** log_scale, rounding) + zp, -20), 20) for k in numerators]
    assert got.tolist() == want


def test_quantize_errors():
    with pytest.raises(QuantizationError, match="scale must be positive and finite"):
        fp.quantize(np.ones(2), 0.0, 0, 0, 255)
    with pytest.raises(QuantizationError, match="zero_point must be in \\[0, 255\\]"):
        fp.quantize(np.ones(2), 1.0, -1, 0, 255)
    with pytest.raises(QuantizationError, match="scale must have 1 or 2 entries along axis 0, not 3"):
        fp.quantize(np.ones((2, 2)), np.ones(3), 0, 0, 255, axis=0)
    assert fp.quantize(np.array([np.inf, -np.inf]), 1.0, 3, 0, 255).tolist() == [255, 0]


@pytest.mark.parametrize("bits,signed,symmetric", [(8, False, False), (8, True, False), (8, True, True), (8, False, True), (16, True, True), (16, False, False)])
def test_choose_qparams_matches_onnxruntime(bits, signed, symmetric):
    from onnxruntime.quantization.quant_utils import compute_scale_zp

    rng = np.random.default_rng(bits + 2 * signed + 4 * symmetric)
    qmin, qmax = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    if symmetric and signed:
        qmin = -qmax  # onnxruntime's symmetric signed range (get_qmin_qmax_for_qType)
    for lo, hi in list(rng.normal(size=(50, 2)) * [[3.0, 5.0]]) + [(0.0, 0.0), (0.5, 2.0), (-3.0, -1.0)]:
        lo, hi = float(np.float32(min(lo, hi))), float(np.float32(max(lo, hi)))
        zp_ref, s_ref = compute_scale_zp(np.float32(lo), np.float32(hi), np.array(qmin, np.int64), np.array(qmax, np.int64), symmetric)
        scale, zp = fp.choose_qparams(lo, hi, bits, signed, symmetric)
        assert (scale, zp) == (float(s_ref), int(zp_ref))
        assert fp.quantize(np.float32(0), np.float32(scale), zp, qmin, qmax) == zp  # real 0 is exact


def test_symmetric_weight_scale_and_bias():
    w = np.array([[[1.0, -2.0]], [[0.5, 0.25]], [[0.0, 0.0]]])
    np.testing.assert_array_equal(fp.symmetric_weight_scale(w, 8), np.float32([2 / 127, 0.5 / 127, 1.0]))
    np.testing.assert_array_equal(fp.symmetric_weight_scale(w, 4, axis=2), np.float32([1 / 7, 2 / 7]))
    np.testing.assert_array_equal(fp.symmetric_weight_scale(w, 8, axis=None), np.float32([2 / 127]))
    assert fp.quantize_bias(np.array([1.0, -0.3]), 0.5, np.array([0.1, 0.2])).tolist() == [20, -3]
    with pytest.raises(QuantizationError, match="bias codes must fit int32"):
        fp.quantize_bias(np.array([1e9]), 1e-3, 1e-3)


# -- activation clamps and lookup tables --------------------------------------------------------


@pytest.mark.parametrize("kind,clip", [("relu", (None, None)), ("relu6", (None, None)), ("clip", (-0.7, 1.3)), ("clip", (None, 0.2)), ("none", (None, None))])
@pytest.mark.parametrize("scale,zp,qmin,qmax", [(0.05, 128, 0, 255), (0.031, -5, -128, 127), (0.01, 255, 0, 255), (0.1, -128, -128, 127)])
def test_activation_clamp_equals_quantized_activation(kind, clip, scale, zp, qmin, qmax):
    x = np.linspace(-20, 20, 40001, dtype=np.float32)
    act = {"relu": lambda v: np.maximum(v, 0), "relu6": lambda v: np.clip(v, 0, 6), "none": lambda v: v,
           "clip": lambda v: np.clip(v, -np.inf if clip[0] is None else clip[0], np.inf if clip[1] is None else clip[1])}[kind]
    s = np.float32(scale)
    lo, hi = fp.activation_clamp(kind, s, zp, qmin, qmax, *clip)
    fused = np.clip(fp.quantize(x, s, zp, qmin, qmax), lo, hi)
    np.testing.assert_array_equal(fused, fp.quantize(act(x).astype(np.float32), s, zp, qmin, qmax))


LUT_OPS = {
    "Sigmoid": ({}, onnx_sigmoid),
    "Tanh": ({}, np.tanh),
    "HardSigmoid": ({"alpha": 0.2, "beta": 0.5}, lambda v: np.clip(np.float32(0.2) * v + np.float32(0.5), 0, 1)),
    "LeakyRelu": ({"alpha": 0.1}, lambda v: np.where(v > 0, v, v * np.float32(0.1))),
}


@pytest.mark.parametrize("op", sorted(LUT_OPS))
@pytest.mark.parametrize("in_bits,in_signed,out_signed", [(8, False, False), (8, True, True), (4, True, False)])
def test_build_lut_matches_onnx_qdq_graph(op, in_bits, in_signed, out_signed):
    attrs, fn = LUT_OPS[op]
    in_q = QuantParams(np.float32([0.07]), np.array([3 if in_signed else 100]), in_bits, in_signed)
    out_q = QuantParams(np.float32([1 / 200]), np.array([-100 if out_signed else 20]), 8, out_signed)
    table = fp.build_lut(fn, in_q, out_q)
    assert table.shape == (in_q.qmax - in_q.qmin + 1,)
    # reference: DequantizeLinear -> op -> QuantizeLinear on the ONNX reference evaluator (8-bit code types)
    in_t, out_t = (np.int8 if in_signed else np.uint8), (np.int8 if out_signed else np.uint8)
    nodes = [helper.make_node("DequantizeLinear", ["x", "si", "zi"], ["r"]), helper.make_node(op, ["r"], ["f"], **attrs),
             helper.make_node("QuantizeLinear", ["f", "so", "zo"], ["y"])]
    inits = [numpy_helper.from_array(np.float32(in_q.scale[0]), "si"), numpy_helper.from_array(in_t(in_q.zero_point[0]), "zi"),
             numpy_helper.from_array(np.float32(out_q.scale[0]), "so"), numpy_helper.from_array(out_t(out_q.zero_point[0]), "zo")]
    graph = helper.make_graph(nodes, "lut", [helper.make_tensor_value_info("x", helper.np_dtype_to_tensor_dtype(np.dtype(in_t)), None)],
                              [helper.make_tensor_value_info("y", TensorProto.UNDEFINED, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
    codes = np.arange(in_q.qmin, in_q.qmax + 1).astype(in_t)
    ref = ReferenceEvaluator(model).run(None, {"x": codes})[0].astype(np.int64)
    np.testing.assert_array_equal(table, ref)
    np.testing.assert_array_equal(table[codes.astype(np.int64) - in_q.qmin], ref)


def test_build_lut_rejects_per_channel():
    q = QuantParams(np.float32([0.1, 0.2]), np.array([0, 0]), 8, True, axis=1)
    with pytest.raises(QuantizationError, match="must be per-tensor, not per-channel"):
        fp.build_lut(np.tanh, q, q)
