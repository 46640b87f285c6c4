"""``python -m gconv bench``: the benchmark suite against the installed peers.

For every layer of gconv._bench_suite x batch x dtype, gconv (a
``gconv.Conv2d`` plan, in each requested layout) and each installed peer
(PyTorch in NCHW and channels_last, ONNX Runtime, OpenVINO) run interleaved,
round-robin, in one process (the whole suite twice, each implementation keeping
its better median); the medians give GFLOP/s, the fraction of the
machine's FMA peak and of the layer's roofline (both measured here, at
start), and the ratio of gconv to the best peer in any layout.

    python -m gconv bench                       # the whole suite, every installed peer
    python -m gconv bench --quick --layers gdc  # a smoke test
    python -m gconv bench --markdown bench/RESULTS.md --plot bench/roofline.png

Only ratios measured in one interleaved run mean much on a shared machine:
absolute speeds move with the load, the ratios much less.
"""

import argparse
import json
import math
import os
import platform
import statistics
import sys
import threading
import time
from dataclasses import dataclass

import numpy as np

import gconv
from gconv import _bench_overhead
from gconv import _bench_suite as suite
from gconv import _core

PEER_NAMES = ("torch", "onnxruntime", "openvino")
DEFAULT_BATCHES = (1, 16)

# Fallbacks when /sys does not say (per-core L2, shared L3).
DEFAULT_L2_BYTES = 512 * 1024
DEFAULT_L3_BYTES = 32 * 1024 * 1024
CACHE_DIR = "/sys/devices/system/cpu/cpu0/cache"

# Issue 3's targets, per kind of layer: ratio to the best peer, fraction of
# roofline, float64 speed relative to our own float32.
RATIO_TARGET = {"dense": 0.9, "grouped": 1.0, "depthwise": 1.0,
                "depthwise_multiplier": 3.0, "global_depthwise": 5.0}
ROOFLINE_TARGET = 0.5
FLOAT64_TARGET = 0.45
# Name prefix of the float32 companions timed in a float64 layer's run.
FLOAT32_PREFIX = "gconv_float32_"
NARROW_GROUPS = 8  # ResNeXt (32) and RegNet (10): the narrow-group layers of the suite


@dataclass(frozen=True)
class Timing:
    """How long to measure each implementation on each layer."""

    target_s: float      # time per implementation and layer, all samples together
    min_samples: int
    max_samples: int
    peak_s: float        # FMA peak measurement, in total
    copy_s: float        # one bandwidth sample
    copy_repeats: int
    settle_s: float = 0.005  # untimed pause before each sample (see time_interleaved)
    # Passes over the whole suite; each time is the best of the passes'
    # medians (see run).
    sweeps: int = 1


FULL = Timing(target_s=0.15, min_samples=3, max_samples=25, peak_s=0.3, copy_s=0.02,
              copy_repeats=7, sweeps=2)
QUICK = Timing(target_s=0.02, min_samples=3, max_samples=5, peak_s=0.1, copy_s=0.003,
               copy_repeats=3)


class Unsupported(Exception):
    """A peer cannot run this layer (dtype, operator); the message says why."""


# --------------------------------------------------------------------------- machine limits

def _parse_size(text):
    """``'512K'`` / ``'32M'`` / ``'1024'`` -> bytes."""
    text = text.strip().upper()
    scale = {"K": 1024, "M": 1024 ** 2, "G": 1024 ** 3}.get(text[-1:], 1)
    return int(text.rstrip("KMG")) * scale


def cache_sizes(cache_dir=CACHE_DIR):
    """``{"L2": bytes, "L3": bytes}`` of cpu0 from /sys, else 512 KiB / 32 MiB.

    L2 is per core; L3 is shared by the cores.
    """
    sizes = {"L2": DEFAULT_L2_BYTES, "L3": DEFAULT_L3_BYTES}
    found = {}
    try:
        entries = sorted(os.listdir(cache_dir))
    except OSError:
        entries = []
    for entry in entries:
        if not entry.startswith("index"):
            continue
        path = os.path.join(cache_dir, entry)
        try:
            with open(os.path.join(path, "level")) as handle:
                level = int(handle.read())
            with open(os.path.join(path, "type")) as handle:
                kind = handle.read().strip()
            with open(os.path.join(path, "size")) as handle:
                size = _parse_size(handle.read())
        except (OSError, ValueError):
            continue
        if level in (2, 3) and kind in ("Unified", "Data"):
            found[f"L{level}"] = size
    sizes.update(found)
    return sizes


def measure_fma_peak(threads, seconds):
    """float32 GFLOP/s of the active ISA's FMA loop on ``threads`` threads: the
    best of three runs of at least ``seconds / 3`` each. The iteration count
    grows until one run lasts that long, rather than being scaled from a short
    run: on a busy machine a short run is mostly the wait for the threads."""
    iterations = 10_000
    while True:
        start = time.perf_counter()
        gflops = _core.measure_fma_peak(iterations, threads)
        if time.perf_counter() - start >= seconds / 3 or iterations >= 1 << 40:
            break
        iterations *= 2
    return max([gflops] + [_core.measure_fma_peak(iterations, threads) for _ in range(2)])


