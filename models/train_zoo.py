"""Train, export and measure the model zoo on the digits split (run by hand; outputs are committed).

    .venv/bin/python -m pip install torch==2.13.0     # the CPU wheel (the ``train`` extra)
    .venv/bin/python models/train_zoo.py              # all models, about ten minutes on one core
    .venv/bin/python models/train_zoo.py cnn resnet   # a subset; other entries of metrics.json kept

Writes models/<name>.onnx, models/metrics.json, the metrics table of models/README.md,
models/digits_sample.npz, models/digits_calib.npz and models/generator_latents.npz. Every
metric is measured with onnxruntime on the exported file over the held-out split of
digits_data.load_split(). Training is seeded, single-threaded and uses deterministic kernels:
rerunning on the same machine and torch build reproduces the files byte for byte.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn.functional as F
from torch import nn

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import digits_data  # noqa: E402
import zoo_nets  # noqa: E402
from zoo_common import count_macs, count_params, deterministic, export_onnx, fit, pretrain_rbm, save_npz  # noqa: E402

SEED = 0
N_SAMPLE, N_CALIB = 16, 256


def cross_entropy(model: nn.Module, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
    """Classification loss on logits (``model.logits`` where the forward ends in softmax)."""
    logits = model.logits(xb) if isinstance(model, zoo_nets.MLP) else model(xb)
    return F.cross_entropy(logits, yb)


def reconstruction(model: nn.Module, xb: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared reconstruction error."""
    return F.mse_loss(model(xb), target)


def generator_part(model: nn.Module) -> nn.Module:
    """The generator of the trained encoder -> generator autoencoder."""
    assert isinstance(model, zoo_nets.GeneratorAutoencoder)
    return model.generator


def dbn_pretrain(model: nn.Module, x: torch.Tensor, gen: torch.Generator) -> None:
    """Greedy layer-wise CD-1 pretraining of the two sigmoid layers of the DBN."""
    first, second = [m for m in model.modules() if isinstance(m, nn.Linear)][:2]
    pretrain_rbm(second, pretrain_rbm(first, x, epochs=30, gen=gen), epochs=30, gen=gen)


@dataclass(frozen=True)
class Recipe:
    """How one zoo model is built, trained and exported."""

    build: Callable[[], nn.Module]
    layout: str  # key of digits_data.LAYOUTS: the layout of the training input
    metric: str  # "accuracy" or "mse"
    epochs: int
    lr: float = 1e-2
    weight_decay: float = 0.0
    keep_batchnorm: bool = False
    pretrain: Callable[[nn.Module, torch.Tensor, torch.Generator], None] | None = None
    exported: Callable[[nn.Module], nn.Module] = lambda m: m  # the part of the trained net exported


RECIPES: dict[str, Recipe] = {
    "mlp": Recipe(zoo_nets.MLP, "mlp", "accuracy", epochs=150, weight_decay=1e-4),
    "cnn": Recipe(zoo_nets.cnn, "cnn", "accuracy", epochs=150, weight_decay=1e-4),
    "autoencoder": Recipe(zoo_nets.autoencoder, "autoencoder", "mse", epochs=300),
    "dbn": Recipe(zoo_nets.dbn, "dbn", "accuracy", epochs=100, lr=3e-3, weight_decay=1e-4, pretrain=dbn_pretrain),
    "lstm": Recipe(zoo_nets.LSTMClassifier, "lstm", "accuracy", epochs=100, weight_decay=1e-4),
    "generator": Recipe(zoo_nets.GeneratorAutoencoder, "cnn", "mse", epochs=300, exported=generator_part),
    "resnet": Recipe(zoo_nets.resnet, "resnet", "accuracy", epochs=100, weight_decay=1e-4, keep_batchnorm=True),
    "dscnn": Recipe(zoo_nets.dscnn, "dscnn", "accuracy", epochs=100, weight_decay=1e-4),
}


