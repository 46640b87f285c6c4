"""gconv.dask: lazy, chunked convolution of dask arrays equals one in-memory call.

Most cases run on dask's threaded scheduler; a representative subset runs on
a ``distributed.LocalCluster`` (2 worker processes, 1 thread each) that this
module starts itself. What is asserted:

- convolutions (conv2d, depthwise_conv2d, Conv2d): the same bits as
  ``gconv.conv2d`` on the whole input, for batch, channel, spatial and mixed
  chunking: each block runs the big call's algorithm on the same products
  in the same order, halos and borders included;
- global ops: the same bits when blocks hold whole images; over several
  spatial chunks, ``rtol=1e-6`` (float64) / ``1e-5`` (float32), since their
  per-chunk partial sums are added in another order than the one big sum.
"""

import doctest
import logging
import os
import pickle
import warnings
from dataclasses import dataclass

import numpy as np
import pytest

da = pytest.importorskip("dask.array")

import gconv  # noqa: E402
import gconv.dask  # noqa: E402
from gconv import _dask_geometry, _dask_tasks  # noqa: E402
from conftest import assert_same_bits, covering_array, random_array  # noqa: E402

# Chunking patterns as (batch, channels, rows, cols); -1 is one chunk, "groups"
# one chunk per group (several groups when depthwise).
CHUNKINGS = {
    "batch": (1, -1, -1, -1),
    "rows": (-1, -1, 4, -1),
    "cols": (-1, -1, -1, 3),
    "tiles": (-1, -1, (3, 5, 1, 4), (2, 7, 5)),
    "pixels": (-1, -1, 1, 2),
    "mixed": (2, "groups", 5, 4),
}


