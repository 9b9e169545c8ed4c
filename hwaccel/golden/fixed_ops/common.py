"""Helpers shared by the fixed-point kernels: code containers and integer window extraction."""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ...ir.graph import QuantParams

__all__ = ["code_dtype", "as_codes", "spatial_pads", "extract_windows"]


def code_dtype(bits: int, signed: bool) -> np.dtype:
    """The smallest NumPy integer type holding ``bits``-bit codes."""
    for width in (8, 16, 32, 64):
        if bits <= width:
            return np.dtype(f"{'int' if signed else 'uint'}{width}")
    raise ValueError(f"bits must be <= 64, not {bits!r}")


def as_codes(values: np.ndarray, quant: QuantParams | None) -> np.ndarray:
    """Cast exact integer results to the container of ``quant`` (int32 accumulators without one)."""
    if quant is None:
        return values.astype(np.int32)
    return values.astype(code_dtype(quant.bits, quant.signed))


def spatial_pads(pads: list[int] | None, spatial: int) -> list[tuple[int, int]]:
    pads = list(pads or [0] * (2 * spatial))
    return [(int(pads[i]), int(pads[i + spatial])) for i in range(spatial)]


def extract_windows(
    x: np.ndarray, kernel: tuple[int, ...], strides: tuple[int, ...], dilations: tuple[int, ...], pad_value: int,
    pads: list[tuple[int, int]],
) -> np.ndarray:
    """Windows of an (N, C, *spatial) int64 array: returns (N, C, *out_spatial, *kernel).

    Padding uses ``pad_value`` (the zero point of the codes, i.e. real zero).
    """
    spatial = x.ndim - 2
    padded = np.pad(x, [(0, 0), (0, 0), *pads], constant_values=pad_value)
    extents = tuple((k - 1) * d + 1 for k, d in zip(kernel, dilations))
    view = sliding_window_view(padded, extents, axis=tuple(range(2, 2 + spatial)))
    index = (slice(None), slice(None)) + tuple(slice(None, None, s) for s in strides)
    index += tuple(slice(None, None, d) for d in dilations)
    return view[index]
