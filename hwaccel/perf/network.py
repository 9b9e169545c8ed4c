"""Cycle-by-cycle simulation of a dataflow's control: every unit, FIFO and fork, no data.

The netlist is the one :mod:`hwaccel.ir.dataflow` prescribes for ``hw/top.py``: stage units joined
directly, edges direct or through a FIFO, lockstep forks. Each cycle: (1) the ``ready`` signals
are evaluated from the sinks back to the source (``valid`` signals are registers, fork valids are
gated by the other branches' ``ready``), (2) every port with ``valid & ready`` transfers, (3) every
model clocks. The top-level input offers the next beat whenever one is left (or, with stalls,
offers it when a ``valid`` pattern says so) and the output is ready every cycle (or when a
``ready`` pattern says so), as the cocotb harness (``sim/harness.py``) drives a design.

For speed the loop is generated Python (one function per dataflow and stall mode, compiled on
first use and kept while the dataflow object lives): every register a local variable, a signal
that is another's name used in place, the two ends of a direct connection one transfer, and the
per-stage first-transfer bookkeeping skipped once every stage has moved.
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

    @property
    def registers(self) -> dict[str, Any]:
        """Every control register and its reset value, node by node (the state)."""
        regs: dict[str, Any] = {}
        for node in self.nodes:
            regs.update(node.code.registers())
        return regs

    def stage_ends(self) -> list[tuple[int, int]]:
        """``(first, last)`` node index of each stage, in stage order."""
        ends: dict[str, tuple[int, int]] = {}
        for i, node in enumerate(self.nodes):
            if node.stage is not None:
                ends[node.stage] = (ends.get(node.stage, (i, i))[0], i)
        return list(ends.values())

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


# per dataflow: {stalls: (netlist, compiled loop)}, kept while the dataflow object lives
_COMPILED: "weakref.WeakKeyDictionary[Dataflow, dict[bool, tuple[Netlist, Callable]]]" = weakref.WeakKeyDictionary()


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


def simulate(df: Dataflow, images: int | None, *, stop_periodic: bool = False,
             valid: Callable[[int], bool] | None = None, ready: Callable[[int], bool] | None = None,
             keep_beats: bool = False, record_blocking: bool = False, max_cycles: int = 50_000_000) -> Run:
    """Run ``images`` inputs back to back (``None``: endless, with ``stop_periodic``).

    ``valid(cycle)`` / ``ready(cycle)`` model stalls at the top level: whether the input offers
    its next beat (when one is left) and whether the output is ready in that cycle (default:
    always). With ``stop_periodic`` the run detects when the control state at the acceptance of an
    image's first beat repeats that of an earlier image: from then on everything repeats with the
    recorded ``period`` ``(n0, k, P)`` (only meaningful without stalls). It goes on until
    ``image_ends`` holds ``k`` images past the last one that had left at the earlier of the two
    moments; every later image leaves ``P`` cycles after the image ``k`` before it.

    Raises
    ------
    SimulationError
        The design deadlocks (no stream transfers for many cycles in which the input offered a
        beat or had none left and the output was ready; the message names the units holding a
        beat nobody takes) or does not finish within ``max_cycles``.
    """
    stalls = valid is not None or ready is not None
    compiled = _COMPILED.setdefault(df, {})
    if stalls not in compiled:
        other = compiled.get(not stalls)
        net = other[0] if other is not None else Netlist(df)
        compiled[stalls] = net, _compile(net, stalls)
    net, run_fn = compiled[stalls]
    quiet_limit = 64 + 4 * max(getattr(n.params, "input_folds", 1) + 8 for n in net.nodes)
    total = -1 if images is None else images * df.input.beats
    out_total = -1 if images is None else images * df.output.beats
    status, cycle, *rest = run_fn(total, valid, ready, stop_periodic, keep_beats, record_blocking, df.input.beats,
                                  out_total, df.output.beats, max_cycles, quiet_limit)
    if status == "deadlock":
        raise SimulationError(f"deadlock: no stream transferred for {quiet_limit} cycles at cycle {cycle}; "
                              f"blocked: {', '.join(rest[0]) or 'none'}")
    if status == "timeout":
        raise SimulationError(f"simulation did not finish within {max_cycles} cycles")
    sent, first_output, last_output, input_done, out_cycles, fi, fo, peaks, blocked, period, ends = rest
    stages = [st.name for st in df.stages]
    fifos = [n.name for n in net.nodes if isinstance(n.code, FifoCode)]
    return Run(images if images is not None else sent // df.input.beats, last_output + 1, first_output, input_done,
               out_cycles, dict(zip(stages, fi)), dict(zip(stages, fo)), dict(zip(fifos, peaks)),
               dict(zip(fifos, blocked)), period, ends)


def _loop_body(net: Netlist, fifos: list[int]) -> list[str]:
    """One cycle of every node: readies from the sinks back, transfers, bookkeeping, clock edges.

    A signal that is a plain name (a register, or another node's ready) is used in place; a
    compound one is computed once into ``n<i>_<signal>``. Every use of a signal precedes the
    first clock edge, so a register read there still holds this cycle's value.
    """
    nodes = net.nodes
    ready: dict[tuple[int, int], str] = {(-1, 0): "sink_ready"}
    valid: dict[tuple[int, int], str] = {}
    o_ready: dict[int, str] = {}
    body: list[str] = []

    def named(name: str, expr: str) -> str:
        if expr.isidentifier():
            return expr
        body.append(f"{name} = {expr}")
        return name

    for i in fifos:  # FIFO readies depend on registers only: known before the fork gates need them
        ready[i, 0] = named(f"n{i}_r0", nodes[i].code.ready("", [])[1][0])
    for i in range(len(nodes) - 1, -1, -1):
        node = nodes[i]
        o_ready[i] = named(f"n{i}_or", " and ".join(ready[s] for s in node.sinks))
        for p, src in enumerate(node.drivers):
            branch = net.input_sinks if src < 0 else nodes[src].sinks
            gate = [ready[s] for s in branch if s != (i, p)]
            valid[i, p] = named(f"n{i}_v{p}", " and ".join(["offer" if src < 0 else nodes[src].code.ov] + gate))
        lines, readies = node.code.ready(o_ready[i], [valid[i, p] for p in range(node.code.ports)])
        body += lines
        if i not in fifos:
            for p, r in enumerate(readies):
                ready[i, p] = named(f"n{i}_r{p}", r)
    fire: dict[tuple[int, int], str] = {}
    for i, node in enumerate(nodes):  # a direct connection's two ends transfer together: one name
        for p, src in enumerate(node.drivers):
            fire[i, p] = f"n{src}_of" if src >= 0 and len(nodes[src].sinks) == 1 else f"n{i}_f{p}"
            if fire[i, p] == f"n{i}_f{p}":
                body.append(f"n{i}_f{p} = {valid[i, p]} and {ready[i, p]}")
        body.append(f"n{i}_of = {node.code.ov} and {o_ready[i]}")
    fires = list(dict.fromkeys(fire.values())) + [f"n{i}_of" for i in range(len(nodes))]
    fires = list(dict.fromkeys(fires))
    in_fire = fire[net.input_sinks[0]] if len(net.input_sinks) == 1 else \
        " and ".join(["offer"] + [ready[s] for s in net.input_sinks])
    body += [f"if {in_fire}:",
             "    if periodic and sent % beats == 0:",
             f"        key = ({', '.join(net.registers)},)",
             "        if key in seen:",
             "            j_image, j_cycle, j_out = seen[key]",
             "            period = (j_image, sent // beats - j_image, cycle - j_cycle)",
             "            in_step = out_count - j_out == period[1] * out_beats",
             "            out_total = ((j_out // out_beats if in_step else j_image) + period[1]) * out_beats",
             "            periodic = False",
             "            if out_count >= out_total: break",
             "        else:",
             "            seen[key] = (sent // beats, cycle, out_count)",
             "    sent += 1",
             "    if sent == total: input_done = cycle",
             "    quiet = 0",
             f"elif {' or '.join(fires)}: quiet = 0",
             "else:",
             "    quiet += sink_ready and (offer or sent == total)",
             "    if quiet > quiet_limit:",
             f"        return ('deadlock', cycle, [n for n, b in zip({[n.name for n in nodes]!r}, "
             f"({', '.join(f'{n.code.ov} and not {o_ready[i]}' for i, n in enumerate(nodes))},)) if b])",
             "if tracking:"]
    for k, (first, last) in enumerate(net.stage_ends()):
        started = " or ".join(fire[first, p] for p in range(nodes[first].code.ports))
        body += [f"    if fi{k} < 0 and ({started}): fi{k} = cycle; pending -= 1",
                 f"    if fo{k} < 0 and n{last}_of: fo{k} = cycle; pending -= 1"]
    body += ["    tracking = pending > 0",
             f"if n{net.output}_of:", "    out_count += 1", "    last_output = cycle",
             "    if first_output < 0: first_output = cycle", "    if keep_beats: out_cycles.append(cycle)",
             "    if out_count % out_beats == 0: ends.append(cycle)",
             "if record:"] + [f"    n{i}_blk += {valid[i, 0]} and not {ready[i, 0]}" for i in fifos] + ["    pass"]
    for i, node in enumerate(nodes):
        body += node.code.tick([fire[i, p] for p in range(node.code.ports)], f"n{i}_of")
    body += ["if record:"] + [f"    if n{i}_level > n{i}_peak: n{i}_peak = n{i}_level" for i in fifos] + ["    pass"]
    return body + ["cycle += 1", "if out_count == out_total: break"]


def _compile(net: Netlist, stalls: bool) -> Callable:
    """Generate and compile the cycle loop of ``net`` (one function, every register a local);
    ``stalls``: the input and output follow the ``offer_at`` / ``ready_at`` patterns."""
    consts: dict[str, Any] = {}
    for node in net.nodes:
        consts.update(node.code.consts)
    fifos = [i for i, n in enumerate(net.nodes) if isinstance(n.code, FifoCode)]
    stages = len(net.stage_ends())
    head = [f"def _run(total, offer_at, ready_at, periodic, keep_beats, record, beats, out_total, out_beats, max_cycles, "
            f"quiet_limit{''.join(f', {k}={k}' for k in consts)}):"]
    init = [f"    {k} = {v!r}" for k, v in net.registers.items()]
    init += [f"    n{i}_peak = 0; n{i}_blk = 0" for i in fifos]
    init += [f"    fi{k} = -1; fo{k} = -1" for k in range(stages)]
    init += ["    sent = out_count = quiet = cycle = 0", "    first_output = last_output = input_done = -1",
             f"    out_cycles = []; ends = []; seen = {{}}; period = None; tracking = True; pending = {2 * stages}",
             "    sink_ready = offer = True",
             "    while cycle < max_cycles:"]
    init += ["        offer = sent != total and offer_at(cycle)", "        sink_ready = ready_at(cycle)"] if stalls else \
        ["        offer = sent != total"]
    init += ["        " + line for line in _loop_body(net, fifos)]
    init += ["    else:", "        return ('timeout', cycle)",
             f"    return ('ok', cycle, sent, first_output, last_output, input_done, out_cycles, "
             f"[{', '.join(f'fi{k}' for k in range(stages))}], [{', '.join(f'fo{k}' for k in range(stages))}], "
             f"[{', '.join(f'n{i}_peak' for i in fifos)}], [{', '.join(f'n{i}_blk' for i in fifos)}], period, ends)"]
    source = "\n".join(head + init) + "\n"
    namespace: dict[str, Any] = dict(consts)
    exec(compile(source, f"<cycle model of {net.df.name}>", "exec"), namespace)  # noqa: S102 - our own generated code
    return namespace["_run"]
