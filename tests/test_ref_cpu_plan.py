"""The CPU engine's planner: balanced pipeline stages, and what the zoo CNN compiles to."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from hwaccel.ref.cpu import CpuEngine
from hwaccel.ref.cpu_plan import partition
from hwaccel.ref.cpu_steps import Golden, Linear

from dataflow_cases import zoo_fixed


def _best_split(costs: list[float], parts: int) -> float:
    """The smallest largest-stage cost over every split into ``parts`` contiguous non-empty stages."""
    n = len(costs)
    return min(max(sum(costs[a:b]) for a, b in zip((0, *cuts), (*cuts, n)))
               for cuts in itertools.combinations(range(1, n), parts - 1))


@pytest.mark.parametrize("seed", range(6))
def test_partition_is_contiguous_non_empty_and_balanced(seed):
    rng = np.random.default_rng(seed)
    costs = rng.integers(1, 100, int(rng.integers(3, 9))).astype(float).tolist()
    for parts in range(1, len(costs) + 1):
        stages = partition(costs, parts)
        assert len(stages) == parts and all(len(s) for s in stages)
        assert [i for s in stages for i in s] == list(range(len(costs)))
        assert max(sum(costs[i] for i in s) for s in stages) == _best_split(costs, parts)


def test_partition_rejects_more_parts_than_nodes():
    with pytest.raises(ValueError, match=r"parts must be in \[1, 3\], not 4"):
        partition([1.0, 2.0, 3.0], 4)


def test_zoo_cnn_compiles_to_banded_products_with_fused_pools():
    """Both convolutions run as BLAS products with their max pools fused; the first one's bands each read
    at most half of the 8x8 image (the rows their windows touch)."""
    with CpuEngine(zoo_fixed("cnn"), workers=1) as engine:
        steps = engine.stages[0]
        assert not any(isinstance(s, Golden) and s.node.op.startswith("Q") for s in steps)
        linear = [s for s in steps if isinstance(s, Linear)]
        assert [s.blocks for s in linear] == [4, 4, 1]  # 2x2 max pools on the accumulators
        assert len(linear[0].bands) > 1 and all(b.stop - b.start <= 32 for b in linear[0].bands)
        assert all(b.matrix.dtype == np.float32 for s in linear for b in s.bands)


def test_stages_split_the_steps_of_one_plan():
    graph = zoo_fixed("resnet")
    with CpuEngine(graph, workers=1, pipeline_stages=1) as one, CpuEngine(graph, workers=1, pipeline_stages=3) as three:
        assert len(three.stages) == 3 and all(three.stages)
        assert [r.start for r in three.stage_nodes] == sorted(r.start for r in three.stage_nodes)
        kinds = [type(s).__name__ for s in one.stages[0]]
        assert sorted(type(s).__name__ for stage in three.stages for s in stage) == sorted(kinds)
