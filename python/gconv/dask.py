"""gconv on dask arrays: lazy, chunked convolution with exact chunk borders.

``conv2d``, ``depthwise_conv2d``, ``global_depthwise_conv2d``,
``global_avg_pool2d`` and ``Conv2d`` take a ``dask.array.Array`` (anything
else is wrapped with ``dask.array.asarray``) and return a lazy dask array
equal to the one in-memory gconv call on the whole input. Install with
``pip install "gconv[dask]"``; import explicitly: ``import gconv.dask``.

How chunks map onto gconv calls:

- batch chunks: one gconv call per chunk, nothing moves;
- spatial chunks (H, W): each output block reads one window of the input,
  ``stride * rows + (kernel - 1) * dilation`` high, from its own chunk and
  thin halo slices of its neighbours; where the window reaches into the
  padding, the block's call pads by that much. Every stride, dilation and
  padding form ('same' and asymmetric included) follows from this, chunk
  boundaries need not be multiples of the stride, and output chunks follow
  the input's (a chunk of H input rows gives about H / stride output rows);
- channel chunks: a chunk must hold whole groups; chunks that split a group
  (or any channel chunking at ``groups=1``) are rechunked to the nearest group
  boundaries with a ``ChannelRechunkWarning``, since that moves data;
- the weight (and bias) is one key of the graph, read by every task;
- global ops over several spatial chunks sum per-chunk partials (in float64,
  in chunk order) and add the bias once.

Results: each output block adds the same products as the big call, with the
big call's algorithm forced where it accepts the block; with whole-image
chunks (batch or channel chunking only) results are the same bits, with
spatial chunks they agree to rounding (the tests assert ``rtol=1e-6``); for
global ops over spatial chunks, to the rounding of the reduction.

Threads: see :func:`threads_per_task`. Inside Dask workers each task uses
its share of the worker's cores, never more than gconv's own count there
(one thread by default under Dask's Nanny, which sets ``OMP_NUM_THREADS=1``).

Example:
    >>> import numpy as np, dask.array as da, gconv, gconv.dask
    >>> x = da.random.random((2, 4, 64, 64), chunks=(1, 4, 32, 32)).astype(np.float32)
    >>> w = np.ones((8, 1, 3, 3), np.float32)
    >>> y = gconv.dask.depthwise_conv2d(x, w, stride=2, padding="same")
    >>> y.chunks
    ((1, 1), (8,), (16, 16), (16, 16))
    >>> x_np = x.compute()
    >>> np.allclose(y.compute(), gconv.depthwise_conv2d(x_np, w, stride=2, padding="same"))
    True
"""

import operator
import warnings

import numpy as np

try:
    import dask.array as da
    from dask.array import PerformanceWarning
    from dask.base import tokenize
    from dask.highlevelgraph import HighLevelGraph
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "gconv.dask needs dask[array] (pip install 'gconv[dask]')"
    ) from exc

from . import _api, _args
from ._conv_spec import as_float_array
from ._dask_geometry import axis_windows, group_aligned_chunks, output_chunks, window_pieces
from ._dask_tasks import (ConvBlock, GlobalBlock, block_algorithm, combine_partials, conv_block,
                          global_avg_pool_block, global_avg_pool_partial, global_depthwise_block,
                          global_depthwise_partial, planner_choice, spatial_axes,
                          threads_per_task)

__all__ = [
    "ChannelRechunkWarning",
    "Conv2d",
    "conv2d",
    "depthwise_conv2d",
    "global_avg_pool2d",
    "global_depthwise_conv2d",
    "threads_per_task",
]


class ChannelRechunkWarning(PerformanceWarning):
    """Channel chunks split a group, so gconv.dask rechunked them (moving data)."""


# --------------------------------------------------------------------------- inputs

