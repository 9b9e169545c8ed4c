"""Golden integer kernels of the fixed-point ops (see :mod:`hwaccel.ir.qops`): plain int64 NumPy.

This is the executable specification every other engine and the RTL must match bit for bit.
It reads node attributes only and never imports :mod:`hwaccel.hw`.
"""
