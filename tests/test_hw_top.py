# amaranth: UnusedElaboratable=no
"""NetworkTop: hand-built networks (conv -> maxpool -> dense; a residual block with forks and a
skip FIFO) against golden unit models composed by hand and the cycle model, in amaranth.sim and
on Verilator/Icarus with and without random stalls; the lockstep fork; the watchdog; Verilog
determinism; the compiled zoo models on Verilator (100 digits images against the golden executor
and the cycle model, and with random top-level stalls)."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.hdl import ClockDomain, Module, unsigned
from amaranth.lib import wiring

from hwaccel import fixedpoint as fp
from hwaccel.errors import CompileError, SimulationError
from hwaccel.golden.eltwise import add
from hwaccel.golden.matvec import matvec
from hwaccel.golden.pool import max_pool
from hwaccel.golden.window import sliding_windows
from hwaccel.hw.emit import verilog
from hwaccel.units import EltwiseAddParams, FifoParams, MatVecParams, PoolParams, RequantParams, WindowParams
from hwaccel.hw.stream import lanes_stream
from hwaccel.hw.top import NetworkTop, StreamFork, emit_verilog, stream_beats
from hwaccel.build_dir import read_build
from hwaccel.sim.verify import fixed_graph, verify_build
from hwaccel.golden.fixed import run_golden
from hwaccel.units.dataflow import INPUT, OUTPUT, Dataflow, Edge, Encoding, Port, Stage
from hwaccel.perf.network import simulate
from hwaccel.sim.bench_network import compare, make_case, run_pysim, stall_pattern
from hwaccel.sim.network_rtl import run_rtl
from hwaccel.sim.harness import Port as BenchPort
from hwaccel.sim.harness import UnitCase
from hwaccel.sim.pysim import run_pysim as run_unit_pysim
from hwaccel.sim.runner import SIMULATORS, simulator_missing
from zoo_builds import zoo_build, zoo_inputs
from zoo_data import split

STALLS = (1.0, 1.0), (0.5, 0.3)  # (valid_prob, ready_prob) at the top level
ZOO = ("cnn", "mlp", "resnet", "dscnn", "autoencoder", "dbn")  # the zoo models that compile


def _codes(bits: int = 8, signed: bool = False, zero_point: int = 0) -> Encoding:
    return Encoding(bits, signed, zero_point, 1.0)


def _image_port(c: int, h: int, w: int, lanes: int, enc: Encoding) -> Port:
    return Port("x", (h, w, c), enc, lanes, ((c, h, w), (1, 2, 0)), (c, h, w))


def _conv(rng: np.random.Generator, name: str, src: str, c_in: int, c_out: int, hw: int, zp_in: int, zp_out: int,
          pe: int, simd: int) -> tuple[Stage, object]:
    """A 3x3 'same' conv stage and its golden function ``(H, W, C) -> (H, W, c_out)`` from unit golden models."""
    win = WindowParams(c_in, hw, hw, 3, 3, pad_top=1, pad_left=1, pad_bottom=1, pad_right=1, pad_value=zp_in, simd=simd)
    weights, bias = rng.integers(-128, 128, (c_out, 9 * c_in)), rng.integers(-500, 500, c_out)
    mv = MatVecParams(9 * c_in, c_out, weights, bias, pe=pe, simd=simd, x_zero_point=zp_in)
    rq = fp.Requant(rng.integers(1 << 14, 1 << 15, c_out), np.full(c_out, 24), zp_out, 0, 255)
    stage = Stage(name, "conv", (win, mv, RequantParams.from_requant(rq, mv.acc_bits, 8, False, lanes=pe)), (src,),
                  (hw, hw, c_out), _codes(zero_point=zp_out))

    def golden(x: np.ndarray) -> np.ndarray:
        windows = sliding_windows(x, (3, 3), pads=(1, 1, 1, 1), pad_value=zp_in).reshape(hw * hw, 9 * c_in)
        return rq.apply(matvec(windows, weights, bias, zp_in), channel_axis=1).reshape(hw, hw, c_out)

    return stage, golden


def small_cnn(rng: np.random.Generator) -> tuple[Dataflow, object]:
    """conv 3x3 (2 -> 4 channels, 6x6) -> maxpool 2x2/2 -> dense 36 -> 5 raw accumulators."""
    conv, conv_golden = _conv(rng, "conv", INPUT, 2, 4, 6, 3, 0, pe=2, simd=2)
    pool = (WindowParams(4, 6, 6, 2, 2, stride_h=2, stride_w=2, simd=2), PoolParams("max", 4, 8, False, channels=4, lanes=2))
    weights = rng.integers(-128, 128, (5, 36))
    dense = MatVecParams(36, 5, weights, None, pe=1, simd=2)
    acc = _codes(dense.acc_bits, True)
    stages = (conv, Stage("pool", "maxpool", pool, ("conv",), (3, 3, 4), _codes()),
              Stage("fc", "dense", (dense,), ("pool",), (1, 1, 5), acc))
    edges = (Edge(INPUT, "conv"), Edge("conv", "pool"), Edge("pool", "fc"), Edge("fc", OUTPUT))
    df = Dataflow("small_cnn", _image_port(2, 6, 6, 2, _codes(zero_point=3)), Port("y", (1, 1, 5), acc, 1, ((5,), (0,)), (5,)),
                  stages, edges, "x", ("y",))

    def golden(image: np.ndarray) -> np.ndarray:
        y = conv_golden(image.transpose(1, 2, 0))
        z = max_pool(sliding_windows(y, (2, 2), (2, 2)).reshape(9, 4, 4))
        return matvec(z.reshape(1, 36), weights)[0]

    return df, golden


def residual(rng: np.random.Generator, skip_depth: int = 64) -> tuple[Dataflow, object]:
    """c0 -> c1 -> c2, add(c2, c0): a fork after c0, FIFOs on both fork branches and into the add."""
    c0, g0 = _conv(rng, "c0", INPUT, 2, 4, 5, 7, 5, pe=2, simd=2)
    c1, g1 = _conv(rng, "c1", "c0", 4, 4, 5, 5, 9, pe=4, simd=2)
    c2, g2 = _conv(rng, "c2", "c1", 4, 4, 5, 9, 11, pe=2, simd=4)
    rq = fp.Requant(np.array([1]), np.array([6]), 3, 0, 255)
    adder = EltwiseAddParams(8, False, 11, 37, 8, False, 5, -50, RequantParams.from_requant(rq, 24, 8, False, 2, lanes=2), 2)
    out = _codes(zero_point=3)
    stages = (c0, c1, c2, Stage("add", "add", (adder,), ("c2", "c0"), (5, 5, 4), out))
    fifo = lambda depth: FifoParams(depth, 2, 8, False)  # noqa: E731
    edges = (Edge(INPUT, "c0"), Edge("c0", "c1", 0, fifo(4)), Edge("c1", "c2"), Edge("c2", "add", 0, fifo(4)),
             Edge("c0", "add", 1, fifo(skip_depth)), Edge("add", OUTPUT))
    df = Dataflow("residual", _image_port(2, 5, 5, 2, _codes(zero_point=7)), _image_port(4, 5, 5, 2, out), stages, edges, "x", ("y",))

    def golden(image: np.ndarray) -> np.ndarray:
        y0 = g0(image.transpose(1, 2, 0))
        return add(g2(g1(y0)), y0, 11, 5, 37, -50, rq).transpose(2, 0, 1)

    return df, golden


def _setup(build, seed: int, count: int) -> tuple[Dataflow, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    df, golden = build(rng)
    images = rng.integers(0, 256, (count,) + df.input.logical_shape)
    images[0] = 0 if count > 1 else images[0]  # an all-zero image: padding and zero points everywhere
    return df, images, df.output.to_stream(np.array([golden(im) for im in images]))


def _check(df: Dataflow, result: dict, case, want: np.ndarray) -> dict:
    report = compare(result, case, want)
    assert report["bit_exact"], report["first_mismatches"]
    assert report["cycles_rtl"] == case.cycles_model
    return report


def _model_cycles(df: Dataflow, count: int, stalls: tuple[float, float], seed: int) -> int:
    """The cycle model's total under the bench's stall patterns."""
    return simulate(df, count, valid=stall_pattern(stalls[0], seed, 0), ready=stall_pattern(stalls[1], seed, 1)).cycles


def test_stream_beats_by_hand() -> None:
    df, _ = small_cnn(np.random.default_rng(0))
    # 6x6x2 image in 2-lane beats = 36; 3x3 windows of 36 pixels x 1 group = 324; 36 vectors x 2 output
    # folds = 72 (requant too); 2x2 pool windows of 9 pixels x 2 groups = 72 -> 18; dense: 5 x 1 lane
    assert stream_beats(df, 1) == {"conv/0:WindowParams": 324, "conv/1:MatVecParams": 72, "conv/2:RequantParams": 72,
                                   "pool/0:WindowParams": 72, "pool/1:PoolParams": 18, "fc/0:MatVecParams": 5}
    assert stream_beats(df, 3)["fc/0:MatVecParams"] == 15
    res, _ = residual(np.random.default_rng(0))
    assert NetworkTop(res).probe_names[:4] == ["c0/0:WindowParams", "c0/1:MatVecParams", "c0/2:RequantParams", "c1/fifo0"]
    assert stream_beats(res, 2)["add/fifo1"] == 2 * 5 * 5 * 4 // 2


class _ClockedFork(wiring.Component):
    """A StreamFork (no registers of its own) in a design with a ``sync`` domain, for amaranth.sim."""

    def __init__(self) -> None:
        self.fork = StreamFork(lanes_stream(unsigned(8), 1), 2)
        super().__init__(self.fork.signature)

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.domains.sync = ClockDomain()
        m.submodules.fork = self.fork
        wiring.connect(m, wiring.flipped(self.i), self.fork.i)
        for k in range(2):
            wiring.connect(m, getattr(self.fork, f"o{k}"), wiring.flipped(getattr(self, f"o{k}")))
        return m


def test_fork_is_lockstep() -> None:
    """Both branches take every beat in the same cycle, also under random ready patterns."""
    beats = [[v] for v in range(20)]
    port = BenchPort(8, 1, False, beats)
    case = UnitCase("fork", {"i": port}, {"o0": port, "o1": port}, 0, len(beats))
    for outcome in run_unit_pysim(_ClockedFork(), case):
        assert outcome.monitors["o0"].cycles == outcome.monitors["o1"].cycles


@pytest.mark.parametrize("stalls", STALLS)
@pytest.mark.parametrize("build", [small_cnn, residual])
def test_network_pysim(build, stalls: tuple[float, float]) -> None:
    df, images, want = _setup(build, 1, 3)
    case = make_case(NetworkTop(df), images, _model_cycles(df, 3, stalls, 5), *stalls, seed=5)
    _check(df, run_pysim(NetworkTop(df), case), case, want)


def test_watchdog_names_the_stalled_stage() -> None:
    """A skip FIFO too small for the block's latency deadlocks; the error says where."""
    df, images, _ = _setup(lambda rng: residual(rng, skip_depth=4), 1, 2)
    case = make_case(NetworkTop(df), images, 1500)
    with pytest.raises(SimulationError) as err:
        run_pysim(NetworkTop(df), case)
    message = str(err.value)
    assert "the FIFO into 'c1' port 0 stopped its output stream after 4 of 100 beats (valid=0, ready=1)" in message
    assert "held by backpressure (valid=1, ready=0): c0/0:WindowParams" in message and "add/fifo1" in message
    with pytest.raises(SimulationError, match="deadlock"):  # the cycle model agrees that it deadlocks
        simulate(df, 2)


