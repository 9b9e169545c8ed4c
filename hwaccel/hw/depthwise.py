"""Depthwise: ``lanes`` channels of one kernel tap a cycle, each times its own weight, raw accumulators out.

The unit walks a pixel's ``taps * groups`` beats (:class:`~hwaccel.units.depthwise.DepthwiseParams`)
one a cycle through register stages that load every cycle (no stall: a beat of the last tap,
which delivers an output, issues only with a credit of the :class:`~.queue.OutputQueue`):

0. issue: beat ``t`` of the pixel; ``first`` (tap 0) and ``last`` (the last tap) are registers
   loaded with the next beat's values, so ``i.ready`` starts at flip-flops;
1. the input beat; copies of ``t``, one per group of ``COPY_GROUP_LANES`` live lanes, each the
   address of its group's slice of the weight ROM (one word of weights per beat);
2. the input again; the ROM slices' reads;
3. each lane's input code in a register of its own; the reads again in flip-flops (a block
   RAM's output drives no DSP block);
4. operands: ``x - x_zero_point`` and the weight, per live lane;
5. products (the DSP block's output register);
6. the products again, in registers beside the accumulators;
7. accumulate: per lane a ring of ``groups`` accumulators that rotates once a beat, so its tail
   is the accumulator of the beat's channel group; tap 0 starts from the bias (looked up a stage
   early), later taps add;
8. after the last tap's beat, the ring's head goes to the output queue.

Lanes whose weights are all zero (``DepthwiseParams.live_lanes``) get no multiplier: their
accumulators hold the bias. Latency: :data:`~hwaccel.units.depthwise.DEPTHWISE_LATENCY`.
"""

from __future__ import annotations

from amaranth.hdl import Array, Const, Module, Mux, Signal, Value, signed
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..units.common import COPY_GROUP_LANES
from ..units.depthwise import DepthwiseParams
from .queue import OutputQueue
from .stream import code_shape, lanes_stream, pack_lanes, register

__all__ = ["Depthwise"]

CONTROL = ("v", "first", "last", "g")


