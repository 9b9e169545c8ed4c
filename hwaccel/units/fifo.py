"""Stream FIFO: the buffer on an edge between two stages."""

from __future__ import annotations

from dataclasses import dataclass

from .base import AsicCount, Shape3, Unit
from .common import check_int

__all__ = ["FifoParams"]


@dataclass(frozen=True)
class FifoParams(Unit):
    """Stream FIFO of ``depth`` beats of ``lanes`` codes. One input is one beat.

    Built on ``amaranth.lib.fifo.SyncFIFOBuffered``: an inner memory of ``depth - 1`` words plus
    an output register. A beat entering an empty FIFO leaves ``latency`` cycles later (1 for
    depth 1, else 2); depths 1 and 2 pass a beat every other cycle, depth 3 and more every cycle.
    """

    unit_kind = "fifo"

    depth: int
    lanes: int = 1
    bits: int = 8
    signed: bool = False

    def __post_init__(self) -> None:
        check_int(self.depth, "depth", 1)
        check_int(self.lanes, "lanes", 1)
        check_int(self.bits, "bits", 1, 64)

    @property
    def interval(self) -> int:
        """Cycles between beats in steady state."""
        return 2 if self.depth <= 2 else 1

    # -- the Unit interface ----------------------------------------------------------------------

    @property
    def out_codes(self) -> tuple[int, bool]:
        return self.bits, self.signed

    @property
    def latency(self) -> int:
        return 1 if self.depth == 1 else 2

    def total_cycles(self, n_inputs: int) -> int:
        check_int(n_inputs, "n_inputs", 1)
        return self.latency + self.interval * (n_inputs - 1) + 1

    def inputs_per_image(self, shape: Shape3) -> int:
        """Beats per image."""
        h, w, c = shape
        return h * w * c // self.lanes

    def memory_bits(self) -> int:
        return self.depth * self.lanes * self.bits

    def asic_counts(self, shape: Shape3, macs: int) -> list[AsicCount]:
        """Every code of the stream (``shape``: its source's output) written and read once."""
        h, w, c = shape
        return [AsicCount("activation_memory", "mem", (self.memory_bits(),), 2 * h * w * c * self.bits)]
