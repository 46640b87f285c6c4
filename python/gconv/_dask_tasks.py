"""What gconv.dask's tasks run on the workers, and how many threads they take.

Every task is one gconv call on one block, made through a plan with an
explicit thread count (``Plan.execute(..., num_threads)``) rather than
through ``gconv.set_num_threads``: the count is process-wide, and tasks
running side by side in one worker must not change it under each other.
This module is imported on workers; it imports dask only inside functions.
"""

import sys
import threading
from dataclasses import dataclass

import numpy as np

from . import _core
from ._conv_spec import DTYPE_CODES, LAYOUT_CODES, ConvParams, ConvSpec, kernel_ready

_MAIN_THREAD = threading.main_thread()


# --------------------------------------------------------------------------- threads

def _usable_cpus():
    from dask.system import CPU_COUNT  # affinity- and cgroup-aware

    return CPU_COUNT


def _distributed_worker_threads():
    """Threads of the distributed workers in this process (one worker under a
    Nanny; all of a ``LocalCluster(processes=False)``), or None outside a worker."""
    if sys.modules.get("distributed") is None:  # no worker can run in this process
        return None
    from distributed import Worker, get_worker

    try:
        current = get_worker()
    except ValueError:
        return None
    workers = [w for w in list(getattr(Worker, "_instances", ())) if _running(w)]
    if current not in workers:
        workers.append(current)
    return sum(_worker_threads(w) for w in workers)


def _running(worker):
    status = getattr(worker, "status", None)
    return getattr(status, "name", "running") in ("running", "paused")


def _worker_threads(worker):
    state = getattr(worker, "state", worker)
    return getattr(state, "nthreads", None) or 1


def _local_scheduler_threads():
    """Threads of dask's local threaded scheduler, or None for the synchronous one."""
    if threading.current_thread() is _MAIN_THREAD:
        # Only the synchronous scheduler runs tasks in the main thread.
        return None
    import dask

    workers = dask.config.get("num_workers", None)
    pool = dask.config.get("pool", None)
    return workers or getattr(pool, "_max_workers", None) or _usable_cpus()


