# amaranth: UnusedElaboratable=no
"""``hwaccel verify``: JSON report, exit status, errors, waves; the scoreboard finds a wrong code."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from hwaccel.build_dir import read_build
from hwaccel.cli import main
from hwaccel.hw.top import NetworkTop
from hwaccel.sim.bench_network import compare, make_case
from zoo_builds import zoo_build, zoo_inputs

KEYS = {"count", "bit_exact", "mismatches", "first_mismatches", "cycles_rtl", "cycles_model", "cycles_match",
        "simulator", "sim_seconds", "model_seconds", "images_per_s", "cycles_per_s", "failed"}


def _verify(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["verify", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_report_amaranth(capsys, tmp_path) -> None:
    """3 images through the compiled zoo CNN in amaranth.sim: bit-exact, cycles equal, waves written."""
    vcd = tmp_path / "cnn.vcd"
    code, out, err = _verify(capsys, str(zoo_build("cnn")), "--input", str(zoo_inputs("cnn", 100)), "--count", "3",
                             "--simulator", "amaranth", "--waves", str(vcd), "--json")
    report = json.loads(out)
    assert code == 0 and KEYS <= set(report), err
    assert (report["count"], report["bit_exact"], report["mismatches"], report["failed"]) == (3, True, 0, False)
    assert report["cycles_rtl"] == report["cycles_model"] and report["cycles_match"]
    assert vcd.stat().st_size > 0


def test_wrong_weights_fail_with_exit_1(capsys, tmp_path) -> None:
    """A build whose manifest lost a bias (the hardware no longer matches the model) is caught."""
    build = tmp_path / "cnn"
    shutil.copytree(zoo_build("cnn"), build)
    manifest = json.loads((build / "manifest.json").read_text())
    stage = manifest["dataflow"]["stages"][-1]
    stage["units"][0]["bias"][3] += 1000  # output channel 3 of the dense layer
    beat, lane = divmod(3, stage["lanes"])
    (build / "manifest.json").write_text(json.dumps(manifest))
    code, out, err = _verify(capsys, str(build), "--input", str(zoo_inputs("cnn", 100)), "--count", "2",
                             "--simulator", "amaranth")
    assert code == 1, err
    assert "codes differ against the golden model" in out and f"mismatch: input 0 beat {beat} lane {lane}:" in out


def test_compare_locates_a_wrong_code() -> None:
    df, _ = read_build(zoo_build("cnn"))
    top = NetworkTop(df)
    case = make_case(top, np.zeros((2,) + df.input.logical_shape, dtype=np.int64), 100)
    want = np.arange(20).reshape(2, 10, 1) - 5
    words = [int(v) & 0xFF for v in want.reshape(-1)]
    good = {"words": words, "out_cycles": list(range(50, 70)), "cycles": 71}
    assert compare(good, case, want)["bit_exact"] and compare(good, case, want)["cycles_rtl"] == 70
    words[13] ^= 4  # image 1, beat 3: 8 -> 12
    bad = compare({**good, "words": words}, case, want)
    assert (bad["bit_exact"], bad["mismatches"]) == (False, 1)
    assert bad["first_mismatches"] == [{"image": 1, "beat": 3, "lane": 0, "got": 12, "want": 8}]
    short = compare({**good, "words": words[:19], "out_cycles": list(range(19))}, case, want)
    assert short["mismatches"] == 2 and short["first_mismatches"][-1]["got"] is None


def test_errors(capsys, tmp_path) -> None:
    inputs = str(zoo_inputs("cnn", 100))
    code, _, err = _verify(capsys, str(tmp_path), "--input", inputs)
    assert code == 2 and f"{tmp_path}: not a build directory (no manifest.json)" in err
    build = tmp_path / "cnn"
    shutil.copytree(zoo_build("cnn"), build)
    (build / "model.qdq.onnx").unlink()
    code, _, err = _verify(capsys, str(build), "--input", inputs)
    assert code == 2 and "the compiled model 'model.qdq.onnx' is not in the build; give --model PATH" in err
    other = Path(__file__).resolve().parent.parent / "models" / "cnn.onnx"
    code, _, err = _verify(capsys, str(build), "--input", inputs, "--model", str(other))
    assert code == 2 and "model must be the one" in err and "was compiled from" in err
    shutil.copyfile(zoo_build("cnn") / "model.qdq.onnx", build / "model.qdq.onnx")
    code, _, err = _verify(capsys, str(build), "--input", inputs, "--count", "0", "--simulator", "amaranth")
    assert code == 2 and "count must be a positive integer, not 0" in err
    (build / "top.v").write_text((zoo_build("mlp") / "top.v").read_text())
    code, _, err = _verify(capsys, str(build), "--input", inputs, "--count", "1")
    assert code == 2 and "top.v: must be the top of this build's manifest" in err
