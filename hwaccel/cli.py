"""The ``hwaccel`` command line.

A thin shell over the library API (:mod:`hwaccel.api`, :func:`hwaccel.bench.bench`): every command
prints a readable report, or with ``--json`` the ``to_dict()`` of the API's result. User errors print
one line ``hwaccel: error: ...`` on stderr and exit with code 2 (``--debug`` shows the traceback);
with ``--json`` also ``{"error": message, "kind": error class}`` on stdout (``UsageError`` for a bad
command line).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import warnings
from contextlib import contextmanager
from typing import Any, Callable, Iterator, NoReturn, TextIO

from .errors import HwaccelError

__all__ = ["main", "build_parser"]

EXIT_USER_ERROR = 2

DESCRIPTION = """\
hwaccel: from a trained ONNX network to bit-exact fixed-point hardware.

  info      show a model's layers, shapes, parameters, MACs and which ops get hardware
  quantize  post-training quantization to a standard QDQ ONNX model (fixed point)
  run       run a model on inputs (.npy/.npz): float executor, golden integer model, onnxruntime
  compile   compile a quantized model to streaming hardware (manifest, weights, Verilog), or with
            --weights external to an overlay whose weights stream from DDR (schedule estimate)
  simulate  cycle model of a compiled build: latency, interval, total cycles; an overlay's DDR traffic
  verify    run a compiled build's RTL on inputs: bit-exact against golden, cycles against the model
  estimate  FPGA resources and post-route fmax (Yosys + nextpnr), ASIC area and energy (estimates)
  bench     one table: onnxruntime, hwaccel cpu/gpu (measured) against FPGA/ASIC (estimated)

Example:
  hwaccel info models/cnn.onnx
  hwaccel quantize models/cnn.onnx --calib models/digits_calib.npz -o cnn.qdq.onnx
  hwaccel run cnn.qdq.onnx --input models/digits_sample.npz --engine golden

