"""Filter a stack of 16k x 16k images with a depthwise filter bank on a local Dask cluster.

Each image of the stack (a channel) is convolved with its own bank of
oriented Gabor filters (a depthwise convolution with depth multiplier
``--filters``), chunked into ``--chunk``-pixel tiles over a
``distributed.LocalCluster``; each tile reads thin halos from its
neighbours, so the result equals one in-memory call. The script prints the
cluster's throughput, then that of one in-process ``gconv.depthwise_conv2d``
call on the same data (when it fits in memory), and their ratio.

    pip install "gconv[dask]"
    python examples/dask_filter.py                 # 4 x 16384 x 16384 float32, ~1-2 min on 2 cores
    python examples/dask_filter.py --size 2048     # a quick run

The data are made tile by tile from a seed per tile, on the workers for the
cluster run and in the main process for the in-process one, so both see the
same pixels; the filter energies (mean squared response per output channel)
of both runs are compared at the end.
"""

import argparse
import logging
import time

import numpy as np


def gabor_bank(channels, filters, size, dtype=np.float32):
    """(channels * filters, 1, size, size): ``filters`` orientations per channel."""
    half = size // 2
    yy, xx = np.mgrid[-half:size - half, -half:size - half].astype(np.float64)
    sigma, wavelength = size / 4, size / 2
    bank = []
    for k in range(filters):
        theta = np.pi * k / filters
        along = xx * np.cos(theta) + yy * np.sin(theta)
        kernel = np.exp(-(xx**2 + yy**2) / (2 * sigma**2)) * np.cos(2 * np.pi * along / wavelength)
        bank.append(kernel - kernel.mean())
    bank = np.stack(bank)[:, None]
    return np.tile(bank, (channels, 1, 1, 1)).astype(dtype)


def make_tile(channel, row, col, shape, seed=2024):
    """One tile of the stack: a smooth pattern plus noise, reproducible from its position."""
    rng = np.random.default_rng([seed, channel, row, col])
    tile = rng.random(shape, dtype=np.float32)
    tile += np.float32(channel + 1) * np.sin(np.arange(shape[-1], dtype=np.float32) / 37)
    return tile


def dask_stack(channels, size, chunk):
    import dask.array as da

    def block(block_id=None):
        _, c, i, j = block_id
        rows = min(chunk, size - i * chunk)
        cols = min(chunk, size - j * chunk)
        return make_tile(c, i, j, (rows, cols))[None, None]

    chunks = ((1,), (1,) * channels, tuple(min(chunk, size - s) for s in range(0, size, chunk)),
              tuple(min(chunk, size - s) for s in range(0, size, chunk)))
    return da.map_blocks(block, chunks=chunks, dtype=np.float32, meta=np.empty((0,) * 4, np.float32))


def numpy_stack(channels, size, chunk):
    x = np.empty((1, channels, size, size), np.float32)
    for c in range(channels):
        for i, r in enumerate(range(0, size, chunk)):
            for j, s in enumerate(range(0, size, chunk)):
                rows, cols = min(chunk, size - r), min(chunk, size - s)
                x[0, c, r:r + rows, s:s + cols] = make_tile(c, i, j, (rows, cols))
    return x


def tile_energy(y):
    """Sum of squared responses per output channel of one tile, (N, K, 1, 1) float64."""
    out = np.empty(y.shape[:2] + (1, 1))
    for n in range(y.shape[0]):
        for k in range(y.shape[1]):
            plane = y[n, k].astype(np.float64).ravel()
            out[n, k] = np.dot(plane, plane)
    return out


def energies(y, step=1024):
    """Mean squared response per output channel of the whole (1, K, H, W) result."""
    total = sum(tile_energy(y[:, :, r:r + step]) for r in range(0, y.shape[2], step))
    return total[0, :, 0, 0] / (y.shape[2] * y.shape[3])