def _copy_bandwidth(array_bytes, threads, timing, copy):
    """GB/s (bytes read + written) of ``copy(source, target)``, ``threads``
    Python threads each copying between its own two arrays of ``array_bytes``
    (NumPy drops the GIL while copying); the median of ``timing.copy_repeats``
    samples."""
    count = max(1, array_bytes // 8)
    pairs = [(np.ones(count), np.zeros(count)) for _ in range(threads)]
    for source, target in pairs:
        copy(source, target)
    start = time.perf_counter()
    copy(*pairs[0])
    once = max(time.perf_counter() - start, 1e-7)
    copies = max(1, int(timing.copy_s / once))

    def sample():
        barrier = threading.Barrier(threads + 1)

        def work(source, target):
            barrier.wait()
            for _ in range(copies):
                copy(source, target)

        workers = [threading.Thread(target=work, args=pair) for pair in pairs]
        for worker in workers:
            worker.start()
        barrier.wait()
        start = time.perf_counter()
        for worker in workers:
            worker.join()
        return time.perf_counter() - start

    seconds = statistics.median(sample() for _ in range(timing.copy_repeats))
    return 2 * count * 8 * copies * threads / seconds * 1e-9


def _numpy_copy(source, target):
    np.copyto(target, source)


def _ufunc_copy(source, target):
    np.negative(source, out=target)


def copy_bandwidth(array_bytes, threads, timing):
    """The best of np.copyto and a SIMD ufunc pass (np.negative into the
    target: the same bytes read and written), on ``threads`` threads and on
    one. The ufunc is there because some libc memcpy paths are far below the
    bandwidth at some sizes (seen: np.copyto at 3 GB/s for 32-128 KiB arrays,
    50 GB/s at 256 KiB, on one virtual machine); one thread because handing
    the GIL between Python threads can cost more than a copy that fits L2."""
    return max(_copy_bandwidth(array_bytes, count, timing, copy)
               for count in sorted({1, threads}) for copy in (_numpy_copy, _ufunc_copy))


def measure_machine(threads, timing):
    """The machine's limits: FMA peak (float32 and float64) and the copy
    bandwidth of L2, L3 and DRAM, each with ``threads`` threads.

    Level capacities for the roofline: L2 is per core, so ``threads`` cores
    hold ``threads`` times it; L3 is shared.
    """
    caches = cache_sizes()
    peak32 = measure_fma_peak(threads, timing.peak_s)
    per_thread = {
        # Source and target together fill half of a core's L2.
        "L2": caches["L2"] // 4,
        # ... half of the shared L3, split among the threads.
        "L3": caches["L3"] // (4 * threads),
        # ... four times the L3.
        "DRAM": 2 * caches["L3"] // threads,
    }
    capacity = {"L2": caches["L2"] * threads, "L3": caches["L3"], "DRAM": None}
    levels = [{"level": level, "capacity_bytes": capacity[level],
               "copy_bytes_per_thread": nbytes,
               "gbytes_per_s": copy_bandwidth(nbytes, threads, timing)}
              for level, nbytes in per_thread.items()]
    return {"threads": threads, "isa": gconv.build_info()["isa_active"],
            "peak_gflops": {"float32": peak32, "float64": peak32 / 2},
            "caches": caches, "levels": levels}


def roofline(machine, flops, min_bytes, dtype):
    """``(GFLOP/s, level)``: min(FMA peak, bandwidth x FLOP/byte) for the
    smallest level whose capacity holds ``min_bytes``."""
    peak = machine["peak_gflops"][dtype]
    for level in machine["levels"]:
        if level["capacity_bytes"] is None or min_bytes <= level["capacity_bytes"]:
            return min(peak, level["gbytes_per_s"] * flops / min_bytes), level["level"]
    raise AssertionError("the last level has no capacity limit")


# --------------------------------------------------------------------------- implementations

@dataclass
class Implementation:
    """One timed callable and how to read its result as an NCHW array."""

    name: str
    run: object
    to_nchw: object = np.asarray


def reused_out(call):
    """``call(out=None)`` timed writing into one array its first call made
    (a fresh result's first-touch page zeroing is not the kernels' cost)."""
    out = call()
    return lambda: call(out)


class TorchPeer:
    """``torch.nn.functional.conv2d`` under no_grad, in NCHW (``torch``) and
    channels_last (``torch_cl``, input and weight in that memory format)."""

    name = "torch"
    forms = ("torch", "torch_cl")

    def __init__(self, threads):
        import torch

        self.torch = torch
        torch.set_num_threads(threads)
        self.version = torch.__version__

    def prepare(self, layer, x_nchw, weight):
        torch, functional = self.torch, self.torch.nn.functional
        kwargs = suite.conv_kwargs(layer)
        x = torch.from_numpy(x_nchw)
        w = torch.from_numpy(weight)
        x_cl = x.contiguous(memory_format=torch.channels_last)
        w_cl = w.contiguous(memory_format=torch.channels_last)

        def form(xt, wt):
            def run():
                with torch.no_grad():
                    return functional.conv2d(xt, wt, **kwargs)
            return run

        to_nchw = lambda y: y.numpy()  # noqa: E731
        return [Implementation("torch", form(x, w), to_nchw),
                Implementation("torch_cl", form(x_cl, w_cl), to_nchw)]


def _onnx_conv_model(layer, weight, batch):
    """A one-node ONNX Conv model (input ``x``, weight as an initializer)."""
    from onnx import TensorProto, helper, numpy_helper

    element = TensorProto.FLOAT if weight.dtype == np.float32 else TensorProto.DOUBLE
    pad = layer.padding
    node = helper.make_node("Conv", ["x", "w"], ["y"], group=layer.groups,
                            kernel_shape=[layer.kernel] * 2, strides=[layer.stride] * 2,
                            pads=[pad] * 4, dilations=[1, 1])
    graph = helper.make_graph(
        [node], layer.name,
        [helper.make_tensor_value_info("x", element, list(suite.input_shape(layer, batch)))],
        [helper.make_tensor_value_info("y", element, list(suite.output_shape(layer, batch)))],
        [numpy_helper.from_array(weight, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8  # read by every ONNX Runtime of the last years
    return model.SerializeToString()


class OnnxRuntimePeer:
    """ONNX Runtime's CPU provider on a one-node Conv model built with onnx,
    all graph optimisations on (its NCHWc layout transform included)."""

    name = "onnxruntime"
    forms = ("onnxruntime",)

    def __init__(self, threads):
        import onnx  # noqa: F401  (builds the model)
        import onnxruntime

        self.ort = onnxruntime
        self.threads = threads
        self.version = onnxruntime.__version__

    def prepare(self, layer, x_nchw, weight):
        ort = self.ort
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Its idle workers spin far longer than the bench's settle pause: on
        # 2 cores, every other library's calls ran up to 3.5x slower right
        # after a session.run. Without spinning ONNX Runtime measured no
        # slower itself (AlexNet conv4 129 -> 148 GFLOP/s, same run).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            session = ort.InferenceSession(_onnx_conv_model(layer, weight, x_nchw.shape[0]),
                                           options, providers=["CPUExecutionProvider"])
        except Exception as error:  # NOT_IMPLEMENTED for float64 Conv
            raise Unsupported(f"onnxruntime: {str(error).splitlines()[0][:120]}") from error
        feeds = {"x": x_nchw}
        return [Implementation("onnxruntime", lambda: session.run(None, feeds)[0])]


class OpenVinoPeer:
    """OpenVINO's CPU plugin on a one-node (Group)Convolution model built with
    its own opset, latency hint, f32 inference precision."""

    name = "openvino"
    forms = ("openvino",)

    def __init__(self, threads):
        import openvino

        self.ov = openvino
        self.core = openvino.Core()
        self.threads = threads
        self.version = openvino.get_version()

    def prepare(self, layer, x_nchw, weight):
        if weight.dtype != np.float32:
            raise Unsupported("openvino: its CPU plugin computes float64 in float32")
        ov = self.ov
        from openvino import opset13 as ops

        data = ops.parameter(list(x_nchw.shape), np.float32, name="x")
        strides, pads, dilations = [layer.stride] * 2, [layer.padding] * 2, [1, 1]
        if layer.groups == 1:
            conv = ops.convolution(data, ops.constant(weight), strides, pads, pads, dilations)
        else:
            k, cg, r, s = weight.shape
            grouped = weight.reshape(layer.groups, k // layer.groups, cg, r, s)
            conv = ops.group_convolution(data, ops.constant(grouped), strides, pads, pads,
                                         dilations)
        model = ov.Model([conv], [data], layer.name)
        compiled = self.core.compile_model(model, "CPU", {
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_NUM_THREADS": self.threads,
            "INFERENCE_PRECISION_HINT": "f32",
        })
        request = compiled.create_infer_request()
        request.set_input_tensor(ov.Tensor(x_nchw, shared_memory=True))

        def run():
            request.infer()
            return request.get_output_tensor().data

        return [Implementation("openvino", run, lambda y: np.array(y))]


PEER_CLASSES = {"torch": TorchPeer, "onnxruntime": OnnxRuntimePeer, "openvino": OpenVinoPeer}


def load_peers(names, threads, log):
    """The importable peers among ``names``, each set to ``threads`` threads;
    the others are reported through ``log`` and skipped."""
    peers = []
    for name in names:
        try:
            peers.append(PEER_CLASSES[name](threads))
        except ImportError as error:
            log(f"bench: skipping {name}: not installed ({error})")
    return peers


def gconv_implementation(layer, layout, x_nchw, weight):
    """A ``gconv.Conv2d`` plan called on the input in ``layout``; the algorithm it picked."""
    conv = gconv.Conv2d(weight, layout=layout, **suite.conv_kwargs(layer))
    if layout == "NHWC":
        x = np.ascontiguousarray(x_nchw.transpose(0, 2, 3, 1))
        to_nchw = lambda y: y.transpose(0, 3, 1, 2)  # noqa: E731
    else:
        x, to_nchw = x_nchw, np.asarray
    return Implementation(f"gconv_{layout}", lambda: conv(x), to_nchw), conv.algorithm(x.shape)


# --------------------------------------------------------------------------- timing

def round_orders(count):
    """Orders of ``count`` implementations for successive rounds, in which
    each implementation directly follows every other one equally often
    (a Williams design: ``count`` rounds for an even count, twice that for
    an odd one), and each round starts with a different one.

    Example:
        >>> round_orders(4)
        [[0, 1, 3, 2], [1, 2, 0, 3], [2, 3, 1, 0], [3, 0, 2, 1]]
    """
    if count <= 1:
        return [list(range(count))]
    base, low, high = [0], 1, count - 1
    while len(base) < count:
        base.append(low)
        low += 1
        if len(base) < count:
            base.append(high)
            high -= 1
    orders = [[(i + r) % count for i in base] for r in range(count)]
    if count % 2:
        orders += [order[::-1] for order in orders]
    return orders


def time_interleaved(implementations, timing, first_calls=None):
    """Median seconds per call of each implementation, measured round-robin.

    Each implementation first runs twice (setup, unless ``first_calls`` holds
    the seconds of a call already made, then an estimate of its time; a first
    call of 50 ms or more serves as the estimate itself), which fixes its calls per sample (so that one sample lasts at least
    ``target_s / max_samples``) and its samples (``target_s`` in total,
    clamped to [min_samples, max_samples]). Rounds then take one sample of
    each implementation in turn, the samples of the slower ones spread evenly
    over the rounds.

    Every library here keeps a thread pool that spins for a while after a
    call (OpenMP in gconv and torch, ONNX Runtime's pool, TBB in OpenVINO);
    on a machine with few cores those spinners steal the cores of whatever
    runs next. So each sample starts after an untimed pause of
    ``timing.settle_s``, long enough for the other pools to park, and, where
    its calls are short, one untimed call that wakes its own pool. The rounds
    take the implementations in the orders of a Williams design
    (round_orders), so that each follows every other one equally often: one
    that ran before another in every round left that one its spinning pool,
    or a cache emptied of its data, in every sample. ONNX
    Runtime's pool spins longer than any pause the bench can afford, so its
    sessions run without spinning (see OnnxRuntimePeer.prepare).
    """
    plans = []
    for impl in implementations:
        first = (first_calls or {}).get(impl.name)
        if first is None:
            impl.run()
        if first is not None and first >= 0.05:
            estimate = first
        else:
            start = time.perf_counter()
            impl.run()
            estimate = max(time.perf_counter() - start, 1e-7)
        calls = max(1, math.ceil(timing.target_s / timing.max_samples / estimate))
        samples = int(min(timing.max_samples,
                          max(timing.min_samples, timing.target_s / (calls * estimate))))
        plans.append((impl, calls, samples, estimate < 0.005))
    rounds = max(samples for _, _, samples, _ in plans)
    times = {impl.name: [] for impl in implementations}
    orders = round_orders(len(plans))
    for r in range(rounds):
        # A pool that spins past the pause (measured: some N=1 rows of gconv
        # at a third of their speed, one row at a time, in every full run),
        # or a predecessor whose data pushed this one's out of the caches
        # (gconv's NHWC depthwise at N=16 ran 1.2-1.35x slower after its
        # NCHW form and torch than alone), then costs a share of each
        # implementation's samples, not all of one's.
        for impl, calls, samples, warm in (plans[i] for i in orders[r % len(orders)]):
            if (r + 1) * samples // rounds == r * samples // rounds:
                continue
            time.sleep(timing.settle_s)
            if warm:
                impl.run()
            start = time.perf_counter()
            for _ in range(calls):
                impl.run()
            times[impl.name].append((time.perf_counter() - start) / calls)
    return {name: statistics.median(values) for name, values in times.items()}


def _max_relative_error(result, expected):
    scale = float(np.max(np.abs(expected))) or 1.0
    return float(np.max(np.abs(np.asarray(result, dtype=np.float64) - expected))) / scale


# --------------------------------------------------------------------------- one run

def _layer_data(layer, batch, seed=0):
    """Input (NCHW) and weight of ``layer``: normal values, weights scaled by
    1/sqrt(fan-in) so outputs stay near 1 (no denormals, no overflow)."""
    rng = np.random.default_rng(seed)
    dtype = np.dtype(layer.dtype)
    x = rng.standard_normal(suite.input_shape(layer, batch)).astype(dtype)
    fan_in = (layer.in_channels // layer.groups) * layer.kernel ** 2
    weight = (rng.standard_normal(suite.weight_shape(layer)) / math.sqrt(fan_in)).astype(dtype)
    return x, weight


def time_layer(layer, batch, layouts, peers, timing, log):
    """(seconds per call by implementation, gconv's algorithm by layout,
    notes) for ``layer`` at ``batch``: gconv in each layout and every peer
    form, checked against gconv and timed in one interleaved run."""
    x, weight = _layer_data(layer, batch)
    implementations, algorithms, notes = [], {}, []
    for layout in layouts:
        impl, algorithms[layout] = gconv_implementation(layer, layout, x, weight)
        implementations.append(impl)
    if layer.dtype != "float32":
        # gconv's float32 on the same data, timed in the same rounds: the
        # row's float32_fraction compares two medians of one interleaved
        # run, not rows run minutes apart (which moved it by 10-20%).
        for layout in layouts:
            impl, _ = gconv_implementation(layer, layout, x.astype(np.float32),
                                           weight.astype(np.float32))
            implementations.append(Implementation(f"{FLOAT32_PREFIX}{layout}", impl.run,
                                                  impl.to_nchw))
    for peer in peers:
        try:
            implementations.extend(peer.prepare(layer, x, weight))
        except Unsupported as reason:
            notes.append(str(reason))

    # Every implementation must agree with gconv before its time counts.
    expected = np.asarray(implementations[0].to_nchw(implementations[0].run()), np.float64)
    tolerance = 1e-3 if layer.dtype == "float32" else 1e-9
    checked, first_calls = [], {}
    for impl in implementations:
        start = time.perf_counter()
        result = impl.run()
        first_calls[impl.name] = time.perf_counter() - start
        error = _max_relative_error(impl.to_nchw(result), expected)
        if error > (1e-3 if impl.name.startswith(FLOAT32_PREFIX) else tolerance):
            notes.append(f"{impl.name}: result differs from gconv (max rel. error {error:.2e})")
            log(f"bench: warning: {layer.key} N={batch}: {notes[-1]}")
            if not impl.name.startswith("gconv_"):
                continue
        checked.append(impl)
    return time_interleaved(checked, timing, first_calls), algorithms, notes


def measure_layer(layer, batch, layouts, peers, machine, timing, log, earlier=None):
    """Rows (one per layout) for ``layer`` at ``batch``: gconv in each layout and
    every peer form, timed in one interleaved run. ``earlier``: the seconds of
    an earlier pass over the same layer; each implementation keeps the better
    of the two (see run)."""
    seconds, algorithms, notes = time_layer(layer, batch, layouts, peers, timing, log)
    if earlier:
        seconds = {name: min(value, earlier.get(name, value)) for name, value in seconds.items()}
    peer_columns = [form for peer in peers for form in peer.forms]
    shape = suite.input_shape(layer, batch)
    cost = gconv.conv2d_cost(shape, suite.weight_shape(layer), dtype=layer.dtype,
                             **suite.conv_kwargs(layer))
    peak = machine["peak_gflops"][layer.dtype]
    roof, level = roofline(machine, cost.flops, cost.min_bytes, layer.dtype)
    peer_gflops = {name: (cost.flops / seconds[name] * 1e-9 if name in seconds else None)
                   for name in peer_columns}
    measured = {name: value for name, value in peer_gflops.items() if value is not None}
    best_peer = max(measured, key=measured.get) if measured else None
    rows = []
    for layout in layouts:
        gflops = cost.flops / seconds[f"gconv_{layout}"] * 1e-9
        best = measured.get(best_peer)
        rows.append({
            "layer": layer.name, "kind": layer.kind, "batch": batch, "layout": layout,
            "dtype": layer.dtype, "algorithm": algorithms[layout],
            "input_shape": list(suite.input_shape(layer, batch, layout)),
            "weight_shape": list(suite.weight_shape(layer)),
            "stride": layer.stride, "padding": layer.padding, "groups": layer.groups,
            "flops": cost.flops, "min_bytes": cost.min_bytes,
            "intensity": cost.flops / cost.min_bytes,
            "gconv_ms": seconds[f"gconv_{layout}"] * 1e3,
            "gconv_gflops": gflops, "peak_fraction": gflops / peak,
            "roofline_gflops": roof, "roofline_level": level,
            "roofline_fraction": gflops / roof,
            "peers": peer_gflops, "best_peer": best_peer, "best_peer_gflops": best,
            "ratio": gflops / best if best else None,
            "float32_ms": (seconds[f"{FLOAT32_PREFIX}{layout}"] * 1e3
                           if f"{FLOAT32_PREFIX}{layout}" in seconds else None),
            "notes": list(notes),
            "seconds": dict(seconds),
        })
    return rows


def check_targets(rows):
    """Adds ``misses`` to each row (the issue's targets it falls short of) and,
    for float64 rows, ``float32_fraction`` (speed over our float32 speed:
    against the float32 timed in the same interleaved run, ``float32_ms``,
    where the row has it, else against the layer's float32 row)."""
    float32 = {(r["layer"], r["batch"], r["layout"]): r["gconv_gflops"]
               for r in rows if r["dtype"] == "float32"}
    for row in rows:
        misses = []
        target = RATIO_TARGET[row["kind"]]
        if row["ratio"] is not None and row["ratio"] < target:
            misses.append(f"{row['ratio']:.2f}x best peer < {target}x")
        narrow = row["kind"] == "grouped" and row["groups"] >= NARROW_GROUPS
        if (narrow or row["kind"].startswith("depthwise")) \
                and row["roofline_fraction"] < ROOFLINE_TARGET:
            misses.append(f"{row['roofline_fraction']:.0%} of roofline < {ROOFLINE_TARGET:.0%}")
        reference = float32.get((row["layer"], row["batch"], row["layout"]))
        if row["dtype"] == "float64" and row.get("float32_ms"):
            row["float32_fraction"] = row["float32_ms"] / row["gconv_ms"]
        elif row["dtype"] == "float64" and reference:
            row["float32_fraction"] = row["gconv_gflops"] / reference
        if "float32_fraction" in row:
            if row["float32_fraction"] < FLOAT64_TARGET:
                misses.append(f"float64 at {row['float32_fraction']:.2f}x of float32 "
                              f"< {FLOAT64_TARGET}x")
        row["misses"] = misses


def geomean(values):
    values = [v for v in values if v]
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else None


def summarize(rows, batches):
    """Geomean ratios per batch, rows below 1.0x and rows below target."""
    return {
        "geomean_ratio": {str(b): geomean(r["ratio"] for r in rows if r["batch"] == b)
                          for b in batches},
        "below_1x": [_row_id(r) + f": {r['ratio']:.2f}x" for r in rows
                     if r["ratio"] is not None and r["ratio"] < 1.0],
        "below_target": [_row_id(r) + ": " + "; ".join(r["misses"]) for r in rows
                         if r["misses"]],
    }


def _row_id(row):
    return f"{row['layer']} N={row['batch']} {row['layout']} {row['dtype']}"


# --------------------------------------------------------------------------- reports

def _gflops(value):
    if value is None:
        return "-"
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def _table(rows, peer_columns):
    """The results as (header, lines of cells)."""
    header = (["layer", "N", "layout", "dtype", "algorithm", "GFLOP/s", "% peak", "% roof"]
              + list(peer_columns) + ["best peer", "ratio"])
    lines = []
    for r in rows:
        lines.append([r["layer"], str(r["batch"]), r["layout"], r["dtype"], r["algorithm"],
                      _gflops(r["gconv_gflops"]), f"{100 * r['peak_fraction']:.0f}",
                      f"{100 * r['roofline_fraction']:.0f}"]
                     + [_gflops(r["peers"].get(name)) for name in peer_columns]
                     + [r["best_peer"] or "-",
                        "-" if r["ratio"] is None else f"{r['ratio']:.2f}x"])
    return header, lines


def print_text(report, out=sys.stdout):
    """The table, machine limits and summary as aligned text."""
    header, lines = _table(report["rows"], report["config"]["peer_columns"])
    widths = [max(len(cell) for cell in column) for column in zip(header, *lines)]
    left = {0, 2, 3, 4, len(header) - 2}
    for cells in [header] + lines:
        print("  ".join(cell.ljust(w) if i in left else cell.rjust(w)
                        for i, (cell, w) in enumerate(zip(cells, widths))), file=out)
    print(file=out)
    print(_machine_text(report["machine"]), file=out)
    summary = report["summary"]
    for batch, value in summary["geomean_ratio"].items():
        print(f"geomean gconv / best peer at N={batch}: "
              + ("-" if value is None else f"{value:.2f}x"), file=out)
    print(f"rows below 1.0x: {len(summary['below_1x'])}", file=out)
    for line in summary["below_1x"]:
        print(f"  {line}", file=out)
    print("per-call overhead (a 1x1 convolution of one element):", file=out)
    for line in _bench_overhead.lines(report["overhead_us"]):
        print(f"  {line}", file=out)


def _threads(count):
    return f"{count} thread" + ("" if count == 1 else "s")


def _machine_text(machine):
    peak = machine["peak_gflops"]
    bandwidth = ", ".join(f"{level['level']} {level['gbytes_per_s']:.1f} GB/s"
                          for level in machine["levels"])
    return (f"machine: {_threads(machine['threads'])}, {machine['isa']}, FMA peak "
            f"{peak['float32']:.0f} GFLOP/s float32 / {peak['float64']:.0f} float64; "
            f"copy bandwidth {bandwidth}")


def write_markdown(report, path, plot_path=None):
    """bench/RESULTS.md: table, machine limits, geomeans, rows below target,
    and how to reproduce."""
    config, machine, summary = report["config"], report["machine"], report["summary"]
    header, lines = _table(report["rows"], config["peer_columns"])
    out = ["# gconv benchmark results", "",
           f"{config['date']}, {config['cpu']}, {_threads(machine['threads'])}, gconv "
           f"{config['versions']['gconv']} ({machine['isa']} kernels); peers: "
           + (", ".join(f"{name} {version}" for name, version in config["versions"].items()
                        if name != "gconv") or "none") + ".",
           "", "## Machine limits (measured by the bench)", "",
           f"- FMA peak: {machine['peak_gflops']['float32']:.0f} GFLOP/s float32, "
           f"{machine['peak_gflops']['float64']:.0f} GFLOP/s float64 "
           f"({_threads(machine['threads'])}, `gconv._core.measure_fma_peak`)"]
    for level in machine["levels"]:
        capacity = ("beyond the caches" if level["capacity_bytes"] is None
                    else f"data up to {level['capacity_bytes'] / 2 ** 20:.1f} MiB")
        out.append(f"- {level['level']} copy bandwidth: {level['gbytes_per_s']:.1f} GB/s "
                   f"({capacity})")
    out += ["", "## Results", "",
            "GFLOP/s are medians of interleaved runs"
            + ("" if config["quick"] else ", the better of two passes over the suite")
            + "; `% peak` and `% roof` are gconv's "
            "fraction of the FMA peak and of the layer's roofline; peer columns are "
            "GFLOP/s; `ratio` is gconv over the best peer in any layout.", "",
            "| " + " | ".join(header) + " |",
            "|" + "|".join("---" if i in (0, 2, 3, 4, len(header) - 2) else "---:"
                           for i in range(len(header))) + "|"]
    out += ["| " + " | ".join(cells) + " |" for cells in lines]
    out += ["", "## Summary", ""]
    for batch, value in summary["geomean_ratio"].items():
        out.append(f"- geomean gconv / best peer at N={batch}: "
                   + ("-" if value is None else f"**{value:.2f}x**"))
    out += ["", f"Rows below 1.0x ({len(summary['below_1x'])}):", ""]
    out += [f"- {line}" for line in summary["below_1x"]] or ["- none"]
    out += ["", f"Rows below target ({len(summary['below_target'])}; targets of issue 3: "
            f"ratio >= 1.0x for grouped/depthwise, 0.9x dense, 3x multiplier 2, 5x GDC; "
            f">= {ROOFLINE_TARGET:.0%} of roofline for narrow groups and depthwise; "
            f"float64 >= {FLOAT64_TARGET}x of float32, gconv's float32 on the same data timed in "
            f"the float64 row's interleaved run):", ""]
    out += [f"- {line}" for line in summary["below_target"]] or ["- none"]
    out += ["", "## Per-call overhead", "",
            "A 1x1 convolution of one element, so that every microsecond is overhead: "
            "`gconv.conv2d` checks its arguments and makes a plan on every call, a "
            "`gconv.Conv2d` plan only checks the input; medians of interleaved runs.", ""]
    out += [f"- {line}" for line in _bench_overhead.lines(report["overhead_us"])]
    notes = sorted({note for row in report["rows"] for note in row["notes"]})
    if notes:
        out += ["", "Notes:", ""] + [f"- {note}" for note in notes]
    if plot_path:
        relative = os.path.relpath(plot_path, os.path.dirname(os.path.abspath(path)))
        out += ["", "## Roofline", "", f"![roofline]({relative})"]
    out += ["", "## How to reproduce", "",
            "```sh",
            "pip install --no-build-isolation .          # gconv",
            "pip install onnx onnxruntime openvino matplotlib   # peers, plot (torch: a CPU build, e.g. torch==2.13.0)",
            config["command"],
            "```", "",
            "Run it on an otherwise idle machine; on a shared one only the ratios "
            "(all measured in one interleaved run) are meaningful.", ""]
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(out))


def write_plot(report, path, log):
    """Roofline plot: FLOP/byte against GFLOP/s, log-log, one roof per level,
    gconv's and the best peer's point per row."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log(f"bench: no plot written to {path}: matplotlib is not installed")
        return False
    machine, rows = report["machine"], report["rows"]
    intensities = [r["intensity"] for r in rows] or [1.0]
    lo, hi = min(intensities) / 2, max(intensities) * 2
    xs = np.geomspace(lo, hi, 200)
    figure, axes = plt.subplots(figsize=(9, 6))
    colors = {"L2": "tab:blue", "L3": "tab:orange", "DRAM": "tab:green"}
    for dtype, style in (("float32", "-"), ("float64", ":")):
        if not any(r["dtype"] == dtype for r in rows):
            continue
        peak = machine["peak_gflops"][dtype]
        for level in machine["levels"]:
            axes.plot(xs, np.minimum(peak, level["gbytes_per_s"] * xs), style, linewidth=1,
                      color=colors.get(level["level"]),
                      label=f"{dtype} roof, {level['level']} {level['gbytes_per_s']:.0f} GB/s")
    for layout, marker in (("NCHW", "o"), ("NHWC", "s")):
        chosen = [r for r in rows if r["layout"] == layout]
        if chosen:
            axes.scatter([r["intensity"] for r in chosen], [r["gconv_gflops"] for r in chosen],
                         marker=marker, color="tab:red", s=22, label=f"gconv {layout}", zorder=3)
    peers = [r for r in rows if r["best_peer_gflops"]]
    if peers:
        axes.scatter([r["intensity"] for r in peers], [r["best_peer_gflops"] for r in peers],
                     marker="x", color="tab:gray", s=22, label="best peer", zorder=2)
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("arithmetic intensity (FLOP / minimum byte)")
    axes.set_ylabel("GFLOP/s")
    axes.set_title(f"gconv roofline, {_threads(machine['threads'])}, {machine['isa']}")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=7, loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return True


# --------------------------------------------------------------------------- command line

def _csv(text):
    return [part.strip() for part in text.split(",") if part.strip()]


def _layouts(text):
    layouts = [part.upper() for part in _csv(text)]
    for layout in layouts:
        if layout not in suite.LAYOUTS:
            raise argparse.ArgumentTypeError(f"layout must be NCHW or NHWC, got {layout!r}")
    return layouts


def _batches(text):
    try:
        batches = [int(part) for part in _csv(text)]
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"--batch takes integers: {error}") from None
    if not batches or min(batches) < 1:
        raise argparse.ArgumentTypeError(f"--batch takes positive integers, got {text!r}")
    return batches


def _dtypes(text):
    dtypes = _csv(text)
    for dtype in dtypes:
        if dtype not in suite.DTYPES:
            raise argparse.ArgumentTypeError(f"dtype must be float32 or float64, got {dtype!r}")
    return dtypes


def _peers(text):
    if text.strip().lower() in ("", "none"):
        return []
    names = _csv(text)
    for name in names:
        if name not in PEER_NAMES:
            raise argparse.ArgumentTypeError(
                f"--vs takes {', '.join(PEER_NAMES)} or none, got {name!r}")
    return names


def add_arguments(parser):
    """The options of ``python -m gconv bench``."""
    parser.add_argument("--vs", type=_peers, default=list(PEER_NAMES), metavar="LIST",
                        help="peers to compare with, comma-separated, or 'none' "
                             "(default: torch,onnxruntime,openvino; those not installed are "
                             "skipped). torch runs in NCHW and channels_last")
    parser.add_argument("--layout", type=_layouts, default=list(suite.LAYOUTS),
                        metavar="LIST", help="gconv's layouts (default NCHW,NHWC); the peers "
                                             "always run in every form they have")
    parser.add_argument("--batch", type=_batches, default=DEFAULT_BATCHES,
                        metavar="LIST", help="batch sizes (default 1,16; 16 with --backward)")
    parser.add_argument("--layers", type=_csv, default=None, metavar="NAME,...",
                        help="only layers whose name contains one of these")
    parser.add_argument("--dtype", type=_dtypes, default=list(suite.DTYPES), metavar="LIST",
                        help="float32, float64 or both (default both: float64 runs four layers)")
    parser.add_argument("--threads", type=int, default=None, metavar="N",
                        help="threads for gconv and every peer (default: gconv's count)")
    parser.add_argument("--quick", action="store_true",
                        help="a few repetitions only (a smoke test; the numbers mean little)")
    parser.add_argument("--json", metavar="FILE", help="write every row and the machine limits")
    parser.add_argument("--plot", metavar="FILE.png", help="write a roofline plot (matplotlib)")
    parser.add_argument("--markdown", metavar="FILE",
                        help="write the results as Markdown (bench/RESULTS.md)")
    parser.add_argument("--backward", action="store_true",
                        help="time the input + weight gradients (conv2d_backward) against "
                             "torch autograd's (NCHW and channels_last) at N=16, and "
                             "conv_transpose2d against the forward conv2d on gconv's kernels")
    return parser


def _versions(peers):
    versions = {"gconv": gconv.__version__}
    versions.update({peer.name: peer.version for peer in peers})
    return versions


def command_line(args):
    """The options of ``args`` as a ``python -m gconv bench`` command line (for
    "How to reproduce")."""
    parts = [f"--vs {','.join(args.vs) or 'none'}", f"--layout {','.join(args.layout)}",
             f"--batch {','.join(str(b) for b in args.batch)}",
             f"--dtype {','.join(args.dtype)}"]
    if args.layers:
        parts.append(f"--layers {','.join(args.layers)}")
    if args.threads is not None:
        parts.append(f"--threads {args.threads}")
    if args.quick:
        parts.append("--quick")
    for option in ("json", "plot", "markdown"):
        if getattr(args, option):
            parts.append(f"--{option} {getattr(args, option)}")
    return "python -m gconv bench " + " ".join(parts)


def run_passes(jobs, timing, log, describe, measure):
    """``measure(layer, batch, earlier)`` for every (layer, batch) of ``jobs``,
    timing.sweeps times over; returns the last pass's results, in which each
    implementation keeps its best median (``earlier``: the seconds of the
    passes before, from the result's ``seconds``, or its first row's).

    The passes run minutes apart, each on fresh arrays. Within one pass a
    state lasting a few seconds (gconv's NCHW path and OpenVINO at a third
    of their speed on two neighbouring layers, the other forms in the same
    rounds unaffected) would set a row's median: the rounds interleave the
    implementations, not the minutes."""
    earlier, results = {}, []
    for sweep in range(1, timing.sweeps + 1):
        results = []
        for index, (layer, batch) in enumerate(jobs, 1):
            log(f"[{index}/{len(jobs)}]" + (f" pass {sweep}/{timing.sweeps}"
                                            if timing.sweeps > 1 else "")
                + f" {describe(layer, batch)} ...")
            result = measure(layer, batch, earlier.get((layer.key, batch)))
            first = result[0] if isinstance(result, list) else result
            earlier[layer.key, batch] = first["seconds"]
            results.append(result)
    return results


def run(args, log=None):
    """Runs the bench for parsed ``args``; returns the report (a JSON-ready dict)."""
    from gconv.__main__ import cpu_description

    if getattr(args, "backward", False):
        from gconv import _bench_backward
        return _bench_backward.run(args, log)

    log = log or (lambda text: print(text, file=sys.stderr, flush=True))
    if args.threads is not None:
        if args.threads < 1:
            raise ValueError(f"--threads must be >= 1, got {args.threads}")
        gconv.set_num_threads(args.threads)
    threads = gconv.get_num_threads()
    timing = QUICK if args.quick else FULL
    layers = suite.select(args.layers, args.dtype)
    if not layers:
        raise ValueError(f"no layer of the suite matches --layers {','.join(args.layers or [])} "
                         f"--dtype {','.join(args.dtype)}")
    peers = load_peers(args.vs, threads, log)
    peer_columns = [form for peer in peers for form in peer.forms]

    log(f"bench: measuring the machine ({_threads(threads)}) ...")
    machine = measure_machine(threads, timing)
    log("bench: " + _machine_text(machine))

    jobs = [(layer, batch) for layer in layers for batch in args.batch]
    vs = f" vs {','.join(peer_columns)}" if peers else ""
    rows = [row for layer_rows in run_passes(
        jobs, timing, log,
        lambda layer, batch: f"{layer.name} N={batch} {layer.dtype} {','.join(args.layout)}{vs}",
        lambda layer, batch, earlier: measure_layer(layer, batch, args.layout, peers, machine,
                                                    timing, log, earlier))
        for row in layer_rows]
    check_targets(rows)
    log("bench: per-call overhead (a 1x1 convolution of one element) ...")
    overhead = _bench_overhead.measure(peers, timing)
    return {
        "config": {"command": command_line(args),
                   "threads": threads, "quick": args.quick, "layouts": args.layout,
                   "batches": args.batch, "dtypes": args.dtype, "peers": [p.name for p in peers],
                   "peer_columns": peer_columns, "versions": _versions(peers),
                   "cpu": cpu_description()[0], "python": platform.python_version(),
                   "numpy": np.__version__, "build_info": gconv.build_info(),
                   "date": time.strftime("%Y-%m-%d %H:%M:%S %Z")},
        "machine": machine,
        "rows": rows,
        "summary": summarize(rows, args.batch),
        "overhead_us": overhead,
    }


def write_json(report, path, log):
    """The report as JSON at ``path`` (nothing when ``path`` is empty)."""
    if path:
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(report, handle, indent=1)
        log(f"bench: wrote {path}")


def main(args):
    """``python -m gconv bench``: runs, prints the table, writes the files asked for."""
    if getattr(args, "backward", False):
        from gconv import _bench_backward
        return _bench_backward.main(args)
    log = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731
    try:
        report = run(args, log)
    except ValueError as error:
        print(f"gconv bench: {error}", file=sys.stderr)
        return 2
    print_text(report)
    write_json(report, args.json, log)
    plot_written = bool(args.plot) and write_plot(report, args.plot, log)
    if plot_written:
        log(f"bench: wrote {args.plot}")
    if args.markdown:
        write_markdown(report, args.markdown, args.plot if plot_written else None)
        log(f"bench: wrote {args.markdown}")
    return 0
