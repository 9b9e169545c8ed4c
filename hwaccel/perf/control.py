"""Cycle-exact control models of the stream units: the RTL's valid/ready logic without the data.

Each model mirrors the control of its ``hw/<unit>.py`` (and ``amaranth.lib.fifo.SyncFIFOBuffered``
for the FIFO) register for register, so that driven by the same ``valid``/``ready`` sequences it
transfers beats in exactly the same cycles. A model is an object holding its registers; the
network simulator (:mod:`.network`) calls, every cycle:

1. :meth:`Control.ready` ``(o_ready, v0, v1)``: the combinational part from the registers, the
   output's ``ready`` and the input ports' ``valid``; returns the ``ready`` of ports 0 and 1 (a
   one-port model returns ``False`` for port 1). The output ``valid`` is the register ``ov``.
2. :meth:`Control.tick` ``(f0, f1, out_fire)``: the clock edge, given which input ports
   transferred and whether the output did (``valid & ready``, known before any register changes);
   returns ``False`` only when no register changed (the simulator then skips the model, and its
   neighbours, until something around it moves).

The units with an :class:`~hwaccel.hw.queue.OutputQueue` (Window, MatVec, Depthwise, Requant, Pool, Eltwise)
share its model (:class:`Queued`): the pipeline never stalls, a beat with an output issues only
while ``owed < credits``.

:meth:`Control.state` is the tuple of every control register; the cycle model detects periodic
operation by comparing snapshots of all of them. A chain of pipeline valid registers that advance
together is one integer, bit ``k`` the register ``k + 1`` stages after the entry (the MatVec's
chain holds ``valid and last tile of a fold``, the only combination its output register reads).
"""

from __future__ import annotations

from typing import Any, Callable

from ..units import (DepthToSpaceParams, DepthwiseParams, EltwiseAddParams, EltwiseConcatParams, FifoParams, MatVecParams,
                     PoolParams, RecurrentParams, RegroupParams, RequantParams, UpsampleParams, WindowParams, fold_lengths,
                     queue_credits)

__all__ = ["Control", "Queued", "Window", "MatVec", "Depthwise", "Pipe", "Pool", "Add", "Concat", "Fifo", "Regroup", "Recurrent", "CONTROLS", "control_for"]


class Control:
    """Base: the output valid register ``ov`` and the one-cycle interface."""

    __slots__ = ("ov",)
    ports = 1

    def __init__(self) -> None:
        self.ov = False

    def state(self) -> tuple:
        """Every control register's value."""
        raise NotImplementedError

    def ready(self, o_ready: bool, v0: bool, v1: bool) -> tuple[bool, bool]:
        """The input ports' ``ready`` this cycle (port 1 ``False`` for a one-port model)."""
        raise NotImplementedError

    def tick(self, f0: bool, f1: bool, out_fire: bool) -> bool:
        """The clock edge: ``f0``/``f1`` the input ports transferred, ``out_fire`` the output did;
        ``False`` only if no register changed."""
        raise NotImplementedError


class Queued(Control):
    """A pipeline of ``latency`` stages into an output queue: the head's valid ``ov``, the beats
    ``stored`` behind it, the credits ``owed`` and the pipeline's valid chain ``pipe``; ``room``
    (a wire, set by :meth:`ready`) says a beat with an output may issue."""

    __slots__ = ("stored", "owed", "pipe", "room", "credits", "stages", "mask")

    def __init__(self, latency: int) -> None:
        super().__init__()
        self.stored = self.owed = self.pipe = 0
        self.room = True
        self.credits, self.stages = queue_credits(latency), latency - 1
        self.mask = (1 << self.stages) - 1

    def state(self) -> tuple:
        return self.ov, self.stored, self.owed, self.pipe

    def deliver(self, enter: bool, out_fire: bool) -> bool:
        """Clock edge of the pipeline and its queue: ``enter`` (a beat with an output issues) moves
        into the valid chain of ``latency - 1`` stages, whose last stage delivers to the head
        ``ov`` when it is free (empty or leaving), else to the memory (``stored``). ``False``
        only if no register changed."""
        if not (enter or out_fire or self.pipe) and (self.ov or not self.stored):
            return False
        self.owed += enter - out_fire
        if self.stages:
            push = self.pipe >> (self.stages - 1) & 1
            self.pipe = (self.pipe << 1 | enter) & self.mask
        else:
            push = enter
        # ``out_fire`` = ov & o_ready stands for o_ready: the head is free when not ov or o_ready
        if not self.ov or out_fire:
            if self.stored:
                self.stored += push - 1
                self.ov = True
            else:
                self.ov = push != 0
        else:
            self.stored += push
        return True