def threads_per_task(parallel_tasks=None):
    """Threads a gconv.dask task uses where it runs now.

    A task never takes more than gconv's own count in its process
    (``gconv.get_num_threads()``: ``GCONV_NUM_THREADS``, else
    ``OMP_NUM_THREADS``, else all cores; ``gconv.threads``,
    ``gconv.set_num_threads`` and threadpoolctl's limits change it) and
    never more than its share of the cores when other tasks run beside it:

    - in a ``distributed`` worker: cores // the threads of the workers in
      its process (its own under a Nanny, all of them in a
      ``LocalCluster(processes=False)``). Dask's Nanny starts workers with
      ``OMP_NUM_THREADS=1``, which gconv reads, so by default each task runs
      on one thread, Dask's one-core-per-worker-thread model; give workers
      ``GCONV_NUM_THREADS`` (or call ``client.run(gconv.set_num_threads, n)``)
      to let a task use more, up to that share;
    - in dask's threaded scheduler: cores // the pool's threads;
    - in the synchronous scheduler (tasks in the main thread, one at a
      time): gconv's own count.

    ``parallel_tasks`` (the number of tasks of the layer) caps how many
    tasks can share the cores, so a few large blocks still get every core.

    Example:
        >>> from gconv.dask import threads_per_task
        >>> import gconv
        >>> 1 <= threads_per_task() <= gconv.get_num_threads()
        True
    """
    configured = _core.get_num_threads()
    slots = _distributed_worker_threads()
    if slots is None:
        slots = _local_scheduler_threads()
        if slots is None:
            return configured
    if parallel_tasks:
        slots = min(slots, parallel_tasks)
    return max(1, min(configured, _usable_cpus() // max(slots, 1)))


# --------------------------------------------------------------------------- blocks

@dataclass(frozen=True, slots=True)
class ConvBlock:
    """How one output block of a chunked conv2d is computed: its share of the
    weight (output channels ``[k_start, k_stop)``, ``groups`` groups), its own
    padding, the algorithm (the big call's, where it accepts the block), the
    shape of an all-zero input for a window that lies in the padding, and how
    many tasks the layer has (for :func:`threads_per_task`)."""

    layout: str
    stride: tuple
    dilation: tuple
    groups: int
    k_start: int
    k_stop: int
    padding: tuple
    activation: object
    algorithm: object
    zero_input_shape: object
    parallel_tasks: int


def spatial_axes(layout):
    return (2, 3) if layout == "NCHW" else (1, 2)


def assemble(pieces, layout):
    """One array from a 2-D nested list of blocks (rows along H, then W),
    each element copied once (a lone block is returned as it is)."""
    if len(pieces) == 1 and len(pieces[0]) == 1:
        return pieces[0][0]
    axis_h, axis_w = spatial_axes(layout)
    first = pieces[0][0]
    shape = list(first.shape)
    shape[axis_h] = sum(row[0].shape[axis_h] for row in pieces)
    shape[axis_w] = sum(piece.shape[axis_w] for piece in pieces[0])
    result = np.empty(shape, first.dtype)
    index = [slice(None)] * result.ndim
    row_start = 0
    for row in pieces:
        col_start = 0
        height = row[0].shape[axis_h]
        for piece in row:
            width = piece.shape[axis_w]
            index[axis_h] = slice(row_start, row_start + height)
            index[axis_w] = slice(col_start, col_start + width)
            result[tuple(index)] = piece
            col_start += width
        row_start += height
    return result


def run_conv(x, weight, bias, stride, padding, dilation, groups, layout, activation, algorithm,
             num_threads, where):
    """conv2d of one block with an explicit thread count."""
    spec = ConvSpec(weight, bias, stride, padding, dilation, groups, layout, activation, where)
    desc, out_shape, _ = spec.descriptor(x.shape)
    result = np.empty(out_shape, spec.dtype)
    if result.size:
        plan = _core.Plan(desc, spec.weight, spec.bias, algorithm)
        plan.execute(kernel_ready(x), result, desc[0], num_threads)
    return result


def _descriptor(weight_shape, stride, padding, dilation, groups, layout, activation, x_shape,
                dtype, has_bias):
    params = ConvParams(weight_shape, stride, padding, dilation, groups, layout, activation,
                        "gconv.dask")
    desc, _, _ = params.descriptor(tuple(x_shape), dtype, has_bias)
    return desc


def planner_choice(weight_shape, stride, padding, dilation, groups, layout, activation, x_shape,
                   dtype, has_bias):
    """The algorithm gconv's planner picks for this convolution."""
    return _core.choose_algorithm(_descriptor(weight_shape, stride, padding, dilation, groups,
                                              layout, activation, x_shape, dtype, has_bias))


def block_algorithm(weight_shape, stride, padding, dilation, groups, layout, activation,
                    x_shape, dtype, has_bias, preferred):
    """``preferred`` where it accepts this block, else None (the planner's choice).

    Blocks run the big call's algorithm so that they add the same products in
    the same order; a small edge block could otherwise get another one (a
    1x1-output block of a depthwise conv looks like a global depthwise one).
    """
    desc = _descriptor(weight_shape, stride, padding, dilation, groups, layout, activation,
                       x_shape, dtype, has_bias)
    try:
        _core.choose_algorithm(desc, preferred)
    except ValueError:
        return None
    return preferred


def conv_block(pieces, weight, bias, block):
    """The task of one output block: assemble its input window, convolve."""
    if block.zero_input_shape is not None:
        x = np.zeros(block.zero_input_shape, weight.dtype)
    else:
        x = assemble(pieces, block.layout)
    weight = weight[block.k_start:block.k_stop]
    bias = None if bias is None else bias[block.k_start:block.k_stop]
    return run_conv(x, weight, bias, block.stride, block.padding, block.dilation, block.groups,
                    block.layout, block.activation, block.algorithm,
                    threads_per_task(block.parallel_tasks), "gconv.dask.conv2d")


# --------------------------------------------------------------------------- global ops

@dataclass(frozen=True, slots=True)
class GlobalBlock:
    """One block of a global op: output channels ``[k_start, k_stop)`` and,
    for a partial over one spatial chunk, that chunk's ``rows``/``cols``."""

    layout: str
    k_start: int
    k_stop: int
    rows: object
    cols: object
    parallel_tasks: int


def _channels(x, layout):
    return x.shape[1] if layout == "NCHW" else x.shape[3]


def global_depthwise_block(x, weight, bias, block):
    """GDC of a block that holds whole images."""
    weight = weight[block.k_start:block.k_stop]
    bias = None if bias is None else bias[block.k_start:block.k_stop]
    return run_conv(x, weight, bias, 1, 0, 1, _channels(x, block.layout), block.layout, None,
                    "global_depthwise", threads_per_task(block.parallel_tasks),
                    "gconv.dask.global_depthwise_conv2d")


def global_depthwise_partial(x, weight, block):
    """One spatial chunk's share of a GDC: its positions' weighted sum, float64."""
    weight = weight[block.k_start:block.k_stop, :, block.rows[0]:block.rows[1],
                    block.cols[0]:block.cols[1]]
    part = run_conv(x, weight, None, 1, 0, 1, _channels(x, block.layout), block.layout, None,
                    "global_depthwise", threads_per_task(block.parallel_tasks),
                    "gconv.dask.global_depthwise_conv2d")
    return part.astype(np.float64)


def global_avg_pool_block(x, block):
    """Global average pooling of a block that holds whole images."""
    n = x.shape[0]
    c = _channels(x, block.layout)
    h, w = (x.shape[2:] if block.layout == "NCHW" else x.shape[1:3])
    shape = (n, c, 1, 1) if block.layout == "NCHW" else (n, 1, 1, c)
    result = np.empty(shape, x.dtype)
    if result.size:
        _core.global_avg_pool2d(DTYPE_CODES[x.dtype], LAYOUT_CODES[block.layout], n, c, h, w,
                                kernel_ready(x), result, threads_per_task(block.parallel_tasks))
    return result


def global_avg_pool_partial(x, block):
    """One spatial chunk's sum (its mean times its area), float64."""
    area = (block.rows[1] - block.rows[0]) * (block.cols[1] - block.cols[0])
    return global_avg_pool_block(x, block).astype(np.float64) * area


def combine_partials(partials, bias, block, dtype, scale):
    """Sum of the spatial chunks' partials (in chunk order, so the result is
    reproducible), times ``scale``, plus the bias, in ``dtype``."""
    total = partials[0].copy()
    for part in partials[1:]:
        total += part
    total *= scale
    if bias is not None:
        shape = (1, -1, 1, 1) if block.layout == "NCHW" else (1, 1, 1, -1)
        total += bias[block.k_start:block.k_stop].astype(np.float64).reshape(shape)
    return total.astype(dtype)
