"""Verilog export: byte-identical across runs and processes, valid Verilog, typed errors."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hwaccel.errors import CompileError
from hwaccel.hw import FifoParams, MatVecParams, WindowParams, unit_for, verilog, write_verilog

PARAMS = [
    WindowParams(3, 5, 4, 3, 2, stride_h=2, dilation_w=2, pad_top=1, pad_left=1, pad_value=4, bits=6, simd=3),
    MatVecParams(10, 6, np.arange(60).reshape(6, 10) % 7 - 3, np.arange(6), pe=4, simd=3, x_zero_point=9),
    MatVecParams(4, 2, [[0, 1, 2, 1], [2, 2, 0, 1]], codebook=(-5, 0, 6), bits_w=4),
    FifoParams(9, 2, 12, True),
]

_SCRIPT = """
import sys, numpy as np
from hwaccel.hw import FifoParams, MatVecParams, WindowParams, unit_for, verilog
sys.stdout.write("\\n//----\\n".join(verilog(unit_for(p), "unit") for p in [{params}]))
"""


def _emit_in_subprocess(hash_seed: str) -> list[str]:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    script = _SCRIPT.format(params=", ".join(repr(p) for p in PARAMS))
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True).stdout
    return out.split("\n//----\n")


def test_same_params_same_bytes_across_processes() -> None:
    here = [verilog(unit_for(p), "unit") for p in PARAMS]
    assert here == [verilog(unit_for(p), "unit") for p in PARAMS]
    assert _emit_in_subprocess("1") == here
    assert _emit_in_subprocess("12345") == here


def test_different_params_different_text() -> None:
    texts = {verilog(unit_for(p), "unit") for p in PARAMS}
    texts.add(verilog(unit_for(FifoParams(10, 2, 12, True)), "unit"))
    assert len(texts) == len(PARAMS) + 1


def test_write_verilog_keeps_an_unchanged_file(tmp_path: Path) -> None:
    path = tmp_path / "rtl" / "w.v"
    assert write_verilog(unit_for(PARAMS[0]), path, "w") is True
    mtime = path.stat().st_mtime_ns
    assert write_verilog(unit_for(PARAMS[0]), path, "w") is False
    assert path.stat().st_mtime_ns == mtime and path.read_text() == verilog(unit_for(PARAMS[0]), "w")


def test_ports_are_the_flattened_streams() -> None:
    header = verilog(unit_for(PARAMS[3]), "fifo").split(";")[0]
    for port in ("clk", "rst", "i__valid", "i__ready", "i__payload", "o__valid", "o__ready", "o__payload"):
        assert port in header


@pytest.mark.skipif(shutil.which("iverilog") is None, reason="iverilog is not installed")
def test_emitted_verilog_compiles(tmp_path: Path) -> None:
    for k, params in enumerate(PARAMS):
        src = tmp_path / f"u{k}.v"
        write_verilog(unit_for(params), src, f"u{k}")
        subprocess.run(["iverilog", "-g2005", "-o", str(tmp_path / f"u{k}.vvp"), str(src)], check=True)


def test_errors() -> None:
    unit = unit_for(PARAMS[3])
    with pytest.raises(CompileError) as err:
        verilog(unit, "my-unit")
    assert str(err.value) == "module name must be a Verilog identifier, not 'my-unit'"
    assert "module ok(" in verilog(unit, "ok")
    with pytest.raises(CompileError) as err:
        unit_for(3)
    assert str(err.value) == ("params must be one of ['DepthToSpaceParams', 'DepthwiseParams', 'EltwiseAddParams', "
                              "'EltwiseConcatParams', 'FifoParams', 'MatVecParams', 'PoolParams', 'RecurrentParams', "
                              "'RegroupParams', 'RequantParams', 'UpsampleParams', 'WindowParams'], not 'int'")


def test_fast_conversion_gives_the_same_rtlil() -> None:
    from amaranth.back import rtlil

    from hwaccel.hw.emit import fast_conversion
    want = [rtlil.convert(unit_for(p), name="u", emit_src=False) for p in PARAMS]
    with fast_conversion():
        got = [rtlil.convert(unit_for(p), name="u", emit_src=False) for p in PARAMS]
    assert got == want
    assert [rtlil.convert(unit_for(p), name="u", emit_src=False) for p in PARAMS] == want  # restored


def test_unit_modules_split_and_ports() -> None:
    from hwaccel.hw.emit import module_ports, unit_modules
    modules = unit_modules([("fifo_a", unit_for(PARAMS[3])), ("mv_b", unit_for(PARAMS[1]))])
    assert {"fifo_a", "mv_b"} <= set(modules)
    assert all(text.endswith("endmodule\n") and "(* top" not in text for text in modules.values())
    assert set(module_ports(modules["fifo_a"])) >= {"clk", "rst", "i__valid", "o__payload"}
    with pytest.raises(CompileError):
        unit_modules([("a-b", unit_for(PARAMS[3]))])
