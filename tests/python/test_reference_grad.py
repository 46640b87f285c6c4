"""The reference's conv2d gradients and conv_transpose2d: against torch
autograd, torch.nn.grad and F.conv_transpose2d on a grid, and against
central finite differences and the adjoint identity in float64 (no torch)."""

import numpy as np
import pytest

from gconv import _args, reference
from conftest import ConvCase, as_pair, covering_array, fit_spatial, message_names, random_array

RTOL = ATOL = 1e-10


def grad_grid():
    rows = covering_array({
        "channels": ((3, 1, 4), (4, 2, 6), (6, 3, 3), (4, 4, 4), (3, 3, 9), (8, 2, 4)),
        "kernel": ((1, 1), (3, 3), (2, 3), (3, 1)),
        "stride": (1, 2, (3, 1)),
        "dilation": (1, 2, (1, 2)),
        "padding": (0, 1, (2, 0), ((0, 2), (1, 0)), ((2, 1), (0, 3)), "same", "valid"),
        "layout": ("NCHW", "NHWC"),
        "n": (1, 2, None),
        "spatial": ((5, 6), (7, 4), (8, 9)),
    }, seed=31)
    cases = []
    for i, row in enumerate(rows):
        c, g, k = row["channels"]
        h, w = row["spatial"]
        cases.append(fit_spatial(ConvCase(
            c=c, g=g, k=k, h=h, w=w, kernel=row["kernel"], n=row["n"], stride=row["stride"],
            padding=row["padding"], dilation=row["dilation"], layout=row["layout"],
            dtype="float64", seed=700 + i)))
    return cases


GRID = grad_grid()


def grad_args(case):
    return dict(stride=case.stride, padding=case.padding, dilation=case.dilation, groups=case.g,
                layout=case.layout)


def case_data(case):
    x, w, _ = case.arrays()
    go = random_array(case.y_shape(), np.float64, case.seed + 5)
    return x, w, go


def to_torch_nchw(torch, array, case):
    """A float64 leaf in the case's layout, and its NCHW batched view in the graph."""
    leaf = torch.tensor(np.asarray(array, np.float64), requires_grad=True)
    view = leaf.unsqueeze(0) if case.n is None else leaf
    if case.layout == "NHWC":
        view = view.permute(0, 3, 1, 2)
    return leaf, view


def torch_backward(torch, case, x, w, go):
    """torch autograd's (grad_input, grad_weight, grad_bias); padding by F.pad."""
    F = torch.nn.functional
    x_leaf, xt = to_torch_nchw(torch, x, case)
    w_leaf = torch.tensor(w, requires_grad=True)
    b_leaf = torch.zeros(case.k, dtype=torch.float64, requires_grad=True)
    (pt, pb), (pl, pr) = case.pads()
    y = F.conv2d(F.pad(xt, (pl, pr, pt, pb)), w_leaf, b_leaf, as_pair(case.stride), 0,
                 as_pair(case.dilation), case.g)
    _, got = to_torch_nchw(torch, go, case)
    y.backward(got.detach())
    return x_leaf.grad.numpy(), w_leaf.grad.numpy(), b_leaf.grad.numpy()


@pytest.mark.parametrize("case", GRID, ids=lambda c: c.id())
def test_reference_backward_matches_torch_autograd(case):
    torch = pytest.importorskip("torch")
    x, w, go = case_data(case)
    expected = torch_backward(torch, case, x, w, go)
    got = reference.conv2d_backward(x, w, go, **grad_args(case))
    for name, a, b in zip(("input", "weight", "bias"), got, expected):
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL, err_msg=f"grad_{name} {case.descriptor()}")


