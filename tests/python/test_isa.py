"""Every instruction-set family the CPU supports gives the reference's results.

``gconv._set_max_isa`` caps the dispatch for plans made afterwards; the
GCONV_MAX_ISA environment variable does the same at import.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

import gconv
from conftest import ALL_ISAS, GRID, ISA_RANK, ConvCase, accepts, covering_array, fit_spatial

# Cases that reach every algorithm, both dtypes and layouts, with tails.
ISA_CASES = (
    [(None, case) for case in GRID[::4]]
    + [("gemm_1x1", ConvCase(c=c, g=g, k=k, h=3, w=w, kernel=(1, 1), layout=lay, dtype=dt, bias=True, seed=5000 + w))
       for (c, g, k) in ((16, 1, 24), (8, 4, 8)) for w in (7, 17) for lay in ("NCHW", "NHWC")
       for dt in ("float32", "float64")]
    + [(alg, ConvCase(c=c, g=g, k=k, h=6, w=w, padding=1, stride=s, layout=lay, dtype=dt, activation="relu",
                      seed=5100 + w))
       for alg in ("im2col_gemm", "grouped_direct")
       for (c, g, k) in ((32, 2, 32), (16, 4, 16)) for w in (9, 17) for s in (1, 2)
       for lay in ("NCHW", "NHWC") for dt in ("float32", "float64")][::2]
    + [("depthwise", ConvCase(c=c, g=c, k=c * m, h=7, w=w, kernel=(r, r), stride=s, padding=r // 2,
                              layout=lay, dtype=dt, bias=True, seed=5200 + w))
       for (c, m) in ((16, 1), (9, 2)) for r in (3, 5, 7) for s in (1, 2) for w in (15, 33)
       for lay in ("NCHW", "NHWC") for dt in ("float32", "float64")][::3]
    + [("global_depthwise", ConvCase(c=c, g=c, k=c * m, h=5, w=6, kernel=(5, 6), layout=lay, dtype=dt, seed=5300))
       for (c, m) in ((19, 1), (8, 2)) for lay in ("NCHW", "NHWC") for dt in ("float32", "float64")]
)

# grouped_direct with whole vectors of output channels per group (Kg a
# multiple of 4, 8 or 16 lanes; NCHW from two vectors): the channel-lane
# kernel, its 1- and 2-vector passes, pixel blocks of 3..8 (widths 1..29),
# strides, dilation, asymmetric padding and non-3x3 kernels (the untabled
# tap loop).
CHANNEL_LANE_CASES = [
    fit_spatial(ConvCase(c=r["channels"][0], g=r["channels"][1], k=r["channels"][2], h=5,
                         w=r["width"], kernel=r["kernel"], stride=r["stride"],
                         dilation=r["dilation"], padding=r["padding"], layout=r["layout"],
                         dtype=r["dtype"], bias=r["epilogue"][0], activation=r["epilogue"][1],
                         seed=5400 + i))
    for i, r in enumerate(covering_array({
        "channels": ((16, 2, 16), (64, 4, 64), (24, 3, 48), (8, 1, 32), (12, 4, 32), (32, 1, 16),
                     (6, 2, 48), (8, 2, 8), (64, 2, 64)),
        "width": (1, 2, 3, 7, 13, 14, 25, 29),
        "kernel": ((3, 3), (1, 1), (5, 3), (2, 2)),
        "stride": (1, 2, 3, (2, 1)),
        "dilation": (1, 2),
        "padding": (0, 1, "same", ((2, 0), (0, 1))),
        "layout": ("NHWC", "NCHW"),
        "dtype": ("float32", "float64"),
        "epilogue": ((False, None), (True, "relu"), (True, "relu6")),
    }, seed=54))
    if not (r["padding"] == "same" and r["stride"] != 1)
] + [  # kernels wider than the tap-offset table (64 taps)
    ConvCase(c=8, g=1, k=k, h=2, w=75, kernel=(1, 66), padding=((0, 0), (3, 1)), layout=layout,
             bias=True, seed=5500 + k)
    for k, layout in ((8, "NHWC"), (16, "NCHW"))
]

# Depthwise NHWC with many channels (>= 2 * 4 vectors: 64 floats on AVX2,
# 128 on AVX-512, 32 doubles on AVX2): the run kernel, which shares each
# input vector among the 4-8 pixels of a run, at stride 1 (3x3, 5x5, 7x7)
# and 2 (3x3); runs that reach the padding (checked) or not, a channel tail,
# depth multiplier 2 (scattered stores), widths shorter than one run.
WIDE_DEPTHWISE_NHWC_CASES = [
    fit_spatial(ConvCase(c=r["channels"][0], g=r["channels"][0],
                         k=r["channels"][0] * r["channels"][1], h=5, w=r["width"],
                         kernel=(r["kernel"], r["kernel"]), stride=r["stride"],
                         padding=r["padding"], layout="NHWC", dtype=r["dtype"],
                         bias=r["epilogue"][0], activation=r["epilogue"][1], seed=5600 + i))
    for i, r in enumerate(covering_array({
        "channels": ((64, 1), (136, 1), (130, 2), (256, 1), (200, 1)),
        "width": (1, 3, 8, 13, 17, 30),
        "kernel": (3, 5, 7),
        "stride": (1, 2),
        "padding": (0, 1, "same", ((2, 0), (0, 3))),
        "dtype": ("float32", "float64"),
        "epilogue": ((False, None), (True, "relu"), (True, "relu6")),
    }, seed=56))
    if not (r["padding"] == "same" and r["stride"] != 1)
]


# Depthwise NCHW on planes narrower than 16 outputs: the small-plane kernel
# (blocks of up to 16 channels copied into a zero-padded channels-innermost
# tile, through 8 x 8 transposes when a block has 8 whole channels): channel
# counts leaving a partial block of lanes, rows of 1..15 (a partial
# transpose block), kernels of 2..5 taps, stride, dilation, asymmetric and
# no padding, pixel counts not a multiple of the kernel's pixel group.
SMALL_PLANE_NCHW_CASES = [
    fit_spatial(ConvCase(c=r["channels"], g=r["channels"], k=r["channels"], h=r["size"][0],
                         w=r["size"][1], kernel=(r["kernel"], r["kernel"]), stride=r["stride"],
                         dilation=r["dilation"], padding=r["padding"], layout="NCHW",
                         dtype=r["dtype"], bias=r["epilogue"][0], activation=r["epilogue"][1],
                         seed=5900 + i))
    for i, r in enumerate(covering_array({
        "channels": (8, 12, 21, 40),
        "size": ((7, 7), (14, 14), (5, 15), (9, 3), (3, 1)),
        "kernel": (3, 5, 2),
        "stride": (1, 2),
        "dilation": (1, 2),
        "padding": (0, 1, "same", ((2, 0), (0, 3))),
        "dtype": ("float32", "float64"),
        "epilogue": ((False, None), (True, "relu6")),
    }, seed=59))
    if not (r["padding"] == "same" and r["stride"] != 1)
]


# Depthwise NHWC with depth multiplier 2 below the run kernel's channel
# count: both outputs of a channel computed at once and stored interleaved
# (pairs of vectors, a single vector, the scalar channel tail), at pixel
# pairs and a lone last pixel, with padding, stride, bias and activation.
MULTIPLIER2_NHWC_CASES = [
    ConvCase(c=c, g=c, k=2 * c, h=6, w=w, kernel=(r, r), stride=st, padding=r // 2, layout="NHWC",
             dtype=dt, bias=bias, activation=act, seed=5800 + c + w)
    for (c, w, r, st, dt, bias, act) in (
        (32, 9, 3, 1, "float32", True, "relu"), (32, 8, 5, 2, "float64", False, None),
        (24, 7, 3, 2, "float32", False, "relu6"), (24, 9, 3, 1, "float64", True, None),
        (20, 7, 5, 1, "float32", True, None), (20, 5, 3, 1, "float64", True, "relu"),
        (40, 11, 3, 1, "float32", True, None))
]

# NHWC GEMMs (and NCHW im2col, staged through NHWC) read B in place through
# a table of row pointers, in reduction blocks of whole taps or, past
# 256-2048 channels per group (by family and dtype), of one tap's channels in
# parts; NCHW packs B in pixel tiles: several tap blocks (5x5 over 64 channels), split taps (600 and 2100
# channels), taps in the padding at every border, stride, dilation, 1x1 with
# split channels, a pixel tail.
def _gemm_block_cases(dt):
    return [
        ("im2col_gemm", ConvCase(c=128, g=2, k=80, h=7, w=9, kernel=(5, 5), stride=(1, 2), dilation=(2, 1),
                                 padding=((3, 1), (2, 2)), layout="NHWC", dtype=dt, bias=True,
                                 activation="relu", seed=5700)),
        ("im2col_gemm", ConvCase(c=600, g=1, k=24, h=4, w=5, padding=1, layout="NHWC", dtype=dt, bias=True,
                                 seed=5701)),
        ("im2col_gemm", ConvCase(c=2100, g=1, k=4, h=3, w=3, padding=1, layout="NHWC", dtype=dt, seed=5702)),
        ("gemm_1x1", ConvCase(c=1200, g=2, k=34, h=3, w=7, kernel=(1, 1), layout="NHWC", dtype=dt,
                              activation="relu6", seed=5703)),
        # NHWC with 256 channels (pixels 1-2 KiB apart): groups copied to compact pixels first.
        ("im2col_gemm", ConvCase(c=256, g=8, k=40, h=5, w=6, padding=(1, 2), stride=(1, 2), layout="NHWC",
                                 dtype=dt, bias=True, activation="relu", seed=5706)),
        # NHWC in place with several groups, a batch past 4 MiB: the next
        # micro-panel's table is written ahead and the two alternate
        # (tiles ending in a partial panel, padding taps in the tables).
        ("gemm_1x1", ConvCase(c=96, g=3, k=96, h=24, w=23, kernel=(1, 1), n=10, layout="NHWC",
                              dtype=dt, bias=True, seed=5708)),
        ("im2col_gemm", ConvCase(c=64, g=2, k=64, h=20, w=23, padding=1, n=20, layout="NHWC",
                                 dtype=dt, activation="relu", seed=5709)),
        # NCHW: staged through NHWC while a group's image fits 4 MiB, packed past it.
        ("im2col_gemm", ConvCase(c=60, g=3, k=6, h=9, w=11, kernel=(3, 2), stride=(2, 1), padding=1,
                                 layout="NCHW", dtype=dt, bias=True, activation="relu", seed=5704)),
        ("im2col_gemm", ConvCase(c=16, g=1, k=2, h=260, w=258, padding=1, layout="NCHW", dtype=dt,
                                 seed=5705)),
        # A shallow NCHW 1x1 (8 channels per group): tiles widened past 256
        # pixels up to 1024, here two of a 1200-pixel plane.
        ("gemm_1x1", ConvCase(c=16, g=2, k=24, h=40, w=30, kernel=(1, 1), layout="NCHW", dtype=dt,
                              bias=True, activation="relu", seed=5707)),
    ]


GEMM_BLOCK_CASES = [item for dt in ("float32", "float64") for item in _gemm_block_cases(dt)]


ISA_CASES = (ISA_CASES + [("grouped_direct", case) for case in CHANNEL_LANE_CASES]
             + [("depthwise", case) for case in WIDE_DEPTHWISE_NHWC_CASES]
             + [("depthwise", case) for case in MULTIPLIER2_NHWC_CASES]
             + [("depthwise", case) for case in SMALL_PLANE_NCHW_CASES] + GEMM_BLOCK_CASES)


def _supported():
    return gconv.build_info()["isa_supported"]


@pytest.mark.parametrize("isa", ALL_ISAS)
@pytest.mark.parametrize("algorithm,case", ISA_CASES,
                         ids=lambda v: "auto" if v is None else (v if isinstance(v, str) else v.id()))
def test_each_isa_family_matches_reference(isa, algorithm, case, restore_isa):
    if isa not in _supported():
        pytest.skip(f"this CPU cannot run {isa}")
    gconv._set_max_isa(isa)
    assert gconv.build_info()["isa_active"] == isa
    if algorithm is None:
        case.check()
    else:
        assert accepts(case, algorithm)
        case.check(force_algorithm=algorithm)


@pytest.mark.parametrize("isa", ALL_ISAS)
def test_global_ops_match_reference_under_each_isa(isa, restore_isa):
    if isa not in _supported():
        pytest.skip(f"this CPU cannot run {isa}")
    gconv._set_max_isa(isa)
    rng = np.random.default_rng(7)
    for dtype in (np.float32, np.float64):
        x = rng.standard_normal((2, 21, 5, 7)).astype(dtype)
        np.testing.assert_allclose(gconv.global_avg_pool2d(x), gconv.reference.global_avg_pool2d(x),
                                   rtol=0, atol=1e-5 if dtype == np.float32 else 1e-12)
        y = gconv.channel_shuffle(x, 3)
        np.testing.assert_array_equal(y, gconv.reference.channel_shuffle(x, 3).astype(dtype))


def test_set_max_isa_returns_previous_and_restores(restore_isa):
    supported = _supported()
    assert "scalar" in supported
    first = gconv._set_max_isa("scalar")
    assert gconv.build_info()["isa_active"] == "scalar"
    assert gconv._set_max_isa(first) == "scalar"


def test_set_max_isa_above_the_cpu_is_clamped_to_the_best_supported(restore_isa):
    best = max(_supported(), key=ISA_RANK.__getitem__)
    gconv._set_max_isa("avx512")
    assert gconv.build_info()["isa_active"] == best


def test_set_max_isa_unknown_name_raises_value_error(restore_isa):
    active = gconv.build_info()["isa_active"]
    with pytest.raises(ValueError, match="sse9"):
        gconv._set_max_isa("sse9")
    assert gconv.build_info()["isa_active"] == active


def test_isa_supported_is_a_subset_of_isa_compiled():
    info = gconv.build_info()
    assert set(info["isa_supported"]) <= set(info["isa_compiled"]) | {"scalar"}
    assert info["isa_active"] in info["isa_supported"]


def test_gconv_max_isa_scalar_environment_selects_scalar_kernels():
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(gconv.__file__)))
    env = dict(os.environ, GCONV_MAX_ISA="scalar",
               PYTHONPATH=os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")])))
    code = (
        "import numpy as np, gconv\n"
        "x = np.random.default_rng(0).standard_normal((1, 16, 9, 9)).astype(np.float32)\n"
        "w = np.random.default_rng(1).standard_normal((16, 4, 3, 3)).astype(np.float32)\n"
        "d = np.abs(gconv.conv2d(x, w, groups=4, padding=1) - gconv.reference.conv2d(x, w, groups=4, padding=1))\n"
        "print(gconv.build_info()['isa_active'], float(d.max()))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    isa, diff = result.stdout.split()
    assert isa == "scalar"
    assert float(diff) < 1e-3