def report(label, seconds, pixels, flops):
    print(f"{label:<34} {seconds:8.2f} s  {pixels / seconds / 1e6:9.1f} Mpixel/s  "
          f"{flops / seconds / 1e9:7.1f} GFLOP/s")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=16384, help="image height and width")
    parser.add_argument("--channels", type=int, default=4, help="images in the stack")
    parser.add_argument("--filters", type=int, default=2, help="orientations per image")
    parser.add_argument("--kernel", type=int, default=7, help="filter size")
    parser.add_argument("--chunk", type=int, default=2048, help="tile size")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads-per-worker", type=int, default=1)
    parser.add_argument("--no-in-process", action="store_true",
                        help="skip the in-process comparison")
    args = parser.parse_args()

    import distributed
    import psutil

    import gconv.dask

    size, channels, filters, k = args.size, args.channels, args.filters, args.kernel
    bank = gabor_bank(channels, filters, k)
    pixels = channels * size * size
    flops = 2 * k * k * pixels * filters
    in_gib, out_gib = pixels * 4 / 2**30, pixels * filters * 4 / 2**30
    print(f"stack: {channels} x {size} x {size} float32 ({in_gib:.1f} GiB), bank: {filters} "
          f"{k}x{k} Gabor filters per image -> {channels * filters} channels ({out_gib:.1f} GiB)")
    print(f"gconv {gconv.__version__}, {gconv.build_info()['isa_active']}, in-process threads: "
          f"{gconv.get_num_threads()}")

    with distributed.LocalCluster(n_workers=args.workers, threads_per_worker=args.threads_per_worker,
                                  processes=True, dashboard_address=":0",
                                  silence_logs=logging.CRITICAL) as cluster, distributed.Client(cluster) as client:
        x = dask_stack(channels, size, args.chunk)
        start = time.perf_counter()
        x = x.persist()
        distributed.wait(x)
        generated = time.perf_counter() - start
        task_threads = client.submit(gconv.dask.threads_per_task, pure=False).result()
        print(f"cluster: {args.workers} worker processes x {args.threads_per_worker} thread(s), "
              f"{x.npartitions} tiles of {args.chunk}^2, {task_threads} gconv thread(s) per task; "
              f"tiles generated in {generated:.1f} s")
        y = gconv.dask.depthwise_conv2d(x, bank, padding="same")
        # Each tile's energy is computed right after its filtering, so only
        # (1, K, 1, 1) sums leave the workers.
        tiles = y.map_blocks(tile_energy, chunks=y.chunks[:2] + ((1,) * len(y.chunks[2]),
                                                                 (1,) * len(y.chunks[3])),
                             dtype=np.float64)
        energy_of_cluster = tiles.sum(axis=(2, 3))[0] / (size * size)
        start = time.perf_counter()
        energy_of_cluster = energy_of_cluster.compute()
        cluster_seconds = time.perf_counter() - start
        del x
    report("LocalCluster (filter + energies)", cluster_seconds, pixels, flops)

    if args.no_in_process:
        return
    needed = (in_gib + out_gib) * 2**30
    available = psutil.virtual_memory().available
    if needed > 0.85 * available:
        print(f"in-process call skipped: needs {needed / 2**30:.1f} GiB of "
              f"{available / 2**30:.1f} GiB")
        return
    x = numpy_stack(channels, size, args.chunk)
    start = time.perf_counter()
    y = gconv.depthwise_conv2d(x, bank, padding="same")
    inprocess_seconds = time.perf_counter() - start
    start = time.perf_counter()
    energy_in_process = energies(y)
    energy_seconds = time.perf_counter() - start
    report("one in-process call (filter only)", inprocess_seconds, pixels, flops)
    report("in-process filter + energies", inprocess_seconds + energy_seconds, pixels, flops)
    print(f"cluster / one in-process call throughput: {inprocess_seconds / cluster_seconds:.2f}x "
          f"({(inprocess_seconds + energy_seconds) / cluster_seconds:.2f}x counting the energies "
          f"on both sides); filter energies agree to "
          f"{np.max(np.abs(energy_of_cluster / energy_in_process - 1)):.1e}")


if __name__ == "__main__":
    main()
