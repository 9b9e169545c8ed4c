"""Recurrent cell formats: the widths and binary points inside a QLSTM / QGRU / QRNN node, the ladder
``hwaccel quantize`` chooses one from, and its JSON in a QDQ model's metadata.

Gate pre-activations are requantized to a narrow table index before their lookup table, so every
table fits on chip (``2**bits`` entries of ``frac_bits + 2``-bit codes). The ladder entry of
``bits`` (8..12) is::

    h and gate outputs at 2**-bits         (bits + 2 signed bits, ±1.0 representable)
    sigmoid index: bits at 2**-(bits - 4)  (±8: sigmoid(8) is within 3.4e-4 of 1)
    tanh index:    bits at 2**-(bits - 3)  (±4: tanh(4) is within 6.8e-4 of 1; slope 1 vs 1/4, so
                                            twice sigmoid's resolution for the same error)
    c (LSTM cell state) at 2**-(bits + 4)

12 bits keep the worst golden error of PyTorch GRU / RNN / biLSTM / LSTM cells at 8-bit activations
within 2 % of the float output range (benchmarks/recurrent_accuracy.py), the same as the 16..18-bit
indices used before, so it is the default of a QDQ model without the metadata entry.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields

import numpy as np

from ...errors import ModelError
from ...ir.graph import QuantParams

__all__ = ["CellFormat", "CELL_BITS", "DEFAULT_CELL_BITS", "CELL_FORMAT_METADATA_KEY", "ladder", "DEFAULT_CELL_FORMAT"]

CELL_FORMAT_METADATA_KEY = "hwaccel.cell_format"
CELL_BITS = range(8, 13)  # table index widths of the ladder, narrowest first
DEFAULT_CELL_BITS = 12
MAX_FRAC = 30  # any binary point beyond keeps products of two state codes far inside int64


@dataclass(frozen=True)
class CellFormat:
    """Widths and binary points inside a cell: ``h`` and gate outputs at ``2**-frac_bits``, table
    indices of ``sigmoid_bits`` at ``2**-sigmoid_frac`` and ``tanh_bits`` at ``2**-tanh_frac``, ``c``
    at ``2**-cell_frac`` (``cell_frac >= frac_bits`` and ``>= tanh_frac``)."""

    frac_bits: int
    sigmoid_bits: int
    sigmoid_frac: int
    tanh_bits: int
    tanh_frac: int
    cell_frac: int

    def unit(self) -> QuantParams:
        """Encoding of h and gate outputs: ``frac_bits + 2`` signed bits, ±1.0 representable."""
        return QuantParams(np.array([2.0 ** -self.frac_bits]), np.zeros(1, np.int64), self.frac_bits + 2, True)

    def gate(self, function: str) -> QuantParams:
        """Encoding of the table index (gate pre-activation) of ``function`` (Sigmoid or Tanh)."""
        bits, frac = (self.sigmoid_bits, self.sigmoid_frac) if function == "Sigmoid" else (self.tanh_bits, self.tanh_frac)
        return QuantParams(np.array([2.0 ** -frac]), np.zeros(1, np.int64), bits, True)

    @property
    def table_entries(self) -> int:
        """Entries of the larger lookup table."""
        return 1 << max(self.sigmoid_bits, self.tanh_bits)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str, where: str = "model") -> CellFormat:
        """The format written by :meth:`to_json`; a :class:`ModelError` naming ``where`` if it is not one."""
        what = f"{where}: metadata {CELL_FORMAT_METADATA_KEY!r}"
        names = sorted(f.name for f in fields(cls))
        try:
            data = json.loads(text)
        except ValueError:
            raise ModelError(f"{what} must be a JSON object, not {text!r}") from None
        if not isinstance(data, dict) or sorted(data) != names or not all(type(v) is int for v in data.values()):
            raise ModelError(f"{what} must be a JSON object of the integers {', '.join(names)}, not {text!r}")
        fmt = cls(**data)
        ok = (1 <= fmt.frac_bits <= MAX_FRAC and all(2 <= b <= 20 for b in (fmt.sigmoid_bits, fmt.tanh_bits))
              and all(0 <= f <= MAX_FRAC for f in (fmt.sigmoid_frac, fmt.tanh_frac))
              and max(fmt.frac_bits, fmt.tanh_frac) <= fmt.cell_frac <= MAX_FRAC)
        if not ok:
            raise ModelError(f"{what} must have frac_bits 1..{MAX_FRAC}, table bits 2..20, fractions 0..{MAX_FRAC} and "
                             f"max(frac_bits, tanh_frac) <= cell_frac <= {MAX_FRAC}, not {text!r}")
        return fmt


def ladder(bits: int) -> CellFormat:
    """The ladder's format for table indices of ``bits`` (8..12; see the module docstring)."""
    return CellFormat(frac_bits=bits, sigmoid_bits=bits, sigmoid_frac=bits - 4, tanh_bits=bits, tanh_frac=bits - 3,
                      cell_frac=bits + 4)


DEFAULT_CELL_FORMAT = ladder(DEFAULT_CELL_BITS)
