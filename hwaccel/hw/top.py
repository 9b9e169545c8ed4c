# amaranth: UnusedElaboratable=no
"""NetworkTop: a whole :class:`~hwaccel.units.dataflow.Dataflow` as one streaming component.

Every stage's unit chain is instantiated and joined by direct stream connections; the dataflow's
edges join stages (through a :class:`~.fifo.StreamFifo` where the edge has one), the top-level
input ``i`` (input codes, HWC beats) and the top-level output ``o``. Several edges leaving one
source go through a lockstep :class:`StreamFork` (the convention of :mod:`hwaccel.units.dataflow`).

``probe`` exports, for every unit output stream in :attr:`NetworkTop.probe_names` order (the
edge FIFOs of a stage, then its units), its ``valid`` (bit ``k``) and ``ready`` (bit ``n + k``):
plain wires for benches and watchdogs.

Weights are ROM initializers inside ``top.v`` (:func:`emit_verilog`); the weight ``.mem`` files
the compiler writes describe the dataflow and are not read by the design.
"""

from __future__ import annotations

import multiprocessing
import os
import re
from concurrent.futures import ProcessPoolExecutor
from fractions import Fraction
from pathlib import Path
from typing import Any

from amaranth.hdl import ClockSignal, Instance, Module, ResetSignal, ValueCastable
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..errors import CompileError
from ..units.base import Unit
from ..units.dataflow import INPUT, OUTPUT, Dataflow, Edge
from . import UNITS, unit_for
from .emit import fast_conversion, module_ports, split_modules, unit_modules, verilog, write_text

__all__ = ["StreamFork", "NetworkTop", "unit_out_beats", "stream_beats", "emit_verilog"]


def _all(values: list[Any]) -> Any:
    out = values[0]
    for v in values[1:]:
        out = out & v
    return out


class StreamFork(wiring.Component):
    """One stream to ``n`` consumers in lockstep: a beat transfers to all of them in one cycle.

    ``i.ready = AND_k o<k>.ready`` and ``o<k>.valid = i.valid & AND_{j != k} o<j>.ready``; no
    state, no added latency.
    """

    def __init__(self, signature: wiring.Signature, n: int) -> None:
        self.n = n
        super().__init__({"i": In(signature), **{f"o{k}": Out(signature) for k in range(n)}})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        outs = [getattr(self, f"o{k}") for k in range(self.n)]
        m.d.comb += self.i.ready.eq(_all([o.ready for o in outs]))
        for k, o in enumerate(outs):
            others = [p.ready for j, p in enumerate(outs) if j != k]
            m.d.comb += [o.valid.eq(_all([self.i.valid] + others)), o.payload.eq(self.i.payload)]
        return m


def _unit(params: Any) -> wiring.Component:
    """The unit of ``params``, made here: a NetworkTop used only as a description (probe names, ports) is
    never elaborated, and this file's linter option keeps its units from warning about that."""
    cls = UNITS.get(type(params))
    return unit_for(params) if cls is None else cls(params)


class _Blackbox(wiring.Component):
    """A unit's ports only: its module (converted on its own) is instantiated in the top."""

    def __init__(self, params: Any) -> None:
        self.params = params
        self.module = ""  # set by emit_verilog before the top is elaborated
        self.module_ports: list[str] = []
        super().__init__(_unit(params).signature)

    def instance(self) -> Instance:
        """The instance of :attr:`module` joined to this component's port signals."""
        ports: dict[str, Any] = {}
        for path, member, value in self.signature.flatten(self):
            value = value.as_value() if isinstance(value, ValueCastable) else value
            ports[("i_" if member.flow == In else "o_") + "__".join(map(str, path))] = value
        if "clk" in self.module_ports:
            ports["i_clk"] = ClockSignal()
        if "rst" in self.module_ports:
            ports["i_rst"] = ResetSignal()
        return Instance(self.module, **ports)


def _edge_fifo_name(edge: Edge) -> str:
    return f"{edge.dst}/fifo{edge.port}"


