"""Typed errors. The CLI prints ``str(error)`` as one line and exits with code 2."""

from __future__ import annotations

__all__ = [
    "HwaccelError",
    "ModelError",
    "UnsupportedOpError",
    "QuantizationError",
    "CompileError",
    "SimulationError",
]


class HwaccelError(Exception):
    """Base class of every error hwaccel reports to a user."""


class ModelError(HwaccelError):
    """The model file is missing, malformed, unsafe or inconsistent."""


class UnsupportedOpError(HwaccelError):
    """The model uses operators hwaccel does not implement.

    Parameters
    ----------
    unsupported
        ``(node_name, op_type, opset)`` for every unsupported node, so one error lists them all.
    """

    def __init__(self, unsupported: list[tuple[str, str, int]], where: str = "model") -> None:
        self.unsupported = list(unsupported)
        listed = ", ".join(f"{name or '<unnamed>'} ({op}, opset {opset})" for name, op, opset in unsupported)
        super().__init__(f"{where}: {len(unsupported)} unsupported node(s): {listed}")


class QuantizationError(HwaccelError):
    """Quantization parameters or a quantized graph are invalid."""


class CompileError(HwaccelError):
    """The network cannot be lowered to hardware."""


class SimulationError(HwaccelError):
    """A simulation failed, stalled or disagreed with the golden model."""