def run_onnx(path: Path, x: np.ndarray) -> np.ndarray:
    """Run an ONNX file with onnxruntime (CPU, one thread) on ``x`` fed to input "input"."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    return sess.run(["output"], {"input": x})[0]


def measure(metric: str, out: np.ndarray, y: np.ndarray) -> float:
    """Accuracy of argmax over classes, or mean squared error against target images ``y``."""
    if metric == "accuracy":
        return float(np.mean(out.argmax(axis=1) == y))
    return float(np.mean((out.astype(np.float64) - y.reshape(out.shape)) ** 2))


def dims(value_info: onnx.ValueInfoProto) -> list[int | str]:
    """Shape of a graph input/output, symbolic dimensions as their names."""
    return [d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim]


def train_one(name: str, data: tuple[np.ndarray, ...]) -> dict[str, object]:
    """Train, export and measure one model; return its metrics.json entry."""
    x_train, y_train, x_test, y_test = data
    r = RECIPES[name]
    gen = deterministic(SEED)
    model = r.build()
    xin = digits_data.to_layout(x_train, r.layout)
    if r.pretrain is not None:
        r.pretrain(model, torch.from_numpy(xin), gen)
    target = y_train if r.metric == "accuracy" else xin
    loss_fn = cross_entropy if r.metric == "accuracy" else reconstruction
    loss = fit(model, loss_fn, xin, target, epochs=r.epochs, gen=gen, lr=r.lr, weight_decay=r.weight_decay)

    net = r.exported(model)
    x_eval = digits_data.to_layout(x_test, r.layout)
    extra: dict[str, object] = {}
    if isinstance(model, zoo_nets.GeneratorAutoencoder):  # it decodes the encoder's codes of the test images
        with torch.no_grad():
            x_eval = model.encoder(torch.from_numpy(x_eval)).numpy()
        save_npz(HERE / "generator_latents.npz", input=x_eval)
    path = HERE / f"{name}.onnx"
    export_onnx(net, torch.from_numpy(x_eval[:2]), path, keep_batchnorm=r.keep_batchnorm)
    proto = onnx.load(path)
    onnx.checker.check_model(proto)
    ops = sorted({n.op_type for n in proto.graph.node})
    if r.keep_batchnorm and "BatchNormalization" not in ops:
        raise RuntimeError(f"{name}: the exporter fused BatchNormalization away")

    out = run_onnx(path, x_eval)
    with torch.no_grad():
        ref = net(torch.from_numpy(x_eval)).numpy()
    if not np.allclose(out, ref, rtol=1e-4, atol=1e-5):
        raise RuntimeError(f"{name}: onnxruntime disagrees with torch by {np.abs(out - ref).max()}")
    value = measure(r.metric, out, y_test if r.metric == "accuracy" else x_test)
    if name == "generator" and (HERE / "cnn.onnx").exists():  # are the reconstructions recognisable digits?
        extra["cnn_accuracy_on_generated"] = measure("accuracy", run_onnx(HERE / "cnn.onnx", out), y_test)
    return {
        "file": path.name, "input_shape": dims(proto.graph.input[0]), "output_shape": dims(proto.graph.output[0]),
        "params": count_params(net), "macs": count_macs(net, torch.from_numpy(x_eval[:1])),
        "metric": r.metric, "value": value, "final_train_loss": round(loss, 6), "epochs": r.epochs,
        "ops": ops, **extra,
    }


def table(models: dict[str, dict]) -> str:
    """Markdown table of the metrics (written into README.md between the zoo-table markers)."""
    rows = ["| model | input | output | params | MACs | metric | value |", "|---|---|---|---:|---:|---|---:|"]
    for name, m in models.items():
        shape_in = "(" + ", ".join(map(str, m["input_shape"])) + ")"
        shape_out = "(" + ", ".join(map(str, m["output_shape"])) + ")"
        value = f"{100 * m['value']:.2f} %" if m["metric"] == "accuracy" else f"{m['value']:.5f}"
        cells = [name, shape_in, shape_out, m["params"], m["macs"], m["metric"], value]
        rows.append("| " + " | ".join(map(str, cells)) + " |")
    return "\n".join(rows)


def write_outputs(models: dict[str, dict], data: tuple[np.ndarray, ...]) -> None:
    """metrics.json, the README table and the sample / calibration inputs."""
    x_train, y_train, x_test, y_test = data
    doc = {
        "split": {"source": "sklearn.datasets.load_digits", "test_size": digits_data.TEST_SIZE,
                  "random_state": digits_data.SPLIT_SEED, "stratify": True, "pixel_scale": "1/16",
                  "n_train": len(x_train), "n_test": len(x_test)},
        "torch": torch.__version__, "onnxruntime": ort.__version__,
        "models": {k: models[k] for k in RECIPES if k in models},
    }
    (HERE / "metrics.json").write_text(json.dumps(doc, indent=2) + "\n")
    readme = HERE / "README.md"
    text = readme.read_text()
    block = f"<!-- zoo-table:begin -->\n{table(doc['models'])}\n<!-- zoo-table:end -->"
    readme.write_text(re.sub(r"<!-- zoo-table:begin -->.*?<!-- zoo-table:end -->", lambda _: block, text, flags=re.S))
    save_npz(HERE / "digits_sample.npz", input=digits_data.to_layout(x_test[:N_SAMPLE], "cnn"), label=y_test[:N_SAMPLE])
    save_npz(HERE / "digits_calib.npz", input=digits_data.to_layout(x_train[:N_CALIB], "cnn"))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", help=f"models to train, of {', '.join(RECIPES)} (default: all)")
    names = parser.parse_args(argv).models or list(RECIPES)
    unknown = sorted(set(names) - set(RECIPES))
    if unknown:
        parser.error(f"models must be among {list(RECIPES)}, not {unknown!r}")
    data = digits_data.load_split()
    metrics_path = HERE / "metrics.json"
    models = json.loads(metrics_path.read_text())["models"] if metrics_path.exists() else {}
    for name in RECIPES:
        if name in names:
            models[name] = train_one(name, data)
            m = models[name]
            print(f"{name:12s} params {m['params']:6d}  MACs {m['macs']:7d}  {m['metric']} {m['value']:.6f}")
    write_outputs(models, data)


if __name__ == "__main__":
    main()
