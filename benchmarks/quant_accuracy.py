"""Accuracy of the quantized zoo classifiers vs weight bits, pruning fraction and codebook size.

Golden-model accuracy on the held-out digits split; writes benchmarks/results/quant_accuracy.json
and quant_accuracy.png. Usage: python benchmarks/quant_accuracy.py [--models cnn mlp]
"""

from __future__ import annotations

import argparse

import numpy as np

from common import MODELS, RESULTS, calibration, split, write_json

from hwaccel.frontend import load_model
from hwaccel.frontend.qdq import lower_model
from hwaccel.frontend.quantize import QuantConfig, quantize_graph
from hwaccel.golden.float_executor import run_float
from hwaccel.golden.fixed import run_golden

WEIGHT_BITS = [2, 3, 4, 5, 6, 7, 8]
PRUNE = [0.0, 0.25, 0.5, 0.75, 0.9]
SHARE = [2, 4, 8, 16, 32]


def accuracy(name: str, **config) -> float:
    graph = load_model(MODELS / f"{name}.onnx")
    qdq, _ = quantize_graph(graph, {"input": calibration(name)}, QuantConfig(**config))
    _, _, x, y = split(name)
    return float(np.mean(run_golden(lower_model(qdq), {"input": x})["output"].argmax(1) == y))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", nargs="+", default=["mlp", "cnn", "dscnn", "resnet"])
    args = parser.parse_args()
    results = {}
    for name in args.models:
        _, _, x, y = split(name)
        float_acc = float(np.mean(run_float(load_model(MODELS / f"{name}.onnx"), {"input": x})["output"].argmax(1) == y))
        results[name] = {
            "float": float_acc,
            "weight_bits": {b: accuracy(name, weight_bits=b) for b in WEIGHT_BITS},
            "prune": {p: accuracy(name, prune=p) for p in PRUNE},
            "share": {k: accuracy(name, share=k) for k in SHARE},
        }
        print(name, results[name])
    write_json("quant_accuracy", {"metric": "top-1 accuracy on the 450 held-out digits (golden model, 8-bit activations)",
                                  "results": results})
    plot(results)


def plot(results: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 4), sharey=True)
    for name, r in results.items():
        axes[0].plot(list(r["weight_bits"]), list(r["weight_bits"].values()), marker="o", label=name)
        axes[1].plot(list(r["prune"]), list(r["prune"].values()), marker="o", label=name)
        axes[2].plot(list(r["share"]), list(r["share"].values()), marker="o", label=name)
    for ax, title, xlabel in zip(axes, ["weight bits", "magnitude pruning", "weight sharing"],
                                 ["weight bits (8-bit activations)", "pruned fraction", "codebook size"]):
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
    axes[2].set_xscale("log", base=2)
    axes[0].set_ylabel("accuracy (held-out digits)")
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(RESULTS / "quant_accuracy.png", dpi=120)
    print(f"wrote {RESULTS / 'quant_accuracy.png'}")


if __name__ == "__main__":
    main()
