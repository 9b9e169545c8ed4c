"""Cycle-exact control models of the stream units: the RTL's valid/ready logic without the data.

Each model mirrors the control of its ``hw/<unit>.py`` (and ``amaranth.lib.fifo.SyncFIFOBuffered``
for the FIFO) register for register, so that driven by the same ``valid``/``ready`` sequences it
transfers beats in exactly the same cycles. For speed a model is Python *source*: the network
simulator (:mod:`.network`) pastes every model's lines into one generated loop over cycles, with
each register a local variable named ``<prefix><register>``. One cycle of a model is:

1. ``ready(o_ready, valids)``: lines computing the combinational part from the registers, the
   output's ``ready`` and the input ports' ``valid`` (expressions); returns the lines and one
   ``ready`` expression per input port. The output ``valid`` is the register ``ov``.
2. ``tick(fires, out_fire)``: lines of the clock edge, given which input ports transferred and
   whether the output did (``valid & ready`` names, computed before any register changes).

The units with an :class:`~hwaccel.hw.queue.OutputQueue` (Window, MatVec, Requant, Pool, Eltwise) share
its model (:meth:`UnitCode.queue_registers`, :meth:`UnitCode.room`, :meth:`UnitCode.deliver`):
the pipeline never stalls, a beat with an output issues only while ``owed < credits``.

``registers()`` holds every control register and its reset value; a snapshot of all of them is
the model's state (the cycle model detects periodic operation by comparing snapshots). A chain
of pipeline valid registers that advance together is one integer, bit ``k`` the register
``k + 1`` stages after the entry (the MatVec's chain holds ``valid and last tile of a fold``,
the only combination its output register reads).
"""

from __future__ import annotations

from typing import Any

from ..hw.params import EltwiseAddParams, EltwiseConcatParams, FifoParams, MatVecParams, PoolParams, RequantParams, WindowParams
from ..hw.queue import queue_credits
from .costs import fold_lengths

__all__ = ["UnitCode", "WindowCode", "MatVecCode", "PipeCode", "FifoCode", "code_for"]


class UnitCode:
    """Base: the prefix of a model's variables and the constants its code reads."""

    ports = 1

    def __init__(self, prefix: str) -> None:
        self.p = prefix
        self.consts: dict[str, Any] = {}

    def v(self, name: str) -> str:
        """The local variable of register (or temporary) ``name``."""
        return f"{self.p}{name}"

    @property
    def ov(self) -> str:
        return self.v("ov")

    def registers(self) -> dict[str, Any]:
        raise NotImplementedError

    def ready(self, o_ready: str, valids: list[str]) -> tuple[list[str], list[str]]:
        raise NotImplementedError

    def tick(self, fires: list[str], out_fire: str) -> list[str]:
        raise NotImplementedError

    def queue_registers(self) -> dict[str, Any]:
        """The output queue's registers: the head's valid ``ov``, the beats ``stored`` behind it,
        the credits ``owed``, and the pipeline's valid chain ``pipe``."""
        return {self.v("ov"): False, self.v("stored"): 0, self.v("owed"): 0, self.v("pipe"): 0}

    def room(self, latency: int) -> str:
        """The line setting ``room``: a beat with an output may issue."""
        return f"{self.v('room')} = {self.v('owed')} < {queue_credits(latency)}"

    def deliver(self, latency: int, enter: str, out_fire: str) -> list[str]:
        """Clock-edge lines of the pipeline and its queue: ``enter`` (a beat with an output issues)
        moves into the valid chain ``pipe`` of ``latency - 1`` stages, whose last stage delivers to
        the head ``ov`` when it is free (empty or leaving), else to the memory (``stored``)."""
        v, ov, stages = self.v, self.ov, latency - 1
        lines = [f"{v('owed')} += {enter} - {out_fire}"]
        if stages == 0:
            push = enter
        else:
            push = v("push")
            lines += [f"{push} = {v('pipe')} >> {stages - 1} & 1",
                      f"{v('pipe')} = ({v('pipe')} << 1 | {enter}) & {(1 << stages) - 1}"]
        # ``out_fire`` = ov & o_ready stands for o_ready: the head is free when not ov or o_ready
        return lines + [f"if not {ov} or {out_fire}:",
                        f"    if {v('stored')}: {v('stored')} += {push} - 1; {ov} = True",
                        f"    else: {ov} = {push} != 0",
                        f"else: {v('stored')} += {push}"]


