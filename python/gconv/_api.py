"""The NumPy API of API.md: argument normalisation around one extension call.

No arithmetic happens here: every function checks and normalises its
arguments (raising the documented exceptions before anything is written),
then makes one call into ``gconv._core``.
"""

import collections
import contextlib

import sys

import numpy as np

from . import _alloc, _args, _core, _padding_mode, cuda
from ._conv_spec import (_FLOAT_DTYPES, _PLAIN_TYPES, _plain, ConvParams, ConvSpec, DTYPE_CODES,
                         LAYOUT_CODES, as_float_array, check_out,
                         check_same_dtype, kernel_ready, split_batch)

ALGORITHMS = _core.ALGORITHMS

ConvCost = collections.namedtuple("ConvCost", "params macs flops output_shape min_bytes")


def _device_api(*arrays):
    """gconv._cuda_api when any argument is a CUDA array, else None."""
    for a in arrays:
        if a is not None and type(a) is not np.ndarray and hasattr(a, "__cuda_array_interface__"):
            if not cuda.is_built():
                raise TypeError(
                    "got a CUDA array, but this gconv was built without CUDA "
                    "(rebuild with -Ccmake.define.GCONV_CUDA=ON)"
                )
            from . import _cuda_api

            return _cuda_api
    return None


def _result_array(out, shape, dtype, where, spare=None):
    if out is not None:
        check_out(out, shape, dtype, where)
        return out
    if spare is not None:
        last, spare[0] = spare[0], None
        # References: `last` and getrefcount's argument. Any other (the
        # caller's result, an exported buffer, another thread that took it
        # too) keeps it from being reused. A view of it (y[0]) holds the
        # array that owns the memory, which is `last` itself or, for a
        # result on whole cache lines (_alloc.empty), its base: that one's
        # references are `last`'s, `owner`, getrefcount's argument and the
        # reuse pool's, if it keeps it.
        if last is not None and sys.getrefcount(last) == 2 and last.shape == shape \
                and last.dtype == dtype:
            owner = last.base
            if owner is None or sys.getrefcount(owner) == 3 + _alloc.kept(owner):
                return last
    return _alloc.empty(shape, dtype)


def _run_plan(plan, x, result, batch, fresh=False):
    """Executes into ``result``, through a temporary when ``result`` cannot be
    written directly (misaligned, or overlapping the input). ``fresh``: the
    caller just allocated ``result`` (nothing to check)."""
    if result.size == 0:
        return result
    target = result
    if not fresh and (not result.flags.aligned or np.may_share_memory(result, x)):
        target = _alloc.empty(result.shape, result.dtype)
    plan.execute(x, target, batch)
    if target is not result:
        np.copyto(result, target)
    return result


def _convolve(spec, x, out, force_algorithm=None, plan_cache=None, padding_mode="zeros",
              spare=None):
    x = as_float_array(x, "input")
    if x.dtype != spec.weight.dtype:  # (the spec's bias already matches its weight)
        check_same_dtype(spec.where, input=x, weight=spec.weight, bias=spec.bias)
    if padding_mode != "zeros":
        x = _padding_mode.padded_conv2d_input(spec, x, padding_mode)
        spec = spec.with_padding(0)
    desc, out_shape, _ = spec.descriptor(x.shape)
    result = _result_array(out, out_shape, spec.dtype, spec.where, spare)
    if out is None and spare is not None:
        spare[0] = result
    key = desc[1:]
    plan = plan_cache.get(key) if plan_cache is not None else None
    if plan is None:
        plan = _core.Plan(desc, spec.weight, spec.bias, force_algorithm)
        if plan_cache is not None:
            plan_cache[key] = plan
    return _run_plan(plan, kernel_ready(x), result, desc[0], fresh=out is None)


# conv2d called again with arguments it has already checked: every check
# depends only on what the key holds (shapes, dtypes, the exact int/str/None
# arguments), so such a call goes straight to a plan. That halves the
# per-call overhead (issue 3: under 10 us from Python for a one-element
# convolution; the peers pay 13-18 us).
_REPEATS = {}