def test_errors() -> None:
    df, _ = small_cnn(np.random.default_rng(0))
    with pytest.raises(CompileError) as err:
        NetworkTop(df.replace(edges=df.edges[:1] + df.edges[2:]))
    assert str(err.value) == "stage 'pool' must be fed on ports [0], not []"
    wide = df.stages[2].units[0].__class__(36, 5, np.ones((5, 36), dtype=np.int64), pe=1, simd=4)
    bad = df.replace(stages=df.stages[:2] + (Stage("fc", "dense", (wide,), ("pool",), (1, 1, 5), df.stages[2].encoding),))
    with pytest.raises(CompileError) as err:
        NetworkTop(bad).elaborate(None)
    assert str(err.value) == ("stream 'pool' -> 'fc' port 0 must carry ArrayLayout(unsigned(8), 4), "
                              "not ArrayLayout(unsigned(8), 2)")


def test_emit_is_deterministic(tmp_path) -> None:
    df, _ = residual(np.random.default_rng(3))
    (a,) = emit_verilog(df, tmp_path / "a")
    (b,) = emit_verilog(residual(np.random.default_rng(3))[0], tmp_path / "b")
    assert a.read_bytes() == b.read_bytes() and a.name == "top.v"
    text = a.read_text()
    assert "module top(" in text and "probe" in text and text.count("\nmodule ") >= 10
    (c,) = emit_verilog(df, tmp_path / "c", workers=2)
    (d,) = emit_verilog(df, tmp_path / "d", workers=1)
    assert c.read_bytes() == d.read_bytes() == a.read_bytes()