class _GraphArray:
    """A small array (weight, bias) that enters a graph as one key."""

    __slots__ = ("key", "array")

    def __init__(self, array, kind):
        if array is None:
            self.key, self.array = None, None
            return
        array = np.array(as_float_array(array, kind), order="C", copy=True)
        array.flags.writeable = False
        self.array = array
        self.key = f"gconv-{kind}-{tokenize(array)}"

    def add_to(self, dsk):
        if self.key is not None:
            dsk[self.key] = self.array


def _as_dask_array(x, where):
    """``x`` as a 4-D dask array of known chunks, and whether it was unbatched (3-D)."""
    if not isinstance(x, da.Array):
        x = da.asarray(x)
    if x.ndim not in (3, 4):
        raise ValueError(
            f"{where}: input must be 4-D or 3-D (unbatched), got a {x.ndim}-D dask array of "
            f"shape {x.shape}"
        )
    if any(np.isnan(size) for size in x.shape):
        raise ValueError(f"{where}: input has unknown chunk sizes; call x.compute_chunk_sizes()")
    meta = getattr(x, "_meta", None)
    if meta is not None and not isinstance(meta, np.ndarray):
        raise TypeError(f"{where}: blocks must be NumPy arrays, got {type(meta).__name__}")
    unbatched = x.ndim == 3
    return (x[None] if unbatched else x), unbatched


def _probe(x):
    """A zero-batch array of ``x``'s other dims and dtype: the eager function
    called on it checks every argument exactly as for the whole input, and
    tells the output shape, without computing anything."""
    return np.empty((0,) + tuple(x.shape[1:]), x.dtype)


def _channel_axis(layout):
    return 1 if layout == "NCHW" else 3


def _block_key(name, layout, batch, channel, row, col):
    if layout == "NCHW":
        return (name, batch, channel, row, col)
    return (name, batch, row, col, channel)


def _in_layout(layout, batch, channels, rows, cols):
    return (batch, channels, rows, cols) if layout == "NCHW" else (batch, rows, cols, channels)


def _align_channels(x, layout, channels_per_group, groups, where, stacklevel):
    axis = _channel_axis(layout)
    chunks = x.chunks[axis]
    aligned = group_aligned_chunks(chunks, channels_per_group)
    if aligned != chunks:
        warnings.warn(
            f"{where}: channel chunks {chunks} split groups of {channels_per_group} channels "
            f"(groups={groups}); rechunking channels to {aligned}, which moves data between "
            f"chunks. Chunk channels in multiples of {channels_per_group} to avoid it.",
            ChannelRechunkWarning, stacklevel=stacklevel + 1)
        x = x.rechunk({axis: aligned})
    return x


# --------------------------------------------------------------------------- conv2d

