"""Cycle-exact control models of the stream units: the RTL's valid/ready logic without the data.

Each model mirrors the control of its ``hw/<unit>.py`` (and ``amaranth.lib.fifo.SyncFIFOBuffered``
for the FIFO) register for register, so that driven by the same ``valid``/``ready`` sequences it
transfers beats in exactly the same cycles. For speed a model is Python *source*: the network
simulator (:mod:`.network`) pastes every model's lines into one generated loop over cycles, with
each register a local variable named ``<prefix><register>``. One cycle of a model is:

1. ``ready(o_ready, valids)``: lines computing the combinational part from the registers, the
   output's ``ready`` and the input ports' ``valid`` (expressions); returns the lines and one
   ``ready`` expression per input port. The output ``valid`` is the register ``ov``.
2. ``tick(fires)``: lines of the clock edge, given which input ports transferred (``valid &
   ready`` expressions); the output transferred iff ``ov and o_ready``.

``registers()`` holds every control register and its reset value; a snapshot of all of them is
the model's state (the cycle model detects periodic operation by comparing snapshots).
"""

from __future__ import annotations

from typing import Any

from ..hw.params import EltwiseAddParams, EltwiseConcatParams, FifoParams, MatVecParams, PoolParams, RequantParams, WindowParams

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

    def tick(self, fires: list[str]) -> list[str]:
        raise NotImplementedError


class WindowCode(UnitCode):
    """SlidingWindow: a step ends when its reads and emission issues are done; one output register."""

    def __init__(self, prefix: str, p: WindowParams) -> None:
        super().__init__(prefix)
        self.consts[self.v("READS")] = p.step_reads
        self.emit, self.last_step, self.reads0 = p.step_emits[-1], p.out_height, p.step_reads[0]

    def registers(self) -> dict[str, Any]:
        return {self.v(k): val for k, val in (("ov", False), ("step", 0), ("wl", self.reads0), ("el", 0))}

    def ready(self, o_ready: str, valids: list[str]) -> tuple[list[str], list[str]]:
        v = self.v
        return [f"{v('adv')} = not {v('ov')} or {o_ready}"], [f"{v('wl')} != 0"]

    def tick(self, fires: list[str]) -> list[str]:
        v, f = self.v, fires[0]
        return [
            f"{v('ef')} = {v('adv')} and {v('el')} != 0",
            f"if {v('adv')}: {v('ov')} = {v('el')} != 0",
            f"if ({v('wl')} == 0 or ({v('wl')} == 1 and {f})) and ({v('el')} == 0 or ({v('el')} == 1 and {v('ef')})):",
            f"    {v('step')} = 0 if {v('step')} == {self.last_step} else {v('step')} + 1",
            f"    {v('wl')} = {v('READS')}[{v('step')}]",
            f"    {v('el')} = 0 if {v('step')} == 0 else {self.emit}",
            "else:",
            f"    {v('wl')} -= {f}",
            f"    {v('el')} -= {v('ef')}",
        ]


class MatVecCode(UnitCode):
    """MatVec: issue -> operands -> accumulate/output, all stages advancing together."""

    def __init__(self, prefix: str, p: MatVecParams) -> None:
        super().__init__(prefix)
        sched = p.schedule
        self.consts[self.v("RI")] = tuple(nf == 0 for nf, _ in sched)
        self.consts[self.v("LA")] = tuple(i == len(sched) - 1 or sched[i + 1][0] != nf for i, (nf, _) in enumerate(sched))
        self.n = len(sched)

    def registers(self) -> dict[str, Any]:
        return {self.v(k): val for k, val in (("ov", False), ("t", 0), ("v1", False), ("l1", False), ("v2", False), ("l2", False))}

    def ready(self, o_ready: str, valids: list[str]) -> tuple[list[str], list[str]]:
        v = self.v
        return [f"{v('adv')} = not {v('ov')} or {o_ready}",
                f"{v('ri')} = {v('RI')}[{v('t')}]",
                f"{v('issue')} = {v('adv')} and ({valids[0]} or not {v('ri')})"], [f"({v('adv')} and {v('ri')})"]

    def tick(self, fires: list[str]) -> list[str]:
        v = self.v
        return [
            f"if {v('adv')}:",
            f"    {v('ov')} = {v('v2')} and {v('l2')}",
            f"    {v('v2')} = {v('v1')}",
            f"    {v('l2')} = {v('l1')}",
            f"    {v('v1')} = {v('issue')}",
            f"    {v('l1')} = {v('LA')}[{v('t')}]",
            f"    if {v('issue')}: {v('t')} = 0 if {v('t')} == {self.n - 1} else {v('t')} + 1",
        ]


