"""``hwaccel quantize``: post-training quantization of a float model to a QDQ ONNX file."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import HwaccelError, QuantizationError
from ..files import atomic_write_bytes, check_writable, load_inputs
from ..frontend import load_model
from ..frontend.qdq import is_quantized, lower_model
from ..frontend.quantize import QuantConfig, quantize_graph
from ..summary import placement


def _layer_bits(path: str | None, layer_names: set[str]) -> dict[str, int]:
    if not path:
        return {}
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise HwaccelError(f"{path}: cannot read per-layer bits JSON ({exc})") from None
    if not isinstance(data, dict):
        raise QuantizationError(f"{path}: per-layer bits must be a JSON object {{layer: bits}}, not {type(data).__name__}")
    unknown = sorted(set(data) - layer_names)
    if unknown:
        raise QuantizationError(f"{path}: unknown layer(s) {unknown}; layers with weights: {sorted(layer_names)}")
    return {str(k): int(v) for k, v in data.items()}


def run(args: argparse.Namespace) -> tuple[dict, str]:
    graph = load_model(args.model)
    if is_quantized(graph):
        raise QuantizationError(f"{args.model}: the model is already quantized")
    output = Path(args.output) if args.output else Path(args.model).with_suffix(".qdq.onnx")
    check_writable(output, args.force)
    weighted = {n.name for n in graph.nodes if n.op in ("Conv", "ConvTranspose", "Gemm", "MatMul")}
    config = QuantConfig(
        weight_bits=args.weight_bits, act_bits=args.act_bits, act_signed=args.act_signed, per_channel=not args.per_tensor,
        scheme=args.scheme, calibration=args.calibration, layer_bits=_layer_bits(args.bits_per_layer, weighted),
        prune=args.prune, share=args.share,
    )
    model, report = quantize_graph(graph, load_inputs(args.calib, graph), config)
    lowered = lower_model(model, str(output))  # proves the file lowers to fixed point before writing it
    atomic_write_bytes(output, model.SerializeToString(), force=args.force)
    host = sorted({n.op for n in lowered.nodes if placement(n) == "host" and n.op not in ("QuantizeLinear", "DequantizeLinear")})
    report.update(model=args.model, output=str(output), config={k: v for k, v in vars(config).items()}, host_ops=host)
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
    return "\n".join(lines)