def _repeat_key(x, weight, bias, stride, padding, dilation, groups, layout, activation, out,
                force_algorithm, padding_mode):
    """The key of a conv2d call the short path can serve, else None: NumPy
    arrays of one native float dtype the kernels read in place, the default
    out/force_algorithm/padding_mode, plain arguments (not 1.0 or True,
    which compare equal to 1 but must be rejected)."""
    if out is not None or force_algorithm is not None or padding_mode != "zeros" \
            or type(x) is not np.ndarray or type(weight) is not np.ndarray:
        return None
    dtype = x.dtype
    if dtype not in _FLOAT_DTYPES or weight.dtype != dtype:
        return None
    flags = x.flags
    if not (flags.c_contiguous and flags.aligned):
        return None
    flags = weight.flags
    if not (flags.c_contiguous and flags.aligned):
        return None
    bias_key = None
    if bias is not None:
        if type(bias) is not np.ndarray or bias.dtype != dtype:
            return None
        flags = bias.flags
        if not (flags.c_contiguous and flags.aligned):
            return None
        bias_key = bias.shape
    for value in (stride, padding, dilation, groups, layout, activation):
        kind = type(value)
        if kind not in _PLAIN_TYPES and not (kind is tuple and _plain(value)):
            return None
    return (x.shape, weight.shape, bias_key, dtype, stride, padding, dilation, groups, layout,
            activation)


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *, layout="NCHW",
           activation=None, out=None, force_algorithm=None, padding_mode="zeros"):
    """2-D cross-correlation with groups, exactly ``torch.nn.functional.conv2d``.

    Shapes (NCHW): ``x`` (N, C, H, W) or unbatched (C, H, W); ``weight``
    (K, C // groups, R, S) in PyTorch's layout whatever the data layout;
    ``bias`` (K,); result (N, K, OH, OW). With ``layout="NHWC"`` the input is
    (N, H, W, C) and the result (N, OH, OW, K).

    ``groups=1`` is a regular convolution, ``groups=C`` a depthwise one (with
    K = m * C for depth multiplier m). ``padding`` is an int, one int per
    spatial dim, one ``(before, after)`` pair per dim, ``"valid"`` or
    ``"same"`` (output = ceil(input / stride), odd pad after).
    ``activation`` (``None``, ``"relu"``, ``"relu6"``) is fused after the bias.
    ``padding_mode`` (``"zeros"``, ``"reflect"``, ``"replicate"``,
    ``"circular"``) fills the padding as ``torch.nn.Conv2d`` does: modes
    other than zeros pad a copy of the input, then convolve it unpadded.
    ``force_algorithm`` (one of ``gconv.ALGORITHMS``) overrides the planner,
    for tests and benchmarks.

    Example:
        >>> import numpy as np, gconv
        >>> x = np.ones((1, 4, 5, 5), np.float32)
        >>> w = np.ones((8, 2, 3, 3), np.float32)       # 2 groups of 2 channels
        >>> gconv.conv2d(x, w, groups=2, padding=1).shape
        (1, 8, 5, 5)
    """
    key = _repeat_key(x, weight, bias, stride, padding, dilation, groups, layout, activation,
                      out, force_algorithm, padding_mode)
    if key is not None:
        known = _REPEATS.get(key)
        if known is not None:
            desc, out_shape = known
            result = _alloc.empty(out_shape, x.dtype)
            if result.size:
                _core.Plan(desc, weight, bias, None).execute(x, result, desc[0])
            return result
    padding_mode = _padding_mode.check_padding_mode(padding_mode, "conv2d")
    device = _device_api(x, weight, bias, out)
    if device is not None:
        _padding_mode.require_zeros_on_device(padding_mode, "conv2d")
        return device.conv2d(x, weight, bias, stride, padding, dilation, groups, layout=layout,
                             activation=activation, out=out)
    spec = ConvSpec(weight, bias, stride, padding, dilation, groups, layout, activation,
                    "conv2d")
    result = _convolve(spec, x, out, force_algorithm, padding_mode=padding_mode)
    if key is not None:  # checked: the same arguments again take the short path
        desc, out_shape, _ = spec.descriptor(x.shape)
        if len(_REPEATS) >= 64:
            _REPEATS.clear()
        _REPEATS[key] = (desc, out_shape)
    return result


