"""Upsample: nearest-neighbour upsampling by integer factors (each pixel repeated ``factor_w``
times in a row, each row ``factor_h`` times), from a row buffer."""

from __future__ import annotations

from dataclasses import dataclass

from .pixel_map import PixelMapParams

__all__ = ["UpsampleParams"]


@dataclass(frozen=True)
class UpsampleParams(PixelMapParams):
    """Output pixel ``(oy, ox)`` = input pixel ``(oy // factor_h, ox // factor_w)``, every channel
    (see :class:`~.pixel_map.PixelMapParams`; ``crop_*`` 0 for an ONNX Resize)."""

    unit_kind = "upsample"
    phased = False