def _chunked_conv2d(x, weight, bias, stride, padding, dilation, groups, layout, activation,
                    where):
    """The graph of a chunked conv2d of a 4-D dask ``x`` (arguments already checked)."""
    w = weight.array
    k, cg, kh, kw = w.shape
    stride = _args.spatial_tuple(stride, "stride")
    dilation = _args.spatial_tuple(dilation, "dilation")
    axis_h, axis_w = spatial_axes(layout)
    h, wd = x.shape[axis_h], x.shape[axis_w]
    pads = _args.resolve_padding(padding, (h, wd), (kh, kw), stride, dilation)
    out_h = _args.output_size(h, kh, stride[0], pads[0], dilation[0], f"{where}: height")
    out_w = _args.output_size(wd, kw, stride[1], pads[1], dilation[1], f"{where}: width")

    big_algorithm = planner_choice(w.shape, stride, pads, dilation, groups, layout, activation,
                                   x.shape, w.dtype, bias.key is not None)

    c_axis = _channel_axis(layout)
    kg = k // groups
    rows_out = output_chunks(x.chunks[axis_h], kh, stride[0], dilation[0], pads[0][0], out_h)
    cols_out = output_chunks(x.chunks[axis_w], kw, stride[1], dilation[1], pads[1][0], out_w)
    row_windows = axis_windows(rows_out, h, kh, stride[0], dilation[0], pads[0][0])
    col_windows = axis_windows(cols_out, wd, kw, stride[1], dilation[1], pads[1][0])

    token = tokenize(x.name, weight.key, bias.key, stride, pads, dilation, groups, layout,
                     activation)
    name, halo_name = f"gconv-conv2d-{token}", f"gconv-halo-{token}"
    dsk = {}
    weight.add_to(dsk)
    bias.add_to(dsk)

    channel_ranges = []
    start = 0
    for size in x.chunks[c_axis]:
        channel_ranges.append((start, start + size))
        start += size
    tasks = len(x.chunks[0]) * len(channel_ranges) * len(row_windows) * len(col_windows)
    algorithms = {}

    def piece_key(ib, ic, piece_h, piece_w):
        (jh, h0, h1), (jw, w0, w1) = piece_h, piece_w
        source = _block_key(x.name, layout, ib, ic, jh, jw)
        if (h0, h1) == (0, x.chunks[axis_h][jh]) and (w0, w1) == (0, x.chunks[axis_w][jw]):
            return source
        key = (halo_name, ib, ic, jh, jw, h0, h1, w0, w1)
        if key not in dsk:
            index = [slice(None)] * 4
            index[axis_h], index[axis_w] = slice(h0, h1), slice(w0, w1)
            dsk[key] = (operator.getitem, source, tuple(index))
        return key

    for ib, n_b in enumerate(x.chunks[0]):
        for ic, (c0, c1) in enumerate(channel_ranges):
            g0, g1 = c0 // cg, c1 // cg
            for ih, rows in enumerate(row_windows):
                for iw, cols in enumerate(col_windows):
                    if rows.empty or cols.empty:
                        # The window lies in the padding: the block sees only zeros.
                        pieces = []
                        zero_shape = _in_layout(layout, n_b, c1 - c0, rows.length, cols.length)
                        block_pads = ((0, 0), (0, 0))
                        in_shape = zero_shape
                    else:
                        pieces = [[piece_key(ib, ic, ph, pw)
                                   for pw in window_pieces(cols, x.chunks[axis_w])]
                                  for ph in window_pieces(rows, x.chunks[axis_h])]
                        zero_shape = None
                        block_pads = ((rows.pad_before, rows.pad_after),
                                      (cols.pad_before, cols.pad_after))
                        in_shape = _in_layout(layout, n_b, c1 - c0, rows.stop - rows.start,
                                              cols.stop - cols.start)
                    signature = (in_shape[1:], block_pads, g1 - g0)
                    if signature not in algorithms:
                        algorithms[signature] = block_algorithm(
                            (kg * (g1 - g0), cg, kh, kw), stride, block_pads, dilation, g1 - g0,
                            layout, activation, (1,) + in_shape[1:], w.dtype,
                            bias.key is not None, big_algorithm)
                    block = ConvBlock(layout, stride, dilation, g1 - g0, g0 * kg, g1 * kg,
                                      block_pads, activation, algorithms[signature], zero_shape,
                                      tasks)
                    dsk[_block_key(name, layout, ib, ic, ih, iw)] = (
                        conv_block, pieces, weight.key, bias.key, block)

    channels_out = tuple((c1 - c0) // cg * kg for c0, c1 in channel_ranges)
    chunks = _in_layout(layout, x.chunks[0], channels_out, rows_out, cols_out)
    graph = HighLevelGraph.from_collections(name, dsk, dependencies=[x])
    return da.Array(graph, name, chunks, meta=np.empty((0,) * 4, w.dtype))


def _unbatch(result, unbatched):
    return result[0] if unbatched else result


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *, layout="NCHW",
           activation=None):
    """Lazy ``gconv.conv2d`` of a dask array: same arguments, same result.

    ``x`` is a dask array (N, C, H, W) (or (N, H, W, C) with
    ``layout="NHWC"``, or unbatched); ``weight`` (K, C // groups, R, S) and
    ``bias`` (K,) are NumPy arrays, put into the graph once. The result is a
    dask array of the in-memory call's shape and dtype, chunked like ``x``
    along the batch, per group-aligned channel chunk along K, and along H and
    W by output rows/columns whose windows are centred in each input chunk.
    Arguments are checked now, with the errors ``gconv.conv2d`` raises.

    Example:
        >>> import numpy as np, dask.array as da, gconv, gconv.dask
        >>> x = da.ones((2, 4, 10, 10), chunks=(1, 4, 5, 5), dtype=np.float32)
        >>> w = np.ones((8, 2, 3, 3), np.float32)                # 2 groups
        >>> y = gconv.dask.conv2d(x, w, groups=2, stride=2, padding=((1, 0), (0, 2)))
        >>> y.shape, y.chunks[2]
        ((2, 8, 5, 5), (3, 2))
        >>> float(y[0, 0, 2, 2].compute())
        18.0
    """
    return _Conv2dGraph(weight, bias, stride, padding, dilation, groups, layout, activation,
                        "conv2d", copy=False)(x, stacklevel=2)