def depthwise_conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, *, layout="NCHW",
                     activation=None, out=None, padding_mode="zeros"):
    """Depthwise convolution: ``conv2d(x, weight, groups=C)``.

    ``weight`` is (C * m, 1, R, S) for depth multiplier m; the result has
    C * m channels, channel k computed from input channel k // m.
    ``padding_mode`` as in :func:`conv2d`.

    Example:
        >>> import numpy as np, gconv
        >>> x = np.ones((2, 3, 8, 8), np.float32)
        >>> w = np.ones((6, 1, 3, 3), np.float32)       # multiplier 2
        >>> gconv.depthwise_conv2d(x, w, padding="same").shape
        (2, 6, 8, 8)
    """
    padding_mode = _padding_mode.check_padding_mode(padding_mode, "depthwise_conv2d")
    device = _device_api(x, weight, bias, out)
    if device is not None:
        _padding_mode.require_zeros_on_device(padding_mode, "depthwise_conv2d")
        return device.depthwise_conv2d(x, weight, bias, stride, padding, dilation,
                                       layout=layout, activation=activation, out=out)
    x = as_float_array(x, "input")
    layout = _args.check_layout(layout)
    _, channels, _, _ = split_batch(x, layout, "depthwise_conv2d")
    weight = as_float_array(weight, "weight")
    if weight.ndim != 4 or weight.shape[1] != 1:
        raise ValueError(
            f"depthwise_conv2d: weight must have shape (C * m, 1, R, S), got {weight.shape}"
        )
    spec = ConvSpec(weight, bias, stride, padding, dilation, channels, layout, activation,
                    "depthwise_conv2d")
    return _convolve(spec, x, out, padding_mode=padding_mode)


def global_depthwise_conv2d(x, weight, bias=None, *, layout="NCHW", out=None):
    """Global Depthwise Convolution (GDC, MobileFaceNet): one learnable weight
    per channel and position, a weighted global pooling.

    ``x`` (N, C, H, W), ``weight`` (C * m, 1, H, W) → (N, C * m, 1, 1)
    ((N, 1, 1, C * m) for NHWC). Equal to ``conv2d(x, weight, groups=C)``.

    Example:
        >>> import numpy as np, gconv
        >>> x = np.ones((1, 512, 7, 7), np.float32)
        >>> w = np.full((512, 1, 7, 7), 1 / 49, np.float32)
        >>> y = gconv.global_depthwise_conv2d(x, w)
        >>> y.shape, round(float(y[0, 0, 0, 0]), 5)
        ((1, 512, 1, 1), 1.0)
    """
    device = _device_api(x, weight, bias, out)
    if device is not None:
        return device.global_depthwise_conv2d(x, weight, bias, layout=layout, out=out)
    x = as_float_array(x, "input")
    layout = _args.check_layout(layout)
    _, channels, spatial, _ = split_batch(x, layout, "global_depthwise_conv2d")
    weight = as_float_array(weight, "weight")
    if weight.ndim != 4 or weight.shape[1] != 1 or weight.shape[2:] != spatial:
        raise ValueError(
            f"global_depthwise_conv2d: weight must have shape (C * m, 1, {spatial[0]}, "
            f"{spatial[1]}) for an input of spatial size {spatial}, got {weight.shape}"
        )
    spec = ConvSpec(weight, bias, 1, 0, 1, channels, layout, None, "global_depthwise_conv2d")
    return _convolve(spec, x, out, "global_depthwise")


def global_avg_pool2d(x, *, layout="NCHW", out=None):
    """Global average pooling: (N, C, H, W) → (N, C, 1, 1) ((N, 1, 1, C) for NHWC).

    Equal to ``global_depthwise_conv2d`` with every weight ``1 / (H * W)``.

    Example:
        >>> import numpy as np, gconv
        >>> x = np.arange(8, dtype=np.float64).reshape(1, 2, 2, 2)
        >>> gconv.global_avg_pool2d(x).ravel().tolist()
        [1.5, 5.5]
    """
    device = _device_api(x, out)
    if device is not None:
        return device.global_avg_pool2d(x, layout=layout, out=out)
    x = as_float_array(x, "input")
    layout = _args.check_layout(layout)
    n, c, (h, w), unbatched = split_batch(x, layout, "global_avg_pool2d")
    shape = (n, c, 1, 1) if layout == "NCHW" else (n, 1, 1, c)
    if unbatched:
        shape = shape[1:]
    _args.checked_product(x.shape, "global_avg_pool2d: input")
    result = _result_array(out, shape, x.dtype, "global_avg_pool2d")
    if result.size == 0:
        return result
    x = kernel_ready(x)
    target = result if result.flags.aligned and not np.may_share_memory(result, x) \
        else _alloc.empty(shape, x.dtype)
    _core.global_avg_pool2d(DTYPE_CODES[x.dtype], LAYOUT_CODES[layout], n, c, h, w, x, target)
    if target is not result:
        np.copyto(result, target)
    return result


