"""The library API: each function does one CLI command's job and returns a small result object
whose ``to_dict()`` is the JSON that command prints with ``--json``.

Modules: :mod:`.models` (load, quantize, run), :mod:`.builds` (compile, simulate), :mod:`.checks`
(verify, estimate), :mod:`.compiler` (the compile driver), :mod:`.results` (the result objects).
``bench`` sits a layer above, in :mod:`hwaccel.bench`.
"""

from .builds import compile, simulate  # noqa: A004
from .checks import estimate, verify
from .models import load, quantize, run
from .results import CompileResult, EstimateResult, QuantizeResult, RunResult, SimulateResult, VerifyResult

__all__ = ["load", "quantize", "compile", "simulate", "verify", "estimate", "run",
           "QuantizeResult", "RunResult", "CompileResult", "SimulateResult", "VerifyResult", "EstimateResult"]
