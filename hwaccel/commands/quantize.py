"""``hwaccel quantize``: post-training quantization of a float model to a QDQ ONNX file, through
:func:`hwaccel.api.quantize`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .. import api
from ..errors import HwaccelError, QuantizationError
from ..files import check_writable

__all__ = ["run"]


def _layer_bits(path: str | None) -> dict[str, int]:
    if not path:
        return {}
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise HwaccelError(f"{path}: cannot read per-layer bits JSON ({exc})") from None
    if not isinstance(data, dict):
        raise QuantizationError(f"{path}: per-layer bits must be a JSON object {{layer: bits}}, not {type(data).__name__}")
    return {str(k): int(v) for k, v in data.items()}


def _cell_bits(text: str) -> int | str:
    """``auto`` or an integer; QuantConfig checks the range (one-line error)."""
    try:
        return int(text)
    except ValueError:
        return text


def run(args: argparse.Namespace) -> tuple[dict, str]:
    check_writable(args.output or Path(args.model).with_suffix(".qdq.onnx"), args.force)  # before any work
    result = api.quantize(args.model, args.calib, args.output, force=args.force, weight_bits=args.weight_bits,
                          act_bits=args.act_bits, act_signed=args.act_signed, per_channel=not args.per_tensor,
                          scheme=args.scheme, calibration=args.calibration, layer_bits=_layer_bits(args.bits_per_layer),
                          prune=args.prune, share=args.share, cell_bits=_cell_bits(args.cell_bits))
    report = result.to_dict()
    return report, _format(report)


def _format(report: dict) -> str:
    lines = [f"quantized {report['model']} -> {report['output']}"]
    head = ("layer", "op", "w bits", "x bits", "acc bits", "sparsity", "distinct w")
    rows = [head] + [
        (l["layer"], l["op"], str(l["weight_bits"]), str(l["act_bits"]), str(l["acc_bits"]), f"{l['sparsity']:.1%}", str(l["distinct_weights"]))
        for l in report["layers"]
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines += ["  " + "  ".join(v.ljust(w) for v, w in zip(r, widths)) for r in rows]
    clipped = max((a["clipped_fraction"] for a in report["activations"]), default=0.0)
    lines.append(f"  {len(report['activations'])} activation tensors quantized; worst calibration clipping {clipped:.3%}")
    lines.append(f"  host-only ops: {', '.join(report['host_ops']) or 'none'}")
    cell = report.get("cell_format")
    if cell:
        how = "given"
        if cell["auto"]:  # the chosen width was measured last
            error = cell["calibration_errors"][str(cell["cell_bits"])]
            how = f"auto: golden error {error:.2%} of the float output range on the calibration data, target {cell['target']:.0%}"
        lines.append(f"  recurrent cells: {cell['cell_bits']}-bit gate table indices ({how})")
    return "\n".join(lines)