class PipeCode(UnitCode):
    """``depth`` valid registers advancing together (Requant, Pool, Eltwise Add and Concat).

    Requant and Add take a beat whenever ``advance``; a Pool takes a window's other beats whenever
    they are valid and only its last beat enters the pipeline; a Concat takes ``split`` beats of
    ``a`` then the rest of a pixel's ``groups`` beats from ``b``. ``count`` is the Pool's
    ``element * groups + group`` or the Concat's beat of the pixel.
    """

    def __init__(self, prefix: str, kind: str, depth: int, groups: int = 1, window: int = 1, split: int = 0) -> None:
        super().__init__(prefix)
        self.kind, self.depth, self.groups, self.window, self.split = kind, depth, groups, window, split
        self.ports = 2 if kind in ("add", "concat") else 1

    def registers(self) -> dict[str, Any]:
        regs = {self.v("ov"): False, self.v("count"): 0}
        regs.update({self.v(f"q{k}"): False for k in range(1, self.depth)})
        return regs

    def ready(self, o_ready: str, valids: list[str]) -> tuple[list[str], list[str]]:
        v = self.v
        lines = [f"{v('adv')} = not {v('ov')} or {o_ready}"]
        if self.kind == "pipe":
            return lines, [v("adv")]
        if self.kind == "pool":
            return lines, [f"({v('adv')} or {v('count')} < {(self.window - 1) * self.groups})"]
        if self.kind == "add":
            return lines, [f"({v('adv')} and {valids[1]})", f"({v('adv')} and {valids[0]})"]
        return lines, [f"({v('adv')} and {v('count')} < {self.split})", f"({v('adv')} and {v('count')} >= {self.split})"]

    def tick(self, fires: list[str]) -> list[str]:
        v = self.v
        fired = " or ".join(fires)
        lines = [f"{v('fired')} = {fired}"]
        if self.kind == "pool":
            last = (self.window - 1) * self.groups
            lines += [f"{v('enter')} = {v('fired')} and {v('count')} >= {last}",
                      f"if {v('fired')}: {v('count')} = 0 if {v('count')} == {self.window * self.groups - 1} else {v('count')} + 1"]
        elif self.kind == "concat":
            lines += [f"{v('enter')} = {v('fired')}",
                      f"if {v('fired')}: {v('count')} = 0 if {v('count')} == {self.groups - 1} else {v('count')} + 1"]
        else:
            lines += [f"{v('enter')} = {v('fired')}"]
        chain = [v("ov")] + [v(f"q{k}") for k in range(self.depth - 1, 0, -1)] + [v("enter")]
        shift = [f"    {a} = {b}" for a, b in zip(chain, chain[1:])]
        return lines + [f"if {v('adv')}:"] + shift


class FifoCode(UnitCode):
    """``SyncFIFOBuffered``: an inner FIFO of ``depth - 1`` words (``level``) and the output register ``ov``."""

    def __init__(self, prefix: str, p: FifoParams) -> None:
        super().__init__(prefix)
        self.depth = p.depth

    def registers(self) -> dict[str, Any]:
        return {self.v("ov"): False, self.v("level"): 0}

    def ready(self, o_ready: str, valids: list[str]) -> tuple[list[str], list[str]]:
        v = self.v
        return [f"{v('ordy')} = {o_ready}"], [f"{v('level')} == 0" if self.depth == 1 else f"{v('level')} != {self.depth - 1}"]

    def tick(self, fires: list[str]) -> list[str]:
        v, w = self.v, fires[0]
        if self.depth == 1:
            return [f"if {w}: {v('level')} = 1",
                    f"elif {v('ov')} and {v('ordy')}: {v('level')} = 0",
                    f"{v('ov')} = {v('level')} == 1"]
        return [
            f"{v('ir')} = {v('level')} != 0 and (not {v('ov')} or {v('ordy')})",
            f"{v('level')} += {w} - {v('ir')}",
            f"if {v('ir')}: {v('ov')} = True",
            f"elif {v('ordy')}: {v('ov')} = False",
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