class Depthwise(wiring.Component):
    """Stream unit: ``lanes`` window codes a beat (``i``), ``lanes`` accumulators a beat (``o``)."""

    def __init__(self, params: DepthwiseParams) -> None:
        self.params = params
        super().__init__({
            "i": In(lanes_stream(code_shape(params.bits_x, params.signed_x), params.lanes)),
            "o": Out(lanes_stream(signed(params.acc_bits), params.lanes)),
        })

    def _weights(self, m: Module, t: Value) -> dict[int, Value]:
        """Stages 1-3 of the weights: per group of ``COPY_GROUP_LANES`` live lanes, a registered
        copy of ``t`` (``keep``: place and route puts each by its lanes) addresses the group's ROM
        slice, whose read is registered again. Returns each live lane's weight field."""
        p = self.params
        lanes = p.live_lanes
        out: dict[int, Value] = {}
        for g, start in enumerate(range(0, len(lanes), COPY_GROUP_LANES)):
            group = lanes[start:start + COPY_GROUP_LANES]
            words = [pack_lanes([p.beat_weight(b, lane) for lane in group], p.bits_w) for b in range(p.pixel_cycles)]
            m.submodules[f"rom{g}"] = rom = Memory(shape=len(group) * p.bits_w, depth=p.pixel_cycles, init=words)
            port = rom.read_port(domain="sync")
            m.d.comb += port.addr.eq(register(m, t, f"rom{g}_addr", keep=True))
            read = register(m, port.data, f"rom{g}_read")
            out.update({lane: read[j * p.bits_w:(j + 1) * p.bits_w] for j, lane in enumerate(group)})
        return out

    def _delay(self, m: Module, ctl: tuple[Value, ...], suffix: str, keep: bool = False) -> tuple[Value, ...]:
        """One register stage of a beat's control ``(valid, first, last, g)``."""
        return tuple(register(m, value, f"{name}{suffix}", keep=keep) for name, value in zip(CONTROL, ctl))

    def elaborate(self, platform: object) -> Module:
        p = self.params
        m = Module()
        n, groups = p.pixel_cycles, p.groups
        queue = OutputQueue(m, self.o, p.latency)

        # Stage 0: issue beat ``t`` (channel group ``g``); ``first``/``last`` of the next beat load on issue.
        t, g = Signal(range(n), name="t"), Signal(range(groups), name="g")
        first_t, last_t = Signal(init=1, name="first_t"), Signal(init=int(p.taps == 1), name="last_t")
        issue = Signal()
        may_issue = queue.room | ~last_t  # only the last tap's beats deliver an output
        m.d.comb += [self.i.ready.eq(may_issue), issue.eq(may_issue & self.i.valid)]
        with m.If(issue):
            nxt = Mux(t == n - 1, 0, t + 1)
            m.d.sync += [t.eq(nxt), g.eq(Mux(g == groups - 1, 0, g + 1)),
                         first_t.eq(nxt < groups), last_t.eq(nxt >= n - groups)]

        x1 = register(m, self.i.payload.as_value(), "x_reg")
        x2 = register(m, x1, "x_reg2")
        shape = code_shape(p.bits_x, p.signed_x)
        x3 = [register(m, x2[lane * p.bits_x:(lane + 1) * p.bits_x], f"x{lane}", shape) for lane in range(p.lanes)]
        fields = self._weights(m, t)

        # Stage 4: operands; stage 5: products; stage 6: their copies (the route from a DSP block).
        carried: list[Value] = []
        for lane in range(p.lanes):
            if lane not in fields:
                carried.append(Const(0))
                continue
            offset = Signal(signed(p.bits_x + 1), name=f"xoff{lane}", attrs={"keep": 1})
            w = Signal(signed(p.bits_w), name=f"w{lane}")
            m.d.sync += [offset.eq(x3[lane] - p.x_zero_point), w.eq(fields[lane].as_signed())]
            prod = Signal(signed(p.bits_x + 1 + p.bits_w), name=f"prod{lane}")
            m.d.sync += prod.eq(offset * w)
            carried.append(register(m, prod, f"prod{lane}_r"))

        # The control of each beat, delayed to the accumulate stage; the last delay has one copy per
        # ``COPY_GROUP_LANES`` lanes (``keep``).
        ctl: tuple[Value, ...] = (register(m, issue, "v1"), register(m, first_t, "first1"),
                                  register(m, last_t, "last1"), register(m, g, "g1"))
        for k in range(4):
            ctl = self._delay(m, ctl, str(k + 2))
        valid, _, last, _ = self._delay(m, ctl, "6")

        # Stage 7: accumulate into each lane's ring of ``groups`` accumulators.
        heads: list[Value] = []
        for lane in range(p.lanes):
            if lane % COPY_GROUP_LANES == 0:
                valid_g, first, _, _ = self._delay(m, ctl, f"6_{lane // COPY_GROUP_LANES}", keep=True)
            bias = [p.channel_bias(k * p.lanes + lane) for k in range(groups)]
            start: Value = Const(bias[0], signed(p.acc_bits))
            if len(set(bias)) > 1:
                start = register(m, Array(Const(b, signed(p.acc_bits)) for b in bias)[ctl[3]], f"bias{lane}")
            ring = [Signal(signed(p.acc_bits), name=f"acc{lane}_{k}") for k in range(groups)]
            new = Signal(signed(p.acc_bits), name=f"acc{lane}_next")
            m.d.comb += new.eq(Mux(first, start, ring[-1]) + carried[lane])
            with m.If(valid_g):
                m.d.sync += [ring[0].eq(new)] + [ring[k].eq(ring[k - 1]) for k in range(1, groups)]
            heads.append(ring[0])
        # Stage 8: the finished accumulators go to the queue from their registers.
        queue.drive(issue & last_t, register(m, valid & last, "deliver"), heads)
        return m
