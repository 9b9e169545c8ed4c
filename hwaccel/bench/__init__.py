"""``hwaccel bench``: one quantized network on every path, measured (onnxruntime, hwaccel cpu/gpu)
or estimated (FPGA: cycle model x post-route fmax; ASIC: :mod:`hwaccel.estimate.asic`), in one
table, JSON and bar chart. Modules: :mod:`.measure` (timing protocol, engines), :mod:`.estimated`
(the build and the FPGA/ASIC rows), :mod:`.report` (rows, table, plot), :mod:`.suite` (the run and
:func:`bench`, the API function).
"""

from .report import Row, format_table, plot_png
from .suite import BenchConfig, BenchResult, bench, run_bench

__all__ = ["bench", "BenchConfig", "BenchResult", "Row", "run_bench", "format_table", "plot_png"]
