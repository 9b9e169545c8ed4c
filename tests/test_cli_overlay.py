"""``hwaccel compile --weights external``: an overlay build of the zoo resnet, read back by
``simulate`` (text, JSON, roofline) and refused by the commands that need a streaming build."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hwaccel.cli import main
from hwaccel.frontend.fixed_model import fixed_model
from hwaccel.passes.overlay_layers import overlay_layers
from hwaccel.perf.memory import MEMORIES
from hwaccel.perf.overlay import choose_array

from zoo_data import MODELS, calibration


@pytest.fixture(scope="module")
def overlay(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("overlay")
    np.save(root / "calib.npy", calibration("resnet"))
    out = root / "b"
    assert main(["compile", str(MODELS / "resnet.onnx"), "--calib", str(root / "calib.npy"), "-o", str(out),
                 "--weights", "external", "--memory", "ddr3-1600-x16", "--fpga", "ecp5-25k", "--dsp", "40"]) == 0
    return root, out


def test_simulate_reports_the_schedule_of_the_compiled_array(overlay, capsys):
    root, out = overlay
    capsys.readouterr()
    assert main(["simulate", str(out), "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["architecture"] == "overlay" and got["fpga"] == "ecp5-25k"
    assert got["multipliers"] + 2 * got["rows"] <= 40  # the --dsp budget, requantizers included
    fixed, _ = fixed_model(str(MODELS / "resnet.onnx"), str(root / "calib.npy"))
    layers = overlay_layers(fixed)
    again = choose_array(layers, 40, 56 * 18 * 1024 // 8, MEMORIES["ddr3-1600-x16"].port(100.0), row_cost=2)
    assert (got["rows"], got["cols"], got["cycles"]) == (again.rows, again.cols, again.cycles)
    assert got["weight_bytes"] == sum(l.weight_bytes for l in layers)
    assert got["bytes_per_inference"] == got["weight_bytes"] + got["activation_bytes"]
    assert {l["bound"] for l in got["layers"]} <= {"compute", "memory"}
    assert [l["name"] for l in got["layers"]] == [l.name for l in layers]
    manifest = json.loads((out / "manifest.json").read_text())["external_memory"]
    assert (out / manifest["file"]).stat().st_size == manifest["bytes"]
    assert sum(r["weight_bytes"] + r["bias_bytes"] for r in manifest["regions"]) == got["weight_bytes"]


def test_roofline_and_text(overlay, capsys):
    root, out = overlay
    assert main(["simulate", str(out), "--plot", str(root / "roof.png")]) == 0
    text = capsys.readouterr().out
    assert "of the multiplier bound" in text and "not generated yet" in text
    assert (root / "roof.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["simulate", str(out), "--plot", str(root / "roof.png")]) == 2  # no overwrite without --force


def test_streaming_commands_refuse_an_overlay_build(overlay, capsys):
    root, out = overlay
    np.save(root / "x.npy", calibration("resnet")[:1])
    assert main(["verify", str(out), "-i", str(root / "x.npy")]) == 2
    assert "overlay build" in capsys.readouterr().err
    assert main(["simulate", str(out), "--batch", "4"]) == 2
    assert main(["compile", str(MODELS / "resnet.onnx"), "--calib", str(root / "calib.npy"), "-o", str(out),
                 "--weights", "external"]) == 2  # exists, no --force
    capsys.readouterr()
    for bad in (["--memory", "fast"], ["--fpga", "xc7"], ["--luts", "1000"]):
        assert main(["compile", str(MODELS / "resnet.onnx"), "--calib", str(root / "calib.npy"), "-o", str(root / "c"),
                     "--weights", "external", *bad]) == 2
        assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_the_part_must_hold_a_streaming_design(overlay, capsys):
    """The zoo resnet's streaming design needs 77 iCE40 block RAMs (30 on the part): given --fpga, that
    is a one-line error naming the largest stages; --weights auto goes to the overlay instead; the
    default part (ECP5-85k) holds it and the JSON says so."""
    root, _ = overlay
    args = ["compile", str(MODELS / "resnet.onnx"), "--calib", str(root / "calib.npy"), "--force"]
    capsys.readouterr()
    assert main([*args, "-o", str(root / "ice"), "--fpga", "ice40-up5k"]) == 2
    err = capsys.readouterr().err
    assert "SB_RAM40_4K" in err and "ice40-up5k has 30" in err and "--weights external" in err
    assert main([*args, "-o", str(root / "auto"), "--fpga", "ice40-up5k", "--weights", "auto", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["architecture"] == "overlay" and got["multipliers"] + 2 * got["rows"] <= 8
    assert main([*args, "-o", str(root / "ecp5"), "--weights", "auto", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert "architecture" not in got and got["memory_map"]["fits"] and got["memory_map"]["fpga"] == "ecp5-85k"


def test_estimate_gives_an_overlay_its_asic_figures_and_refuses_place_and_route(overlay, capsys):
    _, out = overlay
    capsys.readouterr()
    assert main(["estimate", str(out), "--asic", "28nm", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)["asic"]
    simulated = main(["simulate", str(out), "--json"]) == 0 and json.loads(capsys.readouterr().out)
    assert got["off_chip_bytes"] == simulated["bytes_per_inference"] and got["macs"] == simulated["macs"]
    assert got["energy_breakdown_nJ"]["off_chip"] > 0 and got["label"] == "estimate"
    assert main(["estimate", str(out), "--fpga", "ecp5-85k"]) == 2
    assert "no RTL to place and route" in capsys.readouterr().err
