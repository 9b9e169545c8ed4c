"""ConvTranspose MAC utilization in the cycle model's report: a transposed conv's stage spends its
multipliers' cycles on its true MACs (the (input, tap) pairs that land on a kept output), at least
90 % on the zoo generator and the DCGAN-style generator at the default compile settings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hwaccel.api.compiler import compile_model
from hwaccel.cli import main
from hwaccel.passes.fold_lanes import FoldTarget
from hwaccel.perf.model import CycleReport, LayerReport
from hwaccel.units import MatVecParams
from hwaccel.units.dataflow import Dataflow

from test_generator_hw import LATENTS, dcgan
from zoo_data import MODELS


def _compiled(model: Path, calib: Path | None) -> tuple[Dataflow, CycleReport]:
    df, _, report, _ = compile_model(model, calib, FoldTarget(), "t")  # what `hwaccel compile` does by default
    return df, report


def _transposed(df: Dataflow, report: CycleReport) -> list[LayerReport]:
    names = {s.name for s in df.stages if s.kind == "conv" and "ConvTranspose" in s.source[0]}
    return [l for l in report.layers if l.name in names]


@pytest.fixture(scope="module")
def dcgan_q(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dcgan_util")
    model = dcgan(out / "dcgan.onnx")
    np.savez(out / "calib.npz", input=np.random.default_rng(0).standard_normal((64, 8)).astype(np.float32))
    assert main(["quantize", str(model), "--calib", str(out / "calib.npz"), "-o", str(out / "q.onnx")]) == 0
    return out / "q.onnx"


def test_zoo_generator_transposed_convs_reach_90_percent() -> None:
    df, report = _compiled(MODELS / "generator.onnx", LATENTS)
    layers = _transposed(df, report)
    assert len(layers) == 2
    for l in layers:
        assert l.stage_mac_utilization == l.macs / (l.mac_multipliers * l.interval_cycles)
        assert l.stage_mac_utilization >= 0.9, (l.name, l.stage_mac_utilization)


def test_dcgan_transposed_convs_reach_90_percent(dcgan_q: Path) -> None:
    df, report = _compiled(dcgan_q, None)
    layers = _transposed(df, report)
    assert len(layers) == 3
    assert all(l.stage_mac_utilization >= 0.9 for l in layers), [(l.name, l.stage_mac_utilization) for l in layers]
    assert report.to_dict()["layers"][df.stages.index(next(s for s in df.stages if s.name == layers[0].name))][
        "stage_mac_utilization"] == layers[0].stage_mac_utilization


def test_utilization_by_hand(dcgan_q: Path) -> None:
    """The first ConvTranspose, 16 -> 8 channels, 1x1 -> 2x2, kernel 4, stride 2, pad 1: of each
    axis's 4 taps on the one input, taps 1 and 2 land on the 2 outputs, so 2 * 2 * 16 * 8 = 512
    true MACs; its MatVec (one vector an image) spends ``vector_cycles`` on them with
    ``mac_multipliers`` multipliers."""
    df, report = _compiled(dcgan_q, None)
    stage = next(s for s in df.stages if s.kind == "conv" and "ConvTranspose" in s.source[0])
    layer = next(l for l in report.layers if l.name == stage.name)
    mv = stage.unit(MatVecParams)
    assert mv is not None and (mv.out_features, mv.in_features) == (4 * 8, 16)  # 4 output pixels of 8, 16 inputs
    assert layer.macs == 512 and layer.interval_cycles == mv.vector_cycles
    assert layer.stage_mac_utilization == pytest.approx(512 / (mv.mac_multipliers() * mv.vector_cycles))
