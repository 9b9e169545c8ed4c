"""Cycle-by-cycle simulation of a dataflow's control: every unit, FIFO and fork, no data.

The netlist is the one :mod:`hwaccel.ir.dataflow` prescribes for ``hw/top.py``: stage units joined
directly, edges direct or through a FIFO, lockstep forks. Each cycle: (1) the ``ready`` signals
are evaluated from the sinks back to the source (``valid`` signals are registers, fork valids are
gated by the other branches' ``ready``), (2) every port with ``valid & ready`` transfers, (3) every
model clocks. The top-level input offers the next beat whenever one is left (or, with stalls,
offers it when a ``valid`` pattern says so) and the output is ready every cycle (or when a
``ready`` pattern says so), as the cocotb harness (``sim/harness.py``) drives a design.

The units are the control models of :mod:`.control`, one object each, called in a plain loop:
per node a precomputed tuple of its model's methods and the slots of the signals it reads and
writes, and the per-stage first-transfer bookkeeping skipped once every stage has moved.
"""

from __future__ import annotations

import copy
import weakref
from dataclasses import dataclass, field
from typing import Any, Callable

from ..errors import CompileError, SimulationError
from ..units.dataflow import INPUT, OUTPUT, Dataflow
from .control import Control, Fifo, control_for
from .schedule import expected_cycles

__all__ = ["Netlist", "Run", "simulate", "budget"]

MARGIN = 4  # a run may take this many times the cycles the analytic schedule expects
SLACK = 10_000
PERIODIC_IMAGES = 512  # images an endless run may need before its state repeats (dscnn at luts=20k: 217)


@dataclass
class _Node:
    name: str  # "<stage>.<unit index>" or "fifo:<src>-><dst>.<port>"
    params: Any
    stage: str | None  # the stage a unit belongs to (None for FIFOs)
    control: Control = field(init=False)  # the model at reset (copied for each run)
    drivers: list = field(default_factory=list)  # per port: node index (-1: the top input)
    sinks: list = field(default_factory=list)  # (node index, port); (-1, 0): the top output


class Netlist:
    """The nodes of ``df`` in topological order with their connections."""

    def __init__(self, df: Dataflow) -> None:
        self.df = df
        self.nodes: list[_Node] = []
        self.input_sinks: list[tuple[int, int]] = []
        outlet: dict[str, int] = {}  # stage -> index of its last unit
        for stage in df.stages:
            edges = df.edges_into(stage.name)
            srcs = [self._edge(outlet.get(e.src, -1), e.fifo, f"fifo:{e.src}->{e.dst}.{e.port}") for e in edges]
            first = len(self.nodes)
            for k, unit in enumerate(stage.units):
                self._add(_Node(f"{stage.name}.{k}", unit, stage.name))
                if k:
                    self._connect(first + k - 1, first + k, 0)
            for edge, src in zip(edges, srcs):
                self._connect(src, first, edge.port)
            outlet[stage.name] = len(self.nodes) - 1
        outs = [e for e in df.edges if e.dst == OUTPUT]
        if len(outs) != 1:
            raise CompileError(f"a dataflow must have one edge into {OUTPUT!r}, not {len(outs)}")
        self.output = self._edge(outlet.get(outs[0].src, -1), outs[0].fifo, f"fifo:{outs[0].src}->{OUTPUT}.0")
        self._connect(self.output, -1, 0)
        for name, branches in [(n.name, n.sinks) for n in self.nodes] + [(INPUT, self.input_sinks)]:
            if len(branches) > 1 and not all(i >= 0 and isinstance(self.nodes[i].control, Fifo) for i, _ in branches):
                raise CompileError(f"every branch of the fork after {name} must start with a FIFO")

    def stage_ends(self) -> list[tuple[int, int]]:
        """``(first, last)`` node index of each stage, in stage order."""
        ends: dict[str, tuple[int, int]] = {}
        for i, node in enumerate(self.nodes):
            if node.stage is not None:
                ends[node.stage] = (ends.get(node.stage, (i, i))[0], i)
        return list(ends.values())

    def fifos(self) -> list[int]:
        """Indices of the FIFO nodes."""
        return [i for i, n in enumerate(self.nodes) if isinstance(n.control, Fifo)]

    def _edge(self, src: int, fifo: object, name: str) -> int:
        """The node an edge's consumer is driven by: ``src``, or a FIFO after it."""
        if fifo is None:
            return src
        idx = self._add(_Node(name, fifo, None))
        self._connect(src, idx, 0)
        return idx

    def _add(self, node: _Node) -> int:
        node.control = control_for(node.params)
        node.drivers = [-1] * node.control.ports
        self.nodes.append(node)
        return len(self.nodes) - 1

    def _connect(self, src: int, dst: int, port: int) -> None:
        if dst >= 0:
            self.nodes[dst].drivers[port] = src
        (self.nodes[src].sinks if src >= 0 else self.input_sinks).append((dst, port))


