"""SlidingWindow: golden model by hand, params and cycle formulas, amaranth.sim and RTL benches."""

from __future__ import annotations

import numpy as np
import pytest

from hwaccel.errors import CompileError
from hwaccel.golden.window import image_beats, sliding_windows, window_beats
from hwaccel.units import WindowParams, code_range
from hwaccel.hw.window import SlidingWindow
from hwaccel.sim.pysim import run_pysim
from hwaccel.sim.runner import SIMULATORS, run_rtl, simulator_missing
from sim.bench_window import random_images, window_case

N_PYSIM = 90  # random parameterisations in amaranth.sim
N_RTL = 8  # random parameterisations per RTL build (plus the corner cases)


def _random_code(rng: np.random.Generator, bits: int, signed: bool) -> int:
    lo, hi = code_range(bits, signed)
    return int(rng.integers(lo, hi + 1))


def random_params(rng: np.random.Generator, max_beats: int = 700) -> WindowParams:
    """A random valid parameterisation whose windows stay under ``max_beats`` beats an image."""
    while True:
        bits, signed = int(rng.integers(2, 17)), bool(rng.random() < 0.5)
        channels = int(rng.integers(1, 5))
        simd = int(rng.choice([d for d in range(1, channels + 1) if channels % d == 0]))
        kh, kw = (int(v) for v in rng.integers(1, 5, 2))
        dh, dw = (int(v) for v in rng.integers(1, 3, 2))
        eh, ew = dh * (kh - 1) + 1, dw * (kw - 1) + 1
        pads = [int(rng.integers(0, e)) for e in (eh, ew, eh, ew)]
        height = int(rng.integers(max(1, eh - pads[0] - pads[2]), 9))
        width = int(rng.integers(max(1, ew - pads[1] - pads[3]), 9))
        p = WindowParams(channels, height, width, kh, kw, *(int(v) for v in rng.integers(1, 4, 2)), dh, dw, *pads,
                         pad_value=_random_code(rng, bits, signed), bits=bits,
                         signed=signed, simd=simd)
        if p.out_beats <= max_beats:
            return p


def corner_cases() -> list[tuple[WindowParams, np.ndarray]]:
    """Single pixel, kernel wider than the image, extreme codes and padding, 1x1, stride > kernel."""
    pad1 = dict(pad_top=1, pad_left=1, pad_bottom=1, pad_right=1)
    out = []
    p = WindowParams(2, 1, 1, 3, 3, **pad1, pad_value=255, simd=2)  # single pixel, padding = max code
    out.append((p, np.zeros((2, 1, 1, 2), dtype=np.int64)))
    p = WindowParams(3, 3, 2, 5, 5, pad_top=2, pad_left=2, pad_bottom=2, pad_right=2, pad_value=-8, bits=4, signed=True)
    out.append((p, np.full((2, 3, 2, 3), 7)))  # kernel wider and taller than the image; all-max codes
    p = WindowParams(2, 4, 5, 3, 2, **pad1, pad_value=(1 << 15) - 1, bits=16, signed=True, simd=1)
    out.append((p, np.full((1, 4, 5, 2), -(1 << 15))))  # all-min codes, padding at the max
    p = WindowParams(2, 6, 5, 1, 1, stride_h=2, stride_w=2, bits=2)  # 1x1 kernel, stride 2
    out.append((p, np.full((2, 6, 5, 2), 3)))
    p = WindowParams(1, 7, 7, 2, 2, stride_h=3, stride_w=3, pad_bottom=1, bits=3)  # stride > kernel: rows skipped
    out.append((p, np.arange(49).reshape(1, 7, 7, 1) % 8))
    p = WindowParams(4, 3, 6, 1, 3, dilation_w=2, pad_left=2, pad_right=1, pad_value=9, bits=5, simd=4)  # 1x3 dilated
    out.append((p, np.arange(72).reshape(1, 3, 6, 4) % 32))
    return out


