"""The ONNX node conformance suite on the float executor.

Every case of ``onnx.backend.test.case.node.collect_testcases()`` whose nodes all have a float
kernel is imported with :func:`~hwaccel.frontend.onnx_import.import_model` and run with
:func:`~hwaccel.golden.float_executor.run_float`; outputs must match the spec's expected values in type,
shape and value (the case's tolerance, at least 1e-5). Excluded cases and their reasons are in
tests/conformance_exclusions.py; cases whose opset the importer rejects are skipped, not counted.
benchmarks/conformance.py writes the same counts to JSON.
"""

from __future__ import annotations

import warnings
from collections import Counter

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from hwaccel.errors import ModelError
from hwaccel.frontend.onnx_import import import_model, model_opset
from hwaccel.golden.float_executor import FLOAT_KERNELS, run_float

from conformance_exclusions import excluded_reason

MIN_PASSED = 250


def supported_cases() -> list:
    """Node test cases whose op types all have a float kernel, in the suite's order."""
    from onnx.backend.test.case.node import collect_testcases

    with warnings.catch_warnings():  # the generators of some unrelated cases overflow on purpose
        warnings.simplefilter("ignore")
        cases = collect_testcases()
    return [c for c in cases if {n.op_type for n in c.model.graph.node} <= set(FLOAT_KERNELS)]


def case_skip_reason(case) -> str | None:
    """Why ``case`` does not run (an exclusion, or an opset the importer rejects), or None."""
    reason = excluded_reason(case.name, case.model)
    if reason is not None:
        return f"excluded: {reason}"
    try:
        model_opset(case.model, case.name)
    except ModelError as exc:
        return f"opset: {exc}"
    return None


def _array(value) -> np.ndarray:
    return numpy_helper.to_array(value) if isinstance(value, onnx.TensorProto) else np.asarray(value)


def check_case(case) -> None:
    """Import and run every data set of ``case``; raises AssertionError (or an HwaccelError) on a mismatch."""
    graph = import_model(case.model, where=case.name)
    initializers = {t.name for t in case.model.graph.initializer}
    input_names = [vi.name for vi in case.model.graph.input if vi.name not in initializers]
    output_names = [vi.name for vi in case.model.graph.output]
    rtol, atol = max(case.rtol, 1e-5), max(case.atol, 1e-5)
    for inputs, expected in case.data_sets:
        got = run_float(graph, {n: _array(v) for n, v in zip(input_names, inputs)}, output_names)
        for name, want in zip(output_names, map(_array, expected)):
            value = got[name]
            assert value.dtype == want.dtype and value.shape == want.shape, \
                f"{name}: got {value.dtype}{value.shape}, expected {want.dtype}{want.shape}"
            if want.dtype.kind == "f":
                np.testing.assert_allclose(value, want, rtol=rtol, atol=atol, err_msg=name)
            else:
                np.testing.assert_array_equal(value, want, err_msg=name)


CASES = supported_cases()
_OUTCOMES: Counter = Counter()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_node_case(case):
    reason = case_skip_reason(case)
    if reason is not None:
        _OUTCOMES[reason.split(":")[0]] += 1
        pytest.skip(reason)
    _OUTCOMES["failed"] += 1
    check_case(case)
    _OUTCOMES["failed"] -= 1
    _OUTCOMES["passed"] += 1


def test_conformance_summary(capsys):
    """Prints the pass count and enforces the floor once every case above has run."""
    line = (f"ONNX conformance: {_OUTCOMES['passed']} passed of {len(CASES)} supported cases "
            f"({_OUTCOMES['excluded']} excluded, {_OUTCOMES['opset']} skipped for opset, {_OUTCOMES['failed']} failed)")
    with capsys.disabled():
        print(f"\n{line}")
    if sum(_OUTCOMES.values()) < len(CASES):
        pytest.skip(f"only part of the suite ran: {line}")
    assert _OUTCOMES["passed"] >= MIN_PASSED, line