def depthwise_conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, *, layout="NCHW",
                     activation=None):
    """Lazy ``gconv.depthwise_conv2d`` (``conv2d`` with ``groups=C``) of a dask array.

    ``weight`` is (C * m, 1, R, S); channel chunks never need rechunking.

    Example:
        >>> import numpy as np, dask.array as da, gconv.dask
        >>> x = da.ones((1, 3, 64, 64), chunks=(1, 1, 16, 64), dtype=np.float32)
        >>> w = np.full((6, 1, 5, 5), 1 / 25, np.float32)        # multiplier 2
        >>> y = gconv.dask.depthwise_conv2d(x, w, padding=2)
        >>> y.chunks[1], y.chunks[2]
        ((2, 2, 2), (16, 16, 16, 16))
        >>> round(float(y[0, 5, 20, 20].compute()), 5)
        1.0
    """
    x, unbatched = _as_dask_array(x, "depthwise_conv2d")
    _api.depthwise_conv2d(_probe(x), weight, bias, stride, padding, dilation, layout=layout,
                          activation=activation)
    channels = x.shape[_channel_axis(layout)]
    graph = _Conv2dGraph(weight, bias, stride, padding, dilation, channels, layout, activation,
                         "depthwise_conv2d", copy=False)
    return _unbatch(graph.build(x, stacklevel=2), unbatched)


class Conv2d:
    """A chunked convolution for dask arrays with fixed weights, like
    ``gconv.Conv2d``: arguments checked and weights copied once; every call
    puts them into its graph under the same key, so the graphs of several
    calls share one copy.

    Example:
        >>> import numpy as np, dask.array as da, gconv.dask
        >>> conv = gconv.dask.Conv2d(np.ones((16, 1, 3, 3), np.float32), groups=16, padding=1)
        >>> a = da.ones((4, 16, 32, 32), chunks=(1, 16, 16, 16), dtype=np.float32)
        >>> b = da.zeros((2, 16, 32, 32), chunks=(2, 8, 32, 32), dtype=np.float32)
        >>> ya, yb = conv(a), conv(b)
        >>> ya.chunks[0], yb.chunks[1]
        ((1, 1, 1, 1), (8, 8))
        >>> float(ya[0, 0, 5, 5].compute()), float(yb.sum().compute())
        (9.0, 0.0)
    """

    def __init__(self, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *,
                 layout="NCHW", activation=None):
        self._graph = _Conv2dGraph(weight, bias, stride, padding, dilation, groups, layout,
                                   activation, "Conv2d", copy=True)

    def __call__(self, x):
        """The lazy convolution of the dask array ``x``."""
        return self._graph(x, stacklevel=2)

    @property
    def weight(self):
        """The plan's own (read-only) copy of the weights."""
        return self._graph.weight.array

    def __repr__(self):
        g = self._graph
        return (f"gconv.dask.Conv2d(weight={g.weight.array.shape}, groups={g.groups}, "
                f"stride={g.stride!r}, padding={g.padding!r}, dilation={g.dilation!r}, "
                f"layout={g.layout!r}, activation={g.activation!r}, "
                f"dtype={g.weight.array.dtype})")