class WindowCode(UnitCode):
    """SlidingWindow: a step ends when its reads and emission issues are done; an emission issues
    while the output queue has room, passes the read port register and enters the queue."""

    def __init__(self, prefix: str, p: WindowParams) -> None:
        super().__init__(prefix)
        self.consts[self.v("READS")] = p.step_reads
        self.emit, self.last_step, self.reads0, self.latency = p.step_emits[-1], p.out_height, p.step_reads[0], p.latency

    def registers(self) -> dict[str, Any]:
        return {**self.queue_registers(), **{self.v(k): val for k, val in (("step", 0), ("wl", self.reads0), ("el", 0))}}

    def ready(self, o_ready: str, valids: list[str]) -> tuple[list[str], list[str]]:
        v = self.v
        return [self.room(self.latency), f"{v('issue')} = {v('room')} and {v('el')} != 0"], [f"{v('wl')} != 0"]

    def tick(self, fires: list[str], out_fire: str) -> list[str]:
        # a step ends in the cycle its last read and last emission issue are both done
        v = self.v
        return [
            *self.deliver(self.latency, v("issue"), out_fire),
            f"{v('el')} -= {v('issue')}",
            f"{v('wl')} -= {fires[0]}",
            f"if not {v('wl')} and not {v('el')}:",
            f"    {v('step')} = 0 if {v('step')} == {self.last_step} else {v('step')} + 1",
            f"    {v('wl')} = {v('READS')}[{v('step')}]",
            f"    {v('el')} = 0 if {v('step')} == 0 else {self.emit}",
        ]


class MatVecCode(UnitCode):
    """MatVec: issue, ``latency - 1`` pipeline stages, the output queue. Tile ``t`` of the schedule
    reads an input beat iff ``t < input_folds`` (output fold 0); ``LA[t]`` marks the last tile of
    an output fold, the only tile that delivers an output and needs ``room``."""

    def __init__(self, prefix: str, p: MatVecParams) -> None:
        super().__init__(prefix)
        folds = fold_lengths(p)
        self.consts[self.v("LA")] = tuple(k == n - 1 for n in folds for k in range(n))
        self.n, self.reads, self.latency = sum(folds), folds[0], p.latency

    def registers(self) -> dict[str, Any]:
        return {**self.queue_registers(), self.v("t"): 0}

    def ready(self, o_ready: str, valids: list[str]) -> tuple[list[str], list[str]]:
        v = self.v
        lines = [self.room(self.latency), f"{v('may')} = {v('room')} or not {v('LA')}[{v('t')}]"]
        if self.reads == self.n:  # every tile reads
            return lines + [f"{v('issue')} = {v('may')} and {valids[0]}"], [v("may")]
        return lines + [f"{v('ri')} = {v('t')} < {self.reads}",
                        f"{v('issue')} = {v('may')} and ({valids[0]} or not {v('ri')})"], [f"({v('may')} and {v('ri')})"]

    def tick(self, fires: list[str], out_fire: str) -> list[str]:
        v = self.v
        return [*self.deliver(self.latency, f"({v('issue')} and {v('LA')}[{v('t')}])", out_fire),
                f"if {v('issue')}: {v('t')} = 0 if {v('t')} == {self.n - 1} else {v('t')} + 1"]