def test_golden_windows_by_hand() -> None:
    img = np.arange(1, 10).reshape(3, 3, 1)
    win = sliding_windows(img, (2, 2), pads=(1, 1, 0, 0), pad_value=0)
    assert win.shape == (3, 3, 2, 2, 1)
    assert win[0, 0, :, :, 0].tolist() == [[0, 0], [0, 1]]
    assert win[0, 2, :, :, 0].tolist() == [[0, 0], [2, 3]]
    assert win[1, 1, :, :, 0].tolist() == [[1, 2], [4, 5]]
    assert win[2, 2, :, :, 0].tolist() == [[5, 6], [8, 9]]
    row = np.arange(1, 6).reshape(1, 5, 1)
    assert sliding_windows(row, (1, 2), (1, 2), (1, 2))[0, :, 0, :, 0].tolist() == [[1, 3], [3, 5]]


def test_golden_streaming_order() -> None:
    img = np.array([[[1, 2], [3, 4]]])  # H=1, W=2, C=2
    win = sliding_windows(img, (1, 2))
    assert window_beats(win, 1).ravel().tolist() == [1, 2, 3, 4]  # taps row-major, channels inside a tap
    assert window_beats(win, 2).tolist() == [[1, 2], [3, 4]]
    assert image_beats(img, 2).tolist() == [[1, 2], [3, 4]]


def test_cycle_formulas_by_hand() -> None:
    p = WindowParams(1, 4, 4, 3, 3, pad_top=1, pad_left=1, pad_bottom=1, pad_right=1)
    # step 0 reads rows 0-1 (8 beats); steps 1-2 add rows 2 and 3; 4x4 outputs of 9 taps = 36 beats a row.
    assert p.step_reads == (8, 4, 4, 0, 0)
    assert p.step_emits == (0, 36, 36, 36, 36)
    # a tap leaves 3 cycles after its read issues (read port register, its copy, output register)
    assert p.first_output_cycles == 8 + 3
    assert p.total_cycles(1) == 8 + 4 * 36 + 3
    assert p.total_cycles(2) == 2 * (8 + 4 * 36) + 3
    q = WindowParams(1, 6, 2, 1, 1, stride_h=3)  # reads dominate: the last step reads rows 4-5 after its 2 outputs
    assert q.step_reads == (2, 6, 4) and q.step_emits == (0, 2, 2)
    assert q.total_cycles(1) == 2 + 6 + 2 + 3 and q.total_cycles(3) == 2 * 12 + 2 + 6 + 2 + 3


@pytest.mark.parametrize("kwargs, message", [
    (dict(channels=3, simd=2), "simd must divide channels=3, not 2"),
    (dict(pad_top=3), "pad_top must be an integer in [0, 2], not 3"),
    (dict(bits=1), "bits must be an integer in [2, 16], not 1"),
    (dict(pad_value=256), "pad_value must be a 8-bit unsigned code in [0, 255], not 256"),
    (dict(height=1), "padded height must be >= the dilated kernel extent 3, not 1"),
])
def test_params_errors(kwargs: dict, message: str) -> None:
    base = dict(channels=2, height=4, width=4, kernel_h=3, kernel_w=3)
    with pytest.raises(CompileError) as err:
        WindowParams(**{**base, **kwargs})
    assert str(err.value) == message


def test_pysim_random(tally) -> None:
    rng = np.random.default_rng(2024)
    for k in range(N_PYSIM):
        p = random_params(rng)
        run_pysim(SlidingWindow(p), window_case(p, random_images(p, 2, rng), f"window{k}"))
    tally("SlidingWindow", "amaranth.sim", N_PYSIM)


@pytest.mark.parametrize("index", range(len(corner_cases())))
def test_pysim_corners(index: int) -> None:
    p, images = corner_cases()[index]
    run_pysim(SlidingWindow(p), window_case(p, images, f"corner{index}"))


@pytest.mark.rtl
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_rtl(simulator: str, tally) -> None:
    if reason := simulator_missing(simulator):
        pytest.skip(reason)
    rng = np.random.default_rng(77)
    setups = [(p, random_images(p, 2, rng)) for p in (random_params(rng, 400) for _ in range(N_RTL))] + corner_cases()
    cases = [window_case(p, images, f"window{k}") for k, (p, images) in enumerate(setups)]
    result = run_rtl([SlidingWindow(p) for p, _ in setups], cases, "sim.bench_window", "window", simulator)
    assert all(r["no_stall"]["first_and_total"] == r["no_stall"]["model"] for r in result.values())
    tally("SlidingWindow", simulator, len(setups))
