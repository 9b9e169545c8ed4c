"""Verification that ships with the package: the stream harness (driver, monitor, scoreboard, cycle
counting) with its cocotb and amaranth.sim adapters, the runner that builds Verilog with Verilator or
Icarus, and the network bench behind ``hwaccel verify`` (:mod:`hwaccel.sim.verify`).

The per-unit cocotb benches stay in the repository's top-level ``sim/`` and import from here.
"""
