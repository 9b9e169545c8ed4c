"""Post-training quantization: float graph + calibration data -> standard QDQ ONNX model.

Activations: per-tensor scale/zero point from calibrated ranges (a recurrent cell's hidden state
from its range joined with the provable ``(-1, 1)``). Weights: symmetric, per output
channel by default, 2..16 bits, optionally pruned and shared (k-means codebook) first. Biases:
int32 at scale ``s_x * s_w[c]``. Widths narrower than their 8/16-bit container are recorded in the
model metadata ``hwaccel.bits`` so the fixed-point import knows the true code range. Recurrent cells:
the table index width of the cell format ladder (:mod:`hwaccel.passes.lower.cell_format`), given or
chosen (``auto``: the narrowest whose golden output on the calibration data stays within
``CELL_ERROR_TARGET`` of the float one), is recorded in the metadata ``hwaccel.cell_format``.

Max pooling and data movement keep their input's encoding; a Conv/Gemm followed by Relu/Clip is
quantized after the activation, so lowering fuses the activation into the requantization clamp.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from .. import fixedpoint
from ..errors import QuantizationError
from ..ir.graph import CodeRange, Graph, Node
from ..passes.lower.cell_format import CELL_BITS, CELL_FORMAT_METADATA_KEY, ladder
from ..passes.lower.recurrent import DEFAULT_ACTIVATIONS
from ..passes.lower_qdq import LowerOptions, lower_qdq
from .calibrate import calibrate_range
from .compress import prune_magnitude, share_weights
from .onnx_export import export_model
from .onnx_import import import_model

__all__ = ["QuantConfig", "quantize_graph", "BITS_METADATA_KEY", "CELL_ERROR_TARGET"]

BITS_METADATA_KEY = "hwaccel.bits"
# smallest scale written: two of them multiplied (a bias scale) stay a normal float32
SCALE_FLOOR = 2.0**-60
# cell_bits "auto": largest |golden - float| over the largest |float| of every graph output, on the
# calibration data (issue 22 asks 3 % on unseen data; 8-bit activations alone cost up to ~2 %)
CELL_ERROR_TARGET = 0.02
WEIGHTED = {"Conv": 0, "ConvTranspose": 1, "Gemm": None, "MatMul": 1}  # op -> output-channel axis of the weight
RECURRENT = frozenset({"LSTM", "GRU", "RNN"})  # W and R: per gate row (axis 1); bias stays float
QUANTIZED_OPS = frozenset(WEIGHTED) | RECURRENT | {
    "MaxPool", "GlobalMaxPool", "AveragePool", "GlobalAveragePool", "Add", "Sub", "Mul", "Concat",
    "Relu", "Clip", "LeakyRelu", "Sigmoid", "HardSigmoid", "Tanh",
    "Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze", "Resize", "Upsample", "Pad", "Gather",
}
KEEPS_ENCODING = frozenset({"MaxPool", "GlobalMaxPool", "Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze", "Resize", "Upsample", "Pad", "Gather"})
FUSABLE = frozenset({"Relu", "Clip"})


@dataclass(frozen=True)
class QuantConfig:
    weight_bits: int = 8
    act_bits: int = 8
    act_signed: bool = True
    per_channel: bool = True
    scheme: str = "affine"
    calibration: str = "minmax"
    layer_bits: dict[str, int] = field(default_factory=dict)  # node name -> weight bits
    prune: float = 0.0
    share: int = 0
    cell_bits: int | str = "auto"  # recurrent cells' table index width 8..12, or "auto"

    def validate(self) -> None:
        for what, bits in [("weight bits", self.weight_bits), ("activation bits", self.act_bits), *self.layer_bits.items()]:
            if not 2 <= int(bits) <= 16:
                raise QuantizationError(f"{what} must be in 2..16, not {bits!r}")
        if self.scheme not in ("affine", "pow2"):
            raise QuantizationError(f"scheme must be 'affine' or 'pow2', not {self.scheme!r}")
        if self.cell_bits != "auto" and (type(self.cell_bits) is not int or self.cell_bits not in CELL_BITS):
            raise QuantizationError(f"cell bits must be 'auto' or in {CELL_BITS[0]}..{CELL_BITS[-1]}, not {self.cell_bits!r}")


@dataclass(frozen=True)
class _Encoding(CodeRange):
    scale: float
    zero_point: int
    bits: int
    signed: bool

    @property
    def container(self) -> np.dtype:
        return np.dtype(("int" if self.signed else "uint") + ("8" if self.bits <= 8 else "16"))


def quantize_graph(graph: Graph, calib: dict[str, np.ndarray], config: QuantConfig) -> tuple[onnx.ModelProto, dict]:
    """Calibrate ``graph`` on ``calib`` and return the QDQ model plus a per-layer report."""
    from ..golden.float_executor import run_float

    config.validate()
    _check_calibration(graph, calib)
    values = _run_samples(run_float, graph, calib, _float_values(graph))
    encodings = _activation_encodings(graph, values, config)
    writer = _QdqWriter(graph, config, encodings)
    for node in graph.nodes:
        writer.add_node(node)
    model = writer.finish()
    report = writer.report(values)
    if any(n.op in RECURRENT for n in graph.nodes):
        report["cell_format"] = _choose_cell_format(model, writer.bits, calib, values, graph, config)
    return model, report


def _choose_cell_format(model: onnx.ModelProto, bits: dict[str, int], calib: dict[str, np.ndarray],
                        values: dict[str, np.ndarray], graph: Graph, config: QuantConfig) -> dict:
    """Record the cell format of ``config.cell_bits`` in ``model``'s metadata; ``auto``: the narrowest
    ladder entry whose golden output error on ``calib`` is within :data:`CELL_ERROR_TARGET`, else
    the widest. Returns the report entry: the index bits, the format and the errors measured."""
    from ..golden.fixed import run_golden

    errors: dict[int, float] = {}
    chosen = config.cell_bits if config.cell_bits != "auto" else CELL_BITS[-1]
    if config.cell_bits == "auto":
        imported = import_model(model)
        for cell_bits in CELL_BITS:
            fixed = lower_qdq(imported, LowerOptions(bits=bits, cell_format=ladder(cell_bits)))
            golden = run_golden(fixed, calib)
            errors[cell_bits] = max(_relative_error(golden[t.name], values[t.name]) for t in graph.outputs)
            if errors[cell_bits] <= CELL_ERROR_TARGET:
                chosen = cell_bits
                break
    fmt = ladder(int(chosen))
    model.metadata_props.add(key=CELL_FORMAT_METADATA_KEY, value=fmt.to_json())
    return {"cell_bits": int(chosen), "auto": config.cell_bits == "auto", "format": json.loads(fmt.to_json()),
            "target": CELL_ERROR_TARGET, "calibration_errors": {str(k): v for k, v in errors.items()}}


def _relative_error(got: np.ndarray, expected: np.ndarray) -> float:
    """Largest ``|got - expected|`` over the largest ``|expected|`` (0 when both are all zero)."""
    diff = float(np.abs(np.asarray(got, np.float64) - expected).max(initial=0.0))
    scale = float(np.abs(expected).max(initial=0.0))
    return diff / scale if scale > 0 else (0.0 if diff == 0 else math.inf)


def _run_samples(run_float: Any, graph: Graph, calib: dict[str, np.ndarray], outputs: list[str]) -> dict[str, np.ndarray]:
    """The float run over the calibration set; a model exported for batch 1 (fixed reshapes are common
    there) runs one sample at a time, and each value's samples are joined along its first axis."""
    n = max(np.shape(a)[0] for a in calib.values())
    if n == 1 or not any(t.shape and t.shape[0] == 1 for t in graph.inputs):
        return run_float(graph, calib, outputs=outputs)
    runs = [run_float(graph, {k: a[i:i + 1] for k, a in calib.items()}, outputs=outputs) for i in range(n)]
    return {k: np.concatenate([np.atleast_1d(r[k]) for r in runs]) for k in runs[0]}


