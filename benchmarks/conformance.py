"""ONNX node conformance of the float executor: how many spec cases pass.

Runs the same cases and checks as tests/test_golden_conformance.py and writes
benchmarks/results/conformance.json (counts, excluded and failing cases with reasons).
"""

from __future__ import annotations

import time
from collections import Counter

from common import write_json

from test_golden_conformance import CASES, case_skip_reason, check_case


def main() -> None:
    start = time.perf_counter()
    counts: Counter = Counter()
    skipped: dict[str, str] = {}
    failures: dict[str, str] = {}
    passed_ops: Counter = Counter()
    for case in CASES:
        reason = case_skip_reason(case)
        if reason is not None:
            counts["excluded" if reason.startswith("excluded") else "skipped_opset"] += 1
            skipped[case.name] = reason
            continue
        try:
            check_case(case)
        except Exception as exc:  # noqa: BLE001 - every failure is recorded with its message
            counts["failed"] += 1
            failures[case.name] = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
            continue
        counts["passed"] += 1
        passed_ops.update({n.op_type for n in case.model.graph.node})
    seconds = time.perf_counter() - start
    write_json("conformance", {
        "passed": counts["passed"], "supported": len(CASES), "excluded": counts["excluded"],
        "skipped_opset": counts["skipped_opset"], "failed": counts["failed"], "seconds": round(seconds, 3),
        "passed_cases_per_op": dict(sorted(passed_ops.items())), "failures": failures, "not_run": skipped,
    })
    print(f"ONNX conformance: {counts['passed']} passed of {len(CASES)} supported cases "
          f"({counts['excluded']} excluded, {counts['skipped_opset']} skipped for opset, {counts['failed']} failed) "
          f"in {seconds:.1f} s")


if __name__ == "__main__":
    main()
