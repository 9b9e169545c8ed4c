"""Cycle-by-cycle simulation of a dataflow's control: every unit, FIFO and fork, no data.

The netlist is the one :mod:`hwaccel.ir.dataflow` prescribes for ``hw/top.py``: stage units joined
directly, edges direct or through a FIFO, lockstep forks. Each cycle: (1) the ``ready`` signals
are evaluated from the sinks back to the source (``valid`` signals are registers, fork valids are
gated by the other branches' ``ready``), (2) every port with ``valid & ready`` transfers, (3) every
model clocks. The top-level input offers the next beat whenever one is left (or, with stalls,
offers it when a ``valid`` pattern says so) and the output is ready every cycle (or when a
``ready`` pattern says so), as the cocotb harness (``sim/harness.py``) drives a design.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Any, Callable

from ..errors import CompileError, SimulationError
from ..ir.dataflow import INPUT, OUTPUT, Dataflow
from .units import FifoCode, UnitCode, code_for

__all__ = ["Netlist", "Run", "simulate"]


@dataclass
class _Node:
    name: str  # "<stage>.<unit index>" or "fifo:<src>-><dst>.<port>"
    params: Any
    stage: str | None  # the stage a unit belongs to (None for FIFOs)
    code: UnitCode = field(init=False)
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
            if len(branches) > 1 and not all(i >= 0 and isinstance(self.nodes[i].code, FifoCode) for i, _ in branches):
                raise CompileError(f"every branch of the fork after {name} must start with a FIFO")

    def _edge(self, src: int, fifo: object, name: str) -> int:
        """The node an edge's consumer is driven by: ``src``, or a FIFO after it."""
        if fifo is None:
            return src
        idx = self._add(_Node(name, fifo, None))
        self._connect(src, idx, 0)
        return idx

    def _add(self, node: _Node) -> int:
        node.code = code_for(f"n{len(self.nodes)}_", node.params)
        node.drivers = [-1] * node.code.ports
        self.nodes.append(node)
        return len(self.nodes) - 1

    def _connect(self, src: int, dst: int, port: int) -> None:
        if dst >= 0:
            self.nodes[dst].drivers[port] = src
        (self.nodes[src].sinks if src >= 0 else self.input_sinks).append((dst, port))


_COMPILED: "weakref.WeakKeyDictionary[Dataflow, tuple[Netlist, Callable]]" = weakref.WeakKeyDictionary()


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
    fifo_peaks: dict[str, int]  # highest inner level of each FIFO
    fifo_blocked: dict[str, int]  # cycles each FIFO refused a beat its producer offered
    period: tuple[int, int, int] | None = None  # (first image n0, images k, cycles P) when periodic


def simulate(df: Dataflow, images: int | None, *, stop_periodic: bool = False,
             valid: Callable[[int], bool] | None = None, ready: Callable[[int], bool] | None = None,
             keep_beats: bool = False, record_blocking: bool = False, max_cycles: int = 50_000_000) -> Run:
    """Run ``images`` inputs back to back (``None``: endless, with ``stop_periodic``).

    ``valid(cycle)`` / ``ready(cycle)`` model stalls at the top level: whether the input offers
    its next beat (when one is left) and whether the output is ready in that cycle (default:
    always). With ``stop_periodic`` the run ends when the control state at the acceptance of an
    image's first beat repeats that of an earlier image: from then on everything repeats with the
    recorded ``period`` (only meaningful without stalls).

    Raises
    ------
    SimulationError
        The design deadlocks (no stream transfers for many cycles in which the input offered a
        beat or had none left and the output was ready; the message names the units holding a
        beat nobody takes) or does not finish within ``max_cycles``.
    """
    if df not in _COMPILED:
        _COMPILED[df] = (net := Netlist(df)), _compile(net)
    net, run_fn = _COMPILED[df]
    quiet_limit = 64 + 4 * max(getattr(n.params, "input_folds", 1) + 8 for n in net.nodes)
    total = -1 if images is None else images * df.input.beats
    out_total = -1 if images is None else images * df.output.beats
    status, cycle, *rest = run_fn(total, valid, ready, stop_periodic, keep_beats, record_blocking, df.input.beats,
                                  out_total, max_cycles, quiet_limit)
    if status == "deadlock":
        raise SimulationError(f"deadlock: no stream transferred for {quiet_limit} cycles at cycle {cycle}; "
                              f"blocked: {', '.join(rest[0]) or 'none'}")
    if status == "timeout":
        raise SimulationError(f"simulation did not finish within {max_cycles} cycles")
    sent, first_output, last_output, input_done, out_cycles, fi, fo, peaks, blocked, period = rest
    stages = [st.name for st in df.stages]
    fifos = [n.name for n in net.nodes if isinstance(n.code, FifoCode)]
    return Run(images if images is not None else sent // df.input.beats, last_output + 1, first_output, input_done,
               out_cycles, dict(zip(stages, fi)), dict(zip(stages, fo)), dict(zip(fifos, peaks)),
               dict(zip(fifos, blocked)), period)