# per dataflow: its netlist, kept while the dataflow object lives
_NETLISTS: "weakref.WeakKeyDictionary[Dataflow, Netlist]" = weakref.WeakKeyDictionary()


@dataclass
class Run:
    """What one simulation measured (cycle indices from 0, the first cycle input is offered)."""

    images: int
    cycles: int  # last output transfer + 1
    first_output: int
    input_done: int  # cycle of the last input transfer
    out_cycles: list[int]  # cycle of each output beat (only when ``keep_beats``)
    stage_first_in: dict[str, int]
    stage_first_out: dict[str, int]
    fifo_peaks: dict[str, int]  # highest inner level of each FIFO (only when ``record_blocking``)
    fifo_blocked: dict[str, int]  # cycles each FIFO refused a beat its producer offered (only when ``record_blocking``)
    period: tuple[int, int, int] | None = None  # (first image n0, images k, cycles P) when periodic
    image_ends: list[int] = field(default_factory=list)  # cycle of each finished image's last output beat


class _Wire:
    """A driver seen from its sinks (``ov``): the top input's ``offer``, or nothing on a missing port."""

    __slots__ = ("ov",)

    def __init__(self) -> None:
        self.ov = False


def simulate(df: Dataflow, images: int | None, *, stop_periodic: bool = False,
             valid: Callable[[int], bool] | None = None, ready: Callable[[int], bool] | None = None,
             keep_beats: bool = False, record_blocking: bool = False, max_cycles: int | None = None) -> Run:
    """Run ``images`` inputs back to back (``None``: endless, with ``stop_periodic``).

    ``valid(cycle)`` / ``ready(cycle)`` model stalls at the top level: whether the input offers
    its next beat (when one is left) and whether the output is ready in that cycle (default:
    always). With ``stop_periodic`` the run detects when the control state at the acceptance of an
    image's first beat repeats that of an earlier image: from then on everything repeats with the
    recorded ``period`` ``(n0, k, P)`` (only meaningful without stalls). It goes on until
    ``image_ends`` holds ``k`` images past the last one that had left at the earlier of the two
    moments; every later image leaves ``P`` cycles after the image ``k`` before it.

    ``max_cycles`` defaults to :func:`budget`: a margin over what the analytic schedule
    (:func:`~.schedule.expected_cycles`) expects.

    Raises
    ------
    SimulationError
        The design deadlocks (no stream transferred for many cycles in which the input offered a
        beat or had none left and the output was ready; the message names the units holding a
        beat nobody takes) or does not finish within ``max_cycles`` (the message names the stages
        that wait for input and the units whose output nobody takes).
    """
    if max_cycles is None:
        max_cycles = budget(df, images)
    net = _NETLISTS.get(df)
    if net is None:
        net = _NETLISTS[df] = Netlist(df)
    sim = _Simulation(net, valid, ready, record_blocking)
    # a recurrent unit's compute phase transfers nothing for compute_cycles cycles
    quiet_limit = 64 + max(4 * (getattr(n.params, "input_folds", 1) + 8) + getattr(n.params, "compute_cycles", 0) for n in net.nodes)
    total = -1 if images is None else images * df.input.beats
    out_total = -1 if images is None else images * df.output.beats
    sim.run(total, out_total, df.input.beats, df.output.beats, stop_periodic, keep_beats, max_cycles, quiet_limit)
    if sim.status == "deadlock":
        raise SimulationError(f"deadlock: no stream transferred for {quiet_limit} cycles at cycle {sim.cycle}; "
                              f"blocked: {', '.join(sim.blocked_units()) or 'none'}")
    if sim.status == "timeout":
        expected = expected_cycles(df, PERIODIC_IMAGES if images is None else images)
        raise SimulationError(f"simulation did not finish within {max_cycles} cycles (the cycle model expects "
                              f"{expected}): {sim.stuck()}")
    stages = [st.name for st in df.stages]
    fifos = [net.nodes[i].name for i in net.fifos()]
    return Run(images if images is not None else sim.sent // df.input.beats, sim.last_output + 1, sim.first_output,
               sim.input_done, sim.out_cycles, dict(zip(stages, sim.first_in)), dict(zip(stages, sim.first_out)),
               dict(zip(fifos, sim.peaks)), dict(zip(fifos, sim.blocked)), sim.period, sim.ends)


