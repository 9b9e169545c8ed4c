"""Recurrent unit: an LSTM, GRU or RNN layer, one sequence at a time (:mod:`hwaccel.units.recurrent`).

Three phases (``state``): load the sequence into the x memory, compute, emit the y memory. The
compute phase is a fixed sequence of passes counted by ``(direction, step, phase, count)``; a pass
issues for its first cycles and waits for its pipeline's last write (the ``*_TAIL`` constants of
the params module) before the next starts, so that its cycles never depend on the data.

MatVec pass, one ``pe``-row group every ``chunks`` cycles (stages after the issue cycle ``S0``):
``S1`` weight ROM, x memory and settings ROM reads, the h chunk; ``S2`` products; ``S3`` the
accumulators (x half from its bias; h half from its bias); ``S4`` a finished row's accumulators
(GRU ``linear_before_reset``: ``round(r * ah)``); ``S5`` ``ax * Mx`` and ``ah * Mh``; ``S6`` the sum;
``S7`` round, shift, clamp: the table address; ``S8`` the table read, written to the gate
registers at the end of ``S8``. Update pass, one hidden unit a cycle: ``U1`` the cell arithmetic,
``U2`` the new ``c``, ``U3`` ``tanh(c)`` read, ``U4`` the new ``h``, ``U5`` ``value * M``, ``U6``
the output code, written to the y memory at the end of ``U6``.
"""

from __future__ import annotations

from typing import Iterator

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

import numpy as np

from ..units.common import span
from ..units.recurrent import MATVEC_TAIL, RESET_TAIL, UPDATE_TAIL, RecurrentParams
from .stream import code_shape, lanes_stream, pack_fields, register

__all__ = ["Recurrent"]

LOAD, COMPUTE, EMIT = 0, 1, 2


def round_shift(x: Value, n: Value | int, rounding: str) -> Value:
    """``round(x * 2**-n)`` (:func:`hwaccel.fixedpoint.round_shift`, ``n >= 0``), combinational."""
    if isinstance(n, int) and n == 0:
        return x
    q = x >> n
    rem = (x - (q << n)).as_unsigned()
    half = Const(1) << n >> 1
    if rounding == "half_up":
        up = rem >= half
    else:
        up = (rem > half) | ((rem == half) & q[0])
    return q + Mux(n == 0 if not isinstance(n, int) else 0, 0, up)


def clamp(x: Value, lo: int, hi: int) -> Value:
    return Mux(x < lo, lo, Mux(x > hi, hi, x))


def _lane_rows(p: RecurrentParams) -> Iterator[tuple[int, int, int | None]]:
    """``(direction, lane, gate row)`` in the ROMs' order: per direction, MatVec pass, row group, lane;
    the row is None past the pass's last (a lane of the last group without a row)."""
    for d in range(p.directions):
        for first, count in p.passes():
            for g in range(p.groups(count)):
                for lane in range(p.pe):
                    row = first + g * p.pe + lane
                    yield d, lane, (row if row < first + count else None)


def _delays(m: Module, value: Value, stages: int, name: str) -> list[Value]:
    """``value`` and its copies delayed by ``1..stages`` cycles. Made outside any ``m.If``: a register
    made inside one would load only under its condition."""
    out = [value]
    for k in range(stages):
        out.append(register(m, out[-1], f"{name}_d{k + 1}"))
    return out


def _write(m: Module, registers: list[Signal], index: Value, valid: Value, value: Value) -> None:
    """``registers[index] <= value`` when ``valid``: one compare per register (an indexed write
    would give every register a case over all indices)."""
    for k, reg in enumerate(registers):
        with m.If(valid & (index == k)):
            m.d.sync += reg.eq(value)


def _signed_shape(values: list[int]) -> signed:
    op = span(values)
    return signed(op.width + (0 if op.signed else 1))


