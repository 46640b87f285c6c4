"""interleaved_group_conv and shuffle_unit: the reference, torch, the
paper's structure (IGC is one dense conv with a structured-sparse weight),
the parameter counts, and the errors."""

import doctest

import numpy as np
import pytest

import gconv
from gconv import _blocks, reference
from conftest import assert_close, covering_array, message_names, random_array


def _nchw_shape(n, c, h, w, layout):
    shape = (c, h, w) if layout == "NCHW" else (h, w, c)
    return shape if n is None else (n,) + shape


# --------------------------------------------------------------------------- IGC

IGC_ROWS = covering_array({
    "widths": ((2, 4, 2), (4, 2, 4), (3, 3, 3), (4, 4, 2), (1, 5, 3)),  # (L, M, L2)
    "kernel": ((3, 3), (5, 5), (1, 3)),
    "stride": (1, 2),
    "padding": ("same", "valid", 1),
    "dilation": (1, 2),
    "layout": ("NCHW", "NHWC"),
    "dtype": ("float32", "float64"),
    "n": (0, 1, 2, None),
    "epilogue": ((False, False, None), (True, False, "relu"), (False, True, None), (True, True, "relu6")),
}, seed=23)


def igc_arrays(row, seed):
    lg, m, l2 = row["widths"]
    c = lg * m
    x = random_array(_nchw_shape(row["n"], c, 9, 8, row["layout"]), row["dtype"], seed)
    w1 = random_array((lg * m, m) + row["kernel"], row["dtype"], seed + 1)
    w2 = random_array((m * l2, lg, 1, 1), row["dtype"], seed + 2)
    bias_p, bias_s, activation = row["epilogue"]
    kwargs = dict(stride=row["stride"], padding=row["padding"], dilation=row["dilation"],
                  layout=row["layout"], activation=activation,
                  bias_primary=random_array((lg * m,), row["dtype"], seed + 3) if bias_p else None,
                  bias_secondary=random_array((m * l2,), row["dtype"], seed + 4) if bias_s else None)
    return x, w1, w2, lg, kwargs


def igc_descriptor(row):
    return "igc " + " ".join(f"{k}={v}" for k, v in row.items())


@pytest.mark.parametrize("index", range(len(IGC_ROWS)))
def test_interleaved_group_conv_matches_reference(index):
    row = IGC_ROWS[index]
    x, w1, w2, lg, kwargs = igc_arrays(row, 40 + index)
    got = gconv.interleaved_group_conv(x, w1, w2, lg, **kwargs)
    ref = reference.interleaved_group_conv(x, w1, w2, lg, **kwargs)
    assert_close(got, ref, row["dtype"], igc_descriptor(row))