class _Conv2dGraph:
    """Checked conv2d arguments plus the weight and bias as graph keys."""

    def __init__(self, weight, bias, stride, padding, dilation, groups, layout, activation,
                 where, copy):
        if copy:
            # Fails now, with gconv.Conv2d's errors, rather than at the first call.
            _api.Conv2d(weight, bias, stride, padding, dilation, groups, layout=layout,
                        activation=activation)
        self.weight = _GraphArray(weight, "weight")
        self.bias = _GraphArray(bias, "bias")
        self.stride, self.padding, self.dilation = stride, padding, dilation
        self.groups, self.layout, self.activation = groups, layout, activation
        self.where = where

    def _check(self, x):
        _api.conv2d(_probe(x), self.weight.array, self.bias.array, self.stride, self.padding,
                    self.dilation, self.groups, layout=self.layout, activation=self.activation)

    def build(self, x, stacklevel):
        """The graph for a checked 4-D dask ``x``."""
        self._check(x)
        groups = _args.as_int(self.groups, "groups")
        x = _align_channels(x, self.layout, self.weight.array.shape[1], groups, self.where,
                            stacklevel + 1)
        return _chunked_conv2d(x, self.weight, self.bias, self.stride, self.padding,
                               self.dilation, groups, self.layout, self.activation, self.where)

    def __call__(self, x, stacklevel):
        x, unbatched = _as_dask_array(x, self.where)
        return _unbatch(self.build(x, stacklevel + 1), unbatched)


# --------------------------------------------------------------------------- global ops

def _global_graph(x, layout, weight, bias, multiplier, op):
    """One task per whole-image block, or per-chunk partials and a sum."""
    axis_h, axis_w = spatial_axes(layout)
    c_axis = _channel_axis(layout)
    h, wd = x.shape[axis_h], x.shape[axis_w]
    dtype = x.dtype
    token = tokenize(x.name, op, layout, weight.key if weight else None,
                     bias.key if bias else None)
    name = f"gconv-{op}-{token}"
    dsk = {}
    for node in (weight, bias):
        if node is not None:
            node.add_to(dsk)
    weight_key = weight.key if weight else None
    bias_key = bias.key if bias else None
    row_chunks, col_chunks = x.chunks[axis_h], x.chunks[axis_w]
    one_chunk = len(row_chunks) == 1 and len(col_chunks) == 1
    channel_ranges = []
    start = 0
    for size in x.chunks[c_axis]:
        channel_ranges.append((start, start + size))
        start += size
    wholes = len(x.chunks[0]) * len(channel_ranges)
    partial_name = f"gconv-{op}-partial-{token}"
    partials = wholes * len(row_chunks) * len(col_chunks)
    row_starts = np.cumsum((0,) + row_chunks).tolist()
    col_starts = np.cumsum((0,) + col_chunks).tolist()
    for ib in range(len(x.chunks[0])):
        for ic, (c0, c1) in enumerate(channel_ranges):
            k0, k1 = c0 * multiplier, c1 * multiplier
            out_key = _block_key(name, layout, ib, ic, 0, 0)
            if one_chunk:
                source = _block_key(x.name, layout, ib, ic, 0, 0)
                block = GlobalBlock(layout, k0, k1, (0, h), (0, wd), wholes)
                if op == "global_depthwise_conv2d":
                    dsk[out_key] = (global_depthwise_block, source, weight_key, bias_key, block)
                else:
                    dsk[out_key] = (global_avg_pool_block, source, block)
                continue
            keys = []
            for jh in range(len(row_chunks)):
                for jw in range(len(col_chunks)):
                    source = _block_key(x.name, layout, ib, ic, jh, jw)
                    block = GlobalBlock(layout, k0, k1, (row_starts[jh], row_starts[jh + 1]),
                                        (col_starts[jw], col_starts[jw + 1]), partials)
                    key = (partial_name, ib, ic, jh, jw)
                    if op == "global_depthwise_conv2d":
                        dsk[key] = (global_depthwise_partial, source, weight_key, block)
                    else:
                        dsk[key] = (global_avg_pool_partial, source, block)
                    keys.append(key)
            scale = 1.0 if op == "global_depthwise_conv2d" else 1.0 / (h * wd)
            block = GlobalBlock(layout, k0, k1, None, None, wholes)
            dsk[out_key] = (combine_partials, keys, bias_key, block, dtype, scale)
    channels_out = tuple((c1 - c0) * multiplier for c0, c1 in channel_ranges)
    chunks = _in_layout(layout, x.chunks[0], channels_out, (1,), (1,))
    graph = HighLevelGraph.from_collections(name, dsk, dependencies=[x])
    return da.Array(graph, name, chunks, meta=np.empty((0,) * 4, dtype))


