"""On-chip memory mapper: each memory the units build, placed in logic, distributed RAM or block RAM,
and checked against the part's budget (:mod:`.budgets`).

The memories are those the generators in ``hw/`` instantiate, derived from the unit params (the
table :data:`MEMORIES`, keyed by unit kind): a MatVec's weight ROM slices (one per group of
``COPY_GROUP_LANES`` live lanes, ``schedule`` words deep) and its schedule ROM and input buffer; a
Depthwise's ROM slices; the line buffers of the window units; the FIFOs between stages; a
Recurrent cell's weight ROM per lane, gate tables and x/y memories; the requantizers' activation
tables; every credit-issued unit's output queue; and the tables of constants looked up by a counter
(a requantizer's per-group settings, a MatVec's or Depthwise's per-fold bias, a codebook), which
Yosys's ``proc_rom`` turns into ROMs. (Not modelled: a Recurrent lane's small settings ROM and its
other lookups.)

Placement follows Yosys's ``memory_libmap`` as hwaccel's flow runs it: a memory with more than
``MAX_LIBMAP_READ_PORTS`` read ports is logic (:mod:`.fpga` maps it so), an asynchronous read
cannot use block RAM, a ROM cannot use distributed RAM; otherwise the cheapest of logic (1/16 per
ROM bit, 1 per RAM bit), distributed RAM cells (plus half a cost unit per bit of each 2:1 read
multiplexer) and block RAM (the best aspect ratio, rows of words side by side as Yosys packs them,
half a unit per multiplexed bit, a block per read port beyond the block's ports) wins.
Block counts are exact for the primitive's aspect ratios (DP16KD 16Kx1 ... 512x36, RAMB36 32Kx1 ...
512x72, UltraRAM 4Kx72). When a part has a second kind of block RAM (UltraRAM),
the largest memories it can hold move there while the first kind is over its count.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator

from ..units.common import COPY_GROUP_LANES, span
from ..units.dataflow import OUTPUT, Dataflow
from ..units.queue import queue_credits
from .budgets import LOGIC_COST_RAM, LOGIC_COST_ROM, Budget

__all__ = ["Memory", "Placement", "StageMemories", "MemoryMap", "MEMORIES", "unit_memories", "place", "map_memories",
           "LOGIC", "MAX_LIBMAP_READ_PORTS"]

LOGIC = "logic"
MAX_LIBMAP_READ_PORTS = 4  # more read ports and :mod:`.fpga`'s Yosys script builds the memory from logic (memory_map)
_FACTOR_MUX = 0.5  # memory_libmap's cost of a read multiplexer bit


@dataclass(frozen=True)
class Memory:
    """One memory of a unit: ``depth`` words of ``width`` bits, ``copies`` alike."""

    name: str
    depth: int
    width: int
    rom: bool
    sync_read: bool = True
    read_ports: int = 1
    copies: int = 1

    @property
    def bits(self) -> int:
        return self.depth * self.width * self.copies


@dataclass(frozen=True)
class Placement:
    """Where a memory goes: ``kind`` (a primitive's name or :data:`LOGIC`) and its ``blocks``
    (primitives, all copies; 0 for logic)."""

    memory: Memory
    kind: str
    blocks: int

    def to_dict(self) -> dict[str, Any]:
        m = self.memory
        return {"name": m.name, "depth": m.depth, "width": m.width, "copies": m.copies, "rom": m.rom,
                "bits": m.bits, "kind": self.kind, "blocks": self.blocks}


@dataclass(frozen=True)
class StageMemories:
    """The placed memories of one stage (a FIFO counts with the stage it feeds)."""

    stage: str
    placements: tuple[Placement, ...]

    def blocks(self, kind: str) -> int:
        return sum(p.blocks for p in self.placements if p.kind == kind)

    def bits(self, kind: str) -> int:
        return sum(p.memory.bits for p in self.placements if p.kind == kind)


# -- the memories of each unit kind ------------------------------------------------------------


def _queue(u: Any) -> Memory:
    """The output queue (``hw/queue.py``): asynchronous read, ``credits - 1`` beats (at least 2)."""
    return Memory("queue", max(queue_credits(u.latency) - 1, 2), u.out_lanes * u.out_codes[0], rom=False, sync_read=False)


def _lookup(name: str, values: list[int], width: int) -> list[Memory]:
    """A table of constants indexed by a counter (an Amaranth ``Array`` lookup, registered): Yosys's
    ``proc_rom`` makes it a ROM of the index's whole range (a power of two deep, the words past the
    table 0: the case statement's default), and ``opt_mem`` drops the bit columns that are constant
    over all the words; none when the values are all equal."""
    if len(set(values)) < 2:
        return []
    depth = 1 << (len(values) - 1).bit_length()
    words = [v & ((1 << width) - 1) for v in values] + [0] * (depth - len(values))
    used = sum(1 for b in range(width) if len({w >> b & 1 for w in words}) == 2)
    return [Memory(name, depth, used, rom=True)]


def _settings(rq: Any, entries: Any) -> list[Memory]:
    """A requantizer's settings per lane and field, looked up by the beat's group (``hw/requant.py``)."""
    out = []
    for lane in entries:
        fields = {f: [getattr(e, f) for e in lane] for f in ("mult", "shift", "half", "zero_point", "lo", "hi")}
        fields["mask"] = [2 * e.half - 1 if e.half else 0 for e in lane]
        for up in (0, 1):
            fields[f"q_lo{up}"] = [e.lo - e.zero_point - up for e in lane]
            fields[f"q_hi{up}"] = [e.hi - e.zero_point - up for e in lane]
        out += [m for f, v in fields.items() for m in _lookup(f"setting_{f}", v, span(v).width)]
    return _merged(out)


def _merged(memories: list[Memory]) -> list[Memory]:
    """Equal memories as one with copies (shorter reports)."""
    count: dict[Memory, int] = {}
    for m in memories:
        count[m] = count.get(m, 0) + m.copies
    return [Memory(m.name, m.depth, m.width, m.rom, m.sync_read, m.read_ports, n) for m, n in count.items()]


def _table(rq: Any) -> list[Memory]:
    """A requantizer's activation table (``hw/requant.py``): read asynchronously by every lane."""
    if rq is None or rq.lut is None:
        return []
    return [Memory("table", rq.hi - rq.lo + 1, rq.out_bits, rom=True, sync_read=False, read_ports=rq.lanes)]


def _slices(name: str, lanes: int, bits: int, depth: int) -> list[Memory]:
    """ROM slices of ``COPY_GROUP_LANES`` lanes each (the last one narrower)."""
    full, rest = divmod(lanes, COPY_GROUP_LANES)
    out = [Memory(name, depth, COPY_GROUP_LANES * bits, rom=True, copies=full)] if full else []
    return out + ([Memory(f"{name}_last", depth, rest * bits, rom=True)] if rest else [])


def _matvec(u: Any) -> list[Memory]:
    sched = u.schedule
    tables = [[nf for nf, _ in sched], [sf for _, sf in sched], [int(nf == 0) for nf, _ in sched],
              [int(i == 0 or sched[i - 1][0] != nf) for i, (nf, _) in enumerate(sched)],
              [int(i == len(sched) - 1 or sched[i + 1][0] != nf) for i, (nf, _) in enumerate(sched)]]
    width = sum(max(1, max(v).bit_length()) for v in tables if len(set(v)) > 1)  # hw/matvec.py _tile_registers
    out = _slices("weights", len(u.live_lanes), u.index_bits, len(sched))
    out += [Memory("schedule", len(sched), width, rom=True)] if width else []
    out += [Memory("inbuf", u.input_folds, u.simd * u.bits_x, rom=False)] if u.output_folds > 1 else []
    book = u.stored_codebook
    if book is not None:  # each live lane's codebook lookup
        out += _merged([m for _ in u.live_lanes for m in _lookup("codebook", list(book), u.bits_w)])
    bias = [[u.bias[nf * u.pe + pe] if nf * u.pe + pe < u.out_features else 0 for nf in range(u.output_folds)]
            for pe in range(u.pe)]
    return out + _merged([m for v in bias for m in _lookup("bias", v, u.acc_bits)]) + [_queue(u)]


def _depthwise(u: Any) -> list[Memory]:
    bias = [[u.channel_bias(k * u.lanes + lane) for k in range(u.groups)] for lane in range(u.lanes)]
    return (_slices("weights", len(u.live_lanes), u.bits_w, u.pixel_cycles)
            + _merged([m for v in bias for m in _lookup("bias", v, u.acc_bits)]) + [_queue(u)])


def _concat(u: Any) -> list[Memory]:
    ra, rb = u.side("a"), u.side("b")
    return _settings(ra, [list(a) + list(b) for a, b in zip(ra.entries(), rb.entries())]) + [_queue(u)]


def _line_buffer(groups: int) -> Callable[[Any], list[Memory]]:
    def memories(u: Any) -> list[Memory]:
        return [Memory("line_buffer", u.buffer_rows * u.width * getattr(u, "in_groups", groups), u.simd * u.bits,
                       rom=False), _queue(u)]
    return memories


def _window(u: Any) -> list[Memory]:
    return _line_buffer(u.groups)(u)


def _recurrent(u: Any) -> list[Memory]:
    words = u.directions * sum(u.groups(rows) for _, rows in u.passes()) * u.chunks
    return [Memory("weights", words, u.simd * u.bits_w, rom=True, copies=u.pe),
            Memory("tables", len(u.sigmoid_table) + len(u.tanh_table), u.h_bits, rom=True, read_ports=u.pe + 1),
            Memory("xmem", u.in_beats, u.simd * u.bits_x, rom=False),
            Memory("ymem", u.out_beats, u.lanes * u.out_bits, rom=False)]


def _fifo(u: Any) -> list[Memory]:
    """``SyncFIFOBuffered``: a memory one beat shallower than the FIFO, read synchronously."""
    return [Memory("fifo", u.depth - 1, u.lanes * u.bits, rom=False)] if u.depth >= 2 else []


MEMORIES: dict[str, Callable[[Any], list[Memory]]] = {
    "matvec": _matvec,
    "depthwise": _depthwise,
    "window": _window,
    "pixel_map": _line_buffer(1), "depth_to_space": _line_buffer(1), "upsample": _line_buffer(1),
    "pool": lambda u: _table(u.requant) + ([] if u.requant is None else _settings(u.requant, u.entries()))
    + ([Memory("pixel_classes", len(u.pixel_classes), u.class_bits, rom=True)] if u.pixel_classes else []) + [_queue(u)],
    "add": lambda u: _table(u.requant) + [_queue(u)],  # one setting for every beat: no lookup
    "concat": _concat,
    "requant": lambda u: _table(u) + _settings(u, u.entries()) + [_queue(u)],
    "recurrent": _recurrent,
    "regroup": lambda u: [],  # registers
    "fifo": _fifo,
}


def unit_memories(unit: Any) -> list[Memory]:
    """The memories ``unit`` builds (see :data:`MEMORIES`)."""
    return MEMORIES[unit.unit_kind](unit)


# -- placement ---------------------------------------------------------------------------------


def _options(m: Memory, budget: Budget) -> Iterator[tuple[float, str, int]]:
    """``(cost, kind, blocks)`` of every place ``m`` may go."""
    yield (m.bits * (LOGIC_COST_ROM if m.rom else LOGIC_COST_RAM), LOGIC, 0)
    if m.read_ports > MAX_LIBMAP_READ_PORTS or m.depth < 2:  # a one-word memory: Amaranth emits registers
        return
    cell = budget.lut_ram
    if cell is not None and (cell.rom or not m.rom):
        depth, width = cell.shapes[0]
        rows = -(-m.depth // depth)
        cells = cell.blocks(m.depth, m.width) * m.read_ports * m.copies
        yield (cells * cell.cost + _FACTOR_MUX * (rows - 1) * m.width * m.read_ports * m.copies, cell.name, cells)
    if not m.sync_read:
        return
    for ram in budget.block_rams:
        if ram.count and (ram.rom or not m.rom):
            per_port = ram.ports if m.rom else max(ram.ports - 1, 1)
            blocks, cost = ram.best(m.depth, m.width, packed=m.rom)
            copies = -(-m.read_ports // per_port) * m.copies
            yield (cost * copies, ram.name, blocks * copies)


def place(m: Memory, budget: Budget) -> Placement:
    """The cheapest placement of ``m`` on a part with ``budget`` (a tie goes to logic, as in Yosys:
    a 2,048-bit ROM is logic on ECP5)."""
    options = sorted(_options(m, budget), key=lambda o: (o[0], o[1] != LOGIC))
    _, kind, blocks = options[0]
    return Placement(m, kind, blocks)


def _spill(stages: list[list[Placement]], budget: Budget) -> None:
    """Move the largest memories from an over-full block RAM kind to a later kind with room."""
    rams = [r for r in budget.block_rams if r.count]
    for i, ram in enumerate(rams):
        for other in rams[i + 1:]:
            used = {r.name: sum(p.blocks for s in stages for p in s if p.kind == r.name) for r in rams}
            movable = sorted(((p.memory.bits, si, pi) for si, s in enumerate(stages) for pi, p in enumerate(s)
                              if p.kind == ram.name and (other.rom or not p.memory.rom)), reverse=True)
            for _, si, pi in movable:
                if used[ram.name] <= ram.count:
                    break
                m = stages[si][pi].memory
                need = other.blocks(m.depth, m.width, packed=m.rom) * m.read_ports * m.copies
                if used[other.name] + need <= other.count:
                    used[ram.name] -= stages[si][pi].blocks
                    used[other.name] += need
                    stages[si][pi] = Placement(m, other.name, need)


@dataclass(frozen=True)
class MemoryMap:
    """The memories of a build placed on one part, and whether they fit (see the module docstring)."""

    device: str
    stages: tuple[StageMemories, ...]
    available: dict[str, int]  # block RAM name -> blocks on the part; the LUT RAM cell -> cells (if known)

    def used(self, kind: str) -> int:
        return sum(s.blocks(kind) for s in self.stages)

    @property
    def over(self) -> dict[str, int]:
        """Primitives used beyond the part's count: name -> blocks over."""
        return {k: self.used(k) - n for k, n in self.available.items() if self.used(k) > n}

    @property
    def fits(self) -> bool:
        return not self.over

    def over_budget_stages(self) -> list[tuple[str, int]]:
        """When a block RAM kind is over its count: the stages, largest first, that have to leave
        it for the rest to fit, with their blocks of it; empty when everything fits."""
        out = []
        for kind, excess in self.over.items():
            for stage in sorted(self.stages, key=lambda s: (-s.blocks(kind), s.stage)):
                if excess <= 0 or not stage.blocks(kind):
                    break
                out.append((stage.stage, stage.blocks(kind)))
                excess -= stage.blocks(kind)
        return out

    @property
    def message(self) -> str:
        """One line: the block RAMs the design needs against the part's, and the stages that do not fit."""
        lut_ram = _lut_ram_name(self)
        blocks = [k for k in self.available if k != lut_ram]
        need = " and ".join(f"{self.used(k)} {k}" for k in blocks) + " block RAMs"
        have = " and ".join(f"{self.available[k]}" + (f" {k}" if len(blocks) > 1 else "") for k in blocks)
        if self.fits:
            return f"design needs {need}, {self.device} has {have}: fits"
        stages = self.over_budget_stages()
        if not stages or lut_ram in self.over:
            return (f"design needs {need} and {self.used(str(lut_ram))} {lut_ram} LUT RAM cells, {self.device} has "
                    f"{have} and {self.available[str(lut_ram)]}: does not fit")
        return (f"design needs {need}, {self.device} has {have}: stages "
                f"{', '.join(f'{name} ({n})' for name, n in stages)} do not fit (use --weights external)")

    def _stage_bits(self, stage: str) -> int:
        """Memory bits of ``stage`` in the over-full block RAM kinds."""
        return sum(s.bits(k) for s in self.stages if s.stage == stage for k in self.over)

    def to_dict(self) -> dict[str, Any]:
        kinds = sorted({p.kind for s in self.stages for p in s.placements} | set(self.available))
        return {"device": self.device, "method": "memory mapper (Yosys memory_libmap costs)", "fits": self.fits,
                "message": self.message, "available": dict(self.available),
                "used": {k: self.used(k) for k in kinds if k != LOGIC},
                "bits": {k: sum(s.bits(k) for s in self.stages) for k in kinds},
                "over": self.over, "over_budget_stages": [{"stage": s, "blocks": n, "bits": self._stage_bits(s)}
                                       for s, n in self.over_budget_stages()],
                "stages": [{"stage": s.stage, "blocks": {k: s.blocks(k) for k in kinds if s.blocks(k)},
                            "memories": [p.to_dict() for p in s.placements]} for s in self.stages]}


def _lut_ram_name(mm: MemoryMap) -> str | None:
    return next((k for k in mm.available if k.startswith(("TRELLIS_DPR", "LUTRAM"))), None)


def map_memories(dataflow: Dataflow, device: str) -> MemoryMap:
    """Place every memory of ``dataflow`` on the part ``device`` (a name of :func:`.devices.part_names`).

    Raises
    ------
    EstimateError
        ``device`` is not a known part.
    """
    from .devices import device as get_part

    budget = get_part(device).budget
    names = [s.name for s in dataflow.stages]
    units: dict[str, list[tuple[str, Any]]] = {n: [(f"u{k}.{u.unit_kind}", u) for k, u in enumerate(s.units)]
                                               for n, s in zip(names, dataflow.stages)}
    for e in dataflow.edges:
        if e.fifo is not None:
            owner = e.src if e.dst == OUTPUT else e.dst
            units.setdefault(owner, []).append((f"fifo_from_{e.src}", e.fifo))
    stages = [[place(_named(m, label), budget) for label, u in units[n] for m in unit_memories(u)] for n in units]
    _spill(stages, budget)
    available = {r.name: r.count for r in budget.block_rams if r.count}
    if budget.lut_ram is not None and budget.lut_ram_bits is not None:
        available[budget.lut_ram.name] = budget.lut_ram_bits // budget.lut_ram.bits
    return MemoryMap(device, tuple(StageMemories(n, tuple(s)) for n, s in zip(units, stages)), available)


def _named(m: Memory, label: str) -> Memory:
    return Memory(f"{label}.{m.name}", m.depth, m.width, m.rom, m.sync_read, m.read_ports, m.copies)

