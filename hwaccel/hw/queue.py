"""OutputQueue: the output of a credit-issued unit, so that its pipeline never stalls.

A unit with a pipeline of ``latency`` stages issues a beat that will produce an output only when
it holds a credit; its pipeline registers load every cycle (no clock enable: a stall signal that
reached every register, DSP blocks included, across the die set the clock before). The queue
holds what the pipeline delivers until the consumer takes it:

- ``o.valid`` / ``o.payload`` are the head register; a beat arriving while the head is free (empty
  or leaving) goes straight into it, so an unstalled unit has the same latency as without a queue;
- a beat arriving while the head is held goes to a small memory (LUT RAM), which refills the head;
- ``owed`` counts the outputs issued and not yet taken by the consumer; ``room = owed < credits``,
  kept in a register of its own, so that the unit's ``i.ready`` is one LUT of flip-flops. Its next
  value is chosen by ``issued`` and the departure from ``room`` itself and ``owed < credits - 1``,
  not computed from ``owed``'s next value (an adder and a compare behind the consumer's ``ready``:
  resnet).

With ``credits = latency + 1`` a unit whose consumer is always ready issues every cycle (an
output holds its credit from the cycle after its issue to the cycle it leaves, ``latency``
cycles). The memory never overflows: every beat in it holds a credit. The cycle model
(:meth:`hwaccel.perf.control.Queued.deliver`) mirrors these registers.
"""

from __future__ import annotations

from typing import Any

from amaranth.hdl import Module, Mux, Signal, Value
from amaranth.lib.memory import Memory

from ..units.queue import queue_credits

__all__ = ["OutputQueue"]


class OutputQueue:
    """The queue at a unit's output stream ``o``; ``room`` says a beat with an output may issue.

    Build it before the pipeline (the issue logic reads ``room``), then call :meth:`drive` with
    what the pipeline's last stage delivers.
    """

    def __init__(self, m: Module, o: Any, latency: int) -> None:
        self.m, self.o = m, o
        self.credits = queue_credits(latency)
        self.owed = Signal(range(self.credits + 1), name="q_owed")
        self.room = Signal(name="q_room", init=1)  # == (owed < credits) every cycle

    def drive(self, issued: Value, push: Value, lanes: list[Value]) -> None:
        """``issued``: a beat with an output issued this cycle; ``push``: the pipeline delivers one
        this cycle, lane values ``lanes`` (converted to the payload's lane shape)."""
        m, o = self.m, self.o
        beat = Signal(o.payload.shape(), name="q_in")
        m.d.comb += [beat[k].eq(v) for k, v in enumerate(lanes)]
        bits = beat.as_value()
        depart = o.valid & o.ready
        head_free = ~o.valid | o.ready
        owed_next = Signal.like(self.owed, name="q_owed_next")
        m.d.comb += owed_next.eq(self.owed + issued - depart)
        # room' = owed' < credits: unchanged when one output issues and one leaves; owed + 1 < credits
        # when one issues only; true when one leaves only (owed <= credits)
        m.d.sync += [self.owed.eq(owed_next),
                     self.room.eq(Mux(issued, Mux(depart, self.room, self.owed < self.credits - 1), depart | self.room))]

        depth = max(self.credits - 1, 2)
        m.submodules.queue = mem = Memory(shape=len(bits), depth=depth, init=[])
        wport, rport = mem.write_port(), mem.read_port(domain="comb")
        wptr = Signal(range(depth), name="q_wptr")
        rptr = Signal(range(depth), name="q_rptr")
        stored = Signal(range(depth + 1), name="q_stored")
        from_mem = stored != 0
        take = head_free & from_mem  # the head refills from the memory
        store = push & ~(head_free & ~from_mem)  # the beat waits in the memory unless the head takes it
        # every arriving beat is written at ``wptr``, kept there (``wptr`` advancing) only when stored: the
        # slot is free (the head takes a beat directly only from an empty memory), and the memory's write
        # enable does not wait for the consumer's ready (a route across the die: mlp, dbn)
        m.d.comb += [wport.en.eq(push), wport.addr.eq(wptr), wport.data.eq(bits), rport.addr.eq(rptr)]
        with m.If(store):
            m.d.sync += wptr.eq(Mux(wptr == depth - 1, 0, wptr + 1))
        with m.If(take):
            m.d.sync += rptr.eq(Mux(rptr == depth - 1, 0, rptr + 1))
        m.d.sync += stored.eq(stored + store - take)
        with m.If(head_free):
            m.d.sync += [o.valid.eq(from_mem | push), o.payload.eq(Mux(from_mem, rport.data, bits))]