def global_depthwise_conv2d(x, weight, bias=None, *, layout="NCHW"):
    """Lazy ``gconv.global_depthwise_conv2d`` (GDC) of a dask array.

    ``x`` (N, C, H, W), ``weight`` (C * m, 1, H, W) -> (N, C * m, 1, 1)
    ((N, 1, 1, C * m) for NHWC). Blocks that hold whole images are one gconv
    call each; with several spatial chunks each chunk contributes its
    positions' weighted sum (a gconv call on the chunk and its slice of the
    weight), and the partials are added in float64 before the bias.

    Example:
        >>> import numpy as np, dask.array as da, gconv.dask
        >>> x = da.ones((2, 8, 14, 14), chunks=(1, 4, 7, 14), dtype=np.float32)
        >>> w = np.full((8, 1, 14, 14), 1 / 196, np.float32)
        >>> y = gconv.dask.global_depthwise_conv2d(x, w)
        >>> y.shape, y.chunks[1], round(float(y[1, 7, 0, 0].compute()), 5)
        ((2, 8, 1, 1), (4, 4), 1.0)
    """
    x, unbatched = _as_dask_array(x, "global_depthwise_conv2d")
    _api.global_depthwise_conv2d(_probe(x), weight, bias, layout=layout)
    weight_node = _GraphArray(weight, "weight")
    channels = x.shape[_channel_axis(layout)]
    multiplier = weight_node.array.shape[0] // channels
    result = _global_graph(x, layout, weight_node, _GraphArray(bias, "bias"), multiplier,
                           "global_depthwise_conv2d")
    return _unbatch(result, unbatched)


def global_avg_pool2d(x, *, layout="NCHW"):
    """Lazy ``gconv.global_avg_pool2d`` of a dask array: (N, C, H, W) -> (N, C, 1, 1)
    ((N, 1, 1, C) for NHWC). Several spatial chunks are pooled chunk by chunk
    and their sums combined in float64.

    Example:
        >>> import numpy as np, dask.array as da, gconv.dask
        >>> x = da.arange(32, chunks=8, dtype=np.float64).reshape(1, 2, 4, 4)
        >>> gconv.dask.global_avg_pool2d(x).compute().ravel().tolist()
        [7.5, 23.5]
    """
    x, unbatched = _as_dask_array(x, "global_avg_pool2d")
    _api.global_avg_pool2d(_probe(x), layout=layout)
    return _unbatch(_global_graph(x, layout, None, None, 1, "global_avg_pool2d"), unbatched)
