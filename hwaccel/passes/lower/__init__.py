"""QDQ -> fixed-point lowering rules, one module per op family (:mod:`.conv`, :mod:`.pool`,
:mod:`.eltwise`, :mod:`.pointwise`, :mod:`.movers`, :mod:`.recurrent`), each rule registered as
its op table row's ``lower`` kernel; :mod:`.common` holds what they share. The pass that applies
them is :func:`hwaccel.passes.lower_qdq.lower_qdq`.
"""
