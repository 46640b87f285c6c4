"""gconv against torch.nn.functional.conv2d (skipped when torch is absent)."""

import numpy as np
import pytest

import gconv
from conftest import GRID, ConvCase, as_pair, assert_close

torch = pytest.importorskip("torch")
F = torch.nn.functional


def torch_conv2d(case, x, w, b):
    """torch's result in float64 for a case, with per-side padding done by F.pad."""
    (pt, pb), (pl, pr) = case.pads()
    xt = torch.from_numpy(np.ascontiguousarray(x, np.float64))
    if case.n is None:
        xt = xt.unsqueeze(0)
    if case.layout == "NHWC":
        xt = xt.permute(0, 3, 1, 2)
    wt = torch.from_numpy(w.astype(np.float64))
    bt = None if b is None else torch.from_numpy(b.astype(np.float64))
    if case.padding == "same" and as_pair(case.stride) == (1, 1):
        y = F.conv2d(xt, wt, bt, 1, "same", as_pair(case.dilation), case.g)
    else:
        y = F.conv2d(F.pad(xt, (pl, pr, pt, pb)), wt, bt, as_pair(case.stride), 0, as_pair(case.dilation), case.g)
    if case.activation == "relu":
        y = F.relu(y)
    elif case.activation == "relu6":
        y = F.relu6(y)
    if case.layout == "NHWC":
        y = y.permute(0, 2, 3, 1)
    if case.n is None:
        y = y.squeeze(0)
    return y.contiguous().numpy()


TORCH_CASES = GRID[1::3] + [
    ConvCase(c=8, g=8, k=16, h=9, w=9, padding="same", dilation=2, n=2),
    ConvCase(c=12, g=3, k=6, h=8, w=7, kernel=(4, 2), padding="same", n=2, layout="NHWC", dtype="float64"),
    ConvCase(c=32, g=32, k=96, h=10, w=10, kernel=(5, 5), padding="same", stride=2, n=1, bias=True),
    ConvCase(c=64, g=32, k=64, h=12, w=12, padding=1, n=1, bias=True, activation="relu"),
]


@pytest.mark.parametrize("case", TORCH_CASES, ids=lambda c: c.id())
def test_conv2d_matches_torch(case):
    x, w, b = case.arrays()
    got = gconv.conv2d(x, w, b, **case.kwargs())
    assert_close(got, torch_conv2d(case, x, w, b), case.dtype, case.descriptor(peer="torch"))


@pytest.mark.parametrize("dilation", [1, 2])
@pytest.mark.parametrize("kernel", [(3, 3), (4, 4), (2, 5)])
def test_same_padding_stride1_matches_torch_same(kernel, dilation):
    x = np.random.default_rng(0).standard_normal((2, 6, 9, 8)).astype(np.float32)
    w = np.random.default_rng(1).standard_normal((6, 3) + kernel).astype(np.float32)
    got = gconv.conv2d(x, w, padding="same", dilation=dilation, groups=2)
    ref = F.conv2d(torch.from_numpy(x.astype(np.float64)), torch.from_numpy(w.astype(np.float64)),
                   padding="same", dilation=dilation, groups=2).numpy()
    assert_close(got, ref, np.float32, f"same k={kernel} d={dilation} vs torch")


def test_reference_matches_torch_on_the_grid():
    for case in GRID:
        x, w, b = case.arrays()
        np.testing.assert_allclose(case.reference(x, w, b), torch_conv2d(case, x, w, b), rtol=1e-10, atol=1e-10,
                                   err_msg=case.descriptor())