def channel_shuffle(x, groups, *, layout="NCHW", out=None):
    """ShuffleNet's channel permutation: channels viewed as (groups, C // groups),
    transposed, flattened. ``channel_shuffle(channel_shuffle(x, g), C // g)`` is ``x``.

    Example:
        >>> import numpy as np, gconv
        >>> x = np.arange(6, dtype=np.float32).reshape(1, 6, 1, 1)
        >>> gconv.channel_shuffle(x, 2).ravel().tolist()
        [0.0, 3.0, 1.0, 4.0, 2.0, 5.0]
    """
    x = as_float_array(x, "input")
    layout = _args.check_layout(layout)
    groups = _args.as_int(groups, "groups")
    _, c, _, unbatched = split_batch(x, layout, "channel_shuffle")
    if groups < 1 or c % groups:
        raise ValueError(
            f"channel_shuffle: channels ({c}) must be divisible by groups ({groups}), groups >= 1"
        )
    axis = x.ndim - 1 if layout == "NHWC" else x.ndim - 3
    shape = x.shape[:axis] + (groups, c // groups) + x.shape[axis + 1:]
    shuffled = np.swapaxes(x.reshape(shape), axis, axis + 1).reshape(x.shape)
    result = _result_array(out, x.shape, x.dtype, "channel_shuffle")
    if np.may_share_memory(result, x):
        shuffled = shuffled.copy()
    np.copyto(result, shuffled)
    return result


def block_diagonal(weight, groups):
    """The grouped weight (K, C // G, R, S) as the equivalent dense weight
    (K, C, R, S), zero outside the diagonal blocks ("structured sparse").

    Example:
        >>> import numpy as np, gconv
        >>> w = np.ones((4, 1, 1, 1), np.float32)
        >>> gconv.block_diagonal(w, 2)[:, :, 0, 0].tolist()
        [[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]]
    """
    weight = as_float_array(weight, "weight")
    groups = _args.as_int(groups, "groups")
    if weight.ndim < 2:
        raise ValueError(f"block_diagonal: weight must have at least 2 dims, got {weight.shape}")
    k, cg = weight.shape[:2]
    if groups < 1 or k % groups:
        raise ValueError(
            f"block_diagonal: out_channels ({k}) must be divisible by groups ({groups}), groups >= 1"
        )
    dense = np.zeros((k, cg * groups) + weight.shape[2:], weight.dtype)
    kg = k // groups
    for g in range(groups):
        dense[g * kg:(g + 1) * kg, g * cg:(g + 1) * cg] = weight[g * kg:(g + 1) * kg]
    return dense


def conv2d_cost(input_shape, weight_shape, stride=1, padding=0, dilation=1, groups=1, *,
                layout="NCHW", bias=False, dtype=np.float32):
    """Parameters, multiply-accumulates, FLOPs, output shape and the minimum
    bytes moved (input + weight (+ bias) + output, each touched once).

    ``params = K * (C // G) * R * S (+ K with bias)``: the 1/G reduction.

    Example:
        >>> import gconv
        >>> dense = gconv.conv2d_cost((1, 64, 56, 56), (64, 64, 3, 3), padding=1)
        >>> grouped = gconv.conv2d_cost((1, 64, 56, 56), (64, 2, 3, 3), padding=1, groups=32)
        >>> dense.params // grouped.params
        32
    """
    itemsize = np.dtype(dtype).itemsize
    input_shape = tuple(_args.as_int(v, "input_shape") for v in input_shape)
    weight_shape = tuple(_args.as_int(v, "weight_shape") for v in weight_shape)
    params = ConvParams(weight_shape, stride, padding, dilation, groups, layout, None,
                        "conv2d_cost")
    desc, out_shape, _ = params.descriptor(input_shape, np.float32, False)
    n, c, k, g, h, w, r, s = desc[:8]
    oh, ow = (out_shape[-2:] if layout == "NCHW" else out_shape[-3:-1])
    params = k * (c // g) * r * s + (k if bias else 0)
    macs = n * k * oh * ow * (c // g) * r * s
    elements = n * c * h * w + params + n * k * oh * ow
    return ConvCost(params, macs, 2 * macs, tuple(out_shape), elements * itemsize)


class Conv2d:
    """A reusable convolution: weights validated and packed once, the
    algorithm chosen once per input shape (cuDNN/oneDNN's plan).

    Same arguments and results as :func:`conv2d` (``padding_mode`` included).
    The weights and bias are copied: changing the caller's arrays later does
    not change the plan. The plan keeps its last result and writes the next
    one into the same memory when nothing else refers to it any more (the
    result, a view of it or an exported buffer keeps it alive as usual), so
    a loop of calls does not fault in fresh pages each time; ``out=`` gives
    full control.

    Example:
        >>> import numpy as np, gconv
        >>> conv = gconv.Conv2d(np.ones((32, 1, 3, 3), np.float32), groups=32, padding=1)
        >>> x = np.ones((1, 32, 14, 14), np.float32)
        >>> conv(x).shape, conv.algorithm(x.shape)
        ((1, 32, 14, 14), 'depthwise')
    """

    def __init__(self, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *,
                 layout="NCHW", activation=None, force_algorithm=None, padding_mode="zeros"):
        self._padding_mode = _padding_mode.check_padding_mode(padding_mode, "Conv2d")
        self._spec = ConvSpec(weight, bias, stride, padding, dilation, groups, layout,
                              activation, "Conv2d", copy=True)
        if force_algorithm is not None and force_algorithm not in ALGORITHMS:
            raise ValueError(
                f"force_algorithm must be None or one of {ALGORITHMS}, got {force_algorithm!r}"
            )
        self._force = force_algorithm
        self._plans = {}
        # The last result, whose memory the next call reuses once the caller
        # has let go of it: a fresh output's first writes fault its pages in,
        # which cost AlexNet conv2 (12 MB out, N=16) a quarter of its time.
        self._spare = [None]

    def __call__(self, x, out=None):
        return _convolve(self._spec, x, out, self._force, self._plans, self._padding_mode,
                         self._spare)

    def algorithm(self, x_shape):
        """Name of the algorithm an input of ``x_shape`` runs with."""
        shape = tuple(_args.as_int(v, "x_shape") for v in x_shape)
        spec = self._spec
        if self._padding_mode != "zeros":
            shape = _padding_mode.padded_conv2d_shape(spec, shape, self._padding_mode)
            spec = spec.with_padding(0)
        desc, _, _ = spec.descriptor(shape)
        return _core.choose_algorithm(desc, self._force)

    @property
    def weight(self):
        """The plan's own copy of the weights (read-only view)."""
        view = self._spec.weight.view()
        view.flags.writeable = False
        return view

    def __repr__(self):
        p = self._spec.params
        return (f"Conv2d(weight={p.weight_shape}, groups={p.groups}, stride={p.stride}, "
                f"padding={p.padding!r}, dilation={p.dilation}, layout={p.layout!r}, "
                f"activation={p.activation!r}, padding_mode={self._padding_mode!r}, "
                f"dtype={self._spec.dtype})")


def get_num_threads():
    """Threads each call uses (GCONV_NUM_THREADS, else OMP_NUM_THREADS, else all cores).

    Example:
        >>> import gconv
        >>> gconv.get_num_threads() >= 1
        True
    """
    return _core.get_num_threads()


def set_num_threads(n):
    """Sets the thread count for later calls (n >= 1), process-wide.

    Example:
        >>> import gconv
        >>> previous = gconv.get_num_threads()
        >>> gconv.set_num_threads(1); gconv.set_num_threads(previous)
    """
    n = _args.as_int(n, "n")
    if n < 1:
        raise ValueError(f"set_num_threads: n must be >= 1, got {n}")
    _core.set_num_threads(min(n, 1024))


@contextlib.contextmanager
def threads(n):
    """Runs the block with ``n`` threads, then restores the previous count.

    Example:
        >>> import gconv
        >>> with gconv.threads(1):
        ...     gconv.get_num_threads()
        1
    """
    previous = get_num_threads()
    set_num_threads(n)
    try:
        yield
    finally:
        _core.set_num_threads(previous)


def build_info():
    """What was built and what runs: version, openmp, isa_compiled,
    isa_supported, isa_active, cuda, compiler, build_type, num_threads.

    Example:
        >>> import gconv
        >>> gconv.build_info()["isa_active"] in ("scalar", "avx2", "avx512")
        True
    """
    info = _core.build_info()
    info["cuda"] = cuda.is_built()
    return info


def _set_max_isa(name):
    """Caps the kernel family for plans created afterwards (tests use it to
    reach every family on one machine); returns the previously active one."""
    return _core.set_max_isa(name)
