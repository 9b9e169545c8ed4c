"""Recurrent: an LSTM, GRU or RNN layer (forward, reverse or bidirectional) over one sequence an input.

The integer cell is :mod:`hwaccel.golden.fixed_ops.recurrent`'s, step for step. One input is one
sequence of ``seq`` vectors of ``inputs`` codes (``seq * inputs / simd`` beats of ``simd`` codes);
the output is ``Y`` (``seq x directions x hidden`` codes, step-major; or only the time steps
``steps``, in that order: a Gather after the cell), ``Y_h`` or ``Y_c`` (``directions x hidden``), requantized to the output encoding, ``lanes`` codes a beat.

The unit works in three phases, one after the other:

1. **load**: the sequence streams into the x memory, one beat a cycle as it arrives;
2. **compute**, ``compute_cycles`` cycles, independent of the data: per direction one cycle sets
   ``h`` and ``c`` to their initial values, then each time step runs its passes in turn:

   * a **MatVec pass** over ``[x_t, h_{t-1}]``: ``pe`` gate rows at a time, ``simd`` columns a
     cycle (``inputs / simd`` x-chunks, then ``ceil(hidden / simd)`` h-chunks, zero-padded), two
     exact accumulators per row (x half and h half, each starting from its bias); each finished
     row goes through the post pipeline ``requant(ax * Mx + ah * Mh)`` -> gate table -> the gate
     registers. LSTM and RNN run one pass over all gate rows; GRU runs two, ``z, r`` and then
     ``n`` (whose h half reads ``round(r * h)`` or, with ``linear_before_reset``, is
     ``round(r * ah)``), with a **reset pass** of ``hidden`` cycles between them computing
     ``round(r * h)`` when ``linear_before_reset`` is 0;
   * an **update pass**, one hidden unit a cycle: the new ``c`` and ``h`` (LSTM: the ``tanh(c)``
     table), and the output code of the step written to the y memory.

   A step cannot start before ``h_{t-1}`` is complete: every pass waits for the last write of the
   one before (the ``*_TAIL`` constants below, the pipelines' depths);
3. **emit**: the y memory streams out, one beat a cycle while the consumer takes them. The last
   beat loaded into the output register returns the unit to **load**.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import CompileError
from ..fixedpoint import code_range
from .base import AsicCount, Shape3, Unit
from .common import Operand, Product, ceil_div, check_code, check_int, int_tuple, span

__all__ = ["RecurrentParams", "CELLS", "MATVEC_TAIL", "RESET_TAIL", "UPDATE_TAIL"]

CELLS = {"lstm": ("Sigmoid", "Sigmoid", "Sigmoid", "Tanh"), "gru": ("Sigmoid", "Sigmoid", "Tanh"), "rnn": ("Tanh",)}
OUTPUTS = ("Y", "Y_h", "Y_c")
# Cycles from a pass's last issue to the first cycle after its last register write:
MATVEC_TAIL = 8  # ROM read, products, accumulate, acc x M, sum, round and clamp, table read, gate write
RESET_TAIL = 0  # round(r * h) written at the end of the cycle it issues
UPDATE_TAIL = 7  # cell arithmetic, new c, tanh(c) read, new h, value x M, output code, y memory write (+1: read port)


def _tuple_of(values: Any, name: str, size: int) -> tuple:
    out = int_tuple(np.asarray(values).reshape(-1), name)
    if len(out) != size:
        raise CompileError(f"{name} must hold {size} values, not {len(out)}")
    return out


@dataclass(frozen=True)
class RecurrentParams(Unit):
    """One recurrent layer. Weights ``w`` ``(directions, G*hidden, inputs)`` and ``r`` ``(directions,
    G*hidden, hidden)`` are symmetric codes in ONNX gate order, ``bias`` ``(directions, 2*G*hidden)``
    the int32 codes of the x and h halves, ``multipliers`` ``(directions, G*hidden, 2)`` the
    ``(Mx, Mh)`` and ``shifts`` ``(directions, G*hidden)`` the shift of each row's requant to its
    table index; ``initial_h`` / ``initial_c`` ``(directions, hidden)`` or empty (zero). The output
    requant is per tensor."""

    unit_kind = "recurrent"

    cell: str
    seq: int
    inputs: int
    hidden: int
    directions: int
    reverse: bool
    w: tuple
    r: tuple
    bias: tuple
    multipliers: tuple
    shifts: tuple
    sigmoid_table: tuple
    sigmoid_qmin: int
    tanh_table: tuple
    tanh_qmin: int
    frac_bits: int
    acc_bits: tuple  # (x half, h half)
    output: str = "Y"
    out_multiplier: int = 1
    out_shift: int = 0
    out_zero_point: int = 0
    out_bits: int = 8
    out_signed: bool = True
    out_lo: int = -128
    out_hi: int = 127
    bits_x: int = 8
    signed_x: bool = False
    x_zero_point: int = 0
    bits_w: int = 8
    linear_before_reset: bool = False
    cell_frac: int = 0
    cell_bits: int = 0
    cell_to_gate_shift: int = 0
    initial_h: tuple = ()
    initial_c: tuple = ()
    rounding: str = "half_even"
    steps: tuple = ()  # output Y: only these time steps, in this order (empty: every step)
    simd: int = 1
    pe: int = 1
    lanes: int = 1

    def __post_init__(self) -> None:
        if self.cell not in CELLS:
            raise CompileError(f"cell must be one of {sorted(CELLS)}, not {self.cell!r}")
        if self.output not in OUTPUTS or (self.output == "Y_c" and self.cell != "lstm"):
            raise CompileError(f"output must be one of {OUTPUTS} (Y_c: LSTM only), not {self.output!r}")
        if self.rounding not in ("half_even", "half_up"):
            raise CompileError(f"rounding must be 'half_even' or 'half_up', not {self.rounding!r}")
        for name, low in (("seq", 1), ("inputs", 1), ("hidden", 1), ("directions", 1), ("simd", 1), ("pe", 1),
                          ("lanes", 1), ("frac_bits", 1)):
            check_int(getattr(self, name), name, low)
        check_int(self.directions, "directions", 1, 2)
        check_int(self.bits_x, "bits_x", 2, 16)
        check_int(self.bits_w, "bits_w", 2, 16)
        check_code(self.x_zero_point, "x_zero_point", self.bits_x, self.signed_x)
        if self.inputs % self.simd:
            raise CompileError(f"simd must divide inputs={self.inputs}, not {self.simd!r}")
        if self.out_codes_total % self.lanes or self.hidden % self.lanes:
            raise CompileError(f"lanes must divide hidden={self.hidden}, not {self.lanes!r}")
        d, rows, h = self.directions, self.rows, self.hidden
        sets = dict(w=(self.w, d * rows * self.inputs), r=(self.r, d * rows * h), bias=(self.bias, d * 2 * rows),
                    multipliers=(self.multipliers, d * rows * 2), shifts=(self.shifts, d * rows),
                    sigmoid_table=(self.sigmoid_table, len(self.sigmoid_table)), tanh_table=(self.tanh_table, len(self.tanh_table)),
                    initial_h=(self.initial_h, d * h if len(self.initial_h) else 0),
                    initial_c=(self.initial_c, d * h if len(self.initial_c) else 0), acc_bits=(self.acc_bits, 2))
        for name, (value, size) in sets.items():
            object.__setattr__(self, name, _tuple_of(value, name, size))
        if not self.sigmoid_table or not self.tanh_table:
            raise CompileError("sigmoid_table and tanh_table must not be empty")
        lo, hi = code_range(self.bits_w, True)
        if any(not lo <= v <= hi for v in self.w + self.r):
            raise CompileError(f"w and r must be {self.bits_w}-bit signed codes")
        if self.cell == "lstm" and (self.cell_frac < self.frac_bits or self.cell_bits < self.cell_frac + 2):
            raise CompileError(f"an LSTM needs cell_frac >= frac_bits and cell_bits >= cell_frac + 2, not "
                               f"{self.cell_frac!r} and {self.cell_bits!r}")
        object.__setattr__(self, "steps", int_tuple(list(self.steps), "steps") if self.steps else ())
        if self.steps and (self.output != "Y" or len(set(self.steps)) != len(self.steps)
                           or not all(0 <= t < self.seq for t in self.steps)):
            raise CompileError(f"steps must be distinct time steps in [0, {self.seq}) of output Y, not {self.steps!r}")
        if min(self.shifts) < 0 or self.out_shift < 0:
            raise CompileError("shifts must be >= 0 (a right shift with rounding)")

    # -- shape of the computation ----------------------------------------------------------------

    @property
    def gates(self) -> tuple[str, ...]:
        return CELLS[self.cell]

    @property
    def rows(self) -> int:
        """Gate rows per direction (``G * hidden``)."""
        return len(self.gates) * self.hidden

    @property
    def x_chunks(self) -> int:
        return self.inputs // self.simd

    @property
    def h_chunks(self) -> int:
        return ceil_div(self.hidden, self.simd)

    @property
    def chunks(self) -> int:
        """Cycles a group of ``pe`` rows spends in a MatVec pass (its ``simd``-wide column chunks)."""
        return self.x_chunks + self.h_chunks

    def passes(self) -> list[tuple[int, int]]:
        """The MatVec passes of a step: ``(first row, rows)`` each (GRU: ``z, r`` then ``n``)."""
        h = self.hidden
        return [(0, 2 * h), (2 * h, h)] if self.cell == "gru" else [(0, self.rows)]

    def groups(self, rows: int) -> int:
        return ceil_div(rows, self.pe)

    @property
    def reset_pass(self) -> bool:
        """A GRU with ``linear_before_reset`` 0 computes ``round(r * h)`` between its passes."""
        return self.cell == "gru" and not self.linear_before_reset

    @property
    def h_bits(self) -> int:
        """Signed width of ``h`` and the gate values (``±2**frac_bits``)."""
        return self.frac_bits + 2

    @property
    def index_bits(self) -> tuple[int, int]:
        """Signed widths of the sigmoid and tanh table indices."""
        return tuple(max(1, (len(t) - 1).bit_length()) for t in (self.sigmoid_table, self.tanh_table))  # type: ignore[return-value]

    # -- cycles ----------------------------------------------------------------------------------

    @property
    def step_cycles(self) -> int:
        """Cycles of one time step of one direction."""
        matvec = sum(self.groups(rows) * self.chunks + MATVEC_TAIL for _, rows in self.passes())
        return matvec + (self.hidden + RESET_TAIL if self.reset_pass else 0) + self.hidden + UPDATE_TAIL

    @property
    def compute_cycles(self) -> int:
        """The compute phase: per direction one cycle of initial state, then its steps."""
        return self.directions * (1 + self.seq * self.step_cycles)

    @property
    def in_beats(self) -> int:
        return self.seq * self.inputs // self.simd

    @property
    def out_codes_total(self) -> int:
        return self.directions * self.hidden * (len(self.steps or range(self.seq)) if self.output == "Y" else 1)

    @property
    def out_beats(self) -> int:
        return self.out_codes_total // self.lanes

    @property
    def sequence_cycles(self) -> int:
        """Cycles per sequence, input always valid and output always ready."""
        return self.in_beats + self.compute_cycles + self.out_beats

    @property
    def in_lanes(self) -> int:
        return self.simd

    @property
    def out_codes(self) -> tuple[int, bool]:
        return self.out_bits, self.out_signed

    def beat_ratio(self) -> Any:
        from fractions import Fraction
        return Fraction(self.out_beats, self.in_beats)

    @property
    def latency(self) -> int:
        """Cycles from the transfer of a sequence's last beat to its first output beat's."""
        return self.compute_cycles + 1

    @property
    def first_output_cycles(self) -> int:
        return self.in_beats + self.latency

    def total_cycles(self, n_inputs: int) -> int:
        """``n_inputs`` sequences: the load, compute and emit phases never overlap."""
        check_int(n_inputs, "n_inputs", 1)
        return n_inputs * self.sequence_cycles + 1

    def inputs_per_image(self, shape: Shape3) -> int:
        return 1

    # -- costs -----------------------------------------------------------------------------------

    @property
    def x_operand(self) -> Operand:
        lo, hi = code_range(self.bits_x, self.signed_x)
        return span([lo - self.x_zero_point, hi - self.x_zero_point])

    def products(self) -> list[Product]:
        """``pe * simd`` MAC multipliers (x or h columns), two per post lane (``acc * M``), the
        update pass's and the output requant's."""
        w = Operand(self.bits_w, True)
        column = Operand(max(self.x_operand.width, self.h_bits), True)
        mx = span([m for m in self.multipliers[0::2]])
        mh = span([m for m in self.multipliers[1::2]])
        h = Operand(self.h_bits, True)
        out: list[Product] = [(column, w)] * (self.pe * self.simd)
        out += [(Operand(self.acc_bits[0], True), mx), (Operand(self.acc_bits[1] + 1, True), mh)] * self.pe
        update = {"lstm": [(h, h)] * 3, "gru": [(h, h)] * 2, "rnn": []}[self.cell]
        if self.cell == "gru":
            out.append((h, Operand(self.acc_bits[1], True)) if self.linear_before_reset else (h, h))
        state = Operand(self.cell_bits, True) if self.output == "Y_c" else h
        return out + update + [(state, self.out_multiplier)]

    def mac_multipliers(self) -> int:
        return self.pe * self.simd

    def multiplying_lanes(self) -> int:
        return self.pe * self.simd + self.pe + 1

    def weight_bits(self) -> int:
        """The weight ROMs: every lane's words, zero-padded chunks included."""
        words = self.directions * sum(self.groups(rows) for _, rows in self.passes()) * self.chunks
        return words * self.pe * self.simd * self.bits_w

    def memory_bits(self) -> int:
        """Weight ROMs, the gate tables (one copy a post lane, one for ``tanh(c)``), x and y memories."""
        tables = (len(self.sigmoid_table) + len(self.tanh_table)) * self.h_bits * (self.pe + 1)
        return self.weight_bits() + tables + self.seq * self.inputs * self.bits_x + self.out_codes_total * self.out_bits

    def lut_estimate(self) -> int:
        return sum(a.width * (b.width if isinstance(b, Operand) else int(b).bit_length()) for a, b in self.products())

    def asic_counts(self, shape: Shape3, macs: int) -> list[AsicCount]:
        """The MACs, the per-row requants and table reads, the update arithmetic, the memories."""
        steps = self.directions * self.seq
        rows = steps * self.rows
        w = self.bits_w
        weights = self.weight_bits()
        return [AsicCount("multiply", "mult", (max(self.x_operand.width, self.h_bits), w), macs, self.pe * self.simd),
                AsicCount("accumulate", "add", (max(self.acc_bits),), macs, self.pe * self.simd),
                AsicCount("other_arithmetic", "mult", (max(self.acc_bits), 32), 2 * rows, 2 * self.pe),
                AsicCount("weight_memory", "mem", (weights,), steps * weights),
                AsicCount("activation_memory", "mem", (self.memory_bits() - weights,),
                          rows * self.h_bits + 2 * self.seq * self.inputs * self.bits_x + 2 * self.out_codes_total * self.out_bits),
                AsicCount("other_arithmetic", "mult", (self.h_bits, self.h_bits), 3 * steps * self.hidden),
                AsicCount("registers", "reg", ((len(self.gates) + 2) * self.hidden * self.h_bits,), steps * self.hidden)]
