"""The Python API on device arrays: result type and device, out=, errors
identical to the CPU path, host/device mixing, streams, non-contiguous and
foreign (__cuda_array_interface__) inputs, threads."""

import threading

import numpy as np
import pytest

import gconv
from gconv import reference
from conftest import random_array, require_gpu, to_device

cp = require_gpu()

SENTINEL = 7.25


def _ops(dtype, layout):
    """(name, call(x, w, b, out), reference) for every op that runs on the GPU."""
    nchw = layout == "NCHW"
    x = random_array((2, 6, 5, 7) if nchw else (2, 5, 7, 6), dtype, 1)
    w = random_array((12, 3, 3, 3), dtype, 2)
    wd = random_array((12, 1, 3, 3), dtype, 3)
    wg = random_array((12, 1, 5, 7), dtype, 4)
    b = random_array((12,), dtype, 5)
    dx, dw, dwd, dwg, db = to_device(x, w, wd, wg, b)
    return [
        ("conv2d", lambda out: gconv.conv2d(dx, dw, db, padding=1, groups=2, layout=layout,
                                            activation="relu", out=out),
         reference.conv2d(x, w, b, padding=1, groups=2, layout=layout, activation="relu")),
        ("depthwise_conv2d", lambda out: gconv.depthwise_conv2d(dx, dwd, db, stride=2,
                                                                layout=layout, out=out),
         reference.depthwise_conv2d(x, wd, b, stride=2, layout=layout)),
        ("global_depthwise_conv2d", lambda out: gconv.global_depthwise_conv2d(
            dx, dwg, db, layout=layout, out=out),
         reference.global_depthwise_conv2d(x, wg, b, layout=layout)),
        ("global_avg_pool2d", lambda out: gconv.global_avg_pool2d(dx, layout=layout, out=out),
         reference.global_avg_pool2d(x, layout=layout)),
    ]


OP_NAMES = [name for name, _, _ in _ops(np.float32, "NCHW")]


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("op", range(4), ids=OP_NAMES)
def test_results_are_cupy_arrays_on_the_input_device(op, dtype, layout):
    name, call, ref = _ops(dtype, layout)[op]
    y = call(None)
    assert isinstance(y, cp.ndarray), name
    assert y.device.id == cp.cuda.Device().id
    assert y.dtype == np.dtype(dtype) and y.shape == ref.shape
    tol = 1e-4 if dtype == "float32" else 1e-10
    np.testing.assert_allclose(cp.asnumpy(y), ref, rtol=0, atol=tol * max(1, np.abs(ref).max()))


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("op", range(4), ids=OP_NAMES)
def test_out_is_written_and_returned_as_the_same_object(op, dtype, layout):
    name, call, ref = _ops(dtype, layout)[op]
    out = cp.full(ref.shape, SENTINEL, dtype)
    result = call(out)
    assert result is out, name
    tol = 1e-4 if dtype == "float32" else 1e-10
    np.testing.assert_allclose(cp.asnumpy(out), ref, rtol=0, atol=tol * max(1, np.abs(ref).max()))


@pytest.mark.parametrize("op", range(4), ids=OP_NAMES)
def test_failing_out_raises_like_the_cpu_and_leaves_out_untouched(op):
    name, call, ref = _ops(np.float32, "NCHW")[op]
    base = cp.full(ref.shape[:-1] + (2 * ref.shape[-1],), SENTINEL, np.float32)
    bad = {
        "wrong_shape": (ValueError, cp.full(ref.shape[:-1] + (ref.shape[-1] + 1,), SENTINEL, np.float32)),
        "wrong_dtype": (TypeError, cp.full(ref.shape, SENTINEL, np.float64)),
        "strided_view": (ValueError, base[..., ::2]),
    }
    if len(ref.shape) == 4 and ref.shape[-1] > 1:
        bad["fortran"] = (ValueError, cp.asfortranarray(cp.full(ref.shape, SENTINEL, np.float32)))
    for kind, (error, out) in bad.items():
        with pytest.raises(error):
            call(out)
        assert bool((out == SENTINEL).all()), f"{name}: out changed on failing call ({kind})"
    assert bool((base == SENTINEL).all())


def test_out_aliasing_the_input_is_still_right():
    x = random_array((2, 8, 6, 6), np.float32, 3)
    w = random_array((8, 1, 3, 3), np.float32, 4)
    ref = reference.conv2d(x, w, padding=1, groups=8)
    dx, dw = to_device(x, w)
    result = gconv.conv2d(dx, dw, padding=1, groups=8, out=dx)
    assert result is dx
    np.testing.assert_allclose(cp.asnumpy(dx), ref, rtol=0, atol=1e-4 * np.abs(ref).max())


