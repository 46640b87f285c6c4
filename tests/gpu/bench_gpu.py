"""GPU benchmark: the performance suite (gconv._bench_suite, issue 3's
layer list) at N=16, gconv's CUDA kernels against torch (cuDNN) in NCHW
and channels_last, interleaved, medians of CUDA-event timings.

    python3 tests/gpu/bench_gpu.py [--batch 16] [--reps 15] [--inner 10] [--json F]

Prints one row per layer: gconv in NCHW and NHWC, torch NCHW and
channels_last (ms per call), the algorithm gconv picked, and the ratio
best torch / best gconv (> 1: gconv faster).
"""

import argparse
import json
import math
import statistics
import sys

import numpy as np


def _median_ms(samples):
    return statistics.median(samples) if samples else float("nan")


def _timer_cupy(cp, fn, inner):
    stream = cp.cuda.get_current_stream()
    start, stop = cp.cuda.Event(), cp.cuda.Event()
    start.record(stream)
    for _ in range(inner):
        fn()
    stop.record(stream)
    stop.synchronize()
    return cp.cuda.get_elapsed_time(start, stop) / inner


def _timer_torch(torch, fn, inner):
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(inner):
        fn()
    stop.record()
    stop.synchronize()
    return start.elapsed_time(stop) / inner


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--inner", type=int, default=10)
    parser.add_argument("--layers", default="", help="comma-separated name parts (default: all)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)

    import cupy as cp

    import gconv
    from gconv import _bench_suite as suite

    if not gconv.cuda.is_available():
        print("gconv CUDA not available (build with -Ccmake.define.GCONV_CUDA=ON and run on a GPU)")
        return 1
    try:
        import torch

        has_torch = torch.cuda.is_available()
    except ImportError:
        has_torch = False
    if has_torch:
        torch.backends.cudnn.benchmark = True

    device = cp.cuda.Device()
    name = cp.cuda.runtime.getDeviceProperties(device.id)["name"].decode()
    print(f"device: {name}; gconv {gconv.build_info()['version']} CUDA runtime "
          f"{gconv.cuda.runtime_version()}; torch "
          f"{torch.__version__ + ' cuDNN ' + str(torch.backends.cudnn.version()) if has_torch else 'n/a'}; "
          f"N={args.batch}, median of {args.reps} x {args.inner} calls")
    names = [part for part in args.layers.split(",") if part]
    rows = []
    header = (f"{'layer':<26}{'dtype':>8}{'algorithm':>18}{'gconv':>9}{'gconv_cl':>10}"
              f"{'torch':>9}{'torch_cl':>10}{'ratio':>7}{'GFLOP/s':>9}")
    print(header)
    print("-" * len(header))
    for layer in suite.select(names or None):
        n = args.batch
        kwargs = suite.conv_kwargs(layer)
        rng = np.random.default_rng(0)
        x_nchw = rng.standard_normal(suite.input_shape(layer, n, "NCHW")).astype(layer.dtype)
        w = rng.standard_normal(suite.weight_shape(layer)).astype(layer.dtype)
        b = rng.standard_normal(layer.out_channels).astype(layer.dtype)
        dx = cp.asarray(x_nchw)
        dx_nhwc = cp.ascontiguousarray(dx.transpose(0, 2, 3, 1))
        dw, db = cp.asarray(w), cp.asarray(b)
        out = cp.empty(suite.output_shape(layer, n, "NCHW"), layer.dtype)
        out_nhwc = cp.empty(suite.output_shape(layer, n, "NHWC"), layer.dtype)
        time_cupy = lambda fn: _timer_cupy(cp, fn, args.inner)  # noqa: E731
        contenders = {
            "gconv": (time_cupy, lambda: gconv.conv2d(dx, dw, db, layout="NCHW", out=out,
                                                      **kwargs)),
            "gconv_cl": (time_cupy, lambda: gconv.conv2d(dx_nhwc, dw, db, layout="NHWC",
                                                         out=out_nhwc, **kwargs)),
        }
        if has_torch:
            tx = torch.as_tensor(dx, device="cuda")
            tx_cl = tx.contiguous(memory_format=torch.channels_last)
            tw, tb = torch.as_tensor(dw, device="cuda"), torch.as_tensor(db, device="cuda")
            tw_cl = tw.contiguous(memory_format=torch.channels_last)
            conv = torch.nn.functional.conv2d
            time_torch = lambda fn: _timer_torch(torch, fn, args.inner)  # noqa: E731
            contenders["torch"] = (time_torch, lambda: conv(tx, tw, tb, **kwargs))
            contenders["torch_cl"] = (time_torch, lambda: conv(tx_cl, tw_cl, tb, **kwargs))
        samples = {key: [] for key in contenders}
        for _, fn in contenders.values():  # warm-up: cuDNN autotuning, module loading
            for _ in range(3):
                fn()
        cp.cuda.Device().synchronize()
        for _ in range(args.reps):  # interleaved, so drifting clocks hit everyone alike
            for key, (timer, fn) in contenders.items():
                samples[key].append(timer(fn))
        ms = {key: _median_ms(v) for key, v in samples.items()}
        best_gconv = min(ms["gconv"], ms["gconv_cl"])
        best_torch = min(ms.get("torch", math.inf), ms.get("torch_cl", math.inf))
        ratio = best_torch / best_gconv if has_torch else float("nan")
        cost = gconv.conv2d_cost(suite.input_shape(layer, n), suite.weight_shape(layer), **kwargs)
        gflops = cost.flops / (best_gconv * 1e-3) / 1e9
        algorithm = gconv.cuda.algorithm(suite.input_shape(layer, n), suite.weight_shape(layer),
                                         dtype=np.dtype(layer.dtype), **kwargs)
        row = {"layer": layer.name, "dtype": layer.dtype, "algorithm": algorithm, **ms,
               "ratio": ratio, "gflops": gflops}
        rows.append(row)
        print(f"{layer.name:<26}{layer.dtype:>8}{algorithm:>18}{ms['gconv']:>9.3f}"
              f"{ms['gconv_cl']:>10.3f}{ms.get('torch', float('nan')):>9.3f}"
              f"{ms.get('torch_cl', float('nan')):>10.3f}{ratio:>7.2f}{gflops:>9.0f}", flush=True)
    ratios = [r["ratio"] for r in rows if r["ratio"] == r["ratio"]]
    if ratios:
        geomean = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
        print(f"geomean ratio (best torch / best gconv) over {len(ratios)} layers: {geomean:.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": name, "batch": args.batch, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
