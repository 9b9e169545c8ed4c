"""Activation range calibration: min/max, percentile, entropy (KL) and MSE-optimal clipping."""

from __future__ import annotations

import numpy as np

from ..errors import QuantizationError

__all__ = ["CALIBRATIONS", "calibrate_range"]

CALIBRATIONS = ("minmax", "percentile", "entropy", "mse")


def calibrate_range(values: np.ndarray, method: str, bits: int, signed: bool) -> tuple[float, float]:
    """The real range ``(lo, hi)`` (always containing 0) to map onto the code range."""
    if method not in CALIBRATIONS:
        raise QuantizationError(f"calibration must be one of {', '.join(CALIBRATIONS)}, not {method!r}")
    v = np.asarray(values, np.float64).reshape(-1)
    lo, hi = min(float(v.min()), 0.0), max(float(v.max()), 0.0)
    if method == "minmax" or hi == lo:
        return lo, hi
    if method == "percentile":
        return min(float(np.percentile(v, 0.01)), 0.0), max(float(np.percentile(v, 99.99)), 0.0)
    threshold = _entropy_threshold(v, bits) if method == "entropy" else _mse_threshold(v, bits, lo, hi)
    scale = threshold / max(abs(lo), abs(hi))
    return lo * scale, hi * scale


def _entropy_threshold(v: np.ndarray, bits: int, bins: int = 2048) -> float:
    """TensorRT-style KL calibration on |x|: the clip threshold whose quantized histogram diverges least."""
    mags = np.abs(v)
    hist, edges = np.histogram(mags, bins=bins, range=(0.0, float(mags.max())))
    levels = 1 << (bits - 1)
    best, best_kl = bins, np.inf
    for i in range(levels, bins + 1, max(1, (bins - levels) // 128)):
        p = hist[:i].astype(np.float64).copy()
        p[i - 1] += hist[i:].sum()
        chunks = np.array_split(hist[:i].astype(np.float64), levels)
        q = np.concatenate([np.where(c > 0, c.sum() / max((c > 0).sum(), 1), 0.0) for c in chunks])
        p_sum, q_sum = p.sum(), q.sum()
        if q_sum == 0:
            continue
        mask = (p > 0) & (q > 0)
        kl = float(np.sum(p[mask] / p_sum * np.log((p[mask] / p_sum) / (q[mask] / q_sum))))
        if kl < best_kl:
            best, best_kl = i, kl
    return float(edges[best])


def _mse_threshold(v: np.ndarray, bits: int, lo: float, hi: float, steps: int = 64) -> float:
    """The clip fraction of the full range minimising the quantize-dequantize MSE."""
    full = max(abs(lo), abs(hi))
    sample = v if v.size <= 200_000 else np.random.default_rng(0).choice(v, 200_000, replace=False)
    best, best_err = full, np.inf
    for frac in np.linspace(0.3, 1.0, steps):
        t = full * frac
        a, b = lo * frac, hi * frac
        scale = (b - a) / ((1 << bits) - 1)
        q = np.clip(np.rint((sample - a) / scale), 0, (1 << bits) - 1) * scale + a
        err = float(np.mean((q - sample) ** 2))
        if err < best_err:
            best, best_err = t, err
    return best