class Window(Queued):
    """SlidingWindow and PixelMap (the same steps and pipeline): a step ends when its reads and
    emission issues are done; an emission issues
    while the output queue has room, passes the read port register and enters the queue."""

    __slots__ = ("step", "wl", "el", "issue", "reads", "emit", "last_step")

    def __init__(self, p: WindowParams) -> None:
        super().__init__(p.latency)
        self.reads, self.emit, self.last_step = tuple(p.step_reads), p.step_emits[-1], p.out_height
        self.step, self.wl, self.el, self.issue = 0, self.reads[0], 0, False

    def state(self) -> tuple:
        return self.ov, self.stored, self.owed, self.pipe, self.step, self.wl, self.el

    def ready(self, o_ready: bool, v0: bool, v1: bool) -> tuple[bool, bool]:
        self.room = self.owed < self.credits
        self.issue = self.room and self.el != 0
        return self.wl != 0, False

    def tick(self, f0: bool, f1: bool, out_fire: bool) -> bool:
        issue = self.issue
        changed = self.deliver(issue, out_fire)
        self.el -= issue
        self.wl -= f0
        if not self.wl and not self.el:  # a step ends in the cycle its last read and emission issue
            self.step = 0 if self.step == self.last_step else self.step + 1
            self.wl = self.reads[self.step]
            self.el = 0 if self.step == 0 else self.emit
            return True
        return changed or issue or f0


class MatVec(Queued):
    """MatVec: issue, ``latency - 1`` pipeline stages, the output queue. Tile ``t`` of the schedule
    reads an input beat iff ``t < reads`` (output fold 0); ``last[t]`` marks the last tile of an
    output fold, the only tile that delivers an output and needs ``room``."""

    __slots__ = ("t", "issue", "last", "n", "reads")

    def __init__(self, p: MatVecParams) -> None:
        super().__init__(p.latency)
        folds = fold_lengths(p)
        self.last = tuple(k == n - 1 for n in folds for k in range(n))
        self.n, self.reads, self.t, self.issue = sum(folds), folds[0], 0, False

    def state(self) -> tuple:
        return self.ov, self.stored, self.owed, self.pipe, self.t

    def ready(self, o_ready: bool, v0: bool, v1: bool) -> tuple[bool, bool]:
        self.room = self.owed < self.credits
        may = self.room or not self.last[self.t]
        reads = self.t < self.reads
        self.issue = may and (v0 or not reads)
        return may and reads, False

    def tick(self, f0: bool, f1: bool, out_fire: bool) -> bool:
        if not self.issue:
            return self.deliver(False, out_fire)
        self.deliver(self.last[self.t], out_fire)
        self.t = 0 if self.t == self.n - 1 else self.t + 1
        return True


class Depthwise(MatVec):
    """Depthwise: MatVec's control over a pixel's ``taps * groups`` beats, each read from the
    input; the beats of the last tap deliver an output and need ``room``."""

    __slots__ = ()

    def __init__(self, p: DepthwiseParams) -> None:
        Queued.__init__(self, p.latency)
        n = p.pixel_cycles
        self.last = tuple(t >= n - p.groups for t in range(n))
        self.n, self.reads, self.t, self.issue = n, n, 0, False