@pytest.mark.parametrize("case", GRID[::2], ids=lambda c: c.id())
def test_reference_input_and_weight_grads_match_torch_autograd(case):
    torch = pytest.importorskip("torch")
    x, w, go = case_data(case)
    gi, gw, _ = torch_backward(torch, case, x, w, go)
    args = grad_args(case)
    np.testing.assert_allclose(reference.conv2d_input_grad(x.shape, w, go, **args), gi,
                               rtol=RTOL, atol=ATOL, err_msg=case.descriptor())
    np.testing.assert_allclose(reference.conv2d_weight_grad(x, w.shape, go, **args), gw,
                               rtol=RTOL, atol=ATOL, err_msg=case.descriptor())


def symmetric(padding):
    """Whether torch.nn.grad takes ``padding`` as it is (an int or one int per dim)."""
    return isinstance(padding, int) or (isinstance(padding, tuple) and
                                        all(isinstance(p, int) for p in padding))


SYMMETRIC = [c for c in GRID if c.layout == "NCHW" and c.n is not None and symmetric(c.padding)]


@pytest.mark.parametrize("case", SYMMETRIC, ids=lambda c: c.id())
def test_reference_grads_match_torch_nn_grad(case):
    torch = pytest.importorskip("torch")
    x, w, go = case_data(case)
    t = torch.from_numpy
    kw = dict(stride=as_pair(case.stride), padding=as_pair(case.padding),
              dilation=as_pair(case.dilation), groups=case.g)
    gi = torch.nn.grad.conv2d_input(x.shape, t(w), t(go), **kw).numpy()
    gw = torch.nn.grad.conv2d_weight(t(x), w.shape, t(go), **kw).numpy()
    args = grad_args(case)
    np.testing.assert_allclose(reference.conv2d_input_grad(x.shape, w, go, **args), gi,
                               rtol=RTOL, atol=ATOL, err_msg=case.descriptor())
    np.testing.assert_allclose(reference.conv2d_weight_grad(x, w.shape, go, **args), gw,
                               rtol=RTOL, atol=ATOL, err_msg=case.descriptor())


@pytest.mark.parametrize("needs", [("input",), ("weight",), ("bias",), ("input", "bias"), (), "weight"])
def test_reference_backward_returns_only_what_is_needed(needs):
    case = GRID[3]
    x, w, go = case_data(case)
    full = reference.conv2d_backward(x, w, go, **grad_args(case))
    got = reference.conv2d_backward(x, w, go, **grad_args(case), needs=needs)
    names = (needs,) if isinstance(needs, str) else needs
    for name, a, b in zip(("input", "weight", "bias"), got, full):
        if name in names:
            np.testing.assert_array_equal(a, b)
        else:
            assert a is None


def test_reference_grads_of_an_empty_batch_are_zero():
    x = np.zeros((0, 4, 5, 5))
    w = random_array((6, 2, 3, 3), np.float64, 1)
    go = np.zeros((0, 6, 3, 3))
    gi, gw, gb = reference.conv2d_backward(x, w, go, groups=2)
    assert gi.shape == (0, 4, 5, 5)
    np.testing.assert_array_equal(gw, np.zeros((6, 2, 3, 3)))
    np.testing.assert_array_equal(gb, np.zeros(6))


def test_reference_input_grad_is_zero_where_the_stride_skips_rows():
    gi = reference.conv2d_input_grad((1, 1, 6, 6), np.ones((1, 1, 1, 1)), np.ones((1, 1, 2, 2)), stride=3)
    expected = np.zeros((6, 6))
    expected[::3, ::3] = 1
    np.testing.assert_array_equal(gi[0, 0], expected)


# --------------------------------------------------------------------------- finite differences

FD_CASES = [
    ConvCase(c=2, g=1, k=2, h=4, w=5, kernel=(2, 3), n=1, padding=1, dtype="float64", seed=1),
    ConvCase(c=4, g=2, k=2, h=5, w=4, kernel=(3, 3), n=2, stride=2, padding="same", dtype="float64", seed=2),
    ConvCase(c=3, g=3, k=6, h=5, w=5, kernel=(3, 2), n=1, dilation=(2, 1), padding=((2, 0), (1, 1)),
             layout="NHWC", dtype="float64", seed=3),
    ConvCase(c=2, g=2, k=2, h=6, w=3, kernel=(2, 2), n=None, stride=(3, 1), padding="valid", dtype="float64", seed=4),
]