class NetworkTop(wiring.Component):
    """The whole network: ``i`` (input codes), ``o`` (output codes), ``probe`` (stream states).

    Parameters
    ----------
    df
        The compiled dataflow (stages in topological order, edges).
    blackbox
        Units and FIFOs are :class:`_Blackbox` instances of modules converted on their own
        (:func:`emit_verilog`), not elaborated into the top.

    Raises
    ------
    CompileError
        An edge names an unknown stage or port, a stage input is fed by zero or several edges, the
        output by other than one edge, or a stream's codes or lanes do not match its consumer's.
    """

    def __init__(self, df: Dataflow, blackbox: bool = False) -> None:
        self.df = df
        make = _Blackbox if blackbox else _unit
        self.units = {s.name: [make(p) for p in s.units] for s in df.stages}
        self.fifos = {id(e): make(e.fifo) for e in df.edges if e.fifo is not None}
        self.probe_names: list[str] = []
        self._probed: list[wiring.Component] = []
        for s in df.stages:
            for e in df.edges_into(s.name):
                if e.fifo is not None:
                    self.probe_names.append(_edge_fifo_name(e))
                    self._probed.append(self.fifos[id(e)])
            for k, (params, unit) in enumerate(zip(s.units, self.units[s.name])):
                self.probe_names.append(f"{s.name}/{k}:{type(params).__name__}")
                self._probed.append(unit)
        for e in df.edges_into(OUTPUT):
            if e.fifo is not None:
                self.probe_names.append(_edge_fifo_name(e))
                self._probed.append(self.fifos[id(e)])
        self._check_edges()
        from_input = df.edges_from(INPUT)
        out_edge = df.edges_into(OUTPUT)[0]
        super().__init__({
            "i": In(self._sink(from_input[0]).signature.flip()),
            "o": Out(self._source_of(out_edge.src).signature if out_edge.fifo is None else self.fifos[id(out_edge)].o.signature),
            "probe": Out(2 * len(self._probed)),
        })

    def _check_edges(self) -> None:
        df, names = self.df, {s.name for s in self.df.stages}
        for e in df.edges:
            if e.src != INPUT and e.src not in names or e.dst != OUTPUT and e.dst not in names:
                raise CompileError(f"edge ends must be stages, {INPUT!r} or {OUTPUT!r}, not {e.src!r} -> {e.dst!r}")
        for s in df.stages:
            ports = [e.port for e in df.edges_into(s.name)]
            want = list(range(len(self._ports(s.name))))
            if ports != want:
                raise CompileError(f"stage {s.name!r} must be fed on ports {want}, not {ports}")
        if len(df.edges_into(OUTPUT)) != 1 or not df.edges_from(INPUT):
            raise CompileError(f"network must have one output edge and input edges, not {len(df.edges_into(OUTPUT))} "
                               f"and {len(df.edges_from(INPUT))}")

    def _ports(self, stage: str) -> list[str]:
        return ["a", "b"] if "a" in self.units[stage][0].signature.members else ["i"]

    def _sink(self, edge: Edge) -> Any:
        """The input port an edge drives (its FIFO's when it has one)."""
        if edge.fifo is not None:
            return self.fifos[id(edge)].i
        if edge.dst == OUTPUT:
            return None
        return getattr(self.units[edge.dst][0], self._ports(edge.dst)[edge.port])

    def _source_of(self, src: str) -> Any:
        return self.units[src][-1].o

    @staticmethod
    def _connect(m: Module, src: Any, dst: Any, what: str) -> None:
        want, got = dst.signature.flip().members, src.signature.members
        if want != got:
            raise CompileError(f"{what} must carry {want['payload'].shape!r}, not {got['payload'].shape!r}")
        wiring.connect(m, src, dst)

    def parts(self) -> list[tuple[str, wiring.Component]]:
        """The units and edge FIFOs with their submodule names, in elaboration order."""
        out = [(f"s{idx}_{s.name}_u{k}", unit) for idx, s in enumerate(self.df.stages) for k, unit in enumerate(self.units[s.name])]
        return out + [(f"fifo_{e.src}_{e.dst}_{e.port}", self.fifos[id(e)]) for e in self.df.edges if e.fifo is not None]

    def elaborate(self, platform: object) -> Module:
        m = Module()
        df = self.df
        for name, part in self.parts():
            m.submodules[name] = part.instance() if isinstance(part, _Blackbox) else part
        for s in df.stages:
            units = self.units[s.name]
            for k in range(1, len(units)):
                self._connect(m, units[k - 1].o, units[k].i, f"stage {s.name!r} unit {k} input")
        for e in df.edges:
            if e.fifo is not None:
                fifo = self.fifos[id(e)]
                sink = wiring.flipped(self.o) if e.dst == OUTPUT else self._sink(Edge(e.src, e.dst, e.port))
                self._connect(m, fifo.o, sink, f"FIFO {e.src!r} -> {e.dst!r} port {e.port} output")
        sources = [(INPUT, wiring.flipped(self.i))] + [(s.name, self._source_of(s.name)) for s in df.stages]
        for name, source in sources:
            edges = df.edges_from(name)
            sinks = [wiring.flipped(self.o) if e.dst == OUTPUT and e.fifo is None else self._sink(e) for e in edges]
            if len(edges) > 1:
                signature = self.i.signature.flip() if name == INPUT else source.signature
                m.submodules[f"fork_{name}"] = fork = StreamFork(signature, len(edges))
                self._connect(m, source, fork.i, f"fork of {name!r}")
                outs = [getattr(fork, f"o{k}") for k in range(len(edges))]
            else:
                outs = [source]
            for out, sink, e in zip(outs, sinks, edges):
                self._connect(m, out, sink, f"stream {e.src!r} -> {e.dst!r} port {e.port}")
        n = len(self._probed)
        for k, unit in enumerate(self._probed):
            m.d.comb += [self.probe[k].eq(unit.o.valid), self.probe[n + k].eq(unit.o.ready)]
        return m