def budget(df: Dataflow, images: int | None) -> int:
    """The cycles a run of ``images`` inputs (``None``: until periodic, :data:`PERIODIC_IMAGES`
    assumed) may take: :data:`MARGIN` times the schedule's expectation, plus :data:`SLACK`."""
    return MARGIN * expected_cycles(df, PERIODIC_IMAGES if images is None else max(images, 1)) + SLACK


class _Simulation:
    """One run over fresh control models of ``net``: the wiring as slots of a signal list, the loop.

    Signal ``R[2 i + p]`` is the ``ready`` of node ``i``'s port ``p``; after them a constant
    ``True``, the top output's ``ready``, and per fork the AND of its branches' readies (the
    source's ``o_ready``) and per branch the AND of the others' (its ``valid`` gate). A fork's
    branches are FIFOs, whose ``ready`` reads registers only: they are evaluated first.

    A node is evaluated in a cycle only when it is *awake*: something it reads may have changed
    since it last was (every node at reset; the top input's sinks, the output's driver and the
    forks every cycle). A node whose model changed a register or that transferred a beat wakes
    itself for the next cycle, and its sinks if its ``ov`` changed; one whose ``ready`` changed
    wakes its drivers in the same cycle (they come later, sinks first). A sleeping node's signals
    are those of its last evaluation, which moved nothing.
    """

    def __init__(self, net: Netlist, offer_at: Callable[[int], bool] | None, ready_at: Callable[[int], bool] | None,
                 record: bool) -> None:
        self.net, self.offer_at, self.ready_at, self.record = net, offer_at, ready_at, record
        nodes = net.nodes
        n = len(nodes)
        self.ctrls = [copy.copy(node.control) for node in nodes]
        self.true, self.sink = 2 * n, 2 * n + 1
        self.R: list[bool] = [False] * (2 * n) + [True, True]
        self.input, nothing = _Wire(), _Wire()
        self.gate: dict[tuple[int, int], int] = {}  # (node, port) -> slot of its fork gate
        self.forks: list[tuple[int, tuple[int, ...]]] = []  # (slot, the slots it ANDs), in order
        self.fork_fifos: list[int] = []  # fork branches, evaluated before everything else
        o_slot = [self._fork(node.sinks) for node in nodes]
        self._fork(net.input_sinks)
        self.plan: list[tuple[int, tuple]] = []  # per node, sinks first: what one cycle reads and writes
        for i in range(n - 1, -1, -1):
            ctrl = self.ctrls[i]
            wires: list[Any] = []
            for p in range(2):
                src = nodes[i].drivers[p] if p < ctrl.ports else None
                wires += [nothing, self.true] if src is None else [self.input if src < 0 else self.ctrls[src],
                                                                  self.gate.get((i, p), self.true)]
            drivers = tuple(d for d in nodes[i].drivers if d >= 0)
            sinks = tuple(j for j, _ in nodes[i].sinks if j >= 0)
            self.plan.append((i, (ctrl, ctrl.ready, ctrl.tick, o_slot[i], *wires, 2 * i, drivers, sinks)))
        forks = [i for i, node in enumerate(nodes) if len(node.sinks) > 1]
        self.awake = sorted({j for j, _ in net.input_sinks} | {net.output} | set(forks) | set(self.fork_fifos))
        self.status, self.cycle = "ok", 0

    def _fork(self, sinks: list[tuple[int, int]]) -> int:
        """The slot of the ``o_ready`` a source with ``sinks`` sees (allocating fork slots)."""
        slots = [self.sink if j < 0 else 2 * j + p for j, p in sinks]
        if len(sinks) == 1:
            return slots[0]
        self.fork_fifos += [j for j, _ in sinks]
        for k, branch in enumerate(sinks):
            self.gate[branch] = len(self.R)
            self.forks.append((len(self.R), tuple(s for m, s in enumerate(slots) if m != k)))
            self.R.append(False)
        self.forks.append((len(self.R), tuple(slots)))
        self.R.append(False)
        return len(self.R) - 1

    def blocked_units(self) -> list[str]:
        """The units holding a beat nobody takes in the current cycle."""
        return [self.net.nodes[i].name for i, (ctrl, _, _, oi, *_) in self.plan if ctrl.ov and not self.R[oi]][::-1]

    def stuck(self) -> str:
        """The stage that has waited longest for an input beat (and from whom), else the units whose
        output nobody takes."""
        nodes, R, ctrls = self.net.nodes, self.R, self.ctrls
        waiting = []
        for first, _ in self.net.stage_ends():
            for p, src in enumerate(nodes[first].drivers[:ctrls[first].ports]):
                if src >= 0 and R[2 * first + p] and not ctrls[src].ov:  # (the input offers while it has beats)
                    name = nodes[src].name.removeprefix("fifo:").split("->")[0].split(".")[0]
                    waiting.append((self.took[first], f"stage {nodes[first].stage} waits for input from {name}"))
        if waiting:
            since, what = min(waiting)
            return f"{what} since cycle {since + 1}"
        return f"blocked: {', '.join(self.blocked_units()) or 'none'}"

    def run(self, total: int, out_total: int, beats: int, out_beats: int, periodic: bool, keep_beats: bool,
            max_cycles: int, quiet_limit: int) -> None:
        """Clock the network until ``out_total`` output beats left (or the period is found)."""
        R, plan, ctrls, record, inp = self.R, self.plan, self.ctrls, self.record, self.input
        offer_at, ready_at, stalls = self.offer_at, self.ready_at, self.offer_at is not None or self.ready_at is not None
        fork_fifos = [(self.ctrls[i].ready, 2 * i) for i in self.fork_fifos]
        forks, sink, always = self.forks, self.sink, self.awake
        n = len(ctrls)
        F: list[tuple[bool, bool, bool, bool]] = [(False, False, False, False)] * n  # fires and valid of port 0
        awake = [True] * n
        self.took = took = [-1] * n  # per node: the last cycle an input beat transferred
        in_node, in_port = self.net.input_sinks[0]
        out_node = self.net.output
        stage_ends = self.net.stage_ends()
        first_in, first_out = [-1] * len(stage_ends), [-1] * len(stage_ends)
        pending, tracking = 2 * len(stage_ends), True
        fifos = [(i, ctrl) for i, ctrl in enumerate(ctrls) if isinstance(ctrl, Fifo)]
        peaks, blocked = [0] * len(fifos), [0] * len(fifos)
        sent = out_count = quiet = cycle = 0
        first_output = last_output = input_done = -1
        out_cycles: list[int] = []
        ends: list[int] = []
        seen: dict[tuple, tuple[int, int, int]] = {}
        period = None
        sink_ready = offer = True
        while cycle < max_cycles:
            offer = sent != total
            if stalls:
                offer = offer and (offer_at is None or offer_at(cycle))
                R[sink] = sink_ready = ready_at is None or ready_at(cycle)
            inp.ov = offer
            for rdy, r in fork_fifos:
                R[r] = rdy(False, False, False)[0]
            for slot, ands in forks:
                R[slot] = all([R[k] for k in ands])
            for j in always:
                awake[j] = True
            moved = False
            work = []
            for i, wiring in plan:  # combinational: readies from the sinks back, valids, transfers
                if awake[i]:
                    ctrl, ready, tick, oi, d0, g0, d1, g1, r, drivers, sinks = wiring
                    o = R[oi]
                    v0 = d0.ov and R[g0]
                    v1 = d1.ov and R[g1]
                    r0, r1 = ready(o, v0, v1)
                    if r0 != R[r] or r1 != R[r + 1]:
                        R[r], R[r + 1] = r0, r1
                        for j in drivers:
                            awake[j] = True
                    ov = ctrl.ov
                    of = ov and o
                    f0 = v0 and r0
                    f1 = v1 and r1
                    F[i] = f0, f1, of, v0
                    work.append((i, ctrl, tick, ov, f0, f1, of, sinks))
                    if of:
                        moved = True
            if F[in_node][in_port]:
                if periodic and sent % beats == 0:
                    key = tuple([ctrl.state() for ctrl in ctrls])
                    if key in seen:
                        j_image, j_cycle, j_out = seen[key]
                        period = (j_image, sent // beats - j_image, cycle - j_cycle)
                        in_step = out_count - j_out == period[1] * out_beats
                        out_total = ((j_out // out_beats if in_step else j_image) + period[1]) * out_beats
                        periodic = False
                        if out_count >= out_total:
                            break
                    else:
                        seen[key] = (sent // beats, cycle, out_count)
                sent += 1
                if sent == total:
                    input_done = cycle
                quiet = 0
            elif moved:
                quiet = 0
            else:
                quiet += sink_ready and (offer or sent == total)
                if quiet > quiet_limit:
                    self.status, self.cycle = "deadlock", cycle
                    return
            if tracking:
                for k, (first, last) in enumerate(stage_ends):
                    if first_in[k] < 0 and (F[first][0] or F[first][1]):
                        first_in[k] = cycle
                        pending -= 1
                    if first_out[k] < 0 and F[last][2]:
                        first_out[k] = cycle
                        pending -= 1
                tracking = pending > 0
            if F[out_node][2]:
                out_count += 1
                last_output = cycle
                if first_output < 0:
                    first_output = cycle
                if keep_beats:
                    out_cycles.append(cycle)
                if out_count % out_beats == 0:
                    ends.append(cycle)
            if record:
                for k, (i, _) in enumerate(fifos):
                    blocked[k] += F[i][3] and not R[2 * i]
            awake = [False] * n
            for i, ctrl, tick, ov, f0, f1, of, sinks in work:  # the clock edge
                if tick(f0, f1, of) or f0 or f1 or of:
                    awake[i] = True
                    if f0 or f1:
                        took[i] = cycle
                    if ctrl.ov != ov:
                        for j in sinks:
                            awake[j] = True
            if record:
                for k, (_, fifo) in enumerate(fifos):
                    peaks[k] = max(peaks[k], fifo.level)
            cycle += 1
            if out_count == out_total:
                break
        else:
            self.status, self.cycle = "timeout", cycle
            return
        self.cycle, self.sent, self.first_output, self.last_output, self.input_done = \
            cycle, sent, first_output, last_output, input_done
        self.out_cycles, self.first_in, self.first_out, self.peaks, self.blocked, self.period, self.ends = \
            out_cycles, first_in, first_out, peaks, blocked, period, ends
