"""Pass pipelines: plain lists of Graph -> Graph functions, run in order."""

from __future__ import annotations

from typing import Callable

from ..ir.graph import Graph
from .channel_affine import affine_to_batchnorm, batchnorm_to_depthwise
from .eliminate_dead import eliminate_dead
from .expand_variadic import expand_variadic
from .fold_batchnorm import fold_batchnorm
from .fold_constants import fold_constants
from .fold_qdq_batchnorm import fold_qdq_batchnorm
from .fold_shape_arithmetic import fold_shape_arithmetic
from .qdq_canonical import canonicalize_qdq
from .remove_identity import remove_identity

__all__ = ["Pass", "IMPORT_PASSES", "run_passes", "run_import_passes"]

Pass = Callable[[Graph], Graph]

IMPORT_PASSES: list[Pass] = [expand_variadic, fold_constants, fold_shape_arithmetic, remove_identity, affine_to_batchnorm,
                             fold_batchnorm, batchnorm_to_depthwise, canonicalize_qdq, fold_qdq_batchnorm, eliminate_dead]


def run_passes(graph: Graph, passes: list[Pass], verify: bool = False) -> Graph:
    """Apply ``passes`` in order; with ``verify`` the IR verifier runs after each one."""
    from ..ir.verify import verify_graph

    for p in passes:
        graph = p(graph)
        if verify:
            verify_graph(graph, where=p.__name__)
    return graph


def run_import_passes(graph: Graph) -> Graph:
    return run_passes(graph, IMPORT_PASSES)