def torch_igc(torch, x, w1, w2, lg, stride, padding, dilation, activation, bias_primary,
              bias_secondary):
    """IGC in torch ops, NCHW batched float64 (int or 'valid' padding)."""
    F = torch.nn.functional
    t = lambda a: None if a is None else torch.from_numpy(np.asarray(a, np.float64))  # noqa: E731
    m = w1.shape[0] // lg
    y = F.conv2d(t(x), t(w1), t(bias_primary), stride, padding, dilation, lg)
    n, c, h, w = y.shape
    y = y.view(n, lg, m, h, w).transpose(1, 2).reshape(n, c, h, w)
    y = F.conv2d(y, t(w2), t(bias_secondary), groups=m)
    n, k, h, w = y.shape
    y = y.view(n, m, k // m, h, w).transpose(1, 2).reshape(n, k, h, w)
    if activation == "relu":
        y = F.relu(y)
    return y.numpy()


@pytest.mark.parametrize("index", [i for i, r in enumerate(IGC_ROWS)
                                   if r["padding"] != "same" and r["layout"] == "NCHW"
                                   and r["n"] not in (0, None)][:8])
def test_interleaved_group_conv_matches_torch(index):
    torch = pytest.importorskip("torch")
    row = dict(IGC_ROWS[index])
    row["epilogue"] = (True, True, "relu")
    x, w1, w2, lg, kwargs = igc_arrays(row, 40 + index)
    got = gconv.interleaved_group_conv(x, w1, w2, lg, **kwargs)
    kwargs.pop("layout")
    assert_close(got, torch_igc(torch, x, w1, w2, lg, **kwargs), row["dtype"],
                 igc_descriptor(row) + " peer=torch")


def composed_igc_weight(w1, w2, lg):
    """The dense (K2, C, R, S) weight of the whole IGC block (the paper's
    structured-sparse kernel): permute-back . secondary . shuffle . primary."""
    k1 = w1.shape[0]
    m = k1 // lg
    k2 = w2.shape[0]
    primary = reference.block_diagonal(w1, lg)                       # (K1, C, R, S)
    secondary = reference.block_diagonal(w2, m)[:, :, 0, 0]          # (K2, K1) in shuffled order
    shuffle = np.arange(k1).reshape(lg, m).T.ravel()                 # shuffled[i] = y1[shuffle[i]]
    on_primary = np.zeros((k2, k1))
    on_primary[:, shuffle] = secondary
    back = np.arange(k2).reshape(m, k2 // m).T.ravel()               # out[i] = y2[back[i]]
    return np.einsum("ij,jcrs->icrs", on_primary[back], primary)


def test_interleaved_group_conv_is_a_dense_conv_with_a_structured_sparse_weight():
    lg, m = 4, 3
    x = random_array((2, lg * m, 7, 7), np.float64, 1)
    w1 = random_array((lg * m, m, 3, 3), np.float64, 2)
    w2 = random_array((lg * m, lg, 1, 1), np.float64, 3)
    dense = composed_igc_weight(w1, w2, lg)
    got = gconv.interleaved_group_conv(x, w1, w2, lg)
    assert_close(got, reference.conv2d(x, dense, padding="same"), np.float64, "igc == dense conv")
    # Unlike either group conv alone, every output channel sees every input channel.
    assert np.all(np.abs(dense).sum(axis=(2, 3)) > 0)
    assert np.count_nonzero(reference.block_diagonal(w1, lg)) == w1.size


@pytest.mark.parametrize("lg, m, kernel", [(8, 16, 3), (4, 8, 3), (2, 32, (1, 3)), (9, 1, 3)])
def test_igc_params_counts_the_block_and_the_dense_conv(lg, m, kernel):
    r, s = (kernel, kernel) if isinstance(kernel, int) else kernel
    counts = gconv.igc_params(lg, m, kernel)
    assert counts.block == lg * m * m * r * s + m * lg * lg
    assert counts.dense == (lg * m) ** 2 * r * s
    with_bias = gconv.igc_params(lg, m, kernel, bias=True)
    assert with_bias == (counts.block + 2 * lg * m, counts.dense + lg * m)


def test_igc_params_is_smallest_near_the_balance_condition():
    # Width L*M = 72, 3x3: the block is smallest where L = M*9, i.e. L = sqrt(648) ~ 25.5.
    divisors = [lg for lg in range(1, 73) if 72 % lg == 0]
    counts = {lg: gconv.igc_params(lg, 72 // lg, 3).block for lg in divisors}
    assert min(counts, key=counts.get) == 24


# --------------------------------------------------------------------------- ShuffleNet unit

SHUFFLE_ROWS = covering_array({
    # (g, Cin, Cb, branch Cout at stride 2; stride 1 needs Cout = Cin)
    "shape": ((3, 12, 6, 12), (2, 8, 4, 6), (4, 16, 8, 8), (1, 6, 3, 6)),
    "stride": (1, 2),
    "layout": ("NCHW", "NHWC"),
    "dtype": ("float32", "float64"),
    "n": (0, 1, 2, None),
    "spatial": ((5, 5), (8, 6), (1, 1)),
    "biases": (False, True),
}, seed=29)


def shuffle_arrays(row, seed):
    g, cin, cb, cout = row["shape"]
    cout = cin if row["stride"] == 1 else cout
    h, w = row["spatial"]
    dtype = row["dtype"]
    x = random_array(_nchw_shape(row["n"], cin, h, w, row["layout"]), dtype, seed)
    weights = (random_array((cb, cin // g, 1, 1), dtype, seed + 1),
               random_array((cb, 1, 3, 3), dtype, seed + 2),
               random_array((cout, cb // g, 1, 1), dtype, seed + 3))
    biases = {}
    if row["biases"]:
        biases = dict(bias_gconv1=random_array((cb,), dtype, seed + 4),
                      bias_dw=random_array((cb,), dtype, seed + 5),
                      bias_gconv2=random_array((cout,), dtype, seed + 6))
    return x, weights, g, biases


@pytest.mark.parametrize("index", range(len(SHUFFLE_ROWS)))
def test_shuffle_unit_matches_reference(index):
    row = SHUFFLE_ROWS[index]
    x, weights, g, biases = shuffle_arrays(row, 60 + index)
    kwargs = dict(stride=row["stride"], layout=row["layout"], **biases)
    got = gconv.shuffle_unit(x, *weights, g, **kwargs)
    ref = reference.shuffle_unit(x, *weights, g, **kwargs)
    assert_close(got, ref, row["dtype"], "shuffle_unit " + " ".join(f"{k}={v}" for k, v in row.items()))


def torch_shuffle_unit(torch, x, w1, wd, w2, g, stride, bias_gconv1=None, bias_dw=None,
                       bias_gconv2=None):
    """ShuffleNet v1 unit in torch ops (NCHW batched float64)."""
    F = torch.nn.functional
    t = lambda a: None if a is None else torch.from_numpy(np.asarray(a, np.float64))  # noqa: E731
    xt = t(x)
    y = F.relu(F.conv2d(xt, t(w1), t(bias_gconv1), groups=g))
    n, c, h, w = y.shape
    y = y.view(n, g, c // g, h, w).transpose(1, 2).reshape(n, c, h, w)
    y = F.conv2d(y, t(wd), t(bias_dw), stride, 1, groups=c)
    y = F.conv2d(y, t(w2), t(bias_gconv2), groups=g)
    y = xt + y if stride == 1 else torch.cat([F.avg_pool2d(xt, 3, 2, 1), y], 1)
    return F.relu(y).numpy()


@pytest.mark.parametrize("index", [i for i, r in enumerate(SHUFFLE_ROWS)
                                   if r["layout"] == "NCHW" and r["n"] is not None])
def test_shuffle_unit_matches_torch(index):
    torch = pytest.importorskip("torch")
    row = SHUFFLE_ROWS[index]
    x, weights, g, biases = shuffle_arrays(row, 60 + index)
    got = gconv.shuffle_unit(x, *weights, g, stride=row["stride"], **biases)
    expected = torch_shuffle_unit(torch, x, *weights, g, row["stride"], **biases)
    assert_close(got, expected, row["dtype"], f"shuffle_unit {row} peer=torch")


def test_shuffle_unit_stride2_concatenates_the_pooled_input_first():
    g, cin, cb, cout = 2, 4, 4, 6
    x = np.abs(random_array((1, cin, 6, 6), np.float64, 1))
    w1 = np.zeros((cb, cin // g, 1, 1))
    wd = np.zeros((cb, 1, 3, 3))
    w2 = np.zeros((cout, cb // g, 1, 1))
    y = gconv.shuffle_unit(x, w1, wd, w2, g, stride=2)
    assert y.shape == (1, cin + cout, 3, 3)
    # avg_pool2d(3, 2, 1) counts the padded zeros: the corner averages 4 values over 9.
    assert np.isclose(y[0, 0, 0, 0], x[0, 0, :2, :2].sum() / 9)
    np.testing.assert_array_equal(y[0, cin:], 0)


@pytest.mark.parametrize("cin, cb, cout, g", [(240, 60, 240, 3), (24, 12, 24, 3), (32, 8, 32, 4)])
def test_shuffle_unit_params_counts_the_unit_and_the_bottleneck(cin, cb, cout, g):
    counts = gconv.shuffle_unit_params(cin, cb, cout, g)
    assert counts.block == cin * (cb // g) + cb * 9 + cout * (cb // g)
    assert counts.dense == cin * cb + 9 * cb * cb + cb * cout
    assert gconv.shuffle_unit_params(cin, cb, cout, g, bias=True).block == counts.block + 2 * cb + cout


# --------------------------------------------------------------------------- errors, docs

X = np.ones((1, 12, 6, 6), np.float32)
W1 = np.ones((6, 4, 1, 1), np.float32)
WD = np.ones((6, 1, 3, 3), np.float32)
W2 = np.ones((12, 2, 1, 1), np.float32)
IGC_X = np.ones((1, 8, 5, 5), np.float32)
IGC_W1 = np.ones((8, 4, 3, 3), np.float32)
IGC_W2 = np.ones((8, 2, 1, 1), np.float32)

ERRORS = {
    "shuffle_stride_3": (lambda: gconv.shuffle_unit(X, W1, WD, W2, 3, stride=3), ValueError, ("stride", "1 or 2", "3")),
    "shuffle_stride1_needs_equal_channels": (
        lambda: gconv.shuffle_unit(X, W1, WD, np.ones((9, 2, 1, 1), np.float32), 3), ValueError,
        ("w_gconv2", "9", "12")),
    "shuffle_dw_not_3x3": (lambda: gconv.shuffle_unit(X, W1, np.ones((6, 1, 5, 5), np.float32), W2, 3),
                           ValueError, ("w_dw", r"\(6, 1, 3, 3\)", r"\(6, 1, 5, 5\)")),
    "shuffle_gconv1_not_1x1": (lambda: gconv.shuffle_unit(X, np.ones((6, 4, 3, 3), np.float32), WD, W2, 3),
                               ValueError, ("w_gconv1", "1x1")),
    "shuffle_groups_mismatch": (lambda: gconv.shuffle_unit(X, W1, WD, W2, 4), ValueError, ("groups",)),
    "shuffle_input_2d": (lambda: gconv.shuffle_unit(np.ones((12, 6), np.float32), W1, WD, W2, 3),
                         ValueError, ("input", "4-D")),
    "shuffle_bad_layout": (lambda: gconv.shuffle_unit(X, W1, WD, W2, 3, layout="NCL"), ValueError, ("layout",)),
    "igc_groups_do_not_divide": (lambda: gconv.interleaved_group_conv(IGC_X, IGC_W1, IGC_W2, 3), ValueError,
                                 ("primary_groups", "3", "8")),
    "igc_secondary_not_1x1": (
        lambda: gconv.interleaved_group_conv(IGC_X, IGC_W1, np.ones((8, 2, 3, 3), np.float32), 2),
        ValueError, ("w_secondary", r"\(8, 2, 3, 3\)", "1, 1")),
    "igc_secondary_wrong_groups": (
        lambda: gconv.interleaved_group_conv(IGC_X, IGC_W1, np.ones((8, 4, 1, 1), np.float32), 2),
        ValueError, ("w_secondary", "primary_groups = 2")),
    "igc_primary_channels": (
        lambda: gconv.interleaved_group_conv(IGC_X, np.ones((8, 3, 3, 3), np.float32), IGC_W2, 2),
        ValueError, ("channels",)),
    "igc_groups_float": (lambda: gconv.interleaved_group_conv(IGC_X, IGC_W1, IGC_W2, 2.0), TypeError,
                         ("primary_groups",)),
    "igc_params_zero": (lambda: gconv.igc_params(0, 4), ValueError, ("primary_groups", "0")),
    "shuffle_params_groups": (lambda: gconv.shuffle_unit_params(24, 10, 24, 3), ValueError,
                              ("bottleneck_channels", "10", "groups", "3")),
}


@pytest.mark.parametrize("name", list(ERRORS))
def test_block_errors_name_the_parameter(name):
    call, error, patterns = ERRORS[name]
    with pytest.raises(error) as excinfo:
        call()
    message_names(excinfo, *patterns)


def test_block_docstring_examples_run():
    result = doctest.testmod(_blocks, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 8 and result.failed == 0