class Pipe(Queued):
    """Requant: takes a beat whenever there is room."""

    __slots__ = ()

    def __init__(self, p: Any) -> None:
        super().__init__(p.latency)

    def ready(self, o_ready: bool, v0: bool, v1: bool) -> tuple[bool, bool]:
        self.room = self.owed < self.credits
        return self.room, False

    def tick(self, f0: bool, f1: bool, out_fire: bool) -> bool:
        return self.deliver(f0, out_fire)


class Counted(Queued):
    """A queued unit with a beat counter ``count`` that wraps after ``beats`` transfers."""

    __slots__ = ("count", "beats")

    def __init__(self, latency: int, beats: int) -> None:
        super().__init__(latency)
        self.count, self.beats = 0, beats

    def state(self) -> tuple:
        return self.ov, self.stored, self.owed, self.pipe, self.count

    def advance(self) -> None:
        """A beat transferred: the next ``count``."""
        self.count = 0 if self.count == self.beats - 1 else self.count + 1


class Pool(Counted):
    """Pool: takes a window's other beats whenever they are valid; only its last ``groups`` beats
    (``count`` = element * groups + group past ``first``) need room and enter the pipeline."""

    __slots__ = ("first",)

    def __init__(self, p: PoolParams) -> None:
        super().__init__(p.latency, p.window * p.groups)
        self.first = (p.window - 1) * p.groups

    def ready(self, o_ready: bool, v0: bool, v1: bool) -> tuple[bool, bool]:
        self.room = self.owed < self.credits
        return self.room or self.count < self.first, False

    def tick(self, f0: bool, f1: bool, out_fire: bool) -> bool:
        if not f0:
            return self.deliver(False, out_fire)
        self.deliver(self.count >= self.first, out_fire)  # reads the count before this beat
        self.advance()
        return True


class Add(Queued):
    """Eltwise Add: takes a pair of beats, one from each port, whenever there is room."""

    __slots__ = ()
    ports = 2

    def __init__(self, p: EltwiseAddParams) -> None:
        super().__init__(p.latency)

    def ready(self, o_ready: bool, v0: bool, v1: bool) -> tuple[bool, bool]:
        self.room = room = self.owed < self.credits
        return room and v1, room and v0

    def tick(self, f0: bool, f1: bool, out_fire: bool) -> bool:
        return self.deliver(f0 or f1, out_fire)


class Concat(Counted):
    """Eltwise Concat: of a pixel's ``groups`` beats (``count``), the first ``split`` from port 0,
    the rest from port 1, each whenever there is room."""

    __slots__ = ("split",)
    ports = 2

    def __init__(self, p: EltwiseConcatParams) -> None:
        super().__init__(p.latency, sum(p.groups))
        self.split = p.groups[0]

    def ready(self, o_ready: bool, v0: bool, v1: bool) -> tuple[bool, bool]:
        self.room = room = self.owed < self.credits
        return room and self.count < self.split, room and self.count >= self.split

    def tick(self, f0: bool, f1: bool, out_fire: bool) -> bool:
        if not (f0 or f1):
            return self.deliver(False, out_fire)
        self.deliver(True, out_fire)
        self.advance()
        return True


class Fifo(Control):
    """``SyncFIFOBuffered``: an inner FIFO of ``depth - 1`` words (``level``) and the output register ``ov``."""

    __slots__ = ("level", "depth")

    def __init__(self, p: FifoParams) -> None:
        super().__init__()
        self.level, self.depth = 0, p.depth

    def state(self) -> tuple:
        return self.ov, self.level

    def ready(self, o_ready: bool, v0: bool, v1: bool) -> tuple[bool, bool]:
        return (self.level == 0 if self.depth == 1 else self.level != self.depth - 1), False

    def tick(self, f0: bool, f1: bool, out_fire: bool) -> bool:
        # ``out_fire`` = ov & o_ready stands for o_ready: they differ only while ov is low, where both uses agree
        ov = self.ov
        if self.depth == 1:
            if f0:
                self.level = 1
            elif out_fire:
                self.level = 0
            self.ov = self.level == 1
        elif not self.ov or out_fire:  # the output register takes the inner FIFO's head when free or leaving
            self.ov = self.level != 0
            self.level += f0 - self.ov
        else:
            self.level += f0
        return f0 or out_fire or self.ov != ov