The same from Python: import hwaccel; hwaccel.quantize(...), hwaccel.compile(...), hwaccel.simulate(...),
hwaccel.verify(...) (see the README's "Python API").
"""


def _print_error(message: str, kind: str, as_json: bool) -> None:
    """One line on stderr; with ``--json`` also the error as a JSON object on stdout."""
    if as_json:
        print(json.dumps({"error": message, "kind": kind}, indent=2, sort_keys=True))
    print(f"hwaccel: error: {message}", file=sys.stderr)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors, when ``--json`` was given, come as JSON (kind ``UsageError``)."""

    def __init__(self, *args: Any, json_errors: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.json_errors = json_errors

    def error(self, message: str) -> NoReturn:
        if not self.json_errors:
            super().error(message)
        _print_error(message, "UsageError", as_json=True)
        self.exit(EXIT_USER_ERROR)


def build_parser(json_errors: bool = False) -> argparse.ArgumentParser:
    """The ``hwaccel`` parser; ``json_errors``: usage errors print a JSON object too (``--json`` given)."""
    from . import __version__

    parser = _Parser(prog="hwaccel", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
                     json_errors=json_errors)
    parser.add_argument("--version", action="version", version=f"hwaccel {__version__}",
                        help="print the version and exit")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(name: str, func: Callable, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text, json_errors=json_errors)
        p.add_argument("--json", action="store_true", help="print the result as JSON")
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks on errors")
        p.set_defaults(func=func)
        return p

    from .commands import info, quantize, run

    p = add("info", info.run, "Show inputs, outputs and per-layer op, shape, parameters, MACs and placement (hardware, "
                              "stream or host, with the reason) of an ONNX model; or, with --ops, the op table itself.")
    p.add_argument("model", nargs="?", help="ONNX file")
    p.add_argument("--ir", action="store_true", help="also list the imported IR graph node by node")
    p.add_argument("--ops", action="store_true", help="list every supported op and where it runs (the op table)")
    p.add_argument("--markdown", action="store_true", help="with --ops: as a Markdown table (the README's)")

    p = add("run", run.run, "Run an ONNX model on inputs and print (or save) its outputs.")
    p.add_argument("model", help="ONNX file (float, or quantized QDQ/QLinear for --engine golden)")
    p.add_argument("--input", "-i", required=True, help=".npy (the single input) or .npz keyed by input name; batch first")
    p.add_argument("--engine", choices=["float", "golden", "cpu", "gpu", "onnxruntime"], default="float",
                   help="float: NumPy float executor; golden: the bit-exact integer model of a quantized model; "
                        "cpu: the same integer results, fast (BLAS, multi-core); gpu: the same on PyTorch; "
                        "onnxruntime: the reference runtime (default: float)")
    p.add_argument("--workers", type=int, default=None, help="cpu engine: workers (the caller and forked processes), each running a share of the "
                                                             "batch (data parallelism; default: all cores)")
    p.add_argument("--pipeline-stages", type=int, default=1, metavar="S",
                   help="cpu engine: split the layers into S stages running concurrently on batch chunks (model "
                        "parallelism; default 1)")
    p.add_argument("--device", default="cuda", help="gpu engine: torch device, e.g. cuda, cuda:1, cpu (default: cuda)")
    p.add_argument("--output", "-o", help="save outputs to OUT.npy (single output) or OUT.npz")
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")

    p = add("quantize", quantize.run, "Quantize a float model to fixed point; writes a standard QDQ ONNX model.")
    p.add_argument("model", help="float ONNX file")
    p.add_argument("--calib", required=True, help="calibration inputs: .npy (single input) or .npz keyed by input name")
    p.add_argument("--output", "-o", help="QDQ ONNX file to write (default: MODEL.qdq.onnx beside the model)")
    p.add_argument("--weight-bits", type=int, default=8, help="weight width 2..16 (default 8)")
    p.add_argument("--act-bits", type=int, default=8, help="activation width 2..16 (default 8)")
    sign = p.add_mutually_exclusive_group()
    sign.add_argument("--act-signed", dest="act_signed", action="store_true", default=True, help="int activations (default)")
    sign.add_argument("--act-unsigned", dest="act_signed", action="store_false", help="uint activations")
    p.add_argument("--per-tensor", action="store_true", help="one weight scale per layer instead of per output channel")
    p.add_argument("--scheme", choices=["affine", "pow2"], default="affine",
                   help="affine: integer multiplier + shift; pow2: power-of-two scales, shift only")
    p.add_argument("--calibration", choices=["minmax", "percentile", "entropy", "mse"], default="minmax",
                   help="activation range calibration (default minmax)")
    p.add_argument("--bits-per-layer", help="JSON file {layer name: weight bits} for mixed precision")
    p.add_argument("--prune", type=float, default=0.0, help="magnitude-prune this fraction of each layer's weights")
    p.add_argument("--share", type=int, default=0, help="weight sharing: k-means codebook of this many values per layer")
    p.add_argument("--cell-bits", default="auto", metavar="auto|8..12",
                   help="recurrent cells: gate table index width (tables of 2**N entries); auto (default): the narrowest "
                        "whose output stays within 2%% of float on the calibration data")
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")

    from .api.overlay import PARTS
    from .commands import compile as compile_cmd, simulate
    from .perf.memory import MEMORIES

    p = add("compile", compile_cmd.run, "Compile a quantized network to a streaming dataflow build (manifest, weights, "
                 "Verilog), checked against the part's block RAM; or, with --weights external, to an overlay: one shared MAC "
                 "array, weights and spilled feature maps in external memory (a schedule estimate; its RTL is not generated yet).")
    p.add_argument("model", help="QDQ/QLinear ONNX file, or a float one with --calib")
    p.add_argument("--output", "-o", help="build directory to write (default: build/NAME)")
    goal = p.add_mutually_exclusive_group()
    goal.add_argument("--target-fps", type=float, help="fold for this many inferences/s at --clock-mhz, fewest multipliers")
    goal.add_argument("--dsp", type=int, help="fold for the shortest interval within N DSP multipliers (18x18 blocks; default 124, 80%% of an ECP5-85k's 156)")
    goal.add_argument("--luts", type=int, help="fold for the shortest interval within an estimated N LUTs")
    goal.add_argument("--multipliers", type=int, help="fold for the shortest interval within N MAC multipliers (the MatVecs' "
                      "multiplier lanes, as a systolic array of N PEs counts them)")
    p.add_argument("--clock-mhz", type=float, default=100.0, help="clock for --target-fps and reports (default 100)")
    p.add_argument("--calib", help="calibration inputs to quantize a float MODEL first (.npy or .npz)")
    p.add_argument("--weights", choices=("onchip", "external", "auto"), default="onchip",
                   help="onchip (default): streaming dataflow, weights in ROMs; external: an overlay, one shared array "
                        "with weights and spilled feature maps in external memory (schedule estimate; its RTL is not "
                        "generated yet); auto: external when the weights exceed --fpga's block RAM")
    p.add_argument("--memory", default="ddr4-2400-x64", metavar="NAME|GBPS[,LATENCY_NS[,DATA_BYTES]]",
                   help=f"external memory of an overlay: {', '.join(MEMORIES)} (default ddr4-2400-x64) or explicit figures")
    p.add_argument("--fpga", metavar="PART",
                   help=f"the part: {', '.join(PARTS)} (default ecp5-85k); its block RAM must hold a streaming design's "
                        "memories (given, not fitting is an error), its DSP blocks and block RAM bound an overlay")
    p.add_argument("--force", action="store_true", help="replace an existing build directory")

    p = add("simulate", simulate.run, "Cycle model of a compiled build: latency, interval, total cycles, MAC utilization; "
                 "for an overlay build its schedule per layer: cycles, external bytes, bandwidth needed, compute- or memory-bound.")
    p.add_argument("build", help="build directory written by `hwaccel compile`")
    p.add_argument("--batch", type=int, default=1, help="inputs fed back to back (default 1)")
    p.add_argument("--clock-mhz", type=float, default=None, help="clock for throughput (default: the compile clock)")
    p.add_argument("--plot", metavar="PNG", help="an overlay build: write its roofline (layers against array and memory bandwidth)")
    p.add_argument("--force", action="store_true", help="overwrite an existing --plot file")

    from .commands import verify

    p = add("verify", verify.run, "Run a compiled build on inputs in an HDL simulator (cocotb) against the golden "
                                  "model and the cycle model; exit status 1 when they differ.")
    p.add_argument("build", help="build directory written by `hwaccel compile`")
    p.add_argument("--input", "-i", required=True, help=".npy (the single input) or .npz keyed by input name; batch first")
    p.add_argument("--count", "-n", type=int, help="inputs fed back to back (default: the file's batch; reused cyclically)")
    p.add_argument("--simulator", choices=verify.SIMULATORS, default="verilator",
                   help="verilator (default) or icarus through cocotb on the build's top.v, or amaranth (amaranth.sim)")
    p.add_argument("--waves", help="write the waveform here (Verilator: VCD, Icarus: FST, amaranth: VCD)")
    p.add_argument("--force", action="store_true", help="overwrite an existing --waves file")
    p.add_argument("--timeout", type=float, metavar="SECONDS",
                   help="end the simulation after SECONDS of wall time, exit status 1 naming the busy unit (default: "
                        "generous, from the cycle model and the simulator's measured speed)")
    p.add_argument("--model", help="the model the build was compiled from, when it is not in the build directory")
    p.add_argument("--calib", help="with --model: the calibration data a float model was compiled with")

    from .commands import bench, estimate

    p = add("estimate", estimate.run, "Estimate a compiled build's FPGA resources and fmax (Yosys + nextpnr, no vendor "
                                      "tools) and/or its ASIC area and energy per inference.")
    estimate.add_arguments(p)

    p = add("bench", bench.run, "Benchmark one quantized network on every path: onnxruntime float and QDQ, hwaccel cpu "
                                "(1 and all cores, pipelined), gpu, FPGA and ASIC; measured or estimated, labelled.")
    bench.add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        return _main(argv)
    except BrokenPipeError:  # the reader stopped early (e.g. `| head`): not an error of ours
        _drop_stdout()
        return 0


def _main(argv: list[str]) -> int:
    parser = build_parser(json_errors="--json" in argv)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USER_ERROR
    with _warnings_to_log(args.debug):
        try:
            report, text = args.func(args)
        except HwaccelError as exc:
            if args.debug:
                raise
            _print_error(str(exc), type(exc).__name__, as_json=args.json)
            return int(getattr(exc, "exit_code", EXIT_USER_ERROR))
        except KeyboardInterrupt:
            print("hwaccel: interrupted", file=sys.stderr)
            return 130
    print(json.dumps(report, indent=2, sort_keys=True) if args.json else text)
    sys.stdout.flush()  # a closed pipe shows here, inside main, not at interpreter exit
    return 1 if report.get("failed") else 0


def _drop_stdout() -> None:
    """After a broken pipe: point stdout at /dev/null so that the flush at exit stays quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no real stdout (e.g. captured): nothing to silence
        pass


@contextmanager
def _warnings_to_log(debug: bool) -> Iterator[None]:
    """Warnings (NumPy's RuntimeWarnings, ...) go to the ``hwaccel`` log, not in front of the one
    error line; ``--debug`` shows that log on stderr."""
    log = logging.getLogger("hwaccel.warnings")
    handler: logging.Handler = logging.StreamHandler(sys.stderr) if debug else logging.NullHandler()
    log.addHandler(handler)
    propagate, log.propagate = log.propagate, False

    def show(message: Warning | str, category: type[Warning], filename: str, lineno: int, file: TextIO | None = None,
             line: str | None = None) -> None:
        log.warning("%s:%s: %s: %s", filename, lineno, category.__name__, message)

    try:
        with warnings.catch_warnings():
            warnings.showwarning = show
            yield
    finally:
        log.removeHandler(handler)
        log.propagate = propagate


if __name__ == "__main__":
    sys.exit(main())
