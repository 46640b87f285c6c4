"""padding_mode ("zeros", "reflect", "replicate", "circular") on conv1d,
conv2d, conv3d, depthwise_conv2d and Conv2d: the reference, torch's F.pad
modes and torch.nn.Conv2d's padding_mode; torch's limits; the errors."""

import numpy as np
import pytest

import gconv
from gconv import reference
from conftest import assert_close, covering_array, message_names, random_array
from _nd_cases import LAYOUTS, NdCase

MODES = ("reflect", "replicate", "circular")
PADDINGS = {
    1: (1, 2, (3,), ((2, 0),), ((0, 1),), "same", "valid"),
    2: (1, 2, (1, 2), ((2, 0), (1, 3)), ((0, 1), (2, 2)), "same", "valid"),
    3: (1, (2, 1, 0), ((1, 0), (0, 2), (1, 1)), "same"),
}
KERNELS = {1: ((3,), (4,), (1,)), 2: ((3, 3), (2, 4), (5, 1)), 3: ((3, 3, 3), (2, 1, 3))}
SPATIAL = {1: ((5,), (12,)), 2: ((4, 6), (7, 5)), 3: ((3, 4, 5), (5, 3, 4))}


def grid(nd):
    rows = covering_array({
        "mode": MODES,
        "padding": PADDINGS[nd],
        "kernel": KERNELS[nd],
        "channels": ((3, 1, 4), (4, 2, 6), (5, 5, 10)),
        "stride": (1, 2),
        "dilation": (1, 2),
        "layout": LAYOUTS[nd],
        "dtype": ("float32", "float64"),
        "n": (1, 2, None),
        "spatial": SPATIAL[nd],
    }, seed=17 + nd)
    cases = []
    for i, row in enumerate(rows):
        c, g, k = row["channels"]
        cases.append(NdCase(c=c, g=g, k=k, spatial=row["spatial"], kernel=row["kernel"],
                            n=row["n"], stride=row["stride"], padding=row["padding"],
                            dilation=row["dilation"], layout=row["layout"], dtype=row["dtype"],
                            bias=i % 2 == 0, activation=(None, "relu")[i % 3 == 0],
                            padding_mode=row["mode"], seed=500 + i).fit())
    return cases


CASES = grid(1) + grid(2) + grid(3)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id())
def test_padding_mode_matches_reference(case):
    case.check()


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id())
def test_padding_mode_matches_torch_f_pad(case):
    torch = pytest.importorskip("torch")
    x, w, b = case.arrays()
    got = case.run(x, w, b)
    assert_close(got, case.torch_result(torch, x, w, b), case.dtype, case.descriptor() + " peer=torch")


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("padding", [1, 2, (2, 1), "same", "valid"])
@pytest.mark.parametrize("mode", ("zeros",) + MODES)
def test_conv2d_matches_torch_nn_conv2d_padding_mode(mode, padding):
    torch = pytest.importorskip("torch")
    module = torch.nn.Conv2d(6, 9, (3, 2), padding=padding, padding_mode=mode, groups=3,
                             dtype=torch.float64)
    x = random_array((2, 6, 5, 7), np.float64, 1)
    expected = module(torch.from_numpy(x)).detach().numpy()
    w = module.weight.detach().numpy()
    b = module.bias.detach().numpy()
    descriptor = f"nn.Conv2d padding={padding!r} padding_mode={mode}"
    assert_close(gconv.conv2d(x, w, b, padding=padding, groups=3, padding_mode=mode), expected,
                 np.float64, descriptor)
    plan = gconv.Conv2d(w, b, padding=padding, groups=3, padding_mode=mode, layout="NHWC")
    got = plan(np.ascontiguousarray(x.transpose(0, 2, 3, 1))).transpose(0, 3, 1, 2)
    assert_close(got, expected, np.float64, descriptor + " Conv2d NHWC")


@pytest.mark.parametrize("mode", MODES)
def test_depthwise_conv2d_matches_torch_nn_conv2d_padding_mode(mode):
    torch = pytest.importorskip("torch")
    module = torch.nn.Conv2d(4, 8, 3, stride=2, padding=2, dilation=2, padding_mode=mode,
                             groups=4, bias=False, dtype=torch.float64)
    x = random_array((1, 4, 9, 8), np.float32, 2)
    expected = module(torch.from_numpy(x.astype(np.float64))).detach().numpy()
    w = module.weight.detach().numpy().astype(np.float32)
    got = gconv.depthwise_conv2d(x, w, stride=2, padding=2, dilation=2, padding_mode=mode)
    assert_close(got, expected, np.float32, f"depthwise padding_mode={mode}")


