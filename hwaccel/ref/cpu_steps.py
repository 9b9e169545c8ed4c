"""The CPU engine's steps: callables that read and write one chunk's table of values.

A code tensor lives in the table in one or both of two forms: *golden* (the integer array
:func:`~hwaccel.golden.fixed.run_golden` holds, under the value's name) and *flat* (a float32
(rows, features) array of ``code - offset``, under :func:`flat_key`; its columns are the features in
C order or in an order recorded by the planner, see :class:`~.cpu_plan.Flat`). Flat arrays hold
small integers, so BLAS and float ufuncs compute on them exactly (bounds: :mod:`.cpu_linear`,
:mod:`.cpu_requant`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import ModelError, UnsupportedOpError
from ..golden.fixed import run_node
from ..ir.graph import Graph, Node
from ..ir.ops import FIXED_DOMAIN
from .cpu_requant import FeatureRequant
from .cpu_windows import Sliding

__all__ = ["Env", "flat_key", "Quantize", "Dequantize", "Band", "Linear", "Conv", "Pool", "Combine", "Lut", "Alias",
           "ToFlat", "ToGolden", "Reorder", "Golden"]

Env = dict[str, np.ndarray]


def flat_key(name: str) -> str:
    """The table key of a value's flat form."""
    return name + "\0flat"


def _rows(x: np.ndarray, shape: tuple[int, ...], name: str) -> np.ndarray:
    """``x`` when its rows have the declared ``shape``, else the user error."""
    if x.shape[1:] != shape:
        raise ModelError(f"rows of {name!r} must have shape {shape}, not {x.shape[1:]}")
    return x


@dataclass(frozen=True, eq=False)
class Quantize:
    """Per-tensor QuantizeLinear straight to flat codes: ``clip(round(x / scale), qmin - z, qmax - z)``.

    The operations (and so the rounding of ``x / scale``) are those of :func:`~hwaccel.fixedpoint.quantize`;
    an input it rejects (NaN) is handed to the golden kernel for its error.
    """

    x: str
    out: str
    shape: tuple[int, ...]
    scale: np.ndarray  # 0-d, as golden has it: ``x / scale`` promotes and rounds identically
    lo: int
    hi: int
    golden: "Golden"

    def __call__(self, env: Env) -> None:
        x = _rows(np.asarray(env[self.x]), self.shape, self.x)
        q = (x if x.dtype.kind == "f" else x.astype(np.float64)) / self.scale
        if np.isnan(q.min(initial=0.0)):
            self.golden(env)  # raises the golden error
        np.rint(q, out=q)
        env[self.out] = np.clip(q.reshape(len(q), math.prod(self.shape)), self.lo, self.hi).astype(np.float32, copy=False)


@dataclass(frozen=True, eq=False)
class Dequantize:
    """Per-tensor DequantizeLinear of flat codes: ``(code - z) * scale`` in float64, cast to the scale's type.

    ``code - z`` is the same exact integer as in :func:`~hwaccel.fixedpoint.dequantize`, so the one
    rounding (of the product) is the same.
    """

    x: str
    out: str
    shape: tuple[int, ...]
    offset_minus_zero: int
    scale: float
    dtype: np.dtype
    columns: np.ndarray | None  # the column of each C-order feature (None: C order already)

    def __call__(self, env: Env) -> None:
        x = env[self.x] if self.columns is None else np.take(env[self.x], self.columns, axis=1)
        real = np.add(x, self.offset_minus_zero, dtype=np.float64)
        real *= self.scale
        env[self.out] = real.astype(self.dtype).reshape((len(x),) + self.shape)


@dataclass(frozen=True, eq=False)
class Band:
    """One product of a :class:`Linear`: input columns ``start:stop`` times ``matrix``."""

    start: int
    stop: int
    matrix: np.ndarray


