"""amaranth.sim adapter of :mod:`hwaccel.sim.harness`: the same drivers, monitors and scoreboard, in-process."""

from __future__ import annotations

import time
from pathlib import Path

from amaranth.lib import wiring
from amaranth.sim import Simulator, SimulatorContext

from .harness import RUNS, EXTRA_CYCLES, Outcome, RunConfig, UnitCase, make_endpoints, raise_failures, watchdog_cycles

__all__ = ["run_pysim"]


def run_pysim(
    unit: wiring.Component, case: UnitCase, runs: tuple[RunConfig, ...] = RUNS, vcd: Path | None = None,
) -> list[Outcome]:
    """Simulate ``unit`` (ports named as in ``case``) once per run; raise on any scoreboard error.

    Parameters
    ----------
    unit
        The component; its stream members are looked up by the case's port names.
    case
        Stimulus, golden output and cycle model.
    runs
        Stall settings; each run starts from reset.
    vcd
        Write a waveform of the last run here.
    """
    outcomes: list[Outcome] = []
    ins = {n: getattr(unit, n) for n in case.inputs}
    outs = {n: getattr(unit, n) for n in case.outputs}
    for run in runs:
        drivers, monitors = make_endpoints(case, run, 0)
        limit = watchdog_cycles(case, run)
        outcome = Outcome(case, run, drivers, monitors)

        async def bench(ctx: SimulatorContext) -> None:
            cycle, after = 0, 0
            while after < EXTRA_CYCLES:
                for name, drv in drivers.items():
                    word = drv.offer(cycle)
                    ctx.set(ins[name].valid, word is not None)
                    if word is not None:
                        ctx.set(ins[name].payload.as_value(), word)
                for name, mon in monitors.items():
                    ctx.set(outs[name].ready, mon.ready(cycle))
                probes = [v for s in ins.values() for v in (s.valid, s.ready)]
                probes += [v for s in outs.values() for v in (s.valid, s.ready, s.payload.as_value())]
                _, _, *values = await ctx.tick().sample(*probes)
                for k, drv in enumerate(drivers.values()):
                    drv.observe(cycle, values[2 * k], values[2 * k + 1])
                base = 2 * len(drivers)
                for k, mon in enumerate(monitors.values()):
                    mon.observe(cycle, *values[base + 3 * k: base + 3 * k + 3])
                cycle += 1
                after += outcome.done
                if cycle > limit and not outcome.done:
                    outcome.errors.append(f"stalled: no completion within {limit} cycles (watchdog)")
                    break
            outcome.cycles = cycle

        sim = Simulator(unit)
        sim.add_clock(1e-8)
        sim.add_testbench(bench)
        start = time.perf_counter()
        if vcd is not None and run is runs[-1]:
            with sim.write_vcd(str(vcd)):
                sim.run()
        else:
            sim.run()
        outcome.wall_s = time.perf_counter() - start
        outcomes.append(outcome)
    raise_failures(outcomes)
    return outcomes