def _check_calibration(graph: Graph, calib: dict[str, np.ndarray]) -> None:
    """At least one sample per input, finite float data, finite weights: what calibration needs."""
    for name, array in calib.items():
        array = np.asarray(array)
        if array.ndim == 0 or array.shape[0] == 0:
            raise QuantizationError(f"calibration input {name!r} must hold at least one sample, not shape {array.shape}")
        if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
            raise QuantizationError(f"calibration input {name!r} must be finite, not hold NaN or infinity")
    for node in graph.nodes:
        if node.op not in WEIGHTED and node.op not in RECURRENT:
            continue
        for name in node.inputs[1:]:
            w = graph.initializers.get(name) if name else None
            if w is not None and w.dtype.kind == "f" and not np.all(np.isfinite(w)):
                raise QuantizationError(f"layer {node.name!r}: weight {name!r} must be finite to quantize, not hold NaN or infinity")


def _float_values(graph: Graph) -> list[str]:
    names = [t.name for t in graph.inputs]
    for node in graph.nodes:
        names += [o for o in node.outputs if o]
    return [n for n in names if n not in graph.initializers]


def _quantized_values(graph: Graph) -> list[str]:
    """Values that get a Q/DQ pair, in topological order."""
    fused = set()
    for node in graph.nodes:
        users = graph.consumers(node.outputs[0]) if node.outputs else []
        if node.op in WEIGHTED and len(users) == 1 and users[0].op in FUSABLE:
            fused.add(node.outputs[0])
    chosen: list[str] = []
    graph_outputs = {t.name for t in graph.outputs}
    for node in graph.nodes:
        if node.op not in QUANTIZED_OPS:
            continue
        single = node.op in WEIGHTED or node.op in KEEPS_ENCODING or node.op in RECURRENT
        data_inputs = [i for i in node.inputs[:1 if single else None] if i and i not in graph.initializers]
        outputs = [o for o in node.outputs if o and (graph.consumers(o) or o in graph_outputs)] if node.op in RECURRENT else node.outputs[:1]
        for v in [*data_inputs, *outputs]:
            if v not in fused and v not in chosen:
                chosen.append(v)
    return chosen