class Recurrent(wiring.Component):
    """Stream unit: ``seq * inputs / simd`` beats of x in, the output (Y, Y_h or Y_c) out."""

    def __init__(self, params: RecurrentParams) -> None:
        self.params = params
        super().__init__({
            "i": In(lanes_stream(code_shape(params.bits_x, params.signed_x), params.simd)),
            "o": Out(lanes_stream(code_shape(params.out_bits, params.out_signed), params.lanes)),
        })

    def elaborate(self, platform: object) -> Module:
        p = self.p = self.params
        m = Module()
        self.state = Signal(range(3), name="state")
        self._tables(m)
        self._load(m)
        self._sequencer(m)
        self._states(m)
        self._matvec(m)
        if p.reset_pass:
            self._reset(m)
        self._update(m)
        self._emit(m)
        return m

    # -- memories and state ----------------------------------------------------------------------

    def _tables(self, m: Module) -> None:
        p = self.p
        self.table_base = {"Sigmoid": 0, "Tanh": len(p.sigmoid_table)}
        self.table_q = {"Sigmoid": (p.sigmoid_qmin, p.sigmoid_qmin + len(p.sigmoid_table) - 1),
                        "Tanh": (p.tanh_qmin, p.tanh_qmin + len(p.tanh_table) - 1)}
        entries = list(p.sigmoid_table) + list(p.tanh_table)
        m.submodules.tables = self.tables = Memory(shape=signed(p.h_bits), depth=len(entries), init=entries)

    def _load(self, m: Module) -> None:
        p = self.p
        x_shape = code_shape(p.bits_x, p.signed_x)
        m.submodules.xmem = self.xmem = Memory(shape=unsigned(p.simd * x_shape.width), depth=p.in_beats, init=[])
        wport = self.xmem.write_port()
        index = Signal(range(max(p.in_beats, 2)), name="load_index")
        accept = self.i.valid & self.i.ready
        m.d.comb += [self.i.ready.eq(self.state == LOAD), wport.addr.eq(index), wport.data.eq(self.i.payload.as_value()),
                     wport.en.eq(accept)]
        with m.If(accept):
            m.d.sync += index.eq(Mux(index == p.in_beats - 1, 0, index + 1))
            with m.If(index == p.in_beats - 1):
                m.d.sync += self.state.eq(COMPUTE)

    def _sequencer(self, m: Module) -> None:
        """``(direction, step, phase, count)`` and the ``init`` cycle that opens each direction."""
        p = self.p
        phases: list[tuple[str, int, int]] = []  # (kind, pass index, issue cycles)
        for k, (_, rows) in enumerate(p.passes()):
            phases.append(("matvec", k, p.groups(rows) * p.chunks))
            if k == 0 and p.reset_pass:
                phases.append(("reset", 0, p.hidden))
        phases.append(("update", 0, p.hidden))
        tails = {"matvec": MATVEC_TAIL, "reset": RESET_TAIL, "update": UPDATE_TAIL}
        lengths = [n + tails[kind] for kind, _, n in phases]
        assert sum(lengths) == p.step_cycles
        self.phases = phases
        self.direction = Signal(range(max(p.directions, 2)), name="direction")
        self.step = Signal(range(max(p.seq, 2)), name="step")
        self.phase = Signal(range(max(len(phases), 2)), name="phase")
        self.count = Signal(range(max(lengths) + 1), name="count")
        self.init = Signal(name="init")
        computing = (self.state == COMPUTE) & ~self.init
        self.issue = {}
        for k, (kind, index, n) in enumerate(phases):
            self.issue[kind, index] = Signal(name=f"issue_{kind}{index}")
            m.d.comb += self.issue[kind, index].eq(computing & (self.phase == k) & (self.count < n))
        backward = Const(int(p.reverse)) if p.directions == 1 else (self.direction == 1)
        self.t = Signal(range(max(p.seq, 2)), name="t")
        m.d.comb += self.t.eq(Mux(backward, p.seq - 1 - self.step, self.step))
        self.step_end = Signal(name="step_end")
        phase_last = self.count == Array(Const(n - 1) for n in lengths)[self.phase]
        m.d.comb += self.step_end.eq(computing & phase_last & (self.phase == len(phases) - 1))
        with m.If(self.state == LOAD):
            m.d.sync += self.init.eq(1)
        with m.If((self.state == COMPUTE) & self.init):
            m.d.sync += self.init.eq(0)
        with m.If(computing):
            m.d.sync += self.count.eq(Mux(phase_last, 0, self.count + 1))
            with m.If(phase_last):
                m.d.sync += self.phase.eq(Mux(self.phase == len(phases) - 1, 0, self.phase + 1))
            with m.If(self.step_end):
                m.d.sync += self.step.eq(Mux(self.step == p.seq - 1, 0, self.step + 1))
                with m.If(self.step == p.seq - 1):
                    m.d.sync += [self.init.eq(1), self.direction.eq(Mux(self.direction == p.directions - 1, 0, self.direction + 1))]
                    with m.If(self.direction == p.directions - 1):
                        m.d.sync += self.state.eq(EMIT)

    def _states(self, m: Module) -> None:
        """``h`` and ``c`` registers (set by the init cycle), the gate registers, GRU's ``round(r * h)``."""
        p = self.p
        self.h = Array(Signal(signed(p.h_bits), name=f"h{j}") for j in range(p.hidden))
        self.c = Array(Signal(signed(max(p.cell_bits, 2)), name=f"c{j}") for j in range(p.hidden if p.cell == "lstm" else 0))
        self.gates = Array(Signal(signed(p.h_bits), name=f"gate{r}") for r in range(p.rows))
        self.rh = Array(Signal(signed(p.h_bits), name=f"rh{j}") for j in range(p.hidden if p.reset_pass else 0))
        h0 = np.reshape(p.initial_h or [0] * (p.directions * p.hidden), (p.directions, p.hidden))
        c0 = np.reshape(p.initial_c or [0] * (p.directions * p.hidden), (p.directions, p.hidden))
        with m.If((self.state == COMPUTE) & self.init):
            for j in range(p.hidden):
                m.d.sync += self.h[j].eq(Array(Const(int(v), signed(p.h_bits)) for v in h0[:, j])[self.direction])
                if p.cell == "lstm":
                    m.d.sync += self.c[j].eq(Array(Const(int(v), signed(p.cell_bits)) for v in c0[:, j])[self.direction])

    # -- the MatVec passes -----------------------------------------------------------------------

    def _settings(self) -> tuple[list[list[int]], list[tuple[str, int, bool]]]:
        """Per lane, per (direction, pass, group): the packed settings word; and its fields
        ``(name, bits, signed)``: biases, multipliers, shift, table (0 sigmoid, 1 tanh)."""
        p = self.p
        rows = p.rows
        bias = np.reshape(p.bias, (p.directions, 2, rows))
        mult = np.reshape(p.multipliers, (p.directions, rows, 2))
        shifts = np.reshape(p.shifts, (p.directions, rows))
        func = np.repeat([int(g == "Tanh") for g in p.gates], p.hidden)
        fields = [("bx", p.acc_bits[0], True), ("bh", p.acc_bits[1], True),
                  ("mx", _signed_shape(mult[..., 0].ravel().tolist()).width, True),
                  ("mh", _signed_shape(mult[..., 1].ravel().tolist()).width, True),
                  ("shift", max(int(shifts.max()).bit_length(), 1), False), ("tanh", 1, False)]
        words: list[list[int]] = [[] for _ in range(p.pe)]
        for d, lane, row in _lane_rows(p):
            values = [0] * 6 if row is None else [int(bias[d, 0, row]), int(bias[d, 1, row]), int(mult[d, row, 0]),
                                                  int(mult[d, row, 1]), int(shifts[d, row]), int(func[row])]
            words[lane].append(pack_fields((v, b) for v, (_, b, _) in zip(values, fields)))
        return words, fields

    def _weight_words(self) -> list[list[int]]:
        """Per lane, per (direction, pass, group, chunk): ``simd`` weights (x chunks from W, h from R)."""
        p = self.p
        w = np.reshape(p.w, (p.directions, p.rows, p.inputs))
        r = np.zeros((p.directions, p.rows, p.h_chunks * p.simd), np.int64)
        r[:, :, :p.hidden] = np.reshape(p.r, (p.directions, p.rows, p.hidden))
        cols = np.concatenate([w, r], axis=2).reshape(p.directions, p.rows, p.chunks, p.simd)
        words: list[list[int]] = [[] for _ in range(p.pe)]
        for d, lane, row in _lane_rows(p):
            for k in range(p.chunks):
                values = np.zeros(p.simd, np.int64) if row is None else cols[d, row, k]
                words[lane].append(pack_fields((int(v), p.bits_w) for v in values))
        return words

    def _matvec(self, m: Module) -> None:
        p = self.p
        groups_per_dir = sum(p.groups(rows) for _, rows in p.passes())
        group, chunk = Signal(range(max(groups_per_dir, 2)), name="group"), Signal(range(max(p.chunks, 2)), name="chunk")
        issue = Signal(name="mv_issue")
        passes = [k for kind, k, _ in self.phases if kind == "matvec"]
        m.d.comb += issue.eq(Cat(*(self.issue["matvec", k] for k in passes)).any())
        pass_index = Signal(range(2), name="mv_pass")  # which pass issues (GRU: 1 for the n rows)
        if len(passes) > 1:
            m.d.comb += pass_index.eq(self.issue["matvec", 1])
        chunk_last = chunk == p.chunks - 1
        with m.If(issue):
            m.d.sync += [chunk.eq(Mux(chunk_last, 0, chunk + 1)), group.eq(group + chunk_last)]
        with m.If(self.step_end):
            m.d.sync += group.eq(0)
        # ROM addresses: (direction, group within the direction, chunk)
        settings, fields = self._settings()
        weights = self._weight_words()
        self.s_addr = self.direction * groups_per_dir + group
        self.w_addr = self.s_addr * p.chunks + chunk
        x_addr = self.t * p.x_chunks + chunk
        xport = self.xmem.read_port()
        m.d.comb += xport.addr.eq(x_addr)
        # S1: the reads, the h chunk, the control
        is_x = chunk < p.x_chunks
        zeros = [Const(0, signed(p.h_bits))] * (p.h_chunks * p.simd - p.hidden)
        padded_h, padded_rh = list(self.h) + zeros, list(self.rh) + zeros
        h_chunk = []
        for k in range(p.simd):
            column = Array(padded_h[c * p.simd + k] for c in range(p.h_chunks))[chunk - p.x_chunks]
            if p.reset_pass:  # the n rows read round(r * h)
                reset = Array(padded_rh[c * p.simd + k] for c in range(p.h_chunks))[chunk - p.x_chunks]
                column = Mux(pass_index == 1, reset, column)
            h_chunk.append(register(m, column, f"hc{k}", signed(p.h_bits)))
        x_shape = code_shape(p.bits_x, p.signed_x)
        xs = [xport.data[k * x_shape.width:(k + 1) * x_shape.width] for k in range(p.simd)]
        x1 = register(m, is_x, "x1")
        columns = [Mux(x1, (x.as_signed() if p.signed_x else x) - p.x_zero_point, h) for x, h in zip(xs, h_chunk)]
        control = {"v": register(m, issue, "v1"), "x": x1, "first": register(m, chunk == 0, "first1"),
                   "last": register(m, issue & chunk_last, "last1"), "group": register(m, group, "group1"),
                   "pass": register(m, pass_index, "pass1")}
        written = [self._lane(m, lane, columns, control, weights[lane], settings[lane], fields) for lane in range(p.pe)]
        # the gate registers: row r is written by one lane, when its row group passes S8
        for k, (first, count) in enumerate(p.passes()):
            offset = sum(p.groups(c) for _, c in p.passes()[:k])
            for r in range(first, first + count):
                valid, group8, data = written[(r - first) % p.pe]
                with m.If(valid & (group8 == offset + (r - first) // p.pe)):
                    m.d.sync += self.gates[r].eq(data)

    def _lane(self, m: Module, lane: int, columns: list[Value], c1: dict[str, Value], weights: list[int],
              settings: list[int], fields: list[tuple[str, int, bool]]) -> tuple[Value, Value, Value]:
        """One of the ``pe`` rows of a group, from its S1 reads to its gate value in S8: returns
        ``(valid, row group, gate value)`` of S8."""
        p = self.p
        wrom = Memory(shape=unsigned(p.simd * p.bits_w), depth=len(weights), init=weights)
        srom = Memory(shape=unsigned(sum(b for _, b, _ in fields)), depth=len(settings), init=settings)
        m.submodules[f"wrom{lane}"], m.submodules[f"srom{lane}"] = wrom, srom
        wport, sport = wrom.read_port(), srom.read_port()
        m.d.comb += [wport.addr.eq(self.w_addr), sport.addr.eq(self.s_addr)]
        ws = [wport.data[k * p.bits_w:(k + 1) * p.bits_w].as_signed() for k in range(p.simd)]
        s1: dict[str, Value] = {}
        at = 0
        for name, bits, is_signed in fields:
            s1[name] = sport.data[at:at + bits].as_signed() if is_signed else sport.data[at:at + bits]
            at += bits
        # delay[name][k]: the S1 value in S(1 + k), as far as the pipeline uses it
        stages = {"v": 1, "x": 1, "first": 1, "bx": 1, "bh": 1, "mx": 3, "mh": 3, "shift": 5, "tanh": 5, "last": 7, "group": 7,
                  "pass": 7}
        delay = {name: _delays(m, value, stages[name], f"{name}{lane}") for name, value in {**c1, **s1}.items()}
        # S2: products; S3: the accumulators (x half from its bias, h half from its bias)
        total = sum((register(m, col * w, f"prod{lane}_{k}") for k, (col, w) in enumerate(zip(columns, ws))), Const(0))
        v2, x2, first2 = delay["v"][1], delay["x"][1], delay["first"][1]
        ax, ah = Signal(signed(p.acc_bits[0]), name=f"ax{lane}"), Signal(signed(p.acc_bits[1]), name=f"ah{lane}")
        with m.If(v2 & x2):
            m.d.sync += ax.eq(Mux(first2, delay["bx"][1], ax) + total)
        with m.If(v2 & first2):
            m.d.sync += ah.eq(delay["bh"][1])
        with m.If(v2 & ~x2):
            m.d.sync += ah.eq(ah + total)
        # S4: the finished row's accumulators (GRU linear_before_reset: round(r * ah) for the n rows)
        ah_e: Value = ah
        if p.cell == "gru" and p.linear_before_reset:
            n_rows = delay["pass"][2] == 1
            unit = (delay["group"][2] - Mux(n_rows, p.groups(2 * p.hidden), 0)) * p.pe + lane
            r_gate = Array(list(self.gates)[p.hidden:2 * p.hidden] + [Const(0, signed(p.h_bits))] * p.pe)[unit]
            ah_e = Mux(n_rows, round_shift(r_gate * ah, p.frac_bits, p.rounding), ah)
        ax4, ah4 = register(m, ax, f"ax4_{lane}"), register(m, ah_e, f"ah4_{lane}")
        # S5: acc x M; S6: their sum; S7: rounded, clamped: the table address; S8: the table's output
        px5, ph5 = register(m, ax4 * delay["mx"][3], f"px{lane}"), register(m, ah4 * delay["mh"][3], f"ph{lane}")
        sum6 = register(m, px5 + ph5, f"pre{lane}")
        pre = round_shift(sum6, delay["shift"][5], p.rounding)
        (slo, shi), (tlo, thi) = self.table_q["Sigmoid"], self.table_q["Tanh"]
        index = Mux(delay["tanh"][5], clamp(pre, tlo, thi) - tlo + self.table_base["Tanh"], clamp(pre, slo, shi) - slo)
        tport = self.tables.read_port()
        m.d.comb += tport.addr.eq(register(m, index, f"taddr{lane}", unsigned(max((len(self.tables.init) - 1).bit_length(), 1))))
        return delay["last"][7], delay["group"][7], tport.data

    def _reset(self, m: Module) -> None:
        """GRU, ``linear_before_reset`` 0: ``round(r * h)`` of hidden unit ``count``, written as it issues."""
        p, j = self.p, self.count
        r_gate = Array(list(self.gates)[p.hidden:2 * p.hidden])[j]
        _write(m, list(self.rh), j, self.issue["reset", 0], round_shift(r_gate * self.h[j], p.frac_bits, p.rounding))

    def _update(self, m: Module) -> None:
        """The new state of hidden unit ``count`` and its output code into the y memory."""
        p, f = self.p, self.p.frac_bits
        h = p.hidden
        gate = [Array(list(self.gates)[g * h:(g + 1) * h])[self.count] for g in range(len(p.gates))]
        v1 = register(m, self.issue["update", 0], "u1")
        j1 = register(m, self.count, "uj1", unsigned(max(h - 1, 1).bit_length()))
        state = Value.cast(0)
        if p.cell == "lstm":
            i, o, fg, g = gate
            fc1 = register(m, fg * self.c[self.count] + ((i * g) << (p.cell_frac - f)), "fc1")
            bound = (1 << (p.cell_bits - 1)) - 1
            c_new = clamp(round_shift(fc1, f, p.rounding), -bound - 1, bound)
            _write(m, list(self.c), j1, v1, c_new)
            c2 = register(m, c_new, "uc2", signed(p.cell_bits))
            c3 = register(m, c2, "uc3")
            o3 = register(m, register(m, register(m, o, "uo1"), "uo2"), "uo3")
            tlo, thi = self.table_q["Tanh"]
            tport = self.tables.read_port()
            index = clamp(round_shift(c2, p.cell_to_gate_shift, p.rounding), tlo, thi) - tlo + self.table_base["Tanh"]
            m.d.comb += tport.addr.eq(index)
            h_new = round_shift(o3 * tport.data, f, p.rounding)
            j3 = register(m, register(m, j1, "uj2"), "uj3")
            _write(m, list(self.h), j3, register(m, register(m, v1, "u2"), "u3"), h_new)
            h4 = register(m, h_new, "uh4", signed(p.h_bits))
            state = register(m, c3, "uc4") if p.output == "Y_c" else h4
        else:
            if p.cell == "gru":
                z, _, n = gate
                h_new = round_shift(((1 << f) - z) * n + z * self.h[self.count], f, p.rounding)
            else:
                h_new = gate[0]
            h1 = register(m, h_new, "uh1", signed(p.h_bits))
            _write(m, list(self.h), j1, v1, h1)
            state = register(m, register(m, register(m, h1, "uh2"), "uh3"), "uh4")
        v4 = register(m, register(m, register(m, v1, "uv2"), "uv3"), "uv4")
        j4 = register(m, register(m, register(m, j1, "uj2b"), "uj3b"), "uj4")
        # U5, U6: the output requant, then the y memory's write
        v5, prod5 = register(m, v4, "u5"), register(m, state * p.out_multiplier, "uprod5")
        j5 = register(m, j4, "uj5")
        code = clamp(p.out_zero_point + round_shift(prod5, p.out_shift, p.rounding), p.out_lo, p.out_hi)
        v6, y6, j6 = register(m, v5, "u6"), register(m, code, "uy6", code_shape(p.out_bits, p.out_signed)), register(m, j5, "uj6")
        per_word = p.hidden // p.lanes
        if p.output == "Y" and p.steps:  # the kept steps' slots
            slot = Array(Const(p.steps.index(t) if t in p.steps else 0, range(len(p.steps))) for t in range(p.seq))[self.t]
            base = (slot * p.directions + self.direction) * per_word
            write = v6 & Array(Const(int(t in p.steps)) for t in range(p.seq))[self.t]
        elif p.output == "Y":
            base = (self.t * p.directions + self.direction) * per_word
            write = v6
        else:
            base = self.direction * per_word
            write = v6 & (self.step == p.seq - 1)
        m.submodules.ymem = self.ymem = Memory(shape=unsigned(p.lanes * p.out_bits), depth=p.out_beats, init=[])
        wport = self.ymem.write_port(granularity=p.out_bits)
        m.d.comb += [wport.addr.eq(base + j6 // p.lanes), wport.data.eq(Cat(*([y6] * p.lanes)))]
        m.d.comb += [wport.en[lane].eq(write & (j6 % p.lanes == lane)) for lane in range(p.lanes)]

    def _emit(self, m: Module) -> None:
        """The y memory out, one beat a cycle while the consumer takes them; the read port always
        holds the word at ``index`` (address 0 from the compute phase on)."""
        p = self.p
        rport = self.ymem.read_port()
        index = Signal(range(max(p.out_beats, 2)), name="emit_index")
        last = index == p.out_beats - 1
        head_free = ~self.o.valid | self.o.ready
        load = Signal(name="emit_load")
        m.d.comb += [load.eq((self.state == EMIT) & head_free), rport.addr.eq(Mux(load, Mux(last, 0, index + 1), index))]
        with m.If(load):
            m.d.sync += index.eq(Mux(last, 0, index + 1))
            with m.If(last):
                m.d.sync += self.state.eq(LOAD)
        with m.If(head_free):
            m.d.sync += [self.o.valid.eq(load), self.o.payload.eq(rport.data)]
