"""Golden model of the Requant unit: accumulators to output codes, then an optional lookup table.

Works on plain arrays and the contract's :class:`~hwaccel.fixedpoint.Requant`; never imports
``hwaccel.hw`` (the reference must not be derived from what it checks).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import QuantizationError
from ..fixedpoint import Requant

__all__ = ["requant"]


def requant(acc: np.ndarray, rq: Requant, lut: Sequence[int] | None = None, lut_qmin: int = 0) -> np.ndarray:
    """``lut[clamp(z + round(acc * M0 * 2**-n)) - lut_qmin]`` with channels on the last axis.

    Parameters
    ----------
    acc
        Integer accumulators, shape ``(..., channels)``.
    rq
        The requantization (one multiplier, or one per channel).
    lut, lut_qmin
        Optional table of output codes indexed by ``code - lut_qmin`` (e.g. from
        :func:`~hwaccel.fixedpoint.build_lut`); it must cover ``[rq.lo, rq.hi]``.
    """
    codes = rq.apply(np.asarray(acc), channel_axis=np.ndim(acc) - 1)
    if lut is None:
        return codes
    table = np.asarray(lut, dtype=np.int64)
    if rq.lo < lut_qmin or rq.hi - lut_qmin >= table.size:
        raise QuantizationError(f"lut must cover [{rq.lo}, {rq.hi}], not [{lut_qmin}, {lut_qmin + table.size - 1}]")
    return table[codes - lut_qmin]