@pytest.mark.rtl
@pytest.mark.parametrize("simulator", SIMULATORS)
@pytest.mark.parametrize("build", [small_cnn, residual])
def test_network_rtl(build, simulator: str, tmp_path) -> None:
    """Each design built once; runs without and with random stalls; 12 images back to back."""
    if reason := simulator_missing(simulator):
        pytest.skip(reason)
    df, images, want = _setup(build, 2, 12)
    text = emit_verilog(df, tmp_path)[0].read_text()  # units as modules of their own, instantiated by top
    for k, stalls in enumerate(STALLS):
        case = make_case(NetworkTop(df), images, _model_cycles(df, 12, stalls, k), *stalls, seed=k)
        _check(df, run_rtl(text, case, simulator, f"top_{df.name}", progress=False), case, want)


@pytest.mark.rtl
@pytest.mark.slow
@pytest.mark.parametrize("name", ZOO)
def test_zoo_verilator(name: str) -> None:
    """100 digits test images back to back: every output code equals golden, cycles equal the model."""
    if reason := simulator_missing("verilator"):
        pytest.skip(reason)
    report = verify_build(zoo_build(name), str(zoo_inputs(name, 100)), simulator="verilator", progress=False)
    assert report["count"] == 100 and report["mismatches"] == 0 and report["bit_exact"]
    assert report["cycles_rtl"] == report["cycles_model"]