class PipeCode(UnitCode):
    """A pipeline of ``depth`` stages and the output queue (Requant, Pool, Eltwise Add and Concat).

    Requant and Add take a beat whenever there is ``room``; a Pool takes a window's other beats
    whenever they are valid and only its last beat enters the pipeline; a Concat takes ``split``
    beats of ``a`` then the rest of a pixel's ``groups`` beats from ``b``. ``count`` is the Pool's
    ``element * groups + group`` or the Concat's beat of the pixel.
    """

    def __init__(self, prefix: str, kind: str, depth: int, groups: int = 1, window: int = 1, split: int = 0) -> None:
        super().__init__(prefix)
        self.kind, self.depth, self.groups, self.window, self.split = kind, depth, groups, window, split
        self.ports = 2 if kind in ("add", "concat") else 1

    def registers(self) -> dict[str, Any]:
        regs = self.queue_registers()
        if self.kind in ("pool", "concat"):
            regs[self.v("count")] = 0
        return regs

    def ready(self, o_ready: str, valids: list[str]) -> tuple[list[str], list[str]]:
        v = self.v
        lines, room = [self.room(self.depth)], v("room")
        if self.kind == "pipe":
            return lines, [room]
        if self.kind == "pool":
            return lines, [f"({room} or {v('count')} < {(self.window - 1) * self.groups})"]
        if self.kind == "add":
            return lines, [f"({room} and {valids[1]})", f"({room} and {valids[0]})"]
        return lines, [f"({room} and {v('count')} < {self.split})", f"({room} and {v('count')} >= {self.split})"]

    def tick(self, fires: list[str], out_fire: str) -> list[str]:
        v = self.v
        fired = fires[0] if len(fires) == 1 else f"({' or '.join(fires)})"
        enter = f"({fired} and {v('count')} >= {(self.window - 1) * self.groups})" if self.kind == "pool" else fired
        lines = self.deliver(self.depth, enter, out_fire)
        beats = {"pool": self.window * self.groups, "concat": self.groups}.get(self.kind)
        if beats is not None:  # after the shift, which reads the count before this beat
            lines.append(f"if {fired}: {v('count')} = 0 if {v('count')} == {beats - 1} else {v('count')} + 1")
        return lines


class FifoCode(UnitCode):
    """``SyncFIFOBuffered``: an inner FIFO of ``depth - 1`` words (``level``) and the output register ``ov``."""

    def __init__(self, prefix: str, p: FifoParams) -> None:
        super().__init__(prefix)
        self.depth = p.depth

    def registers(self) -> dict[str, Any]:
        return {self.v("ov"): False, self.v("level"): 0}

    def ready(self, o_ready: str, valids: list[str]) -> tuple[list[str], list[str]]:
        return [], [f"{self.v('level')} == 0" if self.depth == 1 else f"{self.v('level')} != {self.depth - 1}"]

    def tick(self, fires: list[str], out_fire: str) -> list[str]:
        # ``out_fire`` = ov & o_ready stands for o_ready: they differ only while ov is low, where both uses agree
        v, w = self.v, fires[0]
        if self.depth == 1:
            return [f"if {w}: {v('level')} = 1",
                    f"elif {out_fire}: {v('level')} = 0",
                    f"{v('ov')} = {v('level')} == 1"]
        # the output register takes the inner FIFO's head when it is free or leaving
        return [
            f"if not {v('ov')} or {out_fire}:",
            f"    {v('ov')} = {v('level')} != 0",
            f"    {v('level')} += {w} - {v('ov')}",
            "else:",
            f"    {v('level')} += {w}",
        ]


def code_for(prefix: str, params: Any) -> UnitCode:
    """The control model of a unit or FIFO params object, its variables named ``prefix...``."""
    if isinstance(params, WindowParams):
        return WindowCode(prefix, params)
    if isinstance(params, MatVecParams):
        return MatVecCode(prefix, params)
    if isinstance(params, RequantParams):
        return PipeCode(prefix, "pipe", params.latency)
    if isinstance(params, PoolParams):
        return PipeCode(prefix, "pool", params.latency, params.groups, params.window)
    if isinstance(params, EltwiseAddParams):
        return PipeCode(prefix, "add", params.latency)
    if isinstance(params, EltwiseConcatParams):
        return PipeCode(prefix, "concat", params.latency, sum(params.groups), split=params.groups[0])
    if isinstance(params, FifoParams):
        return FifoCode(prefix, params)
    raise TypeError(f"no control model for {type(params).__name__}")
