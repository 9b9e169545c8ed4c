"""The output queue of a credit-issued unit (``hw/queue.py``): what the cycle model shares with it."""

from __future__ import annotations

__all__ = ["queue_credits"]


def queue_credits(latency: int) -> int:
    """Outputs a unit of ``latency`` pipeline stages may have issued and not delivered."""
    return latency + 1
