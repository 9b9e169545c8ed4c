"""One benchmark row per engine or estimate, the text table, and the bar chart (PNG bytes)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

__all__ = ["Row", "format_table", "plot_png"]


@dataclass
class Row:
    """One way of running the network: measured here or estimated from the build.

    Times are per inference: ``time_per_inference_s`` is a batch's time divided by its size
    (measured) or the steady-state interval (estimated); ``latency_batch1_s`` is one inference
    alone. ``bit_exact``: outputs equal golden bit for bit (None: not checked or not comparable);
    ``code_agreement_pct``: identical output codes with golden, for onnxruntime's QDQ run.
    """

    engine: str
    kind: str  # "measured" or "estimated"
    device: str = ""
    time_per_inference_s: float | None = None
    latency_batch1_s: float | None = None
    energy_per_inference_j: float | None = None
    bit_exact: bool | None = None
    code_agreement_pct: float | None = None
    notes: str = ""
    error: str | None = None

    @property
    def throughput_per_s(self) -> float | None:
        t = self.time_per_inference_s
        return 1.0 / t if t else None

    def to_dict(self) -> dict[str, Any]:
        def scaled(value: float | None, factor: float) -> float | None:
            return None if value is None else value * factor

        return {"engine": self.engine, "kind": self.kind, "device": self.device,
                "time_per_inference_ms": scaled(self.time_per_inference_s, 1e3),
                "latency_batch1_ms": scaled(self.latency_batch1_s, 1e3),
                "throughput_inferences_per_s": self.throughput_per_s,
                "energy_per_inference_nJ": scaled(self.energy_per_inference_j, 1e9),
                "bit_exact": self.bit_exact, "code_agreement_pct": self.code_agreement_pct,
                "notes": self.notes, "error": self.error}


def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def _exact(row: Row) -> str:
    if row.code_agreement_pct is not None:
        return f"{row.code_agreement_pct:.2f}% codes"
    return {True: "yes", False: "NO", None: "-"}[row.bit_exact]


def format_table(rows: list[Row]) -> str:
    """The rows as an aligned text table (units in the header)."""
    head = ("engine", "kind", "ms/inference", "latency b=1 ms", "inferences/s", "energy nJ/inf", "= golden", "device / notes")
    body = []
    for r in rows:
        notes = f"ERROR: {r.error}" if r.error else "; ".join(x for x in (r.device, r.notes) if x)
        body.append((r.engine, r.kind, _num(r.time_per_inference_s and r.time_per_inference_s * 1e3, ".4g"),
                     _num(r.latency_batch1_s and r.latency_batch1_s * 1e3, ".4g"), _num(r.throughput_per_s, ",.0f"),
                     _num(r.energy_per_inference_j and r.energy_per_inference_j * 1e9, ".4g"), _exact(r), notes))
    table = [head] + body
    widths = [max(len(row[i]) for row in table) for i in range(len(head) - 1)]
    right = {2, 3, 4, 5}
    return "\n".join("  ".join(v.rjust(w) if i in right else v.ljust(w) for i, (v, w) in enumerate(zip(row, widths)))
                     + "  " + row[-1] for row in table)


def plot_png(rows: list[Row], title: str) -> bytes:
    """A horizontal bar chart of throughput (log scale), measured and estimated bars told apart."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    shown = [(r, r.throughput_per_s) for r in rows if r.throughput_per_s]
    fig = Figure(figsize=(9, 0.55 * len(shown) + 1.8))
    ax = fig.add_subplot()
    colors, hatches = {"measured": "tab:blue", "estimated": "tab:orange"}, {"measured": "", "estimated": "//"}
    for i, (r, rate) in enumerate(shown):
        ax.barh(i, rate, color=colors[r.kind], hatch=hatches[r.kind], edgecolor="black")
        label = f"{rate:,.0f}/s ({r.kind})"
        if r.energy_per_inference_j is not None:
            label += f", {r.energy_per_inference_j * 1e9:.3g} nJ"
        ax.text(rate, i, " " + label, va="center", fontsize=8)
    ax.set_yticks(range(len(shown)), [r.engine for r, _ in shown])
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("throughput (inferences/s, log scale)")
    ax.set_title(title, fontsize=10)
    if shown:
        ax.set_xlim(min(rate for _, rate in shown) / 3, max(rate for _, rate in shown) * 30)
    ax.legend(handles=[Patch(facecolor=colors[k], hatch=hatches[k], edgecolor="black", label=k) for k in colors],
              loc="lower right", fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, metadata={"Software": None})
    return buffer.getvalue()
