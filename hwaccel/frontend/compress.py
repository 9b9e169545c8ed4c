"""Model compression before quantization: magnitude pruning and k-means weight sharing."""

from __future__ import annotations

import numpy as np

from ..errors import QuantizationError

__all__ = ["prune_magnitude", "share_weights"]


def prune_magnitude(w: np.ndarray, fraction: float) -> np.ndarray:
    """Zero the ``fraction`` of weights with the smallest magnitude (ties broken by position)."""
    if not 0.0 <= fraction < 1.0:
        raise QuantizationError(f"prune fraction must be in [0, 1), not {fraction!r}")
    count = int(round(fraction * w.size))
    if count == 0:
        return w
    flat = w.reshape(-1).copy()
    flat[np.argsort(np.abs(flat), kind="stable")[:count]] = 0
    return flat.reshape(w.shape)


def share_weights(w: np.ndarray, clusters: int, iterations: int = 50) -> np.ndarray:
    """Replace each weight by its cluster centre (1-D k-means, deterministic quantile start).

    Zero weights (pruned) stay zero and are not clustered, so pruning and sharing compose.
    """
    if clusters < 2:
        raise QuantizationError(f"weight sharing needs at least 2 clusters, not {clusters!r}")
    flat = w.reshape(-1).astype(np.float64)
    live = flat != 0
    values = flat[live]
    if np.unique(values).size <= clusters:
        return w
    centres = np.quantile(values, (np.arange(clusters) + 0.5) / clusters)
    for _ in range(iterations):
        assign = np.abs(values[:, None] - centres[None, :]).argmin(axis=1)
        updated = np.array([values[assign == k].mean() if np.any(assign == k) else centres[k] for k in range(clusters)])
        if np.allclose(updated, centres):
            break
        centres = updated
    assign = np.abs(values[:, None] - centres[None, :]).argmin(axis=1)
    out = flat.copy()
    out[live] = centres[assign]
    return out.reshape(w.shape).astype(w.dtype)