@pytest.mark.rtl
@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet", "cnn"])
def test_zoo_random_stalls_verilator(name: str) -> None:
    """Random valid/ready stalls at the top level of a compiled model (reusing its Verilator build):
    still bit-exact against golden, and the cycle model driven by the same stall sequence agrees."""
    if reason := simulator_missing("verilator"):
        pytest.skip(reason)
    build = zoo_build(name)
    df, manifest = read_build(build)
    graph = fixed_graph(build, manifest)
    values = run_golden(graph, {"input": split(name)[2][:10]}, outputs=[df.input.value, df.output.value])
    top = NetworkTop(df)
    for seed, stalls in enumerate([(0.5, 0.3), (0.9, 0.05)]):
        case = make_case(top, values[df.input.value], _model_cycles(df, 10, stalls, seed), *stalls, seed=seed)
        result = run_rtl((build / "top.v").read_text(), case, "verilator", f"verify_{df.name}", progress=False)
        _check(df, result, case, df.output.to_stream(values[df.output.value]))


@pytest.mark.rtl
def test_watchdog_rtl() -> None:
    """The deadlocking residual on Verilator: the cocotb bench stops and names the stage."""
    if reason := simulator_missing("verilator"):
        pytest.skip(reason)
    df, images, _ = _setup(lambda rng: residual(rng, skip_depth=4), 1, 2)
    top = NetworkTop(df)
    with pytest.raises(SimulationError) as err:
        run_rtl(verilog(top, "top"), make_case(top, images, 1500), "verilator", "top_deadlock", progress=False)
    assert "simulation stalled at cycle" in str(err.value) and "the FIFO into 'c1' port 0 stopped" in str(err.value)
