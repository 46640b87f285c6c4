"""Shared helpers for the gconv test suite.

* ``ConvCase``: one convolution problem (shapes, arguments, layout, dtype,
  seed) that makes its own data, calls gconv and the reference, and prints
  as a one-line reproducible descriptor in oneDNN's benchdnn style
  (``g32mb1ic128ih56iw56oc128oh56ow56kh3kw3sh1sw1dh1dw1ph1_1pw1_1 ...``).
* ``assert_close``: the tolerance of DESIGN.md ("Numbers") with NaN/Inf
  masks compared exactly; a failure names the descriptor, ISA and threads.
* ``covering_array``: a deterministic pairwise covering of parameter grids,
  so every pair of parameter values is tested without the full product.
* ``grid_cases``: the main grid (seed cases G=1, 1<G<C wide and narrow,
  G=C with multiplier, every padding form, strides, dilations, layouts,
  dtypes, batch 0/1/3 and unbatched).

Test modules import these with ``from conftest import ...``. Importing
this module also loads the Hypothesis profile (``_hypothesis_profiles.py``:
``ci`` by default, ``GCONV_HYPOTHESIS_PROFILE=long`` for longer runs);
``_strategies.py`` holds the strategies of the property-based tests.
"""

import itertools
import os
import random
import sys
from dataclasses import dataclass, replace

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import gconv  # noqa: E402
from gconv import _args, reference  # noqa: E402
import _hypothesis_profiles  # noqa: E402,F401  (registers and loads the hypothesis profile)

DTYPES = (np.float32, np.float64)
ISA_RANK = {"scalar": 0, "avx2": 1, "avx512": 2}
ALL_ISAS = tuple(ISA_RANK)


# --------------------------------------------------------------------------- tolerances

def tolerance(dtype, ref):
    """Allowed max|diff| against the float64 reference for results of ``dtype``."""
    finite = np.abs(ref[np.isfinite(ref)]) if np.size(ref) else np.zeros(0)
    scale = max(1.0, float(finite.max()) if finite.size else 0.0)
    return (1e-4 if np.dtype(dtype) == np.float32 else 1e-10) * scale


def run_context():
    """ISA and thread count in effect, for failure messages."""
    try:
        info = gconv.build_info()
        return f"isa={info.get('isa_active')} threads={gconv.get_num_threads()}"
    except Exception as exc:  # the context must never hide the real failure
        return f"isa=? ({exc!r})"


def assert_close(got, ref, dtype, descriptor):
    """``got`` (a gconv result) matches the float64 ``ref`` in shape, dtype, NaN/Inf and value."""
    where = f"{descriptor} {run_context()}"
    assert isinstance(got, np.ndarray), f"{where}: result is {type(got).__name__}, not ndarray"
    assert got.dtype == np.dtype(dtype), f"{where}: dtype {got.dtype}, expected {np.dtype(dtype)}"
    assert got.shape == ref.shape, f"{where}: shape {got.shape}, expected {ref.shape}"
    nan_got, nan_ref = np.isnan(got), np.isnan(ref)
    if not np.array_equal(nan_got, nan_ref):
        idx = np.argwhere(nan_got != nan_ref)[0]
        raise AssertionError(f"{where}: NaN mask differs first at {tuple(idx)} "
                             f"(got {got[tuple(idx)]}, ref {ref[tuple(idx)]})")
    inf_got, inf_ref = np.isinf(got), np.isinf(ref)
    if not (np.array_equal(inf_got, inf_ref) and np.array_equal(got[inf_got], ref[inf_ref])):
        raise AssertionError(f"{where}: Inf positions or signs differ")
    finite = np.isfinite(ref)
    if not finite.any():
        return
    diff = np.abs(got[finite].astype(np.float64) - ref[finite])
    tol = tolerance(dtype, ref)
    if diff.max() > tol:
        idx = np.argwhere(finite)[int(diff.argmax())]
        raise AssertionError(
            f"{where}: max|diff| = {diff.max():.3g} > tol {tol:.3g} at {tuple(idx)} "
            f"(got {got[tuple(idx)]!r}, ref {ref[tuple(idx)]!r}); "
            f"{int((diff > tol).sum())} of {diff.size} elements off")


def assert_same_bits(a, b, what):
    assert a.dtype == b.dtype and a.shape == b.shape, f"{what}: {a.dtype}{a.shape} vs {b.dtype}{b.shape}"
    assert a.tobytes() == b.tobytes(), f"{what}: results differ in their bits {run_context()}"


def cap_isa(isa):
    """Caps the kernels at ISA family ``isa``, or skips the test where this
    CPU cannot run it (with the ``restore_isa`` fixture to undo the cap)."""
    if isa not in gconv.build_info()["isa_supported"]:
        pytest.skip(f"this CPU cannot run {isa}")
    gconv._set_max_isa(isa)


def random_array(shape, dtype, seed):
    """Standard-normal data of ``shape`` and ``dtype``, reproducible from ``seed``."""
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def off_line_empty(shape, dtype=np.float32):
    """An uninitialised C-contiguous array whose data start one element past
    a cache line: a result there cannot take line-aligned streamed stores."""
    count, item = int(np.prod(shape)), np.dtype(dtype).itemsize
    raw = np.empty(count * item + 128, np.uint8)
    start = -raw.ctypes.data % 64 + item
    return raw[start:start + count * item].view(dtype).reshape(shape)


