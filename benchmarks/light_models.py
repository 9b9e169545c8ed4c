"""The ONNX wheel's nine ImageNet models (``onnx/backend/test/data/light``, issue 23): import cost and
float results against onnxruntime.

Each model runs twice: as shipped (every weight a ConstantOfShape fill, so all channels are equal
and the softmax output is exactly 1/1000 for any input) and with its weights replaced by seeded
random initializers (He-scaled conv/dense weights, batch-norm scales and variances in 0.5..1.5,
small biases) written to a real file: the import then reads hundreds of MB of weights and channel
order matters. Per model and variant: parameters, float32 weight bytes, ``hwaccel info`` wall
seconds and peak resident memory (a child process; VmHWM), that peak over the weight bytes (and
above the child's resident size after its imports), and on one seeded standard-normal input the
float executor against onnxruntime: the output, the logits (the Softmax input) and every value the
two graphs share (worst error relative to that value's largest magnitude). ``hwaccel run --engine
float`` runs as a command on the shipped files, its output compared with onnxruntime's and the
shipped ``light_*_output_0.pb``. Writes benchmarks/results/light_models.json.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from common import ROOT, write_json

from hwaccel.frontend import load_model
from hwaccel.golden.float_executor import run_float

from test_import_old_opsets import LIGHT, densify, weight_dims

NAMES = tuple(sys.argv[1:]) or ("bvlc_alexnet", "densenet121", "inception_v1", "inception_v2", "resnet50", "shufflenet", "squeezenet", "vgg19",
         "zfnet512")
RTOL = 1e-4
ort.set_default_logger_severity(3)  # not the warnings about the shipped files' unused initializers

_CHILD = """
import sys, time
from hwaccel.cli import main
import onnx.version_converter, hwaccel.commands.info, hwaccel.commands.run, hwaccel.frontend.onnx_import  # noqa: F401
import hwaccel.passes.pipeline, hwaccel.golden.float_executor, hwaccel.summary  # noqa: F401
def status(key):
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith(key + ":"))
start = time.perf_counter()
base = status("VmRSS")
code = main(sys.argv[1:])
print("RESULT", code, base, status("VmHWM"), time.perf_counter() - start)
"""


def _child(args: list[str]) -> dict:
    start = time.perf_counter()
    run = subprocess.run([sys.executable, "-c", _CHILD, *args], capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - start
    line = next((x for x in run.stdout.splitlines() if x.startswith("RESULT")), None)
    if run.returncode or line is None:
        raise RuntimeError(f"hwaccel {' '.join(args)} failed: {run.stderr.strip()[-500:]}")
    _, code, base, peak, inside = line.split()
    return {"seconds": round(wall, 2), "command_seconds": round(float(inside), 2), "peak_rss_mb": round(int(peak) / 1024, 1),
            "rss_after_imports_mb": round(int(base) / 1024, 1)}


def _error(got: np.ndarray, want: np.ndarray) -> dict:
    scale = float(np.max(np.abs(want))) or 1.0
    err = float(np.max(np.abs(got.astype(np.float64) - want)))
    close = bool(np.allclose(got, want, rtol=RTOL, atol=1e-5 * scale))
    return {"max_abs": err, "max_rel_to_scale": err / scale, "scale": scale, "allclose": close}


def compare(path: Path, model: onnx.ModelProto, x: np.ndarray) -> dict:
    """Float executor against onnxruntime: output, logits and every shared value."""
    graph = load_model(path)
    start = time.perf_counter()
    run_float(graph, {graph.inputs[0].name: x})
    seconds = time.perf_counter() - start
    produced = {o for n in model.graph.node for o in n.output}
    shared = [o for n in graph.nodes for o in n.outputs if o in produced]
    output = model.graph.output[0].name
    logits = next((n.input[0] for n in model.graph.node if n.op_type == "Softmax"), output)  # DenseNet-121: no Softmax
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    probe.graph.output.extend(helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in shared if n != output)
    session = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    want = dict(zip(names, session.run(None, {graph.inputs[0].name: x})))
    got = run_float(graph, {graph.inputs[0].name: x}, outputs=shared)
    worst = max(shared, key=lambda n: _error(got[n], want[n])["max_rel_to_scale"])
    return {"float_run_seconds": round(seconds, 2), "output": _error(got[output], want[output]),
            "logits": _error(got[logits], want[logits]), "shared_values": len(shared),
            "worst_shared": {"name": worst, **_error(got[worst], want[worst])}}


def main() -> None:
    results: dict[str, dict] = {}
    work = Path(tempfile.mkdtemp(prefix="light_models_"))
    for name in NAMES:
        path = LIGHT / f"light_{name}.onnx"
        model = onnx.load(path)
        params = sum(int(np.prod(d)) for d in weight_dims(model).values())
        x_name = next(i.name for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer})
        x = np.random.default_rng(0).standard_normal(
            [d.dim_value for i in model.graph.input if i.name == x_name for d in i.type.tensor_type.shape.dim]).astype(np.float32)
        entry: dict = {"params": params, "weight_bytes": 4 * params}
        np.save(work / f"{name}_x.npy", x)
        out = work / f"{name}_y.npy"
        cli = _child(["run", str(path), "--engine", "float", "-i", str(work / f"{name}_x.npy"), "-o", str(out), "--force"])
        want = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {x_name: x})[0]
        shipped = numpy_helper.to_array(onnx.load_tensor(LIGHT / f"light_{name}_output_0.pb"))
        y = np.load(out)
        entry["run_command"] = {**cli, "vs_onnxruntime": _error(y, want), "vs_shipped_output_0": _error(y.reshape(shipped.shape), shipped)}
        dense_path = work / f"dense_{name}.onnx"
        dense = densify(model)
        onnx.save(dense, dense_path)
        for variant, file, proto in (("shipped", path, model), ("random_weights", dense_path, dense)):
            info = _child(["info", str(file)])
            grown = info["peak_rss_mb"] - info["rss_after_imports_mb"]
            entry[variant] = {"file_mb": round(file.stat().st_size / 2**20, 1), "info": {
                **info, "peak_over_weight_bytes": round(info["peak_rss_mb"] * 2**20 / entry["weight_bytes"], 3),
                "growth_over_weight_bytes": round(grown * 2**20 / entry["weight_bytes"], 3)}, **compare(file, proto, x)}
        dense_path.unlink()
        results[name] = entry
        s, d = entry["shipped"], entry["random_weights"]
        print(f"{name:13s} {params / 1e6:6.1f} M params  info {s['info']['seconds']:5.2f} s {s['info']['peak_rss_mb']:7.1f} MB "
              f"({s['info']['peak_over_weight_bytes']:.2f}x) | random weights: info {d['info']['seconds']:5.2f} s "
              f"{d['info']['peak_rss_mb']:7.1f} MB ({d['info']['peak_over_weight_bytes']:.2f}x) logits rel err "
              f"{d['logits']['max_rel_to_scale']:.1e} worst shared {d['worst_shared']['max_rel_to_scale']:.1e} "
              f"run {d['float_run_seconds']:.2f} s", flush=True)
    write_json("light_models", {"rtol": RTOL, "atol": "1e-5 x the value's largest magnitude", "models": results})


if __name__ == "__main__":
    main()
