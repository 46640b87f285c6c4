"""Where each output block of a chunked convolution reads its input.

Pure integer arithmetic on one spatial axis at a time (no dask, no arrays),
so that every stride, dilation and padding, asymmetric included, follows
from one rule: output row ``o`` reads the padded input rows
``o * stride + [0, (kernel - 1) * dilation]``. An output block ``[o0, o1)``
therefore reads one contiguous window of the input; the part of that window
that falls in the padding becomes the block's own padding, so each block is
an ordinary gconv call whose result is exactly those rows of the one big call.
"""

from typing import NamedTuple


class AxisWindow(NamedTuple):
    """The input one output block reads along one spatial axis.

    ``[start, stop)`` is the clipped input range; ``pad_before`` and
    ``pad_after`` the padding the block's call adds around it. An empty range
    (``start == stop``) means the whole window lies in the padding; then
    ``pad_before`` is the window's full length.
    """

    out_start: int
    out_stop: int
    start: int
    stop: int
    pad_before: int
    pad_after: int

    @property
    def empty(self):
        return self.start == self.stop

    @property
    def length(self):
        """Padded length of the window: what the block's gconv call convolves."""
        return self.pad_before + (self.stop - self.start) + self.pad_after


def chunk_offsets(chunks):
    """Start offsets of ``chunks`` (sizes), plus the total at the end."""
    offsets = [0]
    for size in chunks:
        offsets.append(offsets[-1] + size)
    return offsets


def output_chunks(in_chunks, kernel, stride, dilation, pad_before, out_size):
    """Output chunk sizes along one axis that follow the input's chunks.

    Each output row goes to the input chunk holding the centre of its window,
    so halos stay about half a kernel wide on both sides and, at stride 1 with
    'same' padding, output chunks equal input chunks (as in ``map_overlap``).
    Output chunks that would be empty (chunks smaller than the stride) are
    dropped.

    Example:
        >>> output_chunks((4, 4), kernel=3, stride=2, dilation=1, pad_before=1, out_size=4)
        (2, 2)
    """
    centre = (kernel - 1) * dilation // 2
    bounds = {0, out_size}
    for boundary in chunk_offsets(in_chunks)[1:-1]:
        first_row_after = -(-(boundary + pad_before - centre) // stride)
        bounds.add(min(max(first_row_after, 0), out_size))
    edges = sorted(bounds)
    return tuple(b - a for a, b in zip(edges[:-1], edges[1:]))


def axis_windows(out_chunks, in_size, kernel, stride, dilation, pad_before):
    """One ``AxisWindow`` per output chunk along one axis.

    Example:
        >>> [tuple(w) for w in axis_windows((2, 2), 8, kernel=3, stride=2, dilation=1,
        ...                                  pad_before=1)]
        [(0, 2, 0, 4, 1, 0), (2, 4, 3, 8, 0, 0)]
    """
    extent = (kernel - 1) * dilation + 1
    windows = []
    out_start = 0
    for size in out_chunks:
        out_stop = out_start + size
        first = out_start * stride - pad_before
        last = (out_stop - 1) * stride - pad_before + extent  # exclusive
        start, stop = min(max(first, 0), in_size), min(max(last, 0), in_size)
        if start < stop:
            windows.append(AxisWindow(out_start, out_stop, start, stop, start - first,
                                      last - stop))
        else:
            windows.append(AxisWindow(out_start, out_stop, 0, 0, last - first, 0))
        out_start = out_stop
    return windows


def window_pieces(window, in_chunks):
    """``(chunk index, start, stop)`` within each input chunk the window
    overlaps, in order; empty for a window that lies in the padding.

    Example:
        >>> window_pieces(AxisWindow(2, 4, 3, 8, 0, 0), (4, 4))
        [(0, 3, 4), (1, 0, 4)]
    """
    _, _, start, stop, _, _ = window
    pieces = []
    offsets = chunk_offsets(in_chunks)
    for index, (chunk_start, chunk_stop) in enumerate(zip(offsets[:-1], offsets[1:])):
        lo, hi = max(start, chunk_start), min(stop, chunk_stop)
        if lo < hi:
            pieces.append((index, lo - chunk_start, hi - chunk_start))
    return pieces


def group_aligned_chunks(channel_chunks, channels_per_group):
    """Channel chunk sizes whose boundaries fall on group boundaries: each
    boundary moves to the nearest multiple of ``channels_per_group``.

    Example:
        >>> group_aligned_chunks((3, 5), 2)
        (4, 4)
        >>> group_aligned_chunks((3, 5), 8)
        (8,)
    """
    total = sum(channel_chunks)
    bounds = {0, total}
    for boundary in chunk_offsets(channel_chunks)[1:-1]:
        groups_before = (boundary + channels_per_group // 2) // channels_per_group
        bounds.add(min(groups_before * channels_per_group, total))
    edges = sorted(bounds)
    return tuple(b - a for a, b in zip(edges[:-1], edges[1:]))