def message_names(excinfo, *patterns):
    """The exception message matches every regex in ``patterns`` (case-insensitive)."""
    import re
    text = str(excinfo.value)
    for pattern in patterns:
        assert re.search(pattern, text, re.IGNORECASE), f"message {text!r} does not match {pattern!r}"


# --------------------------------------------------------------------------- cases

def as_pair(value):
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


@dataclass(frozen=True)
class ConvCase:
    """One conv2d problem. ``n=None`` means an unbatched (3-D) input."""

    c: int
    g: int
    k: int
    h: int
    w: int
    kernel: tuple = (3, 3)
    n: object = 1
    stride: object = 1
    padding: object = 0
    dilation: object = 1
    layout: str = "NCHW"
    dtype: str = "float32"
    bias: bool = False
    activation: object = None
    seed: int = 0

    # shapes -----------------------------------------------------------------
    def x_shape(self):
        batch = () if self.n is None else (self.n,)
        spatial = (self.h, self.w)
        return batch + ((self.c,) + spatial if self.layout == "NCHW" else spatial + (self.c,))

    def w_shape(self):
        return (self.k, self.c // self.g) + tuple(self.kernel)

    def pads(self):
        return _args.resolve_padding(self.padding, (self.h, self.w), tuple(self.kernel),
                                     as_pair(self.stride), as_pair(self.dilation))

    def out_hw(self):
        (pt, pb), (pl, pr) = self.pads()
        (r, s), (sh, sw), (dh, dw) = self.kernel, as_pair(self.stride), as_pair(self.dilation)
        return ((self.h + pt + pb - dh * (r - 1) - 1) // sh + 1,
                (self.w + pl + pr - dw * (s - 1) - 1) // sw + 1)

    def y_shape(self):
        oh, ow = self.out_hw()
        batch = () if self.n is None else (self.n,)
        return batch + ((self.k, oh, ow) if self.layout == "NCHW" else (oh, ow, self.k))

    def valid(self):
        return min(self.out_hw()) >= 1

    # data and calls ------------------------------------------------------------
    def arrays(self):
        """(x, weight, bias or None) in the case's layout and dtype."""
        x = random_array(self.x_shape(), self.dtype, self.seed)
        wt = random_array(self.w_shape(), self.dtype, self.seed + 1)
        b = random_array((self.k,), self.dtype, self.seed + 2) if self.bias else None
        return x, wt, b

    def kwargs(self):
        return dict(stride=self.stride, padding=self.padding, dilation=self.dilation,
                    groups=self.g, layout=self.layout, activation=self.activation)

    def reference(self, x, wt, b):
        return reference.conv2d(x, wt, b, **self.kwargs())

    def run(self, **extra):
        x, wt, b = self.arrays()
        return gconv.conv2d(x, wt, b, **self.kwargs(), **extra)

    def check(self, **extra):
        """gconv.conv2d on this case (plus ``extra`` kwargs) matches the reference."""
        x, wt, b = self.arrays()
        got = gconv.conv2d(x, wt, b, **self.kwargs(), **extra)
        assert_close(got, self.reference(x, wt, b), self.dtype, self.descriptor(**extra))
        return got

    # description ---------------------------------------------------------------
    def descriptor(self, **extra):
        (pt, pb), (pl, pr) = self.pads()
        oh, ow = self.out_hw()
        (r, s), (sh, sw), (dh, dw) = self.kernel, as_pair(self.stride), as_pair(self.dilation)
        mb = "U" if self.n is None else self.n
        text = (f"g{self.g}mb{mb}ic{self.c}ih{self.h}iw{self.w}oc{self.k}oh{oh}ow{ow}"
                f"kh{r}kw{s}sh{sh}sw{sw}dh{dh}dw{dw}ph{pt}_{pb}pw{pl}_{pr}"
                f" padding={self.padding!r} layout={self.layout} dtype={self.dtype}"
                f" bias={int(self.bias)} act={self.activation} seed={self.seed}")
        for key, value in extra.items():
            text += f" {key}={value}"
        return text

    def id(self):
        """Short test id: the shape part of the descriptor plus the non-default arguments."""
        act = self.activation or "none"
        padding = repr(self.padding).replace(" ", "").replace("'", "")
        return (f"{self.descriptor().split(' ')[0]}-pad={padding}-{self.layout}-{self.dtype}"
                f"-bias{int(self.bias)}-{act}")


# --------------------------------------------------------------------------- algorithms (spec rules)

def accepts(case, algorithm):
    """Whether ``algorithm`` accepts ``case``, per the planner's documented rules."""
    (pt, pb), (pl, pr) = case.pads()
    r, s = case.kernel
    if algorithm == "global_depthwise":
        return (case.g == case.c and as_pair(case.dilation) == (1, 1) and case.out_hw() == (1, 1)
                and r == pt + case.h + pb and s == pl + case.w + pr)
    if algorithm == "depthwise":
        return case.g == case.c
    if algorithm == "gemm_1x1":
        return tuple(case.kernel) == (1, 1) and as_pair(case.stride) == (1, 1) and (pt, pb, pl, pr) == (0, 0, 0, 0)
    return algorithm in ("im2col_gemm", "grouped_direct")


def expected_algorithm(case):
    """The planner's automatic choice for ``case``, per the documented order."""
    for algorithm in ("global_depthwise", "depthwise", "gemm_1x1"):
        if accepts(case, algorithm):
            return algorithm
    if case.c // case.g >= 32 and case.k // case.g >= 32:
        return "im2col_gemm"
    return "grouped_direct"


# --------------------------------------------------------------------------- covering arrays

def covering_array(factors, seed=0):
    """Rows (dicts) such that every pair of values of two factors appears in some row.

    Greedy (AETG-like) and deterministic for a given ``seed``.
    """
    names = list(factors)
    values = {name: list(factors[name]) for name in names}
    uncovered = set()
    for a, b in itertools.combinations(range(len(names)), 2):
        for i in range(len(values[names[a]])):
            for j in range(len(values[names[b]])):
                uncovered.add((a, i, b, j))
    rng = random.Random(seed)
    rows = []
    while uncovered:
        a, i, b, j = min(uncovered) if not rows else rng.choice(sorted(uncovered))
        chosen = {a: i, b: j}
        order = [f for f in range(len(names)) if f not in chosen]
        rng.shuffle(order)
        for f in order:
            def gain(v):
                return sum(((min(f, o), v if f < o else chosen[o], max(f, o), chosen[o] if f < o else v)
                            in uncovered) for o in chosen)
            options = list(range(len(values[names[f]])))
            rng.shuffle(options)
            chosen[f] = max(options, key=gain)
        for x, y in itertools.combinations(sorted(chosen), 2):
            uncovered.discard((x, chosen[x], y, chosen[y]))
        rows.append({names[f]: values[names[f]][v] for f, v in chosen.items()})
    return rows


def fit_spatial(case):
    """``case`` with its spatial size raised (if needed) so that the output is >= 1."""
    if case.padding == "same":
        return case
    (pt, pb), (pl, pr) = case.pads()
    (r, s), (dh, dw) = case.kernel, as_pair(case.dilation)
    h = max(case.h, dh * (r - 1) + 1 - pt - pb, 1)
    w = max(case.w, dw * (s - 1) + 1 - pl - pr, 1)
    return replace(case, h=h, w=w)


# (C, G, K): G=1; 1<G<C narrow (C/G = 2, 3, 4, 8) and wide (16, 64); G=C with multiplier 1..3.
CHANNEL_CONFIGS = (
    (3, 1, 5),
    (16, 1, 16),
    (64, 1, 8),
    (8, 4, 8),
    (6, 2, 10),
    (16, 4, 16),
    (24, 3, 48),
    (32, 2, 32),
    (48, 3, 96),
    (128, 2, 64),
    (8, 8, 8),
    (5, 5, 10),
    (12, 12, 36),
    (1, 1, 3),
)

PADDINGS = (0, 1, 2, (1, 0), ((0, 2), (1, 0)), ((3, 1), (0, 2)), "valid", "same")

EPILOGUES = ((False, None), (True, None), (True, "relu"), (False, "relu6"), (True, "relu6"))


def grid_cases():
    """The main pairwise grid of conv2d cases (about 130)."""
    rows = covering_array({
        "channels": CHANNEL_CONFIGS,
        "kernel": ((1, 1), (3, 3), (5, 5), (7, 7), (3, 1), (2, 3)),
        "stride": (1, 2, 3, (2, 1)),
        "dilation": (1, 2, (1, 2)),
        "padding": PADDINGS,
        "layout": ("NCHW", "NHWC"),
        "dtype": ("float32", "float64"),
        "n": (0, 1, 3, None),
        "spatial": ((1, 1), (5, 7), (8, 8), (12, 9), (3, 12), (9, 4), (7, 17)),
        "epilogue": EPILOGUES,
    }, seed=1)
    cases = []
    for index, row in enumerate(rows):
        c, g, k = row["channels"]
        h, w = row["spatial"]
        bias, activation = row["epilogue"]
        case = ConvCase(c=c, g=g, k=k, h=h, w=w, kernel=row["kernel"], n=row["n"],
                        stride=row["stride"], padding=row["padding"], dilation=row["dilation"],
                        layout=row["layout"], dtype=row["dtype"], bias=bias,
                        activation=activation, seed=1000 + index)
        cases.append(fit_spatial(case))
    return cases


GRID = grid_cases()


@pytest.fixture
def restore_threads():
    """Restores the thread count a test changes."""
    before = gconv.get_num_threads()
    yield before
    gconv.set_num_threads(before)


@pytest.fixture
def restore_isa():
    """Restores the ISA cap a test changes (``_set_max_isa`` returns the previous name)."""
    previous = gconv._set_max_isa(gconv.build_info()["isa_active"])
    gconv._set_max_isa(previous)
    yield previous
    gconv._set_max_isa(previous)
