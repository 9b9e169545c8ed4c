"""Stream layouts: a transpose of a split view (a channel shuffle) against NumPy, and views that do not split."""

from __future__ import annotations

import numpy as np
import pytest

from hwaccel.errors import CompileError
from hwaccel.passes.stream_layout import channels_last, refined, stream_order, transposed


def _stream(value: np.ndarray, layout) -> np.ndarray:
    source, axes = layout
    return value.reshape(source).transpose(axes).reshape(-1)


@pytest.mark.parametrize("c, h, w, groups", [(6, 2, 3, 2), (12, 1, 4, 3), (8, 3, 3, 4)])
def test_a_channel_shuffle_is_a_layout_of_the_same_stream(c, h, w, groups):
    x = np.arange(c * h * w).reshape(c, h, w)
    layout = channels_last((c, h, w))
    shuffled = x.reshape(groups, c // groups, h, w).transpose(1, 0, 2, 3)
    after = transposed(layout, (groups, c // groups, h, w), (1, 0, 2, 3))
    # the elements do not move on the stream: only which logical element each position holds
    np.testing.assert_array_equal(_stream(shuffled, after), _stream(x, layout))
    # in every pixel, position k holds shuffled channel k' with the same k -> k' map (what the producer's rows absorb)
    order = stream_order(after).reshape(h * w, c) // (h * w)
    assert (order == order[0]).all() and sorted(order[0]) == list(range(c))


def test_only_splits_of_the_source_axes_are_refined():
    layout = channels_last((6, 2, 3))
    assert refined(layout, (2, 3, 2, 3)) == ((2, 3, 2, 3), (2, 3, 0, 1))
    assert refined(layout, (3, 4, 3)) is None  # merges C with H
    assert refined(layout, (6, 6)) is None
    with pytest.raises(CompileError, match="a split of its axes"):
        transposed(layout, (3, 4, 3), (1, 0, 2))