def central_difference(f, array, eps=1e-6):
    """d f / d array, one element at a time (f is a scalar function)."""
    grad = np.zeros_like(array)
    for index in np.ndindex(array.shape):
        keep = array[index]
        array[index] = keep + eps
        up = f()
        array[index] = keep - eps
        down = f()
        array[index] = keep
        grad[index] = (up - down) / (2 * eps)
    return grad


@pytest.mark.parametrize("case", FD_CASES, ids=lambda c: c.id())
def test_reference_grads_match_central_differences(case):
    x, w, go = case_data(case)
    b = random_array((case.k,), np.float64, 9)
    kwargs = dict(stride=case.stride, padding=case.padding, dilation=case.dilation, groups=case.g,
                  layout=case.layout)

    def loss():
        return float(np.sum(reference.conv2d(x, w, b, **kwargs) * go))

    gi, gw, gb = reference.conv2d_backward(x, w, go, **grad_args(case))
    np.testing.assert_allclose(gi, central_difference(loss, x), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(gw, central_difference(loss, w), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(gb, central_difference(loss, b), rtol=1e-6, atol=1e-7)


# --------------------------------------------------------------------------- conv_transpose2d

def transpose_grid():
    rows = covering_array({
        "channels": ((3, 1, 4), (4, 2, 6), (6, 3, 3), (4, 4, 4), (2, 2, 6)),  # (Cin, G, Cout)
        "kernel": ((1, 1), (3, 3), (2, 3), (4, 1)),
        "stride": (1, 2, (3, 2)),
        "dilation": (1, 2, (2, 1)),
        "padding": (0, 1, (2, 1)),
        "output_padding": (0, 1, (1, 0)),
        "layout": ("NCHW", "NHWC"),
        "n": (1, 2, None),
        "bias": (False, True),
    }, seed=37)
    return rows


TRANSPOSE_ROWS = transpose_grid()


def transpose_data(row, seed, spatial=(4, 5)):
    cin, g, cout = row["channels"]
    n, layout = row["n"], row["layout"]
    inner = (cin,) + spatial if layout == "NCHW" else spatial + (cin,)
    x = random_array(inner if n is None else (n,) + inner, np.float64, seed)
    w = random_array((cin, cout // g) + row["kernel"], np.float64, seed + 1)
    b = random_array((cout,), np.float64, seed + 2) if row["bias"] else None
    return x, w, b


def transpose_valid(row):
    """torch's rules: output_padding < max(stride, dilation), output >= 1."""
    stride, dilation, op = (as_pair(row[k]) for k in ("stride", "dilation", "output_padding"))
    pad = as_pair(row["padding"])
    for size, s, d, o, p, k in zip((4, 5), stride, dilation, op, pad, row["kernel"]):
        if o >= max(s, d) or (size - 1) * s - 2 * p + d * (k - 1) + o + 1 < 1:
            return False
    return True


def torch_nchw(torch, array, layout, unbatched):
    t = torch.from_numpy(np.asarray(array, np.float64))
    t = t.unsqueeze(0) if unbatched else t
    return t.permute(0, 3, 1, 2) if layout == "NHWC" else t


def from_torch(t, layout, unbatched):
    t = t.permute(0, 2, 3, 1) if layout == "NHWC" else t
    return (t[0] if unbatched else t).detach().contiguous().numpy()


@pytest.mark.parametrize("index", [i for i, r in enumerate(TRANSPOSE_ROWS) if transpose_valid(r)])
def test_reference_conv_transpose2d_matches_torch(index):
    torch = pytest.importorskip("torch")
    row = TRANSPOSE_ROWS[index]
    x, w, b = transpose_data(row, 900 + index)
    unbatched = row["n"] is None
    cin, g, cout = row["channels"]
    expected = torch.nn.functional.conv_transpose2d(
        torch_nchw(torch, x, row["layout"], unbatched), torch.from_numpy(w),
        None if b is None else torch.from_numpy(b), as_pair(row["stride"]), as_pair(row["padding"]),
        as_pair(row["output_padding"]), g, as_pair(row["dilation"]))
    got = reference.conv_transpose2d(x, w, b, row["stride"], row["padding"], row["output_padding"], g,
                                     row["dilation"], layout=row["layout"])
    np.testing.assert_allclose(got, from_torch(expected, row["layout"], unbatched),
                               rtol=RTOL, atol=ATOL, err_msg=str(row))


ADJOINT_CASES = [
    # (Cin, G, Cout, kernel, stride, dilation, padding, output_padding, layout)
    (4, 2, 6, (3, 3), 2, 1, ((0, 2), (1, 0)), (1, 0), "NCHW"),
    (3, 3, 6, (2, 3), (2, 3), (1, 2), ((1, 0), (2, 2)), (0, 2), "NHWC"),
    (2, 1, 3, (3, 2), 1, 2, ((2, 1), (0, 1)), 0, "NCHW"),
    (4, 4, 4, (3, 3), 2, 1, "same", 0, "NCHW"),
    (2, 2, 4, (4, 4), 3, 1, "same", 0, "NHWC"),
    (3, 1, 2, (1, 1), 3, 1, "same", 0, "NCHW"),   # kernel smaller than the stride
    (2, 1, 2, (2, 2), 2, 2, "valid", 1, "NCHW"),
]


def adjoint_setup(case, seed):
    cin, g, cout, kernel, stride, dilation, padding, output_padding, layout = case
    x = random_array((2, cin, 3, 4) if layout == "NCHW" else (2, 3, 4, cin), np.float64, seed)
    w = random_array((cin, cout // g) + kernel, np.float64, seed + 1)
    y = reference.conv_transpose2d(x, w, None, stride, padding, output_padding, g, dilation, layout=layout)
    return x, w, y


@pytest.mark.parametrize("case", ADJOINT_CASES, ids=str)
def test_reference_conv_transpose2d_is_the_adjoint_of_conv2d(case):
    # <conv2d(z), x> == <z, conv_transpose2d(x)> for every z of the transposed output's shape.
    cin, g, cout, kernel, stride, dilation, padding, output_padding, layout = case
    x, w, y = adjoint_setup(case, 5)
    z = random_array(y.shape, np.float64, 7)
    forward = reference.conv2d(z, w, None, stride, padding, dilation, g, layout=layout)
    assert forward.shape == x.shape
    np.testing.assert_allclose(np.sum(forward * x), np.sum(z * y), rtol=1e-12)


@pytest.mark.parametrize("case", ADJOINT_CASES, ids=str)
def test_reference_conv_transpose2d_asymmetric_and_same_match_torch_autograd(case):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    cin, g, cout, kernel, stride, dilation, padding, output_padding, layout = case
    x, w, y = adjoint_setup(case, 5)
    # conv_transpose2d(x) is the gradient of <conv2d(pad(z)), x> with respect to z.
    z = torch.zeros(torch_nchw(torch, y, layout, False).shape, dtype=torch.float64, requires_grad=True)
    pads = _args.resolve_padding(padding, tuple(z.shape[2:]), kernel, as_pair(stride), as_pair(dilation))
    (pt, pb), (pl, pr) = pads
    out = F.conv2d(F.pad(z, (pl, pr, pt, pb)), torch.from_numpy(w), None, as_pair(stride), 0,
                   as_pair(dilation), g)
    (out * torch_nchw(torch, x, layout, False)).sum().backward()
    np.testing.assert_allclose(y, from_torch(z.grad, layout, False), rtol=RTOL, atol=ATOL)


def test_reference_conv_transpose2d_same_gives_input_times_stride():
    x = random_array((1, 2, 3, 5), np.float64, 1)
    for stride, kernel in ((1, 3), (2, 3), (3, 2), (2, 5), (4, 1)):
        y = reference.conv_transpose2d(x, np.ones((2, 1, kernel, kernel)), stride=stride, padding="same")
        assert y.shape == (1, 1, 3 * stride, 5 * stride), (stride, kernel)


def test_reference_conv_transpose2d_output_padding_adds_rows_at_the_end():
    x = np.ones((1, 1, 2, 2))
    w = np.ones((1, 1, 1, 1))
    y = reference.conv_transpose2d(x, w, np.array([0.5]), stride=2, output_padding=1)
    expected = np.full((4, 4), 0.5)
    expected[0:3:2, 0:3:2] = 1.5
    np.testing.assert_array_equal(y[0, 0], expected)


ERRORS = {
    "grad_output_wrong_shape": (
        lambda: reference.conv2d_input_grad((1, 2, 5, 5), np.ones((2, 2, 3, 3)), np.ones((1, 2, 4, 4))),
        ValueError, ("grad_output", r"\(1, 2, 4, 4\)", r"\(1, 2, 3, 3\)")),
    "input_shape_wrong_length": (
        lambda: reference.conv2d_input_grad((2, 5, 5, 1, 1), np.ones((2, 2, 3, 3)), np.ones((1, 2, 3, 3))),
        ValueError, ("input shape", "4 dims")),
    "weight_grad_groups": (
        lambda: reference.conv2d_weight_grad(np.ones((1, 4, 5, 5)), (2, 2, 3, 3), np.ones((1, 2, 3, 3)), groups=3),
        ValueError, ("in_channels", "4", "groups", "3")),
    "needs_unknown": (
        lambda: reference.conv2d_backward(np.ones((1, 1, 3, 3)), np.ones((1, 1, 1, 1)), np.ones((1, 1, 3, 3)),
                                          needs=("input", "grad")), ValueError, ("needs", "grad")),
    "output_padding_too_big": (
        lambda: reference.conv_transpose2d(np.ones((1, 1, 3, 3)), np.ones((1, 1, 3, 3)), stride=2, output_padding=2),
        ValueError, ("output_padding", "stride", "dilation")),
    "transpose_weight_channels": (
        lambda: reference.conv_transpose2d(np.ones((1, 4, 3, 3)), np.ones((2, 2, 3, 3)), groups=2),
        ValueError, (r"weight.shape\[0\]", "2", "4")),
    "transpose_output_too_small": (
        lambda: reference.conv_transpose2d(np.ones((1, 1, 1, 1)), np.ones((1, 1, 1, 1)), padding=1),
        ValueError, ("output size", "too small")),
    "transpose_same_with_output_padding": (
        lambda: reference.conv_transpose2d(np.ones((1, 1, 3, 3)), np.ones((1, 1, 3, 3)), stride=2,
                                           padding="same", output_padding=1),
        ValueError, ("output_padding", "same")),
    "transpose_bias_shape": (
        lambda: reference.conv_transpose2d(np.ones((1, 2, 3, 3)), np.ones((2, 3, 1, 1)), np.ones(2)),
        ValueError, ("bias", r"\(3,\)")),
}


@pytest.mark.parametrize("name", list(ERRORS))
def test_reference_grad_errors_name_the_parameter(name):
    call, error, patterns = ERRORS[name]
    with pytest.raises(error) as excinfo:
        call()
    message_names(excinfo, *patterns)


def test_reference_grad_accepts_unbatched_shapes():
    x = random_array((2, 5, 4), np.float64, 1)
    w = random_array((3, 2, 2, 2), np.float64, 2)
    go = random_array((3, 4, 3), np.float64, 3)
    gi, gw, gb = reference.conv2d_backward(x, w, go)
    batched = reference.conv2d_backward(x[None], w, go[None])
    np.testing.assert_array_equal(gi, batched[0][0])
    np.testing.assert_array_equal(gw, batched[1])
    np.testing.assert_array_equal(gb, batched[2])
