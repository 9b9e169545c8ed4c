"""NetworkTop: a whole streaming network, every stage's unit chain joined by streams and FIFOs.

A network is a list of :class:`StageSpec` in topological order (or a
:class:`hwaccel.ir.dataflow.Dataflow`, adapted by :func:`as_stages`). A stage is a chain of unit
params (each unit's ``o`` feeds the next one's ``i``); its first unit takes the stage's inputs on
its ports ``i`` (one input) or ``a`` and ``b`` (Eltwise), each optionally behind a FIFO. The
network input ``i`` (input codes, HWC beats) feeds the stages that name :data:`INPUT`; the output
``o`` is the last stage's output. A stream read by several consumers goes through a
:class:`StreamFork` (each consumer takes each beat once, no added latency).

``probe`` exports, for every unit output stream in :attr:`NetworkTop.probe_names` order, its
``valid`` (bit ``k``) and ``ready`` (bit ``n + k``): plain wires for benches and watchdogs.

Weights are ROM initializers inside ``top.v``; the ``.mem`` files :func:`emit_verilog` writes
beside it hold the same words (``$readmemh`` format) for inspection and are not read by the design.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Sequence

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..errors import CompileError
from . import unit_for
from .emit import write_verilog
from .matvec import MatVec
from .params import EltwiseAddParams, EltwiseConcatParams, FifoParams, MatVecParams, PoolParams, WindowParams

__all__ = ["INPUT", "StageSpec", "StreamFork", "NetworkTop", "as_stages", "out_beats", "stage_beats", "emit_verilog"]

INPUT = "input"  # the producer name of the network input stream


@dataclass(frozen=True)
class StageSpec:
    """One stage: ``units`` (params, chain order) reading ``inputs`` (stage names or :data:`INPUT`),
    input ``k`` through ``fifos[k]`` when given (``None``: directly)."""

    name: str
    units: tuple[Any, ...]
    inputs: tuple[str, ...] = (INPUT,)
    fifos: tuple[FifoParams | None, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "units", tuple(self.units))
        object.__setattr__(self, "inputs", tuple(self.inputs))
        fifos = tuple(self.fifos) or (None,) * len(self.inputs)
        object.__setattr__(self, "fifos", fifos)
        if not self.units:
            raise CompileError(f"stage {self.name!r} must have at least one unit, not {self.units!r}")
        if len(fifos) != len(self.inputs):
            raise CompileError(f"stage {self.name!r} fifos must have one entry per input ({len(self.inputs)}), not {len(fifos)}")


def as_stages(df: Any) -> list[StageSpec]:
    """The stages of ``df``: a sequence of :class:`StageSpec`, or a ``Dataflow`` with ``stages``."""
    if isinstance(df, (list, tuple)) and all(isinstance(s, StageSpec) for s in df):
        return list(df)
    stages = getattr(df, "stages", None)
    if stages is None:
        raise CompileError(f"network must be a Dataflow or a list of StageSpec, not {type(df).__name__!r}")
    return [_adapt_stage(s) for s in stages]


def _adapt_stage(stage: Any) -> StageSpec:
    """A :class:`StageSpec` from a Dataflow stage (duck-typed: name, units, inputs, fifos)."""
    if isinstance(stage, StageSpec):
        return stage
    inputs = tuple(INPUT if i is None else i for i in stage.inputs)
    return StageSpec(stage.name, tuple(stage.units), inputs, tuple(getattr(stage, "fifos", ()) or ()))


def _input_ports(unit: wiring.Component) -> list[str]:
    return ["a", "b"] if "a" in unit.signature.members else ["i"]


def _identifier(name: str) -> str:
    return re.sub(r"\W", "_", name).strip("_") or "stage"


class StreamFork(wiring.Component):
    """One stream to ``n`` consumers; every consumer takes every beat once, in its own cycle.

    ``o<k>.valid`` is ``i.valid`` until consumer ``k`` has taken the beat; ``i.ready`` rises when
    every consumer has taken it or takes it now (no added latency, one beat a cycle when all are ready).
    """

    def __init__(self, signature: wiring.Signature, n: int) -> None:
        self.n = n
        super().__init__({"i": In(signature), **{f"o{k}": Out(signature) for k in range(n)}})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        outs = [getattr(self, f"o{k}") for k in range(self.n)]
        taken = [Signal(name=f"taken{k}") for k in range(self.n)]
        done = [t | o.ready for t, o in zip(taken, outs)]
        all_done = done[0]
        for d in done[1:]:
            all_done = all_done & d
        m.d.comb += self.i.ready.eq(all_done)
        for t, o in zip(taken, outs):
            m.d.comb += [o.valid.eq(self.i.valid & ~t), o.payload.eq(self.i.payload)]
            with m.If(self.i.valid & all_done):
                m.d.sync += t.eq(0)
            with m.Elif(o.valid & o.ready):
                m.d.sync += t.eq(1)
        return m


class NetworkTop(wiring.Component):
    """The whole network: ``i`` (input codes), ``o`` (output codes), ``probe`` (stream states).

    Parameters
    ----------
    df
        A ``Dataflow`` or a list of :class:`StageSpec` in topological order; the last stage is the output.

    Raises
    ------
    CompileError
        Unknown or later inputs, duplicate names, or streams whose codes or lanes do not match.
    """

    def __init__(self, df: Any) -> None:
        self.stages = as_stages(df)
        if not self.stages:
            raise CompileError("network must have at least one stage, not 0")
        seen: set[str] = {INPUT}
        for s in self.stages:
            if s.name in seen:
                raise CompileError(f"stage names must be unique and not {INPUT!r}, not {s.name!r}")
            for src in s.inputs:
                if src not in seen:
                    raise CompileError(f"stage {s.name!r} input must be {INPUT!r} or an earlier stage, not {src!r}")
            seen.add(s.name)
        self._units = [[unit_for(p) for p in s.units] for s in self.stages]
        self._fifos = [[None if f is None else unit_for(f) for f in s.fifos] for s in self.stages]
        for s, units in zip(self.stages, self._units):
            if len(_input_ports(units[0])) != len(s.inputs):
                raise CompileError(f"stage {s.name!r} must have {len(_input_ports(units[0]))} inputs, not {len(s.inputs)}")
        self.probe_names: list[str] = []
        self._probed: list[wiring.Component] = []
        for s, units, fifos in zip(self.stages, self._units, self._fifos):
            for port, fifo in zip(_input_ports(units[0]), fifos):
                if fifo is not None:
                    self.probe_names.append(f"{s.name}/fifo_{port}")
                    self._probed.append(fifo)
            for k, (params, unit) in enumerate(zip(s.units, units)):
                self.probe_names.append(f"{s.name}/{k}:{type(params).__name__}")
                self._probed.append(unit)
        consumers = self._consumers(INPUT)
        if not consumers:
            raise CompileError("network input must feed at least one stage, not none")
        super().__init__({
            "i": In(consumers[0][0].signature.flip()),
            "o": Out(self._units[-1][-1].o.signature),
            "probe": Out(2 * len(self._probed)),
        })

    def _consumers(self, producer: str) -> list[tuple[Any, str]]:
        """The input ports (port object, description) that read ``producer``, FIFOs first in line."""
        out = []
        for s, units, fifos in zip(self.stages, self._units, self._fifos):
            for src, port, fifo in zip(s.inputs, _input_ports(units[0]), fifos):
                if src == producer:
                    out.append((fifo.i if fifo is not None else getattr(units[0], port), f"{s.name}.{port}"))
        return out

    def _connect(self, m: Module, src: Any, dst: Any, what: str) -> None:
        if src.signature.members != dst.signature.flip().members:
            raise CompileError(f"{what} must carry {dst.signature.flip().members['payload'].shape!r}, "
                               f"not {src.signature.members['payload'].shape!r}")
        wiring.connect(m, src, dst)

    def elaborate(self, platform: object) -> Module:
        m = Module()
        for idx, (s, units, fifos) in enumerate(zip(self.stages, self._units, self._fifos)):
            base = f"s{idx}_{_identifier(s.name)}"
            for port, fifo in zip(_input_ports(units[0]), fifos):
                if fifo is not None:
                    m.submodules[f"{base}_fifo_{port}"] = fifo
                    self._connect(m, fifo.o, getattr(units[0], port), f"stage {s.name!r} FIFO on input {port!r}")
            for k, unit in enumerate(units):
                m.submodules[f"{base}_u{k}"] = unit
                if k:
                    self._connect(m, units[k - 1].o, unit.i, f"stage {s.name!r} unit {k} input")
        producers = [(INPUT, wiring.flipped(self.i))] + [(s.name, units[-1].o) for s, units in zip(self.stages, self._units)]
        for name, source in producers:
            consumers = self._consumers(name)
            if name == self.stages[-1].name:
                consumers.append((wiring.flipped(self.o), "network output"))
            if len(consumers) > 1:
                fork = StreamFork(source.signature if name != INPUT else self.i.signature.flip(), len(consumers))
                m.submodules[f"fork_{_identifier(name)}"] = fork
                self._connect(m, source, fork.i, f"fork of {name!r}")
                source_list = [getattr(fork, f"o{k}") for k in range(len(consumers))]
            else:
                source_list = [source]
            for src, (dst, what) in zip(source_list, consumers):
                self._connect(m, src, dst, f"input {what} (from {name!r})")
        n = len(self._probed)
        for k, unit in enumerate(self._probed):
            m.d.comb += [self.probe[k].eq(unit.o.valid), self.probe[n + k].eq(unit.o.ready)]
        return m


def out_beats(params: Any, in_beats: int | Fraction) -> Fraction:
    """Output beats of a unit that takes ``in_beats`` beats (on its first input port)."""
    if isinstance(params, WindowParams):
        ratio = Fraction(params.out_beats, params.in_beats)
    elif isinstance(params, MatVecParams):
        ratio = Fraction(params.output_folds, params.input_folds)
    elif isinstance(params, PoolParams):
        ratio = Fraction(1, params.window)
    elif isinstance(params, EltwiseConcatParams):
        ratio = Fraction(sum(params.groups), params.groups[0])
    else:  # Requant, Fifo, EltwiseAdd: one beat out per beat in
        ratio = Fraction(1)
    return Fraction(in_beats) * ratio


def stage_beats(stages: Sequence[StageSpec], input_beats: int) -> dict[str, int]:
    """Beats each probed stream (:attr:`NetworkTop.probe_names`) carries per ``input_beats`` input beats."""
    produced: dict[str, Fraction] = {INPUT: Fraction(input_beats)}
    beats: dict[str, int] = {}
    for s in stages:
        count = produced[s.inputs[0]]
        for port, src, fifo in zip(["a", "b"] if len(s.inputs) == 2 else ["i"], s.inputs, s.fifos):
            if fifo is not None:
                beats[f"{s.name}/fifo_{port}"] = int(produced[src])
        for k, params in enumerate(s.units):
            count = out_beats(params, count)
            if count.denominator != 1:
                raise CompileError(f"stage {s.name!r} unit {k} must produce whole beats per input, not {count}")
            beats[f"{s.name}/{k}:{type(params).__name__}"] = int(count)
        produced[s.name] = count
    return beats


def emit_verilog(df: Any, out_dir: str | Path) -> list[Path]:
    """Write ``out_dir/top.v`` (module ``top``) and one informational ``.mem`` file per MatVec ROM.

    Byte-identical for the same network. The ``.mem`` files (``$readmemh``: one hex word per ROM
    address, one word per scheduled tile) repeat the initializers baked into ``top.v``.

    Returns
    -------
    list[Path]
        The files of the design, ``top.v`` first.
    """
    out = Path(out_dir)
    top = NetworkTop(df)
    write_verilog(top, out / "top.v", "top")
    paths = [out / "top.v"]
    for idx, (s, units) in enumerate(zip(top.stages, top._units)):
        for k, unit in enumerate(units):
            if isinstance(unit, MatVec) and unit.params.live_lanes:
                p = unit.params
                width = len(p.live_lanes) * p.index_bits
                words = unit._rom_words()
                lines = [f"// stage {s.name!r} unit {k}: MatVec weight ROM, {len(words)} x {width} bits "
                         f"(lanes {list(p.live_lanes)}, {p.index_bits} bits each, lane 0 lowest); baked into top.v"]
                lines += [f"{w:0{-(-width // 4)}x}" for w in words]
                path = out / f"s{idx}_{_identifier(s.name)}_u{k}.mem"
                text = "\n".join(lines) + "\n"
                if not path.exists() or path.read_text() != text:
                    path.write_text(text)
                paths.append(path)
    return paths
