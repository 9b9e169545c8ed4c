"""The external memory (DDR) model: a deterministic read port that every timing in hwaccel uses.

A memory is a peak bandwidth, a fixed read latency and a burst size. At an accelerator clock it
becomes a :class:`MemoryPort`: ``bytes_per_cycle`` (an exact fraction) and ``latency_cycles``.
The port delivers a read stream as a token bucket: a request issued in cycle ``t`` returns its
``i``-th byte (0-based) no earlier than cycle ``t + latency + ceil((i + 1) / bytes_per_cycle) - 1``,
and consecutive bursts of one stream overlap their latencies (requests are pipelined, as an AXI4
master with several outstanding reads does), so a stream of ``n`` bytes takes
``latency + ceil(n / bytes_per_cycle)`` cycles. :func:`MemoryPort.ready_cycle` is that formula;
the cycle models and the memory responder of the RTL benches share it.

Presets are the peak rates of the named interfaces (transfers/s x data bus bytes); the latency
(request to first data through a soft or hard controller) is an assumption of 100 ns for all,
which sits within the 60-120 ns that DDR3/DDR4 controller user interfaces show (CAS + RCD of
about 27-30 ns plus controller and PHY pipeline); the burst is AXI4's longest (256 beats, capped
at the 4 KB boundary a burst may not cross); the data bus, unless given, is the narrowest power of
two of bytes that carries the bandwidth at the clock (a clock-domain crossing from the controller). Sustained rates of real controllers are 70-90 % of
peak (refresh, bank and read/write turnarounds): ``--memory 15.4`` names a derated DDR4-2400 x64.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from fractions import Fraction

from ..errors import CompileError

__all__ = ["Memory", "MemoryPort", "MEMORIES", "memory", "AXI_BOUNDARY_BYTES"]

AXI_BOUNDARY_BYTES = 4096  # an AXI4 burst may not cross a 4 KB address boundary
_MAX_BURST_BEATS = 256  # AXI4 INCR bursts: 1..256 beats


@dataclass(frozen=True)
class Memory:
    """An external memory interface, independent of the accelerator clock."""

    name: str
    gbytes_per_s: float  # peak bandwidth, 1e9 bytes/s
    latency_ns: float  # read request to first data
    data_bytes: int | None = None  # AXI data bus (bytes a beat); None: as wide as the bandwidth needs at the clock

    def __post_init__(self) -> None:
        if not (math.isfinite(self.gbytes_per_s) and 0 < self.gbytes_per_s <= 10_000):
            raise CompileError(f"memory bandwidth must be in (0, 10000] GB/s, not {self.gbytes_per_s!r}")
        if not (math.isfinite(self.latency_ns) and 0 <= self.latency_ns <= 100_000):
            raise CompileError(f"memory latency must be in [0, 100000] ns, not {self.latency_ns!r}")
        if self.data_bytes is not None and self.data_bytes not in (1, 2, 4, 8, 16, 32, 64, 128, 256):
            raise CompileError(f"memory data width must be a power of two 1..128 bytes, not {self.data_bytes!r}")

    def port(self, clock_mhz: float) -> MemoryPort:
        """This memory seen from an accelerator clocked at ``clock_mhz``."""
        if not (math.isfinite(clock_mhz) and clock_mhz > 0):
            raise CompileError(f"clock_mhz must be positive, not {clock_mhz!r}")
        # bytes per accelerator cycle, exact to 1e-6 byte (a 1/1000000 denominator bounds the error)
        per_cycle = Fraction(self.gbytes_per_s * 1e3 / clock_mhz).limit_denominator(1_000_000)
        if per_cycle <= 0:
            raise CompileError(f"memory bandwidth {self.gbytes_per_s!r} GB/s is below a millionth of a byte a cycle at {clock_mhz} MHz")
        data = self.data_bytes or 1 << max(0, math.ceil(math.log2(per_cycle)))
        per_cycle = min(per_cycle, Fraction(data))  # the port cannot move more than its data bus a cycle
        burst = min(_MAX_BURST_BEATS * data, AXI_BOUNDARY_BYTES)  # 256 beats, within one 4 KB boundary
        return MemoryPort(self.name, per_cycle, math.ceil(self.latency_ns * clock_mhz / 1e3), data, burst, clock_mhz)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class MemoryPort:
    """A :class:`Memory` at an accelerator clock: the deterministic timing both models use."""

    name: str
    bytes_per_cycle: Fraction
    latency_cycles: int
    data_bytes: int
    burst_bytes: int
    clock_mhz: float

    def stream_cycles(self, nbytes: int) -> int:
        """Cycles from issuing a stream's first request to holding all ``nbytes`` of it."""
        return 0 if nbytes <= 0 else self.latency_cycles + math.ceil(Fraction(nbytes) / self.bytes_per_cycle)

    def ready_cycle(self, start: int, nbytes: int) -> int:
        """The cycle in which byte ``nbytes - 1`` of a stream requested in cycle ``start`` has arrived."""
        return start + self.stream_cycles(nbytes) - 1 if nbytes > 0 else start

    def gbytes_per_s(self, nbytes: float, cycles: float) -> float:
        """The bandwidth ``nbytes`` moved in ``cycles`` of this clock need, GB/s."""
        return nbytes * self.clock_mhz / cycles / 1e3 if cycles > 0 else math.inf

    def to_dict(self) -> dict:
        return {"name": self.name, "bytes_per_cycle": float(self.bytes_per_cycle), "latency_cycles": self.latency_cycles,
                "data_bytes": self.data_bytes, "burst_bytes": self.burst_bytes, "clock_mhz": self.clock_mhz}


_LATENCY_NS = 100.0  # assumption, see the module docstring

MEMORIES: dict[str, Memory] = {
    # peak = transfers/s x bus bytes: DDR3-1600 x16 1600e6 x 2 B, DDR4-2400 x64 2400e6 x 8 B, LPDDR4-3200 x32 3200e6 x 4 B
    "ddr3-1600-x16": Memory("ddr3-1600-x16", 3.2, _LATENCY_NS),
    "ddr4-2400-x64": Memory("ddr4-2400-x64", 19.2, _LATENCY_NS),
    "lpddr4-3200-x32": Memory("lpddr4-3200-x32", 12.8, _LATENCY_NS),
}


def memory(spec: str) -> Memory:
    """A preset by name, or ``GBPS[,LATENCY_NS[,DATA_BYTES]]`` (default 100 ns, a bus as wide as the rate needs)."""
    key = spec.strip().lower()
    if key in MEMORIES:
        return MEMORIES[key]
    parts = key.split(",")
    try:
        if not 1 <= len(parts) <= 3:
            raise ValueError
        gbps = float(parts[0])
        latency = float(parts[1]) if len(parts) > 1 else _LATENCY_NS
        data = int(parts[2]) if len(parts) > 2 else None
    except ValueError:
        raise CompileError(f"--memory must be one of {', '.join(MEMORIES)} or GBPS[,LATENCY_NS[,DATA_BYTES]], "
                           f"not {spec!r}") from None
    return Memory(f"{gbps:g}GB/s", gbps, latency, data)