@dataclass(frozen=True)
class ChunkedCase:
    """A conv2d problem plus the chunking of its dask input."""

    c: int
    g: int
    k: int
    chunking: str
    kernel: tuple = (3, 3)
    stride: object = 1
    dilation: object = 1
    padding: object = 0
    layout: str = "NCHW"
    dtype: str = "float32"
    bias: bool = False
    activation: object = None
    n: int = 3
    h: int = 13
    w: int = 14
    seed: int = 0

    def arrays(self):
        shape = (self.n, self.c, self.h, self.w) if self.layout == "NCHW" else \
            (self.n, self.h, self.w, self.c)
        x = random_array(shape, self.dtype, self.seed)
        weight = random_array((self.k, self.c // self.g) + self.kernel, self.dtype, self.seed + 1)
        bias = random_array((self.k,), self.dtype, self.seed + 2) if self.bias else None
        return x, weight, bias

    def chunks(self):
        batch, channels, rows, cols = CHUNKINGS[self.chunking]
        if channels == "groups":
            channels = max(self.c // self.g, 2 if self.g == self.c else 1)
        return (batch, channels, rows, cols) if self.layout == "NCHW" else \
            (batch, rows, cols, channels)

    def kwargs(self):
        return dict(stride=self.stride, padding=self.padding, dilation=self.dilation,
                    groups=self.g, layout=self.layout, activation=self.activation)

    def expected_and_lazy(self):
        x, weight, bias = self.arrays()
        expected = gconv.conv2d(x, weight, bias, **self.kwargs())
        lazy = gconv.dask.conv2d(da.from_array(x, chunks=self.chunks()), weight, bias,
                                 **self.kwargs())
        return expected, lazy

    def id(self):
        return (f"c{self.c}g{self.g}k{self.k}-{self.chunking}-k{self.kernel[0]}x{self.kernel[1]}"
                f"-s{self.stride}-d{self.dilation}-p{self.padding}-{self.layout}-{self.dtype}"
                f"-b{int(self.bias)}-{self.activation}").replace(" ", "")


def _cases():
    rows = covering_array({
        "channels": ((4, 1, 6), (6, 3, 12), (8, 8, 8), (5, 5, 10), (64, 2, 128)),
        "chunking": tuple(CHUNKINGS),
        "kernel": ((3, 3), (1, 1), (5, 3), (2, 2)),
        "stride": (1, 2, 3, (3, 2)),
        "dilation": (1, 2, (2, 1)),
        "padding": (0, 1, "same", "valid", ((2, 0), (1, 3)), (0, 2)),
        "layout": ("NCHW", "NHWC"),
        "dtype": ("float32", "float64"),
        "epilogue": ((False, None), (True, "relu"), (True, None), (False, "relu6")),
    }, seed=3)
    cases = []
    for index, row in enumerate(rows):
        c, g, k = row["channels"]
        bias, activation = row["epilogue"]
        cases.append(ChunkedCase(c=c, g=g, k=k, chunking=row["chunking"], kernel=row["kernel"],
                                 stride=row["stride"], dilation=row["dilation"],
                                 padding=row["padding"], layout=row["layout"],
                                 dtype=row["dtype"], bias=bias, activation=activation,
                                 seed=100 + index))
    return cases


CASES = _cases()

# The subset that also runs on the LocalCluster: every chunking, both layouts,
# strides 1-3, dilation, 'same' and asymmetric padding.
CLUSTER_CASES = [
    ChunkedCase(c=6, g=3, k=12, chunking="batch", stride=2, padding=1, bias=True),
    ChunkedCase(c=8, g=8, k=16, chunking="rows", stride=2, padding="same", layout="NHWC"),
    ChunkedCase(c=4, g=1, k=6, chunking="tiles", stride=3, padding=((2, 0), (1, 3)),
                dtype="float64", activation="relu", bias=True),
    ChunkedCase(c=5, g=5, k=10, chunking="pixels", kernel=(5, 3), dilation=2, padding="same"),
    ChunkedCase(c=6, g=3, k=6, chunking="mixed", stride=3, padding="same", layout="NHWC",
                dtype="float64"),
    ChunkedCase(c=8, g=8, k=8, chunking="tiles", stride=1, dilation=(2, 1), padding=(0, 2)),
]


def compute_threaded(lazy):
    return lazy.compute(scheduler="threads")


# --------------------------------------------------------------------------- threaded scheduler

@pytest.mark.parametrize("case", CASES, ids=ChunkedCase.id)
def test_chunked_conv2d_has_the_bits_of_one_in_memory_call(case):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", gconv.dask.ChannelRechunkWarning)
        expected, lazy = case.expected_and_lazy()
    assert lazy.shape == expected.shape and lazy.dtype == expected.dtype
    assert_same_bits(compute_threaded(lazy), expected, case.id())


@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("rows_per_chunk", [1, 2, 4, 5])
@pytest.mark.parametrize("padding", [0, "same", ((3, 1), (0, 0))])
def test_chunk_boundaries_not_on_the_stride_give_exact_borders(stride, rows_per_chunk, padding):
    x = random_array((1, 2, 17, 3), "float64", 7)
    weight = random_array((2, 1, 4, 1), "float64", 8)
    expected = gconv.conv2d(x, weight, stride=stride, padding=padding, groups=2)
    lazy = gconv.dask.conv2d(da.from_array(x, chunks=(1, 2, rows_per_chunk, 3)), weight,
                             stride=stride, padding=padding, groups=2)
    assert_same_bits(compute_threaded(lazy), expected, f"stride {stride} rows {rows_per_chunk}")


def test_blocks_whose_window_is_all_padding_give_bias_and_activation():
    x = random_array((2, 3, 4, 4), "float32", 1)
    weight = random_array((3, 1, 1, 1), "float32", 2)
    bias = np.array([-1.0, 0.5, 7.0], np.float32)
    kwargs = dict(padding=5, groups=3, activation="relu6")
    lazy = gconv.dask.conv2d(da.from_array(x, chunks=(1, 1, 1, 2)), weight, bias, **kwargs)
    expected = gconv.conv2d(x, weight, bias, **kwargs)
    assert lazy.chunks[2] != (expected.shape[2],)
    assert_same_bits(compute_threaded(lazy), expected, "padding wider than the input")


def test_unbatched_input_gives_unbatched_result():
    x = random_array((4, 9, 9), "float32", 3)
    weight = random_array((8, 2, 3, 3), "float32", 4)
    lazy = gconv.dask.conv2d(da.from_array(x, chunks=(4, 4, 5)), weight, groups=2, padding=1)
    assert_same_bits(compute_threaded(lazy), gconv.conv2d(x, weight, groups=2, padding=1),
                     "unbatched")


def test_empty_batch_gives_an_empty_result_of_the_right_shape():
    x = np.zeros((0, 3, 8, 8), np.float32)
    weight = np.ones((6, 1, 3, 3), np.float32)
    lazy = gconv.dask.depthwise_conv2d(da.from_array(x, chunks=(1, 3, 4, 4)), weight, stride=2)
    assert compute_threaded(lazy).shape == gconv.depthwise_conv2d(x, weight, stride=2).shape


def test_numpy_input_is_wrapped():
    x = random_array((2, 4, 6, 6), "float64", 5)
    weight = random_array((4, 1, 3, 3), "float64", 6)
    lazy = gconv.dask.depthwise_conv2d(x, weight, padding="same")
    assert isinstance(lazy, da.Array)
    assert_same_bits(compute_threaded(lazy), gconv.depthwise_conv2d(x, weight, padding="same"),
                     "numpy input")


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_depthwise_with_multiplier_keeps_channel_chunks(layout):
    x = random_array((2, 3, 20, 18) if layout == "NCHW" else (2, 20, 18, 3), "float32", 9)
    weight = random_array((9, 1, 5, 5), "float32", 10)
    bias = random_array((9,), "float32", 11)
    chunks = (1, 1, 7, 6) if layout == "NCHW" else (1, 7, 6, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", gconv.dask.ChannelRechunkWarning)
        lazy = gconv.dask.depthwise_conv2d(da.from_array(x, chunks=chunks), weight, bias,
                                           stride=2, padding=2, layout=layout)
    assert lazy.chunks[1 if layout == "NCHW" else 3] == (3, 3, 3)
    expected = gconv.depthwise_conv2d(x, weight, bias, stride=2, padding=2, layout=layout)
    assert_same_bits(compute_threaded(lazy), expected, f"depthwise m=3 {layout}")


def test_channel_chunks_that_split_groups_are_rechunked_with_a_warning():
    x = random_array((1, 8, 6, 6), "float32", 12)
    weight = random_array((8, 2, 3, 3), "float32", 13)
    with pytest.warns(gconv.dask.ChannelRechunkWarning, match=r"\(3, 5\).*groups of 2.*\(4, 4\)"):
        lazy = gconv.dask.conv2d(da.from_array(x, chunks=(1, (3, 5), 6, 6)), weight, groups=4)
    assert lazy.chunks[1] == (4, 4)
    assert_same_bits(compute_threaded(lazy), gconv.conv2d(x, weight, groups=4), "rechunked")


def test_channel_chunks_at_groups_1_are_merged_with_a_warning():
    x = random_array((1, 4, 6, 6), "float32", 14)
    weight = random_array((3, 4, 3, 3), "float32", 15)
    with pytest.warns(gconv.dask.ChannelRechunkWarning, match="groups=1"):
        lazy = gconv.dask.conv2d(da.from_array(x, chunks=(1, 2, 6, 6)), weight)
    assert lazy.chunks[1] == (3,)
    assert_same_bits(compute_threaded(lazy), gconv.conv2d(x, weight), "merged channels")


def test_group_aligned_channel_chunks_move_nothing():
    x = random_array((1, 8, 6, 6), "float32", 16)
    weight = random_array((12, 2, 3, 3), "float32", 17)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lazy = gconv.dask.conv2d(da.from_array(x, chunks=(1, (2, 6), 6, 6)), weight, groups=4)
    assert lazy.chunks[1] == (3, 9)
    assert "rechunk" not in " ".join(map(str, lazy.__dask_graph__().layers))


def _arrays_shaped_like(graph, shape):
    return [key for key, value in dict(graph).items()
            if isinstance(value, np.ndarray) and value.shape == shape]


def test_weight_is_one_key_of_the_graph_whatever_the_chunk_count():
    x = random_array((4, 8, 32, 32), "float32", 18)
    weight = random_array((64, 1, 31, 31), "float32", 19)   # 246 KB
    one = gconv.dask.depthwise_conv2d(da.from_array(x, chunks=-1), weight, padding=15)
    many = gconv.dask.depthwise_conv2d(da.from_array(x, chunks=(1, 2, 8, 8)), weight, padding=15)
    assert many.npartitions == 4 * 4 * 4 * 4
    for lazy in (one, many):
        assert len(_arrays_shaped_like(lazy.__dask_graph__(), weight.shape)) == 1
    growth = len(pickle.dumps(dict(many.__dask_graph__()))) - \
        len(pickle.dumps(dict(one.__dask_graph__())))
    assert growth < weight.nbytes, f"graph grew by {growth} bytes for 255 more blocks"


def test_conv2d_plan_shares_one_weight_key_between_calls():
    weight = random_array((6, 1, 3, 3), "float32", 20)
    conv = gconv.dask.Conv2d(weight, groups=6, padding="same", stride=2)
    a = da.from_array(random_array((2, 6, 9, 9), "float32", 21), chunks=(1, 6, 5, 5))
    b = da.from_array(random_array((1, 6, 12, 7), "float32", 22), chunks=(1, 3, 4, 7))
    merged = {**dict(conv(a).__dask_graph__()), **dict(conv(b).__dask_graph__())}
    assert len(_arrays_shaped_like(merged, weight.shape)) == 1
    for x in (a, b):
        expected = gconv.Conv2d(weight, groups=6, padding="same", stride=2)(x.compute())
        assert_same_bits(compute_threaded(conv(x)), expected, "Conv2d")


def test_conv2d_plan_keeps_its_own_copy_of_the_weights():
    weight = np.ones((2, 1, 3, 3), np.float32)
    conv = gconv.dask.Conv2d(weight, groups=2)
    weight[:] = 5
    x = da.ones((1, 2, 5, 5), chunks=(1, 1, 3, 3), dtype=np.float32)
    assert float(compute_threaded(conv(x)).max()) == 9.0
    assert not conv.weight.flags.writeable


def test_errors_are_those_of_the_in_memory_call():
    x = da.ones((1, 6, 5, 5), chunks=2, dtype=np.float32)
    weight = np.ones((8, 2, 3, 3), np.float32)
    with pytest.raises(ValueError) as lazy_error:
        gconv.dask.conv2d(x, weight, groups=4)
    with pytest.raises(ValueError) as eager_error:
        gconv.conv2d(np.ones((1, 6, 5, 5), np.float32), weight, groups=4)
    assert str(lazy_error.value) == str(eager_error.value)
    with pytest.raises(TypeError, match="float64"):
        gconv.dask.conv2d(x, weight.astype(np.float64))
    with pytest.raises(TypeError, match="int64"):
        gconv.dask.global_avg_pool2d(da.ones((1, 2, 3, 3), dtype=np.int64))
    with pytest.raises(ValueError, match="kernel"):
        gconv.dask.conv2d(x[:, :2], np.ones((1, 2, 7, 7), np.float32))
    with pytest.raises(ValueError, match="5-D"):
        gconv.dask.conv2d(x[None], weight)
    with pytest.raises(ValueError, match="global_depthwise_conv2d"):
        gconv.dask.global_depthwise_conv2d(x, np.ones((6, 1, 3, 3), np.float32))


# --------------------------------------------------------------------------- global ops

GLOBAL_CHUNKINGS = {
    "whole images": ((1, 2), (3, 3), -1, -1),
    "spatial": (-1, -1, (4, 3), (2, 5)),
    "mixed": (1, 2, 3, 4),
}


def _global_inputs(layout, dtype, chunking, seed):
    x = random_array((3, 6, 7, 7), dtype, seed)
    weight = random_array((12, 1, 7, 7), dtype, seed + 1)
    bias = random_array((12,), dtype, seed + 2)
    batch, channels, rows, cols = GLOBAL_CHUNKINGS[chunking]
    if layout == "NHWC":
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
        chunks = (batch, rows, cols, channels)
    else:
        chunks = (batch, channels, rows, cols)
    return x, da.from_array(x, chunks=chunks), weight, bias


def _assert_global_result(got, expected, chunking, dtype, what):
    if chunking == "whole images":
        assert_same_bits(got, expected, what)
    else:
        assert got.dtype == expected.dtype and got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=1e-6 if dtype == "float64" else 1e-5,
                                   atol=1e-6, err_msg=what)


@pytest.mark.parametrize("chunking", list(GLOBAL_CHUNKINGS))
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_global_depthwise_conv2d_over_chunks(chunking, layout, dtype):
    x, lazy_x, weight, bias = _global_inputs(layout, dtype, chunking, 30)
    lazy = gconv.dask.global_depthwise_conv2d(lazy_x, weight, bias, layout=layout)
    expected = gconv.global_depthwise_conv2d(x, weight, bias, layout=layout)
    _assert_global_result(compute_threaded(lazy), expected, chunking, dtype,
                          f"GDC {chunking} {layout} {dtype}")


@pytest.mark.parametrize("chunking", list(GLOBAL_CHUNKINGS))
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_global_avg_pool2d_over_chunks(chunking, layout, dtype):
    x, lazy_x, _, _ = _global_inputs(layout, dtype, chunking, 40)
    lazy = gconv.dask.global_avg_pool2d(lazy_x, layout=layout)
    expected = gconv.global_avg_pool2d(x, layout=layout)
    _assert_global_result(compute_threaded(lazy), expected, chunking, dtype,
                          f"avg pool {chunking} {layout} {dtype}")


def test_global_ops_accept_unbatched_inputs():
    x = random_array((4, 6, 5), "float64", 50)
    weight = random_array((4, 1, 6, 5), "float64", 51)
    lazy_x = da.from_array(x, chunks=(2, 3, 5))
    np.testing.assert_allclose(compute_threaded(gconv.dask.global_depthwise_conv2d(lazy_x, weight)),
                               gconv.global_depthwise_conv2d(x, weight), rtol=1e-12)
    np.testing.assert_allclose(compute_threaded(gconv.dask.global_avg_pool2d(lazy_x)),
                               gconv.global_avg_pool2d(x), rtol=1e-12)


@pytest.mark.parametrize("module", [gconv.dask, _dask_tasks, _dask_geometry],
                         ids=lambda m: m.__name__)
def test_docstring_examples_run(module):
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 3 and result.failed == 0


# --------------------------------------------------------------------------- threads

def test_synchronous_scheduler_tasks_use_gconv_thread_count(restore_threads):
    gconv.set_num_threads(3)
    assert gconv.dask.threads_per_task(parallel_tasks=100) == 3


def test_threaded_scheduler_tasks_share_the_cores(monkeypatch, restore_threads):
    import dask

    monkeypatch.setattr(_dask_tasks, "_usable_cpus", lambda: 8)
    gconv.set_num_threads(8)
    with dask.config.set(num_workers=4):
        share = dask.delayed(gconv.dask.threads_per_task)(100).compute(scheduler="threads")
        few_tasks = dask.delayed(gconv.dask.threads_per_task)(1).compute(scheduler="threads")
    assert (share, few_tasks) == (2, 8)


def test_worker_tasks_take_cores_over_worker_threads_at_most_gconv_count(monkeypatch,
                                                                         restore_threads):
    monkeypatch.setattr(_dask_tasks, "_usable_cpus", lambda: 16)
    monkeypatch.setattr(_dask_tasks, "_distributed_worker_threads", lambda: 4)
    gconv.set_num_threads(16)
    assert gconv.dask.threads_per_task() == 4
    assert gconv.dask.threads_per_task(parallel_tasks=2) == 8
    with gconv.threads(3):
        assert gconv.dask.threads_per_task() == 3
    monkeypatch.setattr(_dask_tasks, "_distributed_worker_threads", lambda: 32)
    assert gconv.dask.threads_per_task() == 1


def test_in_process_cluster_tasks_share_the_cores_among_all_its_workers(monkeypatch,
                                                                        restore_threads):
    distributed = pytest.importorskip("distributed")
    monkeypatch.setattr(_dask_tasks, "_usable_cpus", lambda: 16)
    gconv.set_num_threads(16)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=2, processes=False,
                                  dashboard_address=":0", silence_logs=logging.ERROR) as cluster, \
            distributed.Client(cluster, set_as_default=False) as client:
        per_task = client.submit(gconv.dask.threads_per_task, pure=False).result()
    assert per_task == 16 // 4


# --------------------------------------------------------------------------- LocalCluster

@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=":0", silence_logs=logging.ERROR)
    client = distributed.Client(cluster, set_as_default=False)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


@pytest.mark.parametrize("case", CLUSTER_CASES, ids=ChunkedCase.id)
def test_cluster_result_has_the_bits_of_one_in_memory_call(client, case):
    expected, lazy = case.expected_and_lazy()
    assert_same_bits(client.compute(lazy, sync=True), expected, case.id())


def test_cluster_global_ops_and_plan(client):
    x, lazy_x, weight, bias = _global_inputs("NHWC", "float64", "mixed", 60)
    gdc = gconv.dask.global_depthwise_conv2d(lazy_x, weight, bias, layout="NHWC")
    pool = gconv.dask.global_avg_pool2d(lazy_x, layout="NHWC")
    conv = gconv.dask.Conv2d(weight[:, :, :3, :3], groups=6, padding=1, layout="NHWC")
    got_gdc, got_pool, got_conv = client.compute([gdc, pool, conv(lazy_x)], sync=True)
    np.testing.assert_allclose(got_gdc, gconv.global_depthwise_conv2d(x, weight, bias,
                                                                      layout="NHWC"), rtol=1e-12)
    np.testing.assert_allclose(got_pool, gconv.global_avg_pool2d(x, layout="NHWC"), rtol=1e-12)
    assert_same_bits(got_conv, gconv.Conv2d(weight[:, :, :3, :3], groups=6, padding=1,
                                            layout="NHWC")(x), "Conv2d on the cluster")


def test_cluster_tasks_stay_within_the_worker_thread_budget(client):
    def budget():
        from dask.system import CPU_COUNT

        return gconv.get_num_threads(), gconv.dask.threads_per_task(), CPU_COUNT

    for configured, per_task, cpus in [client.submit(budget, pure=False).result()
                                       for _ in range(2)]:
        # One thread per worker: a task may take every core, but never more
        # than gconv's count in the worker (1 under the Nanny's OMP_NUM_THREADS=1).
        assert per_task == max(1, min(configured, cpus))
    if "GCONV_NUM_THREADS" not in os.environ:
        assert configured == 1