def _activation_encodings(graph: Graph, values: dict[str, np.ndarray], config: QuantConfig) -> dict[str, _Encoding]:
    encodings: dict[str, _Encoding] = {}
    for v in _quantized_values(graph):
        producer = graph.producer(v)
        if producer is not None and producer.op in KEEPS_ENCODING and producer.inputs[0] in encodings:
            encodings[v] = encodings[producer.inputs[0]]
            continue
        if values[v].dtype.kind != "f":
            continue  # shape arithmetic (e.g. Shape -> Gather -> Concat) stays integer
        if not np.all(np.isfinite(values[v])):
            raise QuantizationError(f"activation {v!r} must be finite on the calibration data, not hold NaN or "
                                    "infinity (the float model overflows)")
        lo, hi = calibrate_range(values[v], config.calibration, config.act_bits, config.act_signed)
        if producer is not None and _bounded_state(producer, v):  # whatever the calibration method
            lo, hi = min(lo, -1.0), max(hi, 1.0)
        encodings[v] = _encoding(lo, hi, config)
    return encodings


def _bounded_state(node: Node, v: str) -> bool:
    """Whether ``v`` is the hidden state (Y or Y_h) of a cell with the default activations: then
    ``|h| < 1`` for any input sequence (LSTM ``o * tanh(c)``, RNN ``tanh``, GRU a convex mix of
    ``tanh`` and ``h_0``), and its range is this bound joined with the calibrated one. A range
    calibrated on a few sequences saturates on others: up to 27 % output error on PyTorch cells
    (issue 22); the bound costs resolution only where calibration saw ``|h|`` well below 1
    (benchmarks/recurrent_accuracy.py: under 2 % at 8 bits)."""
    if node.op not in RECURRENT or v not in node.outputs[:2]:
        return False
    activations = node.attr("activations")
    dirs = 2 if node.attr("direction", "forward") == "bidirectional" else 1
    return activations is None or [str(a).lower() for a in activations] == DEFAULT_ACTIVATIONS[node.op] * dirs


def _encoding(lo: float, hi: float, config: QuantConfig) -> _Encoding:
    bits, signed = config.act_bits, config.act_signed
    if hi - lo <= 0:
        return _Encoding(1.0, 0, bits, signed)
    if config.scheme == "pow2":
        qmax = (1 << (bits - 1)) - 1 if signed else (1 << bits) - 1
        scale = 2.0 ** math.ceil(math.log2(max(abs(lo), abs(hi)) / qmax))
        return _Encoding(max(scale, SCALE_FLOOR), 0, bits, signed)
    scale, zero = fixedpoint.choose_qparams(lo, hi, bits, signed)
    if scale < SCALE_FLOOR:  # a range too narrow to matter: widen it rather than write a denormal scale
        return _Encoding(SCALE_FLOOR, 0, bits, signed)
    return _Encoding(float(scale), int(zero), bits, signed)


