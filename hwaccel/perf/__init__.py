"""Performance model: the exact cycle model of a compiled dataflow (:mod:`.model`) and the unit control
models it simulates (:mod:`.control`, :mod:`.network`); per-unit costs are the units' own methods
(:mod:`hwaccel.units`)."""

from .model import CycleReport, LayerReport, cycle_model, format_report, layer_reports, periodic_run, total_cycles
from .network import Run, simulate

__all__ = ["CycleReport", "LayerReport", "cycle_model", "format_report", "layer_reports", "periodic_run", "total_cycles",
           "Run", "simulate"]
