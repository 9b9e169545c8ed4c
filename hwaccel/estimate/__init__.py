"""Estimates of a compiled build's cost: FPGA resources and post-route fmax (:mod:`.fpga`, Yosys +
nextpnr through the YoWASP wheels) and ASIC area and energy (:mod:`.asic`). Import the submodule
you need; this package imports nothing heavy."""
