"""The roofline of an overlay schedule: each MAC layer's achieved GMAC/s against its arithmetic
intensity (MACs per external byte), under the array's peak and the memory's bandwidth."""

from __future__ import annotations

import io
import os

import numpy as np

from ..files import atomic_write_bytes
from ..perf.overlay import OverlayReport

__all__ = ["roofline_png"]


def roofline_png(r: OverlayReport, path: str | os.PathLike[str], force: bool = False) -> None:
    """Draw ``r``'s roofline to the PNG ``path`` (written atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    peak = r.multipliers * r.clock_mhz / 1e3  # GMAC/s
    gbps = float(r.memory["bytes_per_cycle"]) * r.clock_mhz / 1e3
    fig, ax = plt.subplots(figsize=(7, 4.5))
    xs = np.logspace(-1, 5, 200)
    ax.loglog(xs, np.minimum(peak, gbps * xs), "k-", lw=1, label=f"roof: {peak:,.0f} GMAC/s, {gbps:g} GB/s")
    for bound, colour in (("compute", "tab:blue"), ("memory", "tab:red")):
        pts = [(l.macs / l.bytes, l.macs * r.clock_mhz / 1e3 / l.cycles) for l in r.layers if l.macs and l.bytes and l.bound == bound]
        if pts:
            ax.loglog(*zip(*pts), "o", color=colour, ms=4, label=f"{bound}-bound layers ({len(pts)})")
    ax.set_xlabel("arithmetic intensity (MACs per external byte)")
    ax.set_ylabel("GMAC/s")
    ax.set_title(f"overlay {r.rows}x{r.cols} at {r.clock_mhz:g} MHz, {r.memory['name']}: "
                 f"{r.bound_fraction:.0%} of the multiplier bound (estimate)", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, metadata={"Software": None})
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue(), force=force)