@pytest.mark.parametrize("where", ["input", "weight", "bias", "out"])
def test_mixing_host_and_device_arrays_is_a_type_error_naming_each(where):
    x = random_array((1, 4, 5, 5), np.float32, 1)
    w = random_array((4, 2, 3, 3), np.float32, 2)
    b = random_array((4,), np.float32, 3)
    out = np.zeros((1, 4, 3, 3), np.float32)
    args = dict(zip(("input", "weight", "bias", "out"), to_device(x, w, b, out)))
    host = {"input": x, "weight": w, "bias": b, "out": out}
    args[where] = host[where]
    with pytest.raises(TypeError) as excinfo:
        gconv.conv2d(args["input"], args["weight"], args["bias"], groups=2, out=args["out"])
    text = str(excinfo.value)
    assert "host" in text and "device" in text and where in text.split("on the host")[1], text


def test_mixing_in_the_other_functions_is_a_type_error():
    x = random_array((1, 4, 5, 5), np.float32, 1)
    dx = cp.asarray(x)
    with pytest.raises(TypeError, match="host"):
        gconv.depthwise_conv2d(dx, np.ones((4, 1, 3, 3), np.float32))
    with pytest.raises(TypeError, match="host"):
        gconv.global_depthwise_conv2d(x, cp.ones((4, 1, 5, 5), np.float32))
    with pytest.raises(TypeError, match="host"):
        gconv.global_avg_pool2d(dx, out=np.zeros((1, 4, 1, 1), np.float32))


BAD_CALLS = [
    ("groups do not divide channels", dict(x=(1, 6, 5, 5), w=(8, 2, 3, 3), kw=dict(groups=4))),
    ("channel mismatch", dict(x=(1, 6, 5, 5), w=(8, 2, 3, 3), kw=dict(groups=2))),
    ("kernel larger than input", dict(x=(1, 4, 2, 2), w=(4, 4, 3, 3), kw={})),
    ("bad stride", dict(x=(1, 4, 5, 5), w=(4, 4, 3, 3), kw=dict(stride=0))),
    ("stride tuple length", dict(x=(1, 4, 5, 5), w=(4, 4, 3, 3), kw=dict(stride=(1, 1, 1)))),
    ("float stride", dict(x=(1, 4, 5, 5), w=(4, 4, 3, 3), kw=dict(stride=1.5))),
    ("bad padding", dict(x=(1, 4, 5, 5), w=(4, 4, 3, 3), kw=dict(padding="full"))),
    ("bad layout", dict(x=(1, 4, 5, 5), w=(4, 4, 3, 3), kw=dict(layout="CHWN"))),
    ("bad activation", dict(x=(1, 4, 5, 5), w=(4, 4, 3, 3), kw=dict(activation="gelu"))),
    ("weight 3-D", dict(x=(1, 4, 5, 5), w=(4, 4, 3), kw={})),
    ("input 5-D", dict(x=(1, 1, 4, 5, 5), w=(4, 4, 3, 3), kw={})),
    ("bias shape", dict(x=(1, 4, 5, 5), w=(4, 4, 3, 3), kw={}, b=(3,))),
]


def _error_of(call):
    try:
        call()
    except Exception as exc:  # the exact type and message are compared
        return type(exc), str(exc)
    return None, None


@pytest.mark.parametrize("what,spec", BAD_CALLS, ids=[name for name, _ in BAD_CALLS])
def test_bad_arguments_raise_exactly_what_the_cpu_raises(what, spec):
    x = np.ones(spec["x"], np.float32)
    w = np.ones(spec["w"], np.float32)
    b = np.ones(spec["b"], np.float32) if "b" in spec else None
    cpu_error = _error_of(lambda: gconv.conv2d(x, w, b, **spec["kw"]))
    gpu_error = _error_of(lambda: gconv.conv2d(*to_device(x, w, b), **spec["kw"]))
    assert cpu_error[0] is not None, what
    assert gpu_error == cpu_error, what


@pytest.mark.parametrize("dtypes", [("int32", "float32"), ("float16", "float16"),
                                    ("float32", "float64"), ("float64", "float32")])
def test_bad_dtypes_are_type_errors_like_the_cpu(dtypes):
    x = np.ones((1, 4, 5, 5), dtypes[0])
    w = np.ones((4, 4, 3, 3), dtypes[1])
    cpu_error = _error_of(lambda: gconv.conv2d(x, w))
    gpu_error = _error_of(lambda: gconv.conv2d(*to_device(x, w)))
    assert cpu_error[0] is TypeError
    assert gpu_error == cpu_error


def test_empty_batch_and_zero_out_channels_give_empty_device_results():
    y = gconv.conv2d(cp.zeros((0, 6, 5, 5), np.float32), cp.ones((4, 3, 3, 3), np.float32),
                     groups=2, padding=1)
    assert isinstance(y, cp.ndarray) and y.shape == (0, 4, 5, 5)
    y = gconv.conv2d(cp.ones((2, 4, 5, 5), np.float64), cp.ones((0, 2, 3, 3), np.float64), groups=2)
    assert y.shape == (2, 0, 3, 3) and y.dtype == np.float64
    y = gconv.global_avg_pool2d(cp.zeros((0, 3, 4, 4), np.float32), layout="NHWC")
    assert y.shape == (0, 1, 1, 4)


