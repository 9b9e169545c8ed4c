"""Parameters of the hardware units: one frozen dataclass per unit, pure Python (no Amaranth).

The generator (``hw/<unit>.py``), the cycle model (``perf/``), the estimates and the benches all
read the same object, so nothing here may import Amaranth. Conventions every class follows:

* ``@dataclass(frozen=True)``; semantic fields first, then folding (``simd``, ``pe``, ``lanes``).
  Array-like fields are stored as tuples of ``int`` (hashable, deterministic); ``__post_init__``
  converts NumPy input with :func:`int_tuple` and validates with the ``_check_*`` helpers, which
  raise :class:`~hwaccel.errors.CompileError` reading "X must be Y, not {value!r}".
* Streams (``amaranth.lib.stream``) carry ``lanes`` codes a beat; lane ``i`` occupies payload bits
  ``[i*w, (i+1)*w)`` (``data.ArrayLayout``). Feature maps stream in HWC order: pixels row-major,
  each pixel's channels in ``channels // simd`` beats of ``simd`` consecutive channels.
* Cycle model, exact for a run without stalls (input valid from cycle 0 on, output always ready):
  cycle 0 is the first cycle the unit's input is offered. ``first_output_cycles`` is the index of
  the cycle in which the first output beat transfers; ``total_cycles(n_inputs)`` is the index of
  the cycle in which the last output beat of ``n_inputs`` inputs transfers, plus one. Each class
  says what one input is (an image, a vector, a beat). The benches check both numbers exactly.

Another unit appends its class at the end of this file following the same conventions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import CompileError
from ..fixedpoint import accumulator_bits, bias_terms

__all__ = ["int_tuple", "code_range", "WindowParams", "MatVecParams", "FifoParams", "ADDER_LEVELS_PER_STAGE", "COPY_GROUP_LANES", "adder_tree_stages"]


def int_tuple(values: Any, name: str, ndim: int = 1) -> tuple:
    """``values`` (sequence or NumPy array of integers) as nested tuples of ``int`` with ``ndim`` levels."""
    arr = np.asarray(values)
    if arr.ndim != ndim or (arr.size and arr.dtype.kind not in "iub"):
        raise CompileError(f"{name} must be a {ndim}-d integer array, not {values!r}")
    return tuple(arr.astype(np.int64).tolist()) if ndim == 1 else tuple(tuple(row) for row in arr.astype(np.int64).tolist())


def code_range(bits: int, signed: bool) -> tuple[int, int]:
    """``(min, max)`` code of a ``bits``-bit signed or unsigned code."""
    return (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)


def _check_int(value: Any, name: str, low: int, high: int | None = None) -> None:
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= low and (high is None or value <= high)
    if not ok:
        bound = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise CompileError(f"{name} must be an integer {bound}, not {value!r}")


def _check_code(value: int, name: str, bits: int, signed: bool) -> None:
    lo, hi = code_range(bits, signed)
    if not (isinstance(value, int) and lo <= value <= hi):
        raise CompileError(f"{name} must be a {bits}-bit {'signed' if signed else 'unsigned'} code in [{lo}, {hi}], not {value!r}")


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


@dataclass(frozen=True)
class WindowParams:
    """SlidingWindow: ``kernel_h x kernel_w`` windows of a ``channels x height x width`` image.

    Input: HWC stream, ``simd`` channels a beat (``groups = channels // simd`` beats a pixel).
    Output: for each output pixel (row-major), for each kernel tap ``(ky, kx)`` (row-major), the
    ``groups`` beats of that tap's pixel, i.e. window element ``(ky*kernel_w + kx)*channels + c``;
    taps outside the image carry ``pad_value`` (the input zero point). One input is one image.

    The unit works in *steps*: step 0 reads the rows output row 0 needs; step ``i`` (1..out_height)
    emits output row ``i-1`` while reading the rows output row ``i`` adds (the last step reads
    the rest of the image). A step ends when both its reads and emissions are done, so it takes
    ``max(reads, emissions)`` cycles; see :attr:`step_cycles`.
    """

    channels: int
    height: int
    width: int
    kernel_h: int
    kernel_w: int
    stride_h: int = 1
    stride_w: int = 1
    dilation_h: int = 1
    dilation_w: int = 1
    pad_top: int = 0
    pad_left: int = 0
    pad_bottom: int = 0
    pad_right: int = 0
    pad_value: int = 0
    bits: int = 8
    signed: bool = False
    simd: int = 1

    def __post_init__(self) -> None:
        for name in ("channels", "height", "width", "kernel_h", "kernel_w", "stride_h", "stride_w",
                     "dilation_h", "dilation_w", "simd"):
            _check_int(getattr(self, name), name, 1)
        _check_int(self.bits, "bits", 2, 16)
        if self.channels % self.simd:
            raise CompileError(f"simd must divide channels={self.channels}, not {self.simd!r}")
        for name, extent in (("pad_top", self.extent_h), ("pad_bottom", self.extent_h),
                             ("pad_left", self.extent_w), ("pad_right", self.extent_w)):
            _check_int(getattr(self, name), name, 0, extent - 1)
        _check_code(self.pad_value, "pad_value", self.bits, self.signed)
        for name, size, pads, extent in (("height", self.height, self.pad_top + self.pad_bottom, self.extent_h),
                                         ("width", self.width, self.pad_left + self.pad_right, self.extent_w)):
            if size + pads < extent:
                raise CompileError(f"padded {name} must be >= the dilated kernel extent {extent}, not {size + pads!r}")

    @property
    def extent_h(self) -> int:
        """Rows a window spans: ``dilation_h * (kernel_h - 1) + 1``."""
        return self.dilation_h * (self.kernel_h - 1) + 1

    @property
    def extent_w(self) -> int:
        return self.dilation_w * (self.kernel_w - 1) + 1

    @property
    def out_height(self) -> int:
        return (self.height + self.pad_top + self.pad_bottom - self.extent_h) // self.stride_h + 1

    @property
    def out_width(self) -> int:
        return (self.width + self.pad_left + self.pad_right - self.extent_w) // self.stride_w + 1

    @property
    def groups(self) -> int:
        """Beats per pixel: ``channels // simd``."""
        return self.channels // self.simd

    @property
    def buffer_rows(self) -> int:
        """Image rows held on chip: the window's rows plus the rows the next output row adds."""
        return min(self.extent_h + self.stride_h, self.height)

    @property
    def window_beats(self) -> int:
        return self.kernel_h * self.kernel_w * self.groups

    @property
    def in_beats(self) -> int:
        """Input beats per image."""
        return self.height * self.width * self.groups

    @property
    def out_beats(self) -> int:
        """Output beats per image."""
        return self.out_height * self.out_width * self.window_beats

    def last_row_needed(self, out_row: int) -> int:
        """Last input row output row ``out_row`` reads (``height - 1`` past the last output row)."""
        if out_row >= self.out_height:
            return self.height - 1
        return min(self.height - 1, out_row * self.stride_h - self.pad_top + self.extent_h - 1)

    @property
    def step_reads(self) -> tuple[int, ...]:
        """Input beats read in each step ``0..out_height``."""
        ends = [self.last_row_needed(i) for i in range(self.out_height + 1)]
        rows = [ends[0] + 1] + [b - a for a, b in zip(ends, ends[1:])]
        return tuple(r * self.width * self.groups for r in rows)

    @property
    def step_emits(self) -> tuple[int, ...]:
        """Output beats emitted in each step ``0..out_height`` (none in step 0)."""
        return (0,) + (self.out_width * self.window_beats,) * self.out_height

    @property
    def step_cycles(self) -> tuple[int, ...]:
        return tuple(max(r, e) for r, e in zip(self.step_reads, self.step_emits))

    @property
    def image_cycles(self) -> int:
        """Cycles between the starts of consecutive images: ``sum(step_cycles)``."""
        return sum(self.step_cycles)

    @property
    def latency(self) -> int:
        """Cycles from issuing a buffer read to its beat on the output (the read port register, its
        copy in fabric flip-flops, then the output register)."""
        return 3

    @property
    def first_output_cycles(self) -> int:
        return self.step_reads[0] + self.latency

    def total_cycles(self, n_inputs: int) -> int:
        """Cycles for ``n_inputs`` images: the last step ends its emissions ``emits`` cycles after it starts."""
        _check_int(n_inputs, "n_inputs", 1)
        last = self.step_cycles[-1]
        return n_inputs * self.image_cycles - last + self.step_emits[-1] + self.latency


ADDER_LEVELS_PER_STAGE = 2  # adder-tree levels between two MatVec pipeline registers
# Lanes served by one copy of a register that would otherwise fan out across the die (a MatVec's ROM
# address, input fields and accumulate control, a Pool's input control); the copies are kept apart
# in synthesis, so that place and route can put each by its lanes.
COPY_GROUP_LANES = 8


def adder_tree_stages(terms: int) -> int:
    """Register stages of a MatVec adder tree over ``terms`` products: ``ADDER_LEVELS_PER_STAGE``
    pairwise levels a stage, at least one (the sum register)."""
    depth = (max(terms, 1) - 1).bit_length()  # ceil(log2(terms))
    return max(1, -(-depth // ADDER_LEVELS_PER_STAGE))


@dataclass(frozen=True)
class MatVecParams:
    """MatVec: ``acc[o] = bias[o] + sum_k (x[k] - x_zero_point) * w[o][k]``, raw accumulators out.

    Input: ``in_features`` codes in ``input_folds = ceil(in_features / simd)`` beats of ``simd``
    lanes (lanes past ``in_features`` in the last beat are ignored). Output: ``output_folds =
    ceil(out_features / pe)`` beats of ``pe`` signed ``acc_bits`` lanes (lanes past
    ``out_features`` are 0). One input is one vector.

    ``weights`` (``out_features x in_features``) are signed ``bits_w`` codes, or with a
    ``codebook`` indices into it (weight sharing). A *tile* is the ``pe x simd`` block of output
    fold ``nf`` and input fold ``sf``. Pruning: a lane position ``(p, s)`` whose weight is zero in
    every tile gets no multiplier, and a tile of zeros takes no cycle except in output fold 0,
    which reads the input (see :attr:`schedule`); dense weights take ``output_folds * input_folds``
    cycles per vector.
    """

    in_features: int
    out_features: int
    weights: tuple
    bias: Any = None  # stored as a tuple of ``out_features`` int32 codes (zeros when ``None``)
    pe: int = 1
    simd: int = 1
    bits_x: int = 8
    signed_x: bool = False
    x_zero_point: int = 0
    bits_w: int = 8
    codebook: tuple | None = None

    def __post_init__(self) -> None:
        _check_int(self.in_features, "in_features", 1)
        _check_int(self.out_features, "out_features", 1)
        _check_int(self.pe, "pe", 1, self.out_features)
        _check_int(self.simd, "simd", 1, self.in_features)
        _check_int(self.bits_x, "bits_x", 2, 16)
        _check_int(self.bits_w, "bits_w", 2, 16)
        _check_code(self.x_zero_point, "x_zero_point", self.bits_x, self.signed_x)
        weights = int_tuple(self.weights, "weights", 2)
        if np.shape(weights) != (self.out_features, self.in_features):
            raise CompileError(f"weights must have shape {(self.out_features, self.in_features)}, not {np.shape(weights)!r}")
        object.__setattr__(self, "weights", weights)
        bias = (0,) * self.out_features if self.bias is None else int_tuple(self.bias, "bias")
        if len(bias) != self.out_features or any(not -(1 << 31) <= b < 1 << 31 for b in bias):
            raise CompileError(f"bias must be {self.out_features} int32 codes, not {self.bias!r}")
        object.__setattr__(self, "bias", bias)
        if self.codebook is not None:
            codebook = int_tuple(self.codebook, "codebook")
            if not codebook:
                raise CompileError(f"codebook must not be empty, not {self.codebook!r}")
            for v in codebook:
                _check_code(v, "codebook entry", self.bits_w, True)
            object.__setattr__(self, "codebook", codebook)
            bad = [w for row in weights for w in row if not 0 <= w < len(codebook)]
            if bad:
                raise CompileError(f"weight indices must be in [0, {len(codebook) - 1}], not {bad[0]!r}")
        else:
            for row in weights:
                for w in row:
                    _check_code(w, "weight", self.bits_w, True)

    @property
    def weight_values(self) -> tuple[tuple[int, ...], ...]:
        """The weight codes (codebook entries looked up)."""
        if self.codebook is None:
            return self.weights
        return tuple(tuple(self.codebook[i] for i in row) for row in self.weights)

    @property
    def stored_codebook(self) -> tuple[int, ...] | None:
        """The codebook the hardware holds: ``codebook``, plus a 0 entry when it has none (for
        the lanes past the matrix edge)."""
        if self.codebook is None or 0 in self.codebook:
            return self.codebook
        return self.codebook + (0,)

    @property
    def index_bits(self) -> int:
        """Bits of a stored weight: ``bits_w``, or the codebook index width."""
        book = self.stored_codebook
        return self.bits_w if book is None else max(1, (len(book) - 1).bit_length())

    def tile_stored(self, nf: int, sf: int, p: int, s: int) -> int:
        """What the weight ROM holds for lane ``(p, s)`` of tile ``(nf, sf)``: the code or codebook
        index; past the matrix edge the code 0 (or the index of the entry 0)."""
        o, k = nf * self.pe + p, sf * self.simd + s
        if o < self.out_features and k < self.in_features:
            return self.weights[o][k]
        return 0 if self.stored_codebook is None else self.stored_codebook.index(0)

    @property
    def acc_bits(self) -> int:
        """The contract width for ``in_features`` products plus the bias (``fixedpoint.accumulator_bits``)."""
        terms = self.in_features + bias_terms(np.array(self.bias, dtype=np.int64), self.bits_x, self.bits_w)
        return accumulator_bits(self.bits_x, self.bits_w, terms)

    @property
    def input_folds(self) -> int:
        return _ceil_div(self.in_features, self.simd)

    @property
    def output_folds(self) -> int:
        return _ceil_div(self.out_features, self.pe)

    def tile_weight(self, nf: int, sf: int, p: int, s: int) -> int:
        """Weight code at lane ``(p, s)`` of tile ``(nf, sf)``; 0 past the matrix edge."""
        o, k = nf * self.pe + p, sf * self.simd + s
        return self.weight_values[o][k] if o < self.out_features and k < self.in_features else 0

    def _tile_nonzero(self, nf: int, sf: int) -> bool:
        return any(self.tile_weight(nf, sf, p, s) for p in range(self.pe) for s in range(self.simd))

    @property
    def schedule(self) -> tuple[tuple[int, int], ...]:
        """The ``(nf, sf)`` tiles computed per vector, one a cycle.

        Output fold 0 takes every input fold (it reads the input beats); a later fold takes its
        non-zero tiles only, at least one (a fold of zeros still emits its bias).
        """
        steps = [(0, sf) for sf in range(self.input_folds)]
        for nf in range(1, self.output_folds):
            live = [(nf, sf) for sf in range(self.input_folds) if self._tile_nonzero(nf, sf)]
            steps += live or [(nf, 0)]
        return tuple(steps)

    @property
    def live_lanes(self) -> tuple[tuple[int, int], ...]:
        """Lane positions ``(p, s)`` with a non-zero weight in some tile: the multipliers built."""
        return tuple((p, s) for p in range(self.pe) for s in range(self.simd)
                     if any(self.tile_weight(nf, sf, p, s) for nf, sf in self.schedule))

    @property
    def vector_cycles(self) -> int:
        """Cycles per vector: ``len(schedule)``."""
        return len(self.schedule)

    @property
    def latency(self) -> int:
        """Issue -> input beat and buffer read -> their registers, ROM addresses -> input choice, ROM
        read -> input copies, ROM read registers -> offset/weight -> product -> product copy -> adder
        tree stages -> accumulator -> output."""
        return 9 + adder_tree_stages(self.simd)

    @property
    def first_output_cycles(self) -> int:
        return self.input_folds - 1 + self.latency

    def total_cycles(self, n_inputs: int) -> int:
        _check_int(n_inputs, "n_inputs", 1)
        return n_inputs * self.vector_cycles + self.latency


@dataclass(frozen=True)
class FifoParams:
    """Stream FIFO of ``depth`` beats of ``lanes`` codes. One input is one beat.

    Built on ``amaranth.lib.fifo.SyncFIFOBuffered``: an inner memory of ``depth - 1`` words plus
    an output register. A beat entering an empty FIFO leaves ``latency`` cycles later (1 for
    depth 1, else 2); depths 1 and 2 pass a beat every other cycle, depth 3 and more every cycle.
    """

    depth: int
    lanes: int = 1
    bits: int = 8
    signed: bool = False

    def __post_init__(self) -> None:
        _check_int(self.depth, "depth", 1)
        _check_int(self.lanes, "lanes", 1)
        _check_int(self.bits, "bits", 1, 64)

    @property
    def latency(self) -> int:
        return 1 if self.depth == 1 else 2

    @property
    def interval(self) -> int:
        """Cycles between beats in steady state."""
        return 2 if self.depth <= 2 else 1

    @property
    def first_output_cycles(self) -> int:
        return self.latency

    def total_cycles(self, n_inputs: int) -> int:
        _check_int(n_inputs, "n_inputs", 1)
        return self.latency + self.interval * (n_inputs - 1) + 1


# -- Requant, Pool, Eltwise: the contract's requantization (hwaccel.fixedpoint.Requant) in hardware ----

__all__ += ["ADD_RESCALE_STAGES", "REQUANT_LATENCY", "RequantEntry", "RequantParams", "PoolParams", "EltwiseAddParams", "EltwiseConcatParams", "signed_width"]

ADD_RESCALE_STAGES = 6  # EltwiseAdd: operands, offsets, DSP input copies, partial products, their copies, the rescaled inputs
REQUANT_LATENCY = 10  # operands, multiplier inputs, partial products, two copies, two adder stages, shift, rounding, clamp (+1 for a table)


def signed_width(lo: int, hi: int) -> int:
    """Smallest two's-complement width holding every integer in ``[lo, hi]``."""
    return max(int(hi).bit_length(), (-int(lo) - 1).bit_length() if lo < 0 else 0) + 1


@dataclass(frozen=True)
class RequantEntry:
    """One hardware setting: ``clamp(zero_point + ((x * mult + bias) >> shift), lo, hi)``.

    ``shift`` lies in ``[0, product_bits]``: a left shift is folded into ``mult`` and a longer right
    shift gives 0 like ``product_bits`` does. ``half = 2**(shift-1)`` (0 for shift 0).
    """

    mult: int
    shift: int
    half: int
    zero_point: int
    lo: int
    hi: int


@dataclass(frozen=True)
class RequantParams:
    """Requant: ``clamp(zero_point + round(acc * M0 * 2**-n), lo, hi)``, then an optional table.

    Input: signed ``acc_bits`` accumulators, ``lanes`` a beat, a pixel's ``channels`` in
    ``groups = ceil(channels / lanes)`` beats (lane ``l`` of beat ``g`` is channel ``g*lanes + l``;
    lanes past ``channels`` use multiplier 0 and give ``clamp(zero_point)``). ``multipliers`` and
    ``shifts`` hold one entry or one per channel, rounding ``half_even`` or ``half_up``, as in
    :class:`hwaccel.fixedpoint.Requant`. ``lut`` maps a clamped code ``y`` to ``lut[y - lut_qmin]``
    (activation functions); ``out_bits``/``out_signed`` describe the codes out. One input is one
    pixel; one beat a cycle.
    """

    acc_bits: int
    out_bits: int
    out_signed: bool
    multipliers: tuple
    shifts: tuple
    zero_point: int
    lo: int
    hi: int
    rounding: str = "half_even"
    channels: int = 1
    lut: tuple | None = None
    lut_qmin: int = 0
    lanes: int = 1

    def __post_init__(self) -> None:
        _check_int(self.acc_bits, "acc_bits", 2, 48)
        _check_int(self.out_bits, "out_bits", 2, 16)
        _check_int(self.channels, "channels", 1)
        _check_int(self.lanes, "lanes", 1)
        for name in ("multipliers", "shifts"):
            object.__setattr__(self, name, int_tuple(getattr(self, name), name))
        if len(self.multipliers) not in (1, self.channels) or len(self.shifts) != len(self.multipliers):
            raise CompileError(f"multipliers and shifts must have 1 or {self.channels} entries each, not {len(self.multipliers)} and {len(self.shifts)}")
        if self.rounding not in ("half_even", "half_up"):
            raise CompileError(f"rounding must be 'half_even' or 'half_up', not {self.rounding!r}")
        _check_int(self.lo, "lo", -(1 << 31))
        _check_int(self.hi, "hi", self.lo)
        if self.lut is None:
            _check_code(self.lo, "lo", self.out_bits, self.out_signed)
            _check_code(self.hi, "hi", self.out_bits, self.out_signed)
        else:
            object.__setattr__(self, "lut", int_tuple(self.lut, "lut"))
            if not (self.lut_qmin <= self.lo and self.hi - self.lut_qmin < len(self.lut)):
                raise CompileError(f"lut must cover [lo, hi] = [{self.lo}, {self.hi}], not {len(self.lut)} entries from {self.lut_qmin!r}")
            for code in self.lut:
                _check_code(code, "lut entry", self.out_bits, self.out_signed)
        if self.product_bits > 63:
            raise CompileError(f"acc_bits + multiplier bits must be <= 63, not {self.product_bits!r}")

    @classmethod
    def from_requant(cls, rq: Any, acc_bits: int, out_bits: int, out_signed: bool, channels: int | None = None,
                     lut: Any = None, lut_qmin: int = 0, lanes: int = 1) -> "RequantParams":
        """The unit for a :class:`hwaccel.fixedpoint.Requant` (its semantic fields) and the widths."""
        return cls(acc_bits, out_bits, out_signed, rq.multiplier, rq.shift, rq.zero_point, rq.lo, rq.hi, rq.rounding,
                   rq.channels if channels is None else channels, lut, lut_qmin, lanes)

    @property
    def groups(self) -> int:
        """Beats per pixel."""
        return _ceil_div(self.channels, self.lanes)

    @property
    def product_bits(self) -> int:
        """Exact signed width of ``acc * mult`` over all entries (left shifts folded in)."""
        lo, hi = code_range(self.acc_bits, True)
        mults = [m << max(-n, 0) for m, n in zip(self.multipliers, self.shifts)] + [0]
        corners = [a * m for a in (lo, hi) for m in (min(mults), max(mults))]
        return signed_width(min(corners), max(corners))

    def entry(self, channel: int) -> RequantEntry:
        """The setting of ``channel`` (multiplier 0 past ``channels``)."""
        if channel >= self.channels:
            mult, shift = 0, 0
        else:
            k = 0 if len(self.multipliers) == 1 else channel
            mult, shift = self.multipliers[k] << max(-self.shifts[k], 0), min(max(self.shifts[k], 0), self.product_bits)
        return RequantEntry(mult, shift, (1 << shift) >> 1, self.zero_point, self.lo, self.hi)

    def entries(self) -> tuple[tuple[RequantEntry, ...], ...]:
        """``entries()[lane][g]``: the setting of each lane in beat ``g`` of a pixel."""
        return tuple(tuple(self.entry(g * self.lanes + lane) for g in range(self.groups)) for lane in range(self.lanes))

    @property
    def latency(self) -> int:
        return REQUANT_LATENCY + (self.lut is not None)

    @property
    def first_output_cycles(self) -> int:
        return self.latency

    def total_cycles(self, n_inputs: int) -> int:
        _check_int(n_inputs, "n_inputs", 1)
        return n_inputs * self.groups + self.latency


@dataclass(frozen=True)
class PoolParams:
    """Pool: max or average over windows of ``window`` codes per channel.

    Input: for each output pixel, for each window element, the ``groups = channels // lanes``
    beats of that element (the SlidingWindow order; a global pool streams the whole HWC feature
    map as one window). Output: one pixel's ``groups`` beats per window. ``max`` keeps the input
    codes; ``avg`` is ``requant(sum(x - x_zero_point))`` with ``1/window`` folded into the
    requant's multiplier. One input is one window.
    """

    kind: str
    window: int
    bits: int
    signed: bool
    channels: int = 1
    x_zero_point: int = 0
    requant: RequantParams | None = None
    lanes: int = 1

    def __post_init__(self) -> None:
        if self.kind not in ("max", "avg"):
            raise CompileError(f"kind must be 'max' or 'avg', not {self.kind!r}")
        _check_int(self.window, "window", 1)
        _check_int(self.bits, "bits", 2, 16)
        _check_int(self.lanes, "lanes", 1)
        _check_int(self.channels, "channels", self.lanes)
        if self.channels % self.lanes:
            raise CompileError(f"lanes must divide channels={self.channels}, not {self.lanes!r}")
        _check_code(self.x_zero_point, "x_zero_point", self.bits, self.signed)
        rq = self.requant
        if (self.kind == "max") != (rq is None):
            raise CompileError(f"requant must be given exactly for kind 'avg', not {rq!r}")
        if rq is not None and (rq.lanes, rq.channels, rq.acc_bits < self.sum_bits) != (self.lanes, self.channels, False):
            raise CompileError(f"requant must have lanes={self.lanes}, channels={self.channels}, acc_bits >= {self.sum_bits}, not {rq!r}")

    @property
    def groups(self) -> int:
        return self.channels // self.lanes

    @property
    def sum_bits(self) -> int:
        """Exact signed width of ``sum(x - x_zero_point)`` over a window."""
        lo, hi = code_range(self.bits, self.signed)
        return signed_width(self.window * min(lo - self.x_zero_point, 0), self.window * max(hi - self.x_zero_point, 0))

    @property
    def out_bits(self) -> int:
        return self.bits if self.requant is None else self.requant.out_bits

    @property
    def out_signed(self) -> bool:
        return self.signed if self.requant is None else self.requant.out_signed

    @property
    def latency(self) -> int:
        """Cycles from the transfer of a window's last beat to its output transferring: the input
        register, then (max) the result register and the output queue's, or (average) the requant's
        stages."""
        return 1 + (2 if self.requant is None else self.requant.latency)

    @property
    def first_output_cycles(self) -> int:
        return (self.window - 1) * self.groups + self.latency

    def total_cycles(self, n_inputs: int) -> int:
        _check_int(n_inputs, "n_inputs", 1)
        return n_inputs * self.window * self.groups + self.latency


def _sum_range(terms: list[tuple[int, bool, int, int]]) -> tuple[int, int]:
    """Exact range of ``sum (x - zero_point) * mult`` over codes ``x`` of ``(bits, signed, zero_point, mult)``."""
    lo = hi = 0
    for bits, signed, zp, mult in terms:
        ends = [(c - zp) * mult for c in code_range(bits, signed)]
        lo, hi = lo + min(ends), hi + max(ends)
    return lo, hi


@dataclass(frozen=True)
class EltwiseAddParams:
    """Add: ``requant((a - a_zero_point) * a_multiplier + (b - b_zero_point) * b_multiplier)``.

    Each input reaches a common scale by its own integer multiplier and the sum is rounded once
    (``requant`` per-tensor, typically multiplier 1 and the common shift; a negative
    ``b_multiplier`` is Sub). Streams ``a`` and ``b`` carry ``lanes`` codes a beat; a beat of each
    makes one output beat. One input is one beat.
    """

    a_bits: int
    a_signed: bool
    a_zero_point: int
    a_multiplier: int
    b_bits: int
    b_signed: bool
    b_zero_point: int
    b_multiplier: int
    requant: RequantParams
    lanes: int = 1

    def __post_init__(self) -> None:
        for side in "ab":
            bits, signed = getattr(self, f"{side}_bits"), getattr(self, f"{side}_signed")
            _check_int(bits, f"{side}_bits", 2, 16)
            _check_code(getattr(self, f"{side}_zero_point"), f"{side}_zero_point", bits, signed)
            _check_int(getattr(self, f"{side}_multiplier"), f"{side}_multiplier", -(1 << 32), 1 << 32)
        _check_int(self.lanes, "lanes", 1)
        rq = self.requant
        if (rq.lanes, len(rq.multipliers), rq.groups, rq.acc_bits < self.sum_bits) != (self.lanes, 1, 1, False):
            raise CompileError(f"requant must be per-tensor with lanes={self.lanes}, channels <= lanes, acc_bits >= {self.sum_bits}, not {rq!r}")

    @property
    def sum_bits(self) -> int:
        """Exact signed width of the sum of the rescaled inputs."""
        return signed_width(*_sum_range([(self.a_bits, self.a_signed, self.a_zero_point, self.a_multiplier),
                                         (self.b_bits, self.b_signed, self.b_zero_point, self.b_multiplier)]))

    @property
    def latency(self) -> int:
        """The rescale stages (:data:`ADD_RESCALE_STAGES`: operands, offsets, their copies at the DSP
        blocks, partial products, their copies, the rescaled inputs), then the requant."""
        return ADD_RESCALE_STAGES + self.requant.latency

    @property
    def first_output_cycles(self) -> int:
        return self.latency

    def total_cycles(self, n_inputs: int) -> int:
        _check_int(n_inputs, "n_inputs", 1)
        return n_inputs + self.latency


@dataclass(frozen=True)
class EltwiseConcatParams:
    """Concat along channels: per pixel ``a_channels`` codes of ``a``, then ``b_channels`` of ``b``.

    Each input reaches the output encoding by its own requant of ``x - zero_point`` (``None``: it
    has the output encoding already and passes unchanged). Streams carry ``lanes`` codes a beat;
    a pixel is ``a_channels / lanes`` beats of ``a`` then ``b_channels / lanes`` of ``b``. One
    input is one pixel.
    """

    a_channels: int
    b_channels: int
    a_bits: int
    a_signed: bool
    b_bits: int
    b_signed: bool
    out_bits: int
    out_signed: bool
    a_zero_point: int = 0
    b_zero_point: int = 0
    a_requant: RequantParams | None = None
    b_requant: RequantParams | None = None
    lanes: int = 1

    def __post_init__(self) -> None:
        _check_int(self.lanes, "lanes", 1)
        _check_int(self.out_bits, "out_bits", 2, 16)
        for side in "ab":
            chans, bits, signed, zp, rq = (getattr(self, f"{side}_{k}") for k in ("channels", "bits", "signed", "zero_point", "requant"))
            _check_int(chans, f"{side}_channels", self.lanes)
            if chans % self.lanes:
                raise CompileError(f"lanes must divide {side}_channels={chans}, not {self.lanes!r}")
            _check_int(bits, f"{side}_bits", 2, 16)
            _check_code(zp, f"{side}_zero_point", bits, signed)
            if rq is None and (bits, signed) != (self.out_bits, self.out_signed):
                raise CompileError(f"{side} without a requant must have the output code type, not {(bits, signed)!r}")
            if rq is not None and (rq.lanes, rq.channels, rq.lut, rq.out_bits, rq.out_signed, rq.acc_bits <= bits) != (
                    self.lanes, chans, None, self.out_bits, self.out_signed, False):
                raise CompileError(f"{side}_requant must match the lanes, {side}_channels and output codes, without a table, not {rq!r}")
        if self.a_requant is not None and self.b_requant is not None and self.a_requant.rounding != self.b_requant.rounding:
            raise CompileError(f"b_requant.rounding must be {self.a_requant.rounding!r}, not {self.b_requant.rounding!r}")

    def side(self, name: str) -> RequantParams:
        """The requant of input ``name`` ('a' or 'b'); the identity when it has none."""
        rq = getattr(self, f"{name}_requant")
        if rq is not None:
            return rq
        other = self.b_requant if name == "a" else self.a_requant
        rounding = "half_even" if other is None else other.rounding  # moot for shift 0; one rounding for both
        lo, hi = code_range(self.out_bits, self.out_signed)
        return RequantParams(self.out_bits + 1, self.out_bits, self.out_signed, (1,), (0,), getattr(self, f"{name}_zero_point"),
                             lo, hi, rounding, getattr(self, f"{name}_channels"), lanes=self.lanes)

    @property
    def groups(self) -> tuple[int, int]:
        """Beats per pixel from ``a`` and from ``b``."""
        return self.a_channels // self.lanes, self.b_channels // self.lanes

    @property
    def latency(self) -> int:
        return REQUANT_LATENCY

    @property
    def first_output_cycles(self) -> int:
        return self.latency

    def total_cycles(self, n_inputs: int) -> int:
        _check_int(n_inputs, "n_inputs", 1)
        return n_inputs * sum(self.groups) + self.latency
