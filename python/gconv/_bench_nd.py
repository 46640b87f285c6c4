"""conv1d and conv3d against the conv2d with the same multiply-adds.

Part of ``python -m gconv bench --backward`` (issue 4's targets): each
layer below runs interleaved with its equivalent conv2d on gconv's own
kernels, both into reused ``out=`` arrays, and the ratio of their times says
what the N-d mapping costs (target: <= 1.5x).

- conv1d is a conv2d of height 1: the equivalent is that conv2d.
- conv3d (dense or grouped) folds its depth taps into the channels: the
  equivalent is the grouped conv2d with KD times the channels per group
  over the N * OD output slices, as the fold computes it, without the
  stacking copy.
- depthwise conv3d sums KD depthwise conv2d's: the equivalent is one
  depthwise conv2d over KD times the images.
"""

from dataclasses import dataclass

import numpy as np

import gconv

from . import _bench

TARGET = 1.5  # N-d time over the equivalent conv2d's, every layer


@dataclass(frozen=True)
class NdLayer:
    name: str
    dims: int          # 1 or 3
    channels: int      # in == out
    groups: int
    size: tuple        # (L,) or (D, H, W)
    kernel: int        # per dimension, padding kernel // 2, stride 1
    batch: int


LAYERS = (
    NdLayer("conv1d_dw_k3", 1, 256, 256, (4096,), 3, 16),
    NdLayer("conv1d_grouped_k3", 1, 256, 32, (1024,), 3, 16),
    NdLayer("conv1d_dense_k5", 1, 64, 1, (1024,), 5, 16),
    NdLayer("conv3d_dense_3x3x3", 3, 32, 1, (16, 28, 28), 3, 2),
    NdLayer("conv3d_grouped_3x3x3", 3, 128, 8, (8, 28, 28), 3, 2),
    NdLayer("conv3d_dw_3x3x3", 3, 64, 64, (16, 28, 28), 3, 2),
)

LAYOUTS = {1: ("NCL", "NLC"), 3: ("NCDHW", "NDHWC")}


def _channels_last(array):
    return np.ascontiguousarray(np.moveaxis(array, 1, -1))


def implementations(layer, layout, rng):
    """(N-d implementation, its equivalent conv2d) on random data."""
    c, g, k, n = layer.channels, layer.groups, layer.kernel, layer.batch
    cg, pad = c // g, k // 2
    last = layout in ("NLC", "NDHWC")
    x = rng.standard_normal((n, c) + layer.size).astype(np.float32)
    w = rng.standard_normal((c, cg) + (k,) * layer.dims).astype(np.float32)
    x_nd = _channels_last(x) if last else x
    layout2d = "NHWC" if last else "NCHW"
    if layer.dims == 1:
        # Both read the same input and write the same output array, through
        # views: where the pages of a large array land moved a layer's time
        # up to 2x from one allocation to the next (memory-bound, 16 MB each
        # way), and two allocations read as a 1.6x "cost" of conv1d.
        y_nd = gconv.conv1d(x_nd, w, padding=pad, groups=g, layout=layout)
        x2, y2 = (x_nd[:, None], y_nd[:, None]) if last else (x_nd[:, :, None], y_nd[:, :, None])
        w2 = np.ascontiguousarray(w[:, :, None, :])
        return (_bench.Implementation(f"nd_{layout}", lambda: gconv.conv1d(
                    x_nd, w, padding=pad, groups=g, layout=layout, out=y_nd)),
                _bench.Implementation(f"conv2d_{layout}", lambda: gconv.conv2d(
                    x2, w2, padding=(0, pad), groups=g, layout=layout2d, out=y2)))
    nd = lambda out=None: gconv.conv3d(x_nd, w, padding=pad, groups=g,  # noqa: E731
                                       layout=layout, out=out)
    d, h, wd = layer.size
    if cg == 1:  # depthwise: KD depthwise conv2d's worth of images
        x2 = rng.standard_normal((n * d * k, c, h, wd)).astype(np.float32)
        w2 = np.ascontiguousarray(w[:, :, 0])
    else:  # the fold: KD * Cg channels per group over N * OD slices
        x2 = rng.standard_normal((n * d, g * k * cg, h, wd)).astype(np.float32)
        w2 = np.ascontiguousarray(w.reshape(c, cg * k, k, k))
    x2 = _channels_last(x2) if last else np.ascontiguousarray(x2)
    flat = lambda out=None: gconv.conv2d(x2, w2, padding=pad, groups=g,  # noqa: E731
                                         layout=layout2d, out=out)
    return (_bench.Implementation(f"nd_{layout}", _bench.reused_out(nd)),
            _bench.Implementation(f"conv2d_{layout}", _bench.reused_out(flat)))


def measure(timing, layers=LAYERS, seed=0):
    """One row per layer and layout: N-d ms, equivalent conv2d ms, ratio."""
    rows = []
    for layer in layers:
        rng = np.random.default_rng(seed)
        for layout in LAYOUTS[layer.dims]:
            nd, flat = implementations(layer, layout, rng)
            seconds = _bench.time_interleaved([nd, flat], timing)
            nd_ms, flat_ms = seconds[nd.name] * 1e3, seconds[flat.name] * 1e3
            rows.append({"layer": layer.name, "layout": layout, "batch": layer.batch,
                         "nd_ms": nd_ms, "conv2d_ms": flat_ms, "ratio": nd_ms / flat_ms})
    return rows


def summary_lines(rows):
    """Plain lines: the worst ratio and every row above the target."""
    if not rows:
        return []
    worst = max(rows, key=lambda r: r["ratio"])
    above = [r for r in rows if r["ratio"] > TARGET]
    lines = [f"conv1d/conv3d / equivalent conv2d time: max {worst['ratio']:.2f}x "
             f"({worst['layer']} {worst['layout']}); {len(above)} above {TARGET}x; target "
             f"(<= {TARGET}x on every layer): " + ("met" if not above else "NOT met")]
    lines += [f"  above {TARGET}x: {r['layer']} {r['layout']}: {r['ratio']:.2f}x" for r in above]
    return lines


def table_lines(rows, markdown=False):
    """The rows as a Markdown table or aligned text."""
    header = ["layer", "layout", "N", "N-d ms", "conv2d ms", "ratio"]
    cells = [[r["layer"], r["layout"], str(r["batch"]), f"{r['nd_ms']:.3g}",
              f"{r['conv2d_ms']:.3g}", f"{r['ratio']:.2f}x"] for r in rows]
    if markdown:
        return (["| " + " | ".join(header) + " |",
                 "|---|---|---:|---:|---:|---:|"]
                + ["| " + " | ".join(c) + " |" for c in cells])
    widths = [max(len(x) for x in column) for column in zip(header, *cells)]
    return ["  ".join(x.ljust(w) if i < 2 else x.rjust(w) for i, (x, w) in
                      enumerate(zip(line, widths))).rstrip() for line in [header] + cells]
