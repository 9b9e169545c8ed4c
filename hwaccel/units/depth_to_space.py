"""DepthToSpace: each input pixel's ``factor_h * factor_w`` phases of channels to as many output
pixels, with a crop of the border (the second half of a polyphase transposed convolution)."""

from __future__ import annotations

from dataclasses import dataclass

from .pixel_map import PixelMapParams

__all__ = ["DepthToSpaceParams"]


@dataclass(frozen=True)
class DepthToSpaceParams(PixelMapParams):
    """Output pixel ``(oy, ox)`` = phase ``(Y % factor_h, X % factor_w)`` of input pixel ``(Y //
    factor_h, X // factor_w)``, ``(Y, X) = (oy + crop_top, ox + crop_left)``: input channel
    ``(py * factor_w + px) * channels + c`` (see :class:`~.pixel_map.PixelMapParams`)."""

    unit_kind = "depth_to_space"
    phased = True