@pytest.mark.parametrize("nd", [1, 3])
@pytest.mark.parametrize("mode", MODES)
def test_conv1d_conv3d_match_torch_nn_modules_padding_mode(nd, mode):
    torch = pytest.importorskip("torch")
    module = {1: torch.nn.Conv1d, 3: torch.nn.Conv3d}[nd](
        4, 6, 3, padding=1, padding_mode=mode, groups=2, dtype=torch.float64)
    x = random_array((2, 4) + (5,) * nd, np.float64, 3)
    expected = module(torch.from_numpy(x)).detach().numpy()
    fn = {1: gconv.conv1d, 3: gconv.conv3d}[nd]
    got = fn(x, module.weight.detach().numpy(), module.bias.detach().numpy(), padding=1, groups=2,
             padding_mode=mode)
    assert_close(got, expected, np.float64, f"nn.Conv{nd}d padding_mode={mode}")


def test_zeros_is_the_default_padding_mode():
    x = random_array((1, 4, 6, 6), np.float32, 1)
    w = random_array((4, 2, 3, 3), np.float32, 2)
    np.testing.assert_array_equal(gconv.conv2d(x, w, padding=1, groups=2, padding_mode="zeros"),
                                  gconv.conv2d(x, w, padding=1, groups=2))


def test_reflect_and_circular_differ_from_zeros_only_near_the_border():
    x = random_array((1, 2, 8, 8), np.float64, 1)
    w = random_array((2, 2, 3, 3), np.float64, 2)
    zeros = gconv.conv2d(x, w, padding=1)
    for mode in MODES:
        y = gconv.conv2d(x, w, padding=1, padding_mode=mode)
        np.testing.assert_allclose(y[..., 1:-1, 1:-1], zeros[..., 1:-1, 1:-1], rtol=1e-12, atol=1e-12)
        assert not np.allclose(y[..., 0, :], zeros[..., 0, :])


def test_circular_padding_equal_to_the_input_size_wraps_once():
    x = np.arange(3, dtype=np.float64).reshape(1, 1, 3)
    y = gconv.conv1d(x, np.ones((1, 1, 1)), padding=3, padding_mode="circular")
    np.testing.assert_array_equal(y.ravel(), [0, 1, 2] * 3)


def test_replicate_allows_padding_larger_than_the_input():
    x = np.array([[[1.0, 2.0]]])
    y = gconv.conv1d(x, np.ones((1, 1, 1)), padding=((3, 2),), padding_mode="replicate")
    np.testing.assert_array_equal(y.ravel(), [1, 1, 1, 1, 2, 2, 2])


def test_reflect_pads_without_repeating_the_edge():
    x = np.array([[[1.0, 2.0, 3.0]]])
    y = gconv.conv1d(x, np.ones((1, 1, 1)), padding=2, padding_mode="reflect")
    np.testing.assert_array_equal(y.ravel(), [3, 2, 1, 2, 3, 2, 1])
    np.testing.assert_array_equal(reference.conv1d(x, np.ones((1, 1, 1)), padding=2,
                                                   padding_mode="reflect").ravel(), y.ravel())


@pytest.mark.parametrize("mode", MODES)
def test_padding_mode_with_an_empty_batch(mode):
    y = gconv.conv2d(np.zeros((0, 2, 4, 4)), np.zeros((3, 2, 3, 3)), padding=1, padding_mode=mode)
    assert y.shape == (0, 3, 4, 4)


@pytest.mark.parametrize("mode", MODES)
def test_padding_mode_with_out(mode):
    x = random_array((2, 4, 5, 6), np.float32, 1)
    w = random_array((6, 2, 3, 3), np.float32, 2)
    out = np.full((2, 6, 5, 6), 7.25, np.float32)
    assert gconv.conv2d(x, w, padding=1, groups=2, padding_mode=mode, out=out) is out
    assert_close(out, reference.conv2d(x, w, padding=1, groups=2, padding_mode=mode), np.float32,
                 f"out= padding_mode={mode}")