def _compile(net: Netlist) -> Callable:
    """Generate and compile the cycle loop of ``net`` (one function, every register a local)."""
    nodes = net.nodes
    consts: dict[str, Any] = {}
    regs: dict[str, Any] = {}
    for node in nodes:
        consts.update(node.code.consts)
        regs.update(node.code.registers())
    fifos = [i for i, n in enumerate(nodes) if isinstance(n.code, FifoCode)]
    stage_names = list(dict.fromkeys(n.stage for n in nodes if n.stage is not None))
    firsts = {st: min(i for i, n in enumerate(nodes) if n.stage == st) for st in stage_names}
    lasts = {st: max(i for i, n in enumerate(nodes) if n.stage == st) for st in stage_names}

    def rdy(d: int, p: int) -> str:
        return "sink_ready" if d < 0 else f"n{d}_r{p}"

    body: list[str] = []
    for i in fifos:  # FIFO readies depend on registers only: known before the fork gates need them
        _, (r,) = nodes[i].code.ready("", [])
        body.append(f"n{i}_r0 = {r}")
    for i in range(len(nodes) - 1, -1, -1):
        node = nodes[i]
        body.append(f"n{i}_or = {' and '.join(rdy(d, p) for d, p in node.sinks)}")
        for p, src in enumerate(node.drivers):
            branch = net.input_sinks if src < 0 else nodes[src].sinks
            gate = [rdy(d, q) for d, q in branch if (d, q) != (i, p)]
            body.append(f"n{i}_v{p} = {' and '.join(['offer' if src < 0 else f'n{src}_ov'] + gate)}")
        lines, readies = node.code.ready(f"n{i}_or", [f"n{i}_v{p}" for p in range(node.code.ports)])
        body += lines
        if i not in fifos:
            body += [f"n{i}_r{p} = {r}" for p, r in enumerate(readies)]
    fires = []
    for i, node in enumerate(nodes):
        fires += [f"n{i}_f{p}" for p in range(node.code.ports)] + [f"n{i}_of"]
        body += [f"n{i}_f{p} = n{i}_v{p} and n{i}_r{p}" for p in range(node.code.ports)]
        body.append(f"n{i}_of = n{i}_ov and n{i}_or")
    in_fire = " and ".join(["offer"] + [rdy(d, p) for d, p in net.input_sinks])
    body += [f"in_fire = {in_fire}",
             "if in_fire:", "    sent += 1", "    if sent == total: input_done = cycle",
             f"any_fire = in_fire or {' or '.join(fires)}"]
    for k, st in enumerate(stage_names):
        i, j = firsts[st], lasts[st]
        started = " or ".join(f"n{i}_f{p}" for p in range(nodes[i].code.ports))
        body += [f"if fi{k} < 0 and ({started}): fi{k} = cycle", f"if fo{k} < 0 and n{j}_of: fo{k} = cycle"]
    body += [f"if n{net.output}_of:", "    out_count += 1", "    last_output = cycle",
             "    if first_output < 0: first_output = cycle", "    if keep_beats: out_cycles.append(cycle)",
             "if record:"] + [f"    n{i}_blk += n{i}_v0 and not n{i}_r0" for i in fifos] + ["    pass"]
    for i, node in enumerate(nodes):
        body += node.code.tick([f"n{i}_f{p}" for p in range(node.code.ports)])
    body += [f"if n{i}_level > n{i}_peak: n{i}_peak = n{i}_level" for i in fifos]
    body += ["cycle += 1", "if total >= 0 and out_count == out_total: break",
             "quiet = 0 if any_fire else quiet + (sink_ready and (offer or sent == total))",
             "if quiet > quiet_limit:",
             f"    return ('deadlock', cycle, [n for n, b in zip({[n.name for n in nodes]!r}, ({', '.join(f'n{i}_ov and not n{i}_or' for i in range(len(nodes)))},)) if b])"]
    key = "(" + ", ".join(regs) + ",)"
    head = ["def _run(total, offer_at, ready_at, stop_periodic, keep_beats, record, beats, out_total, max_cycles, quiet_limit):"]
    init = [f"    {k} = {v!r}" for k, v in regs.items()]
    init += [f"    n{i}_peak = 0; n{i}_blk = 0" for i in fifos]
    init += [f"    fi{k} = -1; fo{k} = -1" for k in range(len(stage_names))]
    init += ["    sent = out_count = quiet = cycle = 0", "    first_output = last_output = input_done = -1",
             "    out_cycles = []; seen = {}; period = None",
             "    while cycle < max_cycles:",
             "        offer = (total < 0 or sent < total) and (offer_at is None or offer_at(cycle))",
             "        sink_ready = ready_at is None or ready_at(cycle)",
             "        if stop_periodic and offer and sent % beats == 0:",
             f"            key = {key}",
             "            if key in seen:",
             "                period = (seen[key][0], sent // beats - seen[key][0], cycle - seen[key][1])",
             "                break",
             "            seen[key] = (sent // beats, cycle)"]
    init += ["        " + line for line in body]
    init += ["    else:", "        return ('timeout', cycle)",
             f"    return ('ok', cycle, sent, first_output, last_output, input_done, out_cycles, "
             f"[{', '.join(f'fi{k}' for k in range(len(stage_names)))}], [{', '.join(f'fo{k}' for k in range(len(stage_names)))}], "
             f"[{', '.join(f'n{i}_peak' for i in fifos)}], [{', '.join(f'n{i}_blk' for i in fifos)}], period)"]
    source = "\n".join(head + init) + "\n"
    namespace: dict[str, Any] = dict(consts)
    exec(compile(source, f"<cycle model of {net.df.name}>", "exec"), namespace)  # noqa: S102 - our own generated code
    return namespace["_run"]