def unit_out_beats(params: Unit, in_beats: int | Fraction) -> Fraction:
    """Output beats of a unit that takes ``in_beats`` beats (on its first input port)."""
    return Fraction(in_beats) * params.beat_ratio()


def stream_beats(df: Dataflow, count: int) -> dict[str, int]:
    """Beats each probed stream (:attr:`NetworkTop.probe_names`) carries for ``count`` inputs.

    Raises
    ------
    CompileError
        A unit's beat count disagrees with its stage's output shape.
    """
    produced: dict[str, Fraction] = {INPUT: Fraction(df.input.beats * count)}
    beats: dict[str, int] = {}
    for s in df.stages:
        edges = df.edges_into(s.name)
        for e in edges:
            if e.fifo is not None:
                beats[_edge_fifo_name(e)] = int(produced[e.src])
        n = produced[edges[0].src]
        for k, params in enumerate(s.units):
            n = unit_out_beats(params, n)
            beats[f"{s.name}/{k}:{type(params).__name__}"] = int(n)
        if n != s.out_beats * count:
            raise CompileError(f"stage {s.name!r} must give {s.out_beats * count} beats for {count} inputs, not {n}")
        produced[s.name] = n
    for e in df.edges_into(OUTPUT):
        if e.fifo is not None:
            beats[_edge_fifo_name(e)] = int(produced[e.src])
    return beats


def _convert_batch(batch: list[tuple[str, Any]]) -> dict[str, str]:
    """Verilog of the units ``(module name, params)`` by module name (a worker's share)."""
    return unit_modules([(name, _unit(params)) for name, params in batch])


def _cost(params: Any) -> int:
    """A rough, deterministic estimate of a unit's conversion time (for sharing out the work)."""
    return 20_000 + len(repr(params))


# Units are converted in this many batches, one Yosys run each, whatever the number of workers: Yosys's
# output for a module depends on the other modules of its run (the order of its hash tables).
BATCHES = 4


def _batches(units: list[tuple[str, Any]]) -> list[list[tuple[str, Any]]]:
    """``units`` in :data:`BATCHES` batches of similar cost (costliest first onto the lightest)."""
    batches: list[list[tuple[str, Any]]] = [[] for _ in range(BATCHES)]
    loads = [0] * len(batches)
    for unit in sorted(units, key=lambda u: (-_cost(u[1]), u[0])):
        k = loads.index(min(loads))
        batches[k].append(unit)
        loads[k] += _cost(unit[1])
    return [b for b in batches if b]


def _module_names(top: NetworkTop) -> list[tuple[_Blackbox, str]]:
    """Each part of ``top`` with its module's name: ``top_<submodule name>`` (non-word characters
    as ``_``), shared by parts with equal params (the first one's name)."""
    by_params: dict[Any, str] = {}
    taken: set[str] = set()
    out: list[tuple[_Blackbox, str]] = []
    for name, part in top.parts():
        assert isinstance(part, _Blackbox)
        key: Any = part.params  # equal params: one module (frozen dataclasses of tuples hash)
        try:
            hash(key)
        except TypeError:
            key = id(part)
        if key not in by_params:
            module = re.sub(r"\W", "_", f"top_{name}")
            while module in taken:
                module += "_"
            taken.add(module)
            by_params[key] = module
        out.append((part, by_params[key]))
    return out


def emit_verilog(df: Dataflow, out_dir: str | Path, workers: int | None = None) -> list[Path]:
    """Write ``out_dir/top.v``: module ``top`` of :class:`NetworkTop`, byte-identical for the same dataflow.

    Each distinct unit (and edge FIFO) is a module of its own, converted in ``workers`` processes
    (default: the CPUs this process may use); ``top`` instantiates them. The text does not depend
    on ``workers``: ``top`` comes first, then the unit modules sorted by name. The weights are ROM
    initializers inside ``top.v`` (the design reads no ``.mem`` file); an unchanged file is not
    rewritten, so simulator builds that depend on it stay current.

    Returns
    -------
    list[Path]
        The files of the design (``top.v``).
    """
    top = NetworkTop(df, blackbox=True)
    named = _module_names(top)
    distinct = list({module: part.params for part, module in named}.items())
    workers = len(os.sched_getaffinity(0)) if workers is None else workers
    batches = _batches(distinct)
    modules: dict[str, str] = {}
    if workers > 1 and len(batches) > 1:
        context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else None)
        with ProcessPoolExecutor(max_workers=min(workers, len(batches)), mp_context=context) as pool:
            for done in pool.map(_convert_batch, batches):
                modules.update(done)
    else:
        for batch in batches:
            modules.update(_convert_batch(batch))
    for part, module in named:
        part.module, part.module_ports = module, module_ports(modules[module])
    with fast_conversion():
        header, top_modules = split_modules(verilog(top, "top"))
    text = header + "".join(top_modules.values()) + "".join(modules[k] for k in sorted(modules))
    path = Path(out_dir) / "top.v"
    write_text(text, path)
    return [path]
