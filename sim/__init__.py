"""cocotb benches of the hardware units (stimulus + golden expectation + cocotb entry point), run
from ``tests/test_hw_<unit>.py``; the harness and runner they use ship in :mod:`hwaccel.sim`.
"""