@dataclass(frozen=True, eq=False)
class Linear:
    """``requant(max over blocks(x @ matrix))``: a matrix product or small convolution, with a fused max pool.

    The dense matrix is cut into bands of equal width (each reading only the input columns it
    needs), written side by side; a band's columns are ``blocks`` equal slices whose element-wise
    maximum is requantized (a max pool over the accumulators: the builder makes the
    requantization non-decreasing in them).
    """

    x: str
    out: str
    bands: tuple[Band, ...]
    blocks: int
    requant: FeatureRequant

    def __call__(self, env: Env) -> None:
        x = env[self.x]
        rows, first = len(x), self.bands[0]
        if len(self.bands) == 1 and self.blocks == 1:  # one product, no copies
            env[self.out] = self.requant([np.matmul(x[:, first.start:first.stop], first.matrix)])
            return
        products = np.empty((rows, len(self.bands), first.matrix.shape[1]), first.matrix.dtype)
        for k, band in enumerate(self.bands):
            np.matmul(x[:, band.start:band.stop], band.matrix, out=products[:, k])
        acc = products.reshape(rows, len(self.bands), self.blocks, first.matrix.shape[1] // self.blocks)
        pooled = acc[:, :, 0]
        if self.blocks > 1:
            pooled = np.maximum(acc[:, :, 0], acc[:, :, 1])
            for b in range(2, self.blocks):
                np.maximum(pooled, acc[:, :, b], out=pooled)
        env[self.out] = self.requant([pooled.reshape(rows, len(self.bands) * acc.shape[3])])


@dataclass(frozen=True, eq=False)
class Conv:
    """A convolution as matrix products: ``requant(w @ x)`` per pixel for a 1x1 kernel, else im2col
    (windows gathered tap by tap, channels last) times the weights, batched over groups."""

    x: str
    out: str
    in_shape: tuple[int, ...]  # (C, *spatial)
    sliding: Sliding
    weights: np.ndarray  # 1x1: (groups, M / groups, C / groups); else (groups, taps * C / groups, M / groups)
    requant: FeatureRequant

    def __call__(self, env: Env) -> None:
        x = env[self.x]
        rows, (c, *spatial), groups = len(x), self.in_shape, len(self.weights)
        out_spatial = self.sliding.out_spatial
        if self.sliding.pointwise:
            acc = np.matmul(self.weights, x.reshape(rows, groups, c // groups, math.prod(spatial)))  # (rows, groups, mg, pixels)
            env[self.out] = self.requant([acc])
            return
        channels_last = np.moveaxis(x.reshape(rows, c, *spatial), 1, -1)
        padded = self.sliding.padded(channels_last, axis=1)
        taps = math.prod(self.sliding.kernel)
        cols = np.empty((rows, *out_spatial, taps, c), x.dtype)
        for t, view in enumerate(self.sliding.taps(padded, axis=1)):
            cols[..., t, :] = view
        pixels = rows * math.prod(out_spatial)
        if groups > 1:
            cols = cols.reshape(pixels, taps, groups, c // groups).transpose(2, 0, 1, 3)
        acc = np.matmul(cols.reshape(groups, pixels, taps * c // groups), self.weights)  # (groups, pixels, mg)
        acc = acc.reshape(groups, rows, math.prod(out_spatial), acc.shape[-1]).transpose(1, 0, 3, 2)  # (rows, groups, mg, pixels)
        env[self.out] = self.requant([acc])


@dataclass(frozen=True, eq=False)
class Pool:
    """Max or sum over the window taps (strided views of the padded input), then the optional requant.

    Padding is ``-inf`` for a max (it never wins) and 0 for a sum (the offset code of real zero);
    ``sliding`` None pools each channel's whole map.
    """

    x: str
    out: str
    reduce: str  # "max" or "sum"
    in_shape: tuple[int, ...]  # (C, *spatial)
    sliding: Sliding | None
    requant: FeatureRequant | None

    def __call__(self, env: Env) -> None:
        x = env[self.x]
        rows, combine = len(x), np.maximum if self.reduce == "max" else np.add
        if self.sliding is None:
            maps = x.reshape(rows, self.in_shape[0], math.prod(self.in_shape[1:]))
            acc = maps.max(axis=2) if self.reduce == "max" else maps.sum(axis=2)
        else:
            padded = self.sliding.padded(x.reshape(rows, *self.in_shape), 2, -np.inf if self.reduce == "max" else 0.0)
            taps = self.sliding.taps(padded, axis=2)
            acc = next(taps).copy()
            for view in taps:
                combine(acc, view, out=acc)
            acc = acc.reshape(rows, math.prod(acc.shape[1:]))
        env[self.out] = acc if self.requant is None else self.requant([acc])


@dataclass(frozen=True, eq=False)
class Combine:
    """``requant(sum_i k_i * x_i + b)`` over same-shaped flat inputs (QAdd)."""

    xs: tuple[str, ...]
    out: str
    requant: FeatureRequant

    def __call__(self, env: Env) -> None:
        env[self.out] = self.requant([env[x] for x in self.xs])


@dataclass(frozen=True, eq=False)
class Lut:
    """Table lookup: ``table[x + shift]`` with ``shift = offset_in - in_qmin`` and the table minus the output offset."""

    x: str
    out: str
    table: np.ndarray  # float32
    shift: int

    def __call__(self, env: Env) -> None:
        env[self.out] = self.table[np.add(env[self.x], self.shift, dtype=np.float32).astype(np.intp)]


@dataclass(frozen=True, eq=False)
class Alias:
    """Flatten / Reshape / Identity / (Un)squeeze of a flat value keeping the rows: the same array."""

    x: str
    out: str

    def __call__(self, env: Env) -> None:
        env[self.out] = env[self.x]


@dataclass(frozen=True, eq=False)
class ToFlat:
    """Golden to flat form: ``codes - offset`` as float32 (rows, features)."""

    x: str
    out: str
    shape: tuple[int, ...]
    offset: int

    def __call__(self, env: Env) -> None:
        flat = _rows(env[self.x], self.shape, self.x).reshape(len(env[self.x]), math.prod(self.shape)).astype(np.float32)
        env[self.out] = flat - np.float32(self.offset) if self.offset else flat


@dataclass(frozen=True, eq=False)
class ToGolden:
    """Flat to golden form: ``x + offset`` (columns back in C order) in the golden container, reshaped."""

    x: str
    out: str
    shape: tuple[int, ...]
    dtype: np.dtype
    offset: int
    columns: np.ndarray | None  # the column of each C-order feature (None: C order already)

    def __call__(self, env: Env) -> None:
        x = env[self.x] if self.columns is None else np.take(env[self.x], self.columns, axis=1)
        codes = x + np.float32(self.offset) if self.offset else x
        env[self.out] = codes.astype(self.dtype).reshape((len(x),) + self.shape)


@dataclass(frozen=True, eq=False)
class Reorder:
    """A flat value's columns put in C order (``columns``: the column of each C-order feature)."""

    x: str
    out: str
    columns: np.ndarray

    def __call__(self, env: Env) -> None:
        env[self.out] = np.take(env[self.x], self.columns, axis=1)


@dataclass(frozen=True, eq=False)
class Golden:
    """One node on golden-form arrays, exactly as :func:`~hwaccel.golden.fixed.run_golden` runs it."""

    node: Node
    graph: Graph

    def __call__(self, env: Env) -> None:
        node, graph = self.node, self.graph
        xs = [None if not name else env[name] if name in env else graph.initializers[name] for name in node.inputs]
        results = run_node(node, xs, graph)
        for name, value in zip(node.outputs, results):
            if name:
                env[name] = value
