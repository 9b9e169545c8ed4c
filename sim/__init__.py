"""Verification of the hardware units: a stream harness (driver, monitor, scoreboard, cycle
counting) with a cocotb adapter for Verilator/Icarus and an amaranth.sim adapter, the bench of each
unit (stimulus + golden expectation + cocotb entry point) and the runner that builds RTL from pytest.
"""
