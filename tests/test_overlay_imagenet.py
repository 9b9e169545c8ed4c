"""Issue 23's ResNet-50 criterion on the overlay: the light ResNet-50 of the onnx wheel, quantized
on 8 random images, on a ZU9EG-class budget (2,520 DSP slices, 912 BRAM36) with DDR4-2400 x64 at
300 MHz reaches >= 80 % of its multiplier bound, and every convolution needs less than 19.2 GB/s."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from hwaccel.api import quantize
from hwaccel.api.overlay import REQUANT_MULTIPLIERS, onchip_bytes
from hwaccel.frontend.fixed_model import fixed_model
from hwaccel.passes.overlay_layers import overlay_layers
from hwaccel.perf.memory import MEMORIES
from hwaccel.perf.overlay import choose_array

LIGHT = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"


@pytest.mark.slow
def test_resnet50_on_a_zu9eg_budget_reaches_80_percent_of_its_multiplier_bound(tmp_path):
    np.save(tmp_path / "calib.npy", np.random.default_rng(0).standard_normal((8, 3, 224, 224)).astype(np.float32))
    q = quantize(LIGHT / "light_resnet50.onnx", tmp_path / "calib.npy", output=tmp_path / "r50.qdq.onnx")
    layers = overlay_layers(fixed_model(str(q.output), None)[0])
    assert sum(l.macs for l in layers) == pytest.approx(4.09e9, rel=0.01)
    r = choose_array(layers, 2520, onchip_bytes("zu9eg"), MEMORIES["ddr4-2400-x64"].port(300.0), row_cost=REQUANT_MULTIPLIERS)
    assert r.multipliers + REQUANT_MULTIPLIERS * r.rows <= 2520
    assert r.bound_fraction >= 0.8
    assert all(l.need_gbytes_per_s < 19.2 for l in r.layers if l.kind == "conv")
    slow = choose_array(layers, 156, onchip_bytes("ecp5-85k"), MEMORIES["ddr3-1600-x16"].port(100.0), row_cost=REQUANT_MULTIPLIERS)
    assert slow.memory_bound_layers > 0 and 0 < slow.bound_fraction <= 1  # spills and their bound, stated
