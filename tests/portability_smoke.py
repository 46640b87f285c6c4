"""Portability smoke test, run under qemu-x86_64 as an older CPU by .ci/run.

    qemu-x86_64 -cpu Nehalem python tests/portability_smoke.py scalar

Checks that gconv picks the expected kernel family (argv[1]) and that every
algorithm gives the reference's result in both layouts and dtypes: a kernel
compiled for a newer instruction set reached without dispatch would die of
SIGILL here instead.
"""

import sys

import numpy as np

import gconv
from gconv import reference

CASES = [  # (C, K, groups, kernel, stride, padding, algorithm)
    (8, 12, 2, 3, 1, 1, "im2col_gemm"),
    (8, 12, 2, 1, 1, 0, "gemm_1x1"),
    (8, 8, 4, 3, 2, 1, "grouped_direct"),
    (6, 12, 6, 3, 1, 1, "depthwise"),
    (6, 6, 6, 5, 1, 0, "global_depthwise"),
]


def main(expected):
    active = gconv.build_info()["isa_active"]
    if active != expected:
        sys.exit(f"isa_active is {active!r}, expected {expected!r}")
    rng = np.random.default_rng(0)
    for c, k, groups, kernel, stride, padding, algorithm in CASES:
        for dtype in (np.float32, np.float64):
            for layout in ("NCHW", "NHWC"):
                x = rng.standard_normal((2, c, 5, 5)).astype(dtype)
                w = rng.standard_normal((k, c // groups, kernel, kernel)).astype(dtype)
                ref = reference.conv2d(x, w, None, stride, padding, 1, groups)
                xin = x if layout == "NCHW" else np.ascontiguousarray(x.transpose(0, 2, 3, 1))
                y = gconv.conv2d(xin, w, None, stride, padding, 1, groups, layout=layout,
                                 force_algorithm=algorithm)
                if layout == "NHWC":
                    y = y.transpose(0, 3, 1, 2)
                err = np.abs(y - ref).max() / max(1.0, np.abs(ref).max())
                if err > (1e-4 if dtype == np.float32 else 1e-10):
                    sys.exit(f"{algorithm} {layout} {np.dtype(dtype)}: error {err:.3g}")
    pooled = gconv.global_avg_pool2d(np.ones((1, 3, 4, 4), np.float32))
    assert np.allclose(pooled, 1.0)
    print(f"portability smoke: {active} ok, {len(CASES) * 4} convolutions match the reference")


if __name__ == "__main__":
    main(sys.argv[1])