class _QdqWriter:
    """Builds the QDQ node list, initializers and report rows."""

    def __init__(self, graph: Graph, config: QuantConfig, encodings: dict[str, _Encoding]) -> None:
        self.graph, self.config, self.encodings = graph, config, encodings
        self.outputs = {t.name for t in graph.outputs}
        self.nodes: list[onnx.NodeProto] = []
        self.inits: dict[str, np.ndarray] = {}
        self.bits: dict[str, int] = {}
        self.rows: list[dict] = []
        self.renamed = {v: (f"{v}.float" if v in self.outputs else v) for v in encodings}
        for t in graph.inputs:
            if t.name in encodings:
                self._qdq(t.name)

    def _use(self, name: str) -> str:
        return f"{name}.dq" if name in self.encodings and name not in self.outputs else name

    def _qdq(self, v: str) -> None:
        enc = self.encodings[v]
        scale_name, zp_name = f"{v}.scale", f"{v}.zero_point"
        self.inits[scale_name] = np.array(enc.scale, np.float32)
        self.inits[zp_name] = np.array(enc.zero_point, enc.container)
        codes = f"{v}.q"
        if enc.bits not in (8, 16):
            self.bits[codes] = enc.bits
        self.nodes.append(helper.make_node("QuantizeLinear", [self.renamed[v], scale_name, zp_name], [codes], name=f"{v}.quantize"))
        out = v if v in self.outputs else f"{v}.dq"
        self.nodes.append(helper.make_node("DequantizeLinear", [codes, scale_name, zp_name], [out], name=f"{v}.dequantize"))

    def add_node(self, node: Node) -> None:
        inputs = [self._use(i) if i else "" for i in node.inputs]
        if node.op in WEIGHTED and node.inputs[1] in self.graph.initializers and self.encodings.get(node.inputs[0]):
            inputs[1:] = self._weights(node)
        elif node.op in RECURRENT and all(i in self.graph.initializers for i in node.inputs[1:3]) and self.encodings.get(node.inputs[0]):
            inputs[1:3] = [self._weights(node, k)[0] for k in (1, 2)]
        outputs = [self.renamed.get(o, o) for o in node.outputs]
        attrs = {k: numpy_helper.from_array(v) if isinstance(v, np.ndarray) else v for k, v in node.attrs.items()}
        self.nodes.append(helper.make_node(node.op, inputs, outputs, name=node.name, **attrs))
        for o in node.outputs:
            if o in self.encodings:
                self._qdq(o)

    def _weights(self, node: Node, k: int = 1) -> list[str]:
        """DQ of the weight input ``k`` (plus the bias DQ for Conv/Gemm/MatMul)."""
        w = self.graph.initializers[node.inputs[k]].astype(np.float64)
        axis = 1 if node.op in RECURRENT else WEIGHTED[node.op] if node.op != "Gemm" else (0 if node.attr("transB", 0) else 1)
        if node.op == "ConvTranspose" and int(node.attr("group", 1)) != 1:
            axis = None  # grouped transposed conv: per-tensor weight scale
        bits = int(self.config.layer_bits.get(node.name, self.config.weight_bits))
        if self.config.prune:
            w = prune_magnitude(w, self.config.prune)
        if self.config.share:
            w = share_weights(w, self.config.share)
        # shared weights keep one scale per layer, so K shared values are K codes (a K-entry codebook)
        channel_axis = axis if self.config.per_channel and not self.config.share else None
        per_channel = channel_axis is not None
        scale = fixedpoint.symmetric_weight_scale(w, bits, axis=channel_axis)
        scale = self._bias_safe_scale(node, np.asarray(scale, np.float64).reshape(-1), bits, k)
        if self.config.scheme == "pow2":
            scale = 2.0 ** np.ceil(np.log2(scale))
        scale = np.maximum(np.asarray(scale, np.float64).reshape(-1), SCALE_FLOOR)
        qmax = (1 << (bits - 1)) - 1
        shape = [1] * w.ndim
        if channel_axis is not None:
            shape[channel_axis] = -1
        codes = np.clip(np.rint(w / scale.reshape(shape)), -qmax, qmax)
        container = np.int8 if bits <= 8 else np.int16
        prefix = f"{node.name}.{'weight' if k == 1 else 'recurrence'}"
        names = [f"{prefix}.q", f"{prefix}.scale", f"{prefix}.zero_point"]
        self.inits[names[0]] = codes.astype(container)
        self.inits[names[1]] = scale.astype(np.float32) if per_channel else np.array(scale[0], np.float32)
        self.inits[names[2]] = np.zeros(scale.size if per_channel else (), container)
        if bits not in (8, 16):
            self.bits[names[0]] = bits
        # make_node leaves out attributes that are None: per-tensor weights get no axis
        self.nodes.append(helper.make_node("DequantizeLinear", names, [f"{prefix}.dq"], name=f"{prefix}.dequantize", axis=channel_axis))
        result = [f"{prefix}.dq"]
        if node.op not in RECURRENT and len(node.inputs) > 2 and node.inputs[2]:
            result.append(self._bias(node, scale))
        self.rows.append({"layer": node.name, "op": node.op, "weight_bits": bits, "weight_codes": codes,
                          "w_scale": scale, "x": node.inputs[0], "terms": _terms(node, w)})
        return result

    def _bias_safe_scale(self, node: Node, scale: np.ndarray, bits: int, k: int) -> np.ndarray:
        """Raise a channel's weight scale where its bias code would exceed one product's range
        ``(2**bits_x - 1)(2**bits_w - 1)`` (tiny weights, large bias), so the bias counts as one
        accumulator term and the contract width holds; those channels' weights are near zero anyway."""
        if node.op in RECURRENT or len(node.inputs) <= 2 or not node.inputs[2]:  # cells keep a float bias
            return scale
        x = self.encodings[node.inputs[0]]
        b = np.abs(self.graph.initializers[node.inputs[2]].astype(np.float64).reshape(-1))
        limit = ((1 << x.bits) - 1) * ((1 << bits) - 1)
        needed = b / (x.scale * limit)
        return np.maximum(scale, needed.max() if scale.size == 1 else needed)

    def _bias(self, node: Node, w_scale: np.ndarray) -> str:
        b = self.graph.initializers[node.inputs[2]].astype(np.float64).reshape(-1)
        s = np.broadcast_to(np.float32(self.encodings[node.inputs[0]].scale) * np.asarray(w_scale, np.float32), b.shape)
        codes = np.clip(np.rint(b / s.astype(np.float64)), -(2**31), 2**31 - 1).astype(np.int32)
        names = [f"{node.name}.bias.q", f"{node.name}.bias.scale", f"{node.name}.bias.zero_point"]
        self.inits[names[0]] = codes
        self.inits[names[1]] = s.astype(np.float32)
        self.inits[names[2]] = np.zeros(b.shape, np.int32)
        self.nodes.append(helper.make_node("DequantizeLinear", names, [f"{node.name}.bias.dq"], name=f"{node.name}.bias.dequantize", axis=0))
        return f"{node.name}.bias.dq"

    def finish(self) -> onnx.ModelProto:
        used = {i for n in self.nodes for i in n.input}
        inits = {k: v for k, v in {**self.graph.initializers, **self.inits}.items() if k in used}
        wide = any(np.asarray(v).dtype in (np.int16, np.uint16) for v in self.inits.values())
        opset = max(self.graph.opset, 21 if wide else 13)  # 16-bit QuantizeLinear/DequantizeLinear need opset 21
        base = export_model(self.graph.replace(nodes=(), initializers={}), opset=opset)
        base.graph.ClearField("node")
        base.graph.node.extend(self.nodes)
        base.graph.initializer.extend(numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items())
        if self.bits:
            base.metadata_props.add(key=BITS_METADATA_KEY, value=json.dumps(self.bits, sort_keys=True))
        return base

    def report(self, values: dict[str, np.ndarray]) -> dict:
        layers = []
        for row in self.rows:
            enc_x = self.encodings[row["x"]]
            acc_bits = fixedpoint.accumulator_bits(enc_x.bits, row["weight_bits"], row["terms"] + 1)
            codes = row["weight_codes"]
            layers.append({
                "layer": row["layer"], "op": row["op"], "weight_bits": row["weight_bits"], "act_bits": enc_x.bits,
                "x_scale": enc_x.scale, "w_scale_min": float(row["w_scale"].min()), "w_scale_max": float(row["w_scale"].max()),
                "acc_bits": acc_bits, "sparsity": float(np.mean(codes == 0)), "distinct_weights": int(np.unique(codes).size),
            })
        acts = []
        for v, enc in self.encodings.items():
            x = values[v]
            real_lo, real_hi = enc.scale * (enc.qmin - enc.zero_point), enc.scale * (enc.qmax - enc.zero_point)
            clipped = float(np.mean((x < real_lo - enc.scale / 2) | (x > real_hi + enc.scale / 2)))
            acts.append({"value": v, "scale": enc.scale, "zero_point": enc.zero_point, "bits": enc.bits,
                         "signed": enc.signed, "clipped_fraction": clipped})
        return {"layers": layers, "activations": acts}


def _terms(node: Node, w: np.ndarray) -> int:
    if node.op in RECURRENT:
        return int(w.shape[2])
    if node.op == "Conv":
        return int(math.prod(w.shape[1:]))
    if node.op == "ConvTranspose":
        return int(w.shape[0] // int(node.attr("group", 1)) * math.prod(w.shape[2:]))
    return int(w.shape[1] if node.op == "Gemm" and node.attr("transB", 0) else w.shape[0])