def test_unbatched_input_gives_unbatched_output():
    x = random_array((4, 7, 7), np.float64, 1)
    w = random_array((8, 2, 3, 3), np.float64, 2)
    y = gconv.conv2d(cp.asarray(x), cp.asarray(w), groups=2, padding="same")
    assert y.shape == (8, 7, 7)
    np.testing.assert_allclose(cp.asnumpy(y), reference.conv2d(x, w, groups=2, padding="same"),
                               rtol=0, atol=1e-10 * 30)


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_non_contiguous_device_inputs_are_copied(layout):
    x = random_array((2, 8, 10, 12), np.float32, 1)
    w = random_array((8, 4, 3, 3), np.float32, 2)
    dx = cp.asarray(x)[:, :, ::2, ::-1]
    dw = cp.asfortranarray(cp.asarray(w))
    xs = x[:, :, ::2, ::-1]
    if layout == "NHWC":
        dx, xs = dx.transpose(0, 2, 3, 1), xs.transpose(0, 2, 3, 1)
    y = gconv.conv2d(dx, dw, groups=2, padding=1, layout=layout)
    ref = reference.conv2d(xs, w, groups=2, padding=1, layout=layout)
    np.testing.assert_allclose(cp.asnumpy(y), ref, rtol=0, atol=1e-4 * np.abs(ref).max())


def test_runs_on_the_current_non_default_stream():
    x = random_array((4, 32, 28, 28), np.float32, 1)
    w = random_array((32, 8, 3, 3), np.float32, 2)
    ref = reference.conv2d(x, w, groups=4, padding=1)
    stream = cp.cuda.Stream(non_blocking=True)
    with stream:
        dx, dw = cp.asarray(x), cp.asarray(w)
        y = gconv.conv2d(dx, dw, groups=4, padding=1)
        host = cp.asnumpy(y, stream=stream)
    stream.synchronize()
    np.testing.assert_allclose(host, ref, rtol=0, atol=1e-4 * np.abs(ref).max())


def test_threads_launching_at_once_get_the_sequential_results():
    x = random_array((2, 64, 14, 14), np.float32, 1)
    w = random_array((64, 2, 3, 3), np.float32, 2)
    dx, dw = cp.asarray(x), cp.asarray(w)
    expected = cp.asnumpy(gconv.conv2d(dx, dw, groups=32, padding=1))
    results, errors = [None] * 8, []

    def work(i):
        try:
            with cp.cuda.Stream(non_blocking=True) as stream:
                y = gconv.conv2d(dx, dw, groups=32, padding=1)
                results[i] = cp.asnumpy(y, stream=stream)
        except Exception as exc:  # reported below with the thread's index
            errors.append((i, exc))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for r in results:
        assert r.tobytes() == expected.tobytes()


class _ForeignArray:
    """A device array known only through __cuda_array_interface__ (as Numba or torch give)."""

    def __init__(self, array):
        self._array = array
        self.__cuda_array_interface__ = array.__cuda_array_interface__


def test_any_cuda_array_interface_object_is_accepted():
    x = random_array((1, 6, 8, 8), np.float64, 1)
    w = random_array((6, 1, 3, 3), np.float64, 2)
    out = cp.zeros((1, 6, 8, 8), np.float64)
    foreign_out = _ForeignArray(out)
    result = gconv.depthwise_conv2d(_ForeignArray(cp.asarray(x)), _ForeignArray(cp.asarray(w)),
                                    padding=1, out=foreign_out)
    assert result is foreign_out
    np.testing.assert_allclose(cp.asnumpy(out), reference.depthwise_conv2d(x, w, padding=1),
                               rtol=0, atol=1e-10 * 20)


def test_torch_cuda_tensors_are_accepted_when_torch_has_cuda():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("torch without CUDA")
    x = torch.randn(2, 8, 9, 9, device="cuda")
    w = torch.randn(16, 2, 3, 3, device="cuda")
    y = gconv.conv2d(x, w, groups=4, padding=1)
    torch.cuda.synchronize()
    expected = torch.nn.functional.conv2d(x, w, groups=4, padding=1).cpu().numpy()
    cp.cuda.Device().synchronize()
    np.testing.assert_allclose(cp.asnumpy(y), expected, rtol=1e-4, atol=1e-4)


def test_build_info_and_availability_tell_the_truth():
    assert gconv.build_info()["cuda"] is True
    assert gconv.cuda.is_built() and gconv.cuda.is_available()
    assert gconv.cuda.device_count() == cp.cuda.runtime.getDeviceCount()
    major, _ = gconv.cuda.runtime_version()
    assert major >= 11
