"""Shared machinery of the zoo scripts: determinism, the training loop, RBM pretraining,
ONNX export, MAC counting and reproducible .npz writing.

Used by models/train_zoo.py and tests/data/make_torch_models.py; needs torch (the ``train``
extra), never imported by the hwaccel package or its tests.
"""

from __future__ import annotations

import io
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import torch
from torch import nn

LossFn = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


def deterministic(seed: int) -> torch.Generator:
    """Seed torch, force deterministic kernels on one thread; return a generator seeded with ``seed``."""
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    return torch.Generator().manual_seed(seed)


def batches(n: int, size: int, gen: torch.Generator) -> list[torch.Tensor]:
    """Index tensors of one shuffled epoch over ``n`` samples in minibatches of ``size``."""
    return list(torch.randperm(n, generator=gen).split(size))


def fit(model: nn.Module, loss_fn: LossFn, x: np.ndarray, y: np.ndarray, *, epochs: int, gen: torch.Generator,
        lr: float = 1e-2, batch: int = 64, weight_decay: float = 0.0) -> float:
    """Train ``model`` with Adam and a cosine learning-rate decay; return the last epoch's mean loss.

    Parameters
    ----------
    model : torch.nn.Module
        Trained in place; left in eval mode.
    loss_fn : callable
        ``loss_fn(model, xb, yb)`` -> scalar loss of one minibatch.
    x, y : numpy.ndarray
        Inputs (already in the model's layout) and targets (labels or images).
    epochs, gen, lr, batch, weight_decay
        Number of passes, shuffling generator, Adam step size, minibatch size, L2 penalty.
    """
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    model.train()
    total = 0.0
    for _ in range(epochs):
        total = 0.0
        for idx in batches(len(xt), batch, gen):
            opt.zero_grad()
            loss = loss_fn(model, xt[idx], yt[idx])
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        sched.step()
    model.eval()
    return total / len(xt)


def pretrain_rbm(layer: nn.Linear, v: torch.Tensor, *, epochs: int, gen: torch.Generator, lr: float = 0.05,
                 momentum: float = 0.5, batch: int = 32) -> torch.Tensor:
    """Greedy RBM pretraining of one sigmoid layer with contrastive divergence (CD-1).

    The Bernoulli RBM's weights and hidden biases are ``layer.weight`` (hidden x visible) and
    ``layer.bias``, updated in place; the visible biases live only during pretraining.
    ``v`` holds visible probabilities in [0, 1]. Returns the hidden probabilities of ``v``,
    the data of the next layer of the stack.
    """
    w, bh = layer.weight.data, layer.bias.data
    bv = torch.zeros(w.shape[1])
    dw, dbh, dbv = torch.zeros_like(w), torch.zeros_like(bh), torch.zeros_like(bv)
    for _ in range(epochs):
        for idx in batches(len(v), batch, gen):
            v0 = v[idx]
            ph0 = torch.sigmoid(v0 @ w.T + bh)
            h0 = torch.bernoulli(ph0, generator=gen)
            pv1 = torch.sigmoid(h0 @ w + bv)
            ph1 = torch.sigmoid(pv1 @ w.T + bh)
            dw.mul_(momentum).add_((ph0.T @ v0 - ph1.T @ pv1) / len(idx), alpha=lr)
            dbh.mul_(momentum).add_((ph0 - ph1).mean(0), alpha=lr)
            dbv.mul_(momentum).add_((v0 - pv1).mean(0), alpha=lr)
            w += dw
            bh += dbh
            bv += dbv
    return torch.sigmoid(v @ w.T + bh)


def export_onnx(model: nn.Module, example: torch.Tensor, path: Path, *, keep_batchnorm: bool = False) -> None:
    """Export ``model`` (eval mode) with the TorchScript exporter, opset 17, dynamic batch axis "N".

    ``keep_batchnorm`` exports with ``TrainingMode.PRESERVE`` and no constant folding: the
    exporter then skips its Conv+BatchNorm fusion, so BatchNormalization nodes (with
    ``training_mode=0``) stay in the graph for the importer to fold. Non-batch output
    dimensions the exporter left symbolic are pinned to those of ``model(example)``.
    """
    model.eval()
    mode = torch.onnx.TrainingMode.PRESERVE if keep_batchnorm else torch.onnx.TrainingMode.EVAL
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy-exporter deprecation notices
        torch.onnx.export(
            model, (example,), str(path), dynamo=False, opset_version=17,
            input_names=["input"], output_names=["output"],
            dynamic_axes={"input": {0: "N"}, "output": {0: "N"}}, training=mode, do_constant_folding=not keep_batchnorm,
        )
    proto = onnx.load(path)
    with torch.no_grad():
        shape = model(example).shape
    dims = proto.graph.output[0].type.tensor_type.shape.dim
    if any(d.dim_param for d in dims[1:]):
        for d, size in zip(dims[1:], shape[1:]):
            d.dim_value = size  # clears the symbolic dim_param (a protobuf oneof)
        onnx.save(proto, path)


def count_params(model: nn.Module) -> int:
    """Number of trainable parameters (BatchNorm running statistics excluded)."""
    return sum(p.numel() for p in model.parameters())


def count_macs(model: nn.Module, example: torch.Tensor) -> int:
    """Multiply-accumulates of one inference of one sample, over Linear, Conv, ConvTranspose and LSTM.

    Activations, pooling, BatchNorm and additions are not counted. ConvTranspose counts one MAC
    per (input pixel, kernel tap, output channel), i.e. without the zeros of zero insertion.
    """
    macs = 0

    def hook(mod: nn.Module, inputs: tuple[torch.Tensor, ...], out: object) -> None:
        nonlocal macs
        x = inputs[0][:1]
        if isinstance(mod, nn.Linear):
            macs += x.numel() // mod.in_features * mod.in_features * mod.out_features
        elif isinstance(mod, nn.ConvTranspose2d):
            macs += x.numel() * mod.out_channels // mod.groups * int(np.prod(mod.kernel_size))
        elif isinstance(mod, nn.Conv2d):
            assert isinstance(out, torch.Tensor)
            macs += out[:1].numel() * mod.in_channels // mod.groups * int(np.prod(mod.kernel_size))
        elif isinstance(mod, nn.LSTM):
            assert mod.num_layers == 1 and not mod.bidirectional and mod.batch_first
            macs += x.shape[1] * 4 * mod.hidden_size * (mod.input_size + mod.hidden_size)

    kinds = (nn.Linear, nn.Conv2d, nn.ConvTranspose2d, nn.LSTM)
    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, kinds)]
    try:
        with torch.no_grad():
            model.eval()(example[:1])
    finally:
        for h in handles:
            h.remove()
    return macs


def save_npz(path: Path, **arrays: np.ndarray) -> None:
    """Write an uncompressed .npz like ``numpy.savez`` but byte-reproducible (fixed zip timestamps)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for name, arr in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(arr), allow_pickle=False)
            zf.writestr(zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0)), buf.getvalue())