def test_conv2d_plan_with_padding_mode_reports_the_unpadded_algorithm_and_mode():
    plan = gconv.Conv2d(np.ones((8, 1, 3, 3), np.float32), groups=8, padding=1,
                        padding_mode="reflect")
    assert plan.algorithm((1, 8, 6, 6)) == "depthwise"
    assert "padding_mode='reflect'" in repr(plan)
    with pytest.raises(ValueError, match="reflect"):
        plan.algorithm((1, 8, 1, 1))
    for shape in ((1, 8, 6, 6), (2, 8, 4, 5)):
        x = random_array(shape, np.float32, 1)
        assert_close(plan(x), reference.conv2d(x, np.ones((8, 1, 3, 3)), groups=8, padding=1,
                                               padding_mode="reflect"), np.float32, "plan reflect")


def test_conv2d_plan_copies_nothing_of_the_caller_input():
    x = random_array((1, 2, 5, 5), np.float64, 1)
    keep = x.copy()
    gconv.Conv2d(np.ones((2, 2, 3, 3)), padding=2, padding_mode="circular")(x)
    np.testing.assert_array_equal(x, keep)


X2 = np.ones((1, 2, 3, 4), np.float32)
W2 = np.ones((2, 2, 3, 3), np.float32)

ERRORS = {
    "unknown_mode_conv2d": (lambda: gconv.conv2d(X2, W2, padding=1, padding_mode="mirror"),
                            ValueError, ("padding_mode", "mirror", "zeros", "reflect", "replicate", "circular")),
    "unknown_mode_conv1d": (lambda: gconv.conv1d(np.ones((1, 2, 4)), np.ones((1, 2, 3)), padding_mode="constant"),
                            ValueError, ("padding_mode", "constant", "circular")),
    "unknown_mode_conv3d": (lambda: gconv.conv3d(np.ones((1, 2, 4, 4, 4)), np.ones((1, 2, 3, 3, 3)),
                                                 padding_mode="wrap"), ValueError, ("padding_mode", "wrap")),
    "unknown_mode_depthwise": (lambda: gconv.depthwise_conv2d(X2, np.ones((2, 1, 3, 3), np.float32),
                                                              padding_mode="edge"),
                               ValueError, ("padding_mode", "edge")),
    "unknown_mode_plan": (lambda: gconv.Conv2d(W2, padding_mode="Reflect"), ValueError, ("padding_mode", "Reflect")),
    "mode_not_str": (lambda: gconv.conv2d(X2, W2, padding_mode=None), TypeError, ("padding_mode", "None")),
    "reflect_pad_equal_to_size": (lambda: gconv.conv2d(X2, W2, padding=3, padding_mode="reflect"),
                                  ValueError, ("padding_mode='reflect'", r"\(3, 3\)", "size 3")),
    "reflect_pad_after_too_big": (lambda: gconv.conv2d(X2, W2, padding=((0, 0), (1, 4)), padding_mode="reflect"),
                                  ValueError, ("reflect", r"\(1, 4\)", "size 4")),
    "circular_wraps_twice": (lambda: gconv.conv1d(np.ones((1, 1, 3)), np.ones((1, 1, 3)), padding=4,
                                                  padding_mode="circular"),
                             ValueError, ("padding_mode='circular'", r"\(4, 4\)", "size 3")),
    "reflect_conv3d_depth": (lambda: gconv.conv3d(np.ones((1, 1, 2, 5, 5)), np.ones((1, 1, 3, 3, 3)), padding=2,
                                                  padding_mode="reflect"), ValueError, ("reflect", "size 2")),
    "reference_reflect": (lambda: reference.conv2d(X2, W2, padding=3, padding_mode="reflect"),
                          ValueError, ("reflect", "size 3")),
    "reference_unknown": (lambda: reference.conv1d(np.ones((1, 1, 3)), np.ones((1, 1, 3)), padding_mode="x"),
                          ValueError, ("padding_mode",)),
}


@pytest.mark.parametrize("name", list(ERRORS))
def test_padding_mode_errors_name_the_mode_and_sizes(name):
    call, error, patterns = ERRORS[name]
    with pytest.raises(error) as excinfo:
        call()
    message_names(excinfo, *patterns)


def test_failing_padding_leaves_out_untouched():
    out = np.full((1, 2, 7, 8), 7.25, np.float32)
    with pytest.raises(ValueError, match="reflect"):
        gconv.conv2d(X2, W2, padding=3, padding_mode="reflect", out=out)
    assert np.all(out == 7.25)