class Regroup(Control):
    """Regroup: ``fill`` codes buffered, the vector's next input beat ``j`` and output beat ``k``;
    ready while the next input beat's codes fit, the output register loads when free and the
    buffer holds the next output beat's codes (those arriving in the same edge not counted)."""

    __slots__ = ("fill", "j", "k", "ins", "outs", "capacity")

    def __init__(self, p: RegroupParams) -> None:
        super().__init__()
        self.ins, self.outs, self.capacity = p.in_counts, p.out_counts, p.capacity
        self.fill = self.j = self.k = 0

    def state(self) -> tuple:
        return self.ov, self.fill, self.j, self.k

    def ready(self, o_ready: bool, v0: bool, v1: bool) -> tuple[bool, bool]:
        return self.fill + self.ins[self.j] <= self.capacity, False

    def tick(self, f0: bool, f1: bool, out_fire: bool) -> bool:
        # ``out_fire`` = ov & o_ready stands for o_ready: the register is free when not ov or o_ready
        free = not self.ov or out_fire
        load = free and self.fill >= self.outs[self.k]
        if not (f0 or load or free and self.ov):
            return False
        if f0:
            self.fill += self.ins[self.j]
            self.j = 0 if self.j == len(self.ins) - 1 else self.j + 1
        if load:
            self.fill -= self.outs[self.k]
            self.k = 0 if self.k == len(self.outs) - 1 else self.k + 1
        if free:
            self.ov = load
        return True


class Recurrent(Control):
    """Recurrent: ``phase`` 0 load (ready), 1 compute (``compute_cycles`` cycles), 2 emit; ``count``
    the beats loaded, cycles computed or beats emitted; the output register loads in emit when free."""

    __slots__ = ("phase", "count", "in_beats", "cycles", "out_beats")

    def __init__(self, p: RecurrentParams) -> None:
        super().__init__()
        self.in_beats, self.cycles, self.out_beats = p.in_beats, p.compute_cycles, p.out_beats
        self.phase = self.count = 0

    def state(self) -> tuple:
        return self.ov, self.phase, self.count

    def ready(self, o_ready: bool, v0: bool, v1: bool) -> tuple[bool, bool]:
        return self.phase == 0, False

    def tick(self, f0: bool, f1: bool, out_fire: bool) -> bool:
        free = not self.ov or out_fire
        if self.phase == 0 and not f0:
            if free and self.ov:
                self.ov = False
                return True
            return False
        if self.phase == 2:
            if free:
                self.count += 1
                self.ov = True
                if self.count == self.out_beats:
                    self.phase = self.count = 0
            return free
        if free:
            self.ov = False
        self.count += 1
        if self.count == (self.in_beats if self.phase == 0 else self.cycles):
            self.phase, self.count = self.phase + 1, 0
        return True


# the control model of each params class
CONTROLS: dict[type, Callable[[Any], Control]] = {
    WindowParams: Window, MatVecParams: MatVec, DepthwiseParams: Depthwise, RequantParams: Pipe, PoolParams: Pool,
    EltwiseAddParams: Add, EltwiseConcatParams: Concat, FifoParams: Fifo, RegroupParams: Regroup,
    DepthToSpaceParams: Window, UpsampleParams: Window, RecurrentParams: Recurrent,
}


def control_for(params: Any) -> Control:
    """A fresh control model (registers at reset) of a unit or FIFO params object."""
    make = CONTROLS.get(type(params))
    if make is None:
        raise TypeError(f"no control model for {type(params).__name__}")
    return make(params)
