"""float64 NumPy reference of every gconv operation: this module *is* the semantics.

Every fast path of gconv (each algorithm, each instruction set, each thread
count) is tested against the functions here. They favour being obviously
right over being fast:

* Everything is computed in float64, whatever the input dtype, and returned
  as float64. The caller compares with a tolerance (DESIGN.md, "Numbers").
* A convolution is a plain sum of products over the zero-padded input:
  ``y[n, k, i, j] = sum_{c, r, s} xpad[n, c, i*sh + r*dh, j*sw + s*dw] * w[k, c, r, s]``
  (cross-correlation, as ``torch.nn.functional.conv2d``). It is evaluated one
  kernel tap ``(r, s)`` at a time with ``np.einsum`` (NumPy's own loops, no
  BLAS and no FFT), so NaN and Inf behave exactly as in that sum: a NaN or
  Inf in the input reaches every output whose window holds it, and padded
  positions contribute ``0 * w`` (0 for a finite weight).
* The bias is added after the sum, then the activation: ``"relu"`` is
  ``max(y, 0)`` and ``"relu6"`` is ``min(max(y, 0), 6)``, both keep NaN.
* NHWC data is transposed to NCHW, computed, and transposed back; weights are
  always in PyTorch's layout ``(out_channels, in_channels // groups, R, S)``.
* An unbatched input (3-D) gives an unbatched output; a batch of 0 gives an
  empty result of the right shape.

Arguments take the same forms as the public functions (no ``out=``, no
``force_algorithm``); they are normalised by ``gconv._args`` so the reference
and the library can never disagree on what an argument means.
"""

import numpy as np

from ._args import (as_int, check_activation, check_layout, output_size, resolve_padding,
                    spatial_tuple)

__all__ = [
    "conv2d",
    "depthwise_conv2d",
    "global_depthwise_conv2d",
    "global_avg_pool2d",
    "channel_shuffle",
    "block_diagonal",
]


def _count(value, name):
    """A positive int (``groups``): bool and non-integers are TypeError."""
    value = as_int(value, name)
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
    return value


def _as_nchw(x, layout):
    """float64 4-D NCHW view of ``x`` and whether it was unbatched."""
    x = np.asarray(x).astype(np.float64, copy=False)
    if x.ndim not in (3, 4):
        raise ValueError(f"input must be 3-D (unbatched) or 4-D, got {x.ndim}-D shape {x.shape}")
    unbatched = x.ndim == 3
    if unbatched:
        x = x[np.newaxis]
    if layout == "NHWC":
        x = x.transpose(0, 3, 1, 2)
    return x, unbatched


def _from_nchw(y, layout, unbatched):
    if layout == "NHWC":
        y = y.transpose(0, 2, 3, 1)
    if unbatched:
        y = y[0]
    return np.ascontiguousarray(y)


def _activate(y, activation):
    if activation is None:
        return y
    # np.maximum/np.minimum propagate NaN, which is the documented behaviour.
    y = np.maximum(y, 0.0)
    if activation == "relu6":
        y = np.minimum(y, 6.0)
    return y


def _conv2d_nchw(x, weight, bias, stride, padding, dilation, groups, activation):
    """The convolution on a float64 NCHW batch; ``x`` is 4-D."""
    n, c, h, w = x.shape
    if weight.ndim != 4:
        raise ValueError(
            f"weight must be 4-D (out_channels, in_channels/groups, R, S), got shape {weight.shape}")
    k, cg, r, s = weight.shape
    if c < 1 or h < 1 or w < 1:
        raise ValueError(f"input channels and spatial sizes must be >= 1, got input shape {x.shape}")
    if r < 1 or s < 1 or cg < 1:
        raise ValueError(f"weight sizes must be >= 1 (except out_channels), got weight shape {weight.shape}")
    if c % groups:
        raise ValueError(f"in_channels ({c}) must be divisible by groups ({groups})")
    if k % groups:
        raise ValueError(f"out_channels ({k}) must be divisible by groups ({groups})")
    if cg * groups != c:
        raise ValueError(
            f"Given groups={groups}, weight of size {list(weight.shape)}, expected input"
            f"{list(x.shape)} to have {cg * groups} channels, but got {c} channels instead")
    sh, sw = spatial_tuple(stride, "stride")
    dh, dw = spatial_tuple(dilation, "dilation")
    (pt, pb), (pl, pr) = resolve_padding(padding, (h, w), (r, s), (sh, sw), (dh, dw))
    oh = output_size(h, r, sh, (pt, pb), dh, "output height")
    ow = output_size(w, s, sw, (pl, pr), dw, "output width")
    if bias is not None:
        bias = np.asarray(bias).astype(np.float64, copy=False)
        if bias.shape != (k,):
            raise ValueError(f"bias must have shape ({k},), got {bias.shape}")

    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    xg = xp.reshape(n, groups, cg, h + pt + pb, w + pl + pr)
    wg = weight.reshape(groups, k // groups, cg, r, s)
    y = np.zeros((n, groups, k // groups, oh, ow))
    for i in range(r):
        for j in range(s):
            tap = xg[:, :, :, i * dh:i * dh + (oh - 1) * sh + 1:sh, j * dw:j * dw + (ow - 1) * sw + 1:sw]
            y += np.einsum("ngchw,gkc->ngkhw", tap, wg[:, :, :, i, j])
    y = y.reshape(n, k, oh, ow)
    if bias is not None:
        y += bias[:, np.newaxis, np.newaxis]
    return _activate(y, activation)


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *,
           layout="NCHW", activation=None):
    """Grouped 2-D convolution (cross-correlation), as ``torch.nn.functional.conv2d``.

    x: (N, C, H, W), (N, H, W, C) for NHWC, or either without N (unbatched).
    weight: (K, C // groups, R, S), bias: (K,) or None.
    Returns float64 (N, K, OH, OW) (NHWC: (N, OH, OW, K)), with
    ``OH = (H + pad_top + pad_bottom - dilation*(R-1) - 1) // stride + 1``.

    >>> import numpy as np
    >>> from gconv import reference
    >>> x = np.ones((1, 4, 5, 5), np.float32)
    >>> w = np.ones((6, 2, 3, 3), np.float32)          # 2 groups of 2 -> 3 channels
    >>> reference.conv2d(x, w, groups=2, padding=1)[0, :, 2, 2]
    array([18., 18., 18., 18., 18., 18.])
    """
    layout = check_layout(layout)
    activation = check_activation(activation)
    groups = _count(groups, "groups")
    xn, unbatched = _as_nchw(x, layout)
    weight = np.asarray(weight).astype(np.float64, copy=False)
    y = _conv2d_nchw(xn, weight, bias, stride, padding, dilation, groups, activation)
    return _from_nchw(y, layout, unbatched)


def depthwise_conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, *,
                     layout="NCHW", activation=None):
    """Depthwise convolution: ``conv2d(x, weight, ..., groups=C)``.

    weight: (C * m, 1, R, S) for depth multiplier m; output channel ``c*m + j``
    reads input channel ``c``.

    >>> import numpy as np
    >>> from gconv import reference
    >>> x = np.arange(2 * 3 * 3, dtype=np.float64).reshape(1, 2, 3, 3)
    >>> w = np.ones((4, 1, 3, 3))                      # multiplier 2
    >>> reference.depthwise_conv2d(x, w).ravel()
    array([ 36.,  36., 117., 117.])
    """
    layout = check_layout(layout)
    x = np.asarray(x)
    if x.ndim not in (3, 4):
        raise ValueError(f"input must be 3-D (unbatched) or 4-D, got {x.ndim}-D shape {x.shape}")
    channels = x.shape[-1] if layout == "NHWC" else x.shape[-3]
    weight = np.asarray(weight)
    if weight.ndim != 4 or weight.shape[1] != 1:
        raise ValueError(f"depthwise weight must have shape (C*m, 1, R, S), got {weight.shape}")
    return conv2d(x, weight, bias, stride, padding, dilation, channels,
                  layout=layout, activation=activation)


def global_depthwise_conv2d(x, weight, bias=None, *, layout="NCHW"):
    """Global depthwise convolution (GDC): one weight per channel and position.

    weight: (C * m, 1, H, W), the input's own spatial size. Returns
    (N, C*m, 1, 1) ((N, 1, 1, C*m) for NHWC); equal to
    ``conv2d(x, weight, bias, groups=C)`` with no padding.

    >>> import numpy as np
    >>> from gconv import reference
    >>> x = np.ones((2, 3, 4, 4))
    >>> reference.global_depthwise_conv2d(x, np.full((3, 1, 4, 4), 0.5)).shape
    (2, 3, 1, 1)
    """
    layout = check_layout(layout)
    x = np.asarray(x)
    if x.ndim not in (3, 4):
        raise ValueError(f"input must be 3-D (unbatched) or 4-D, got {x.ndim}-D shape {x.shape}")
    spatial = x.shape[-3:-1] if layout == "NHWC" else x.shape[-2:]
    weight = np.asarray(weight)
    if weight.ndim != 4 or weight.shape[1] != 1 or tuple(weight.shape[2:]) != tuple(spatial):
        raise ValueError(f"global depthwise weight must have shape (C*m, 1, {spatial[0]}, "
                         f"{spatial[1]}), got {weight.shape}")
    return depthwise_conv2d(x, weight, bias, layout=layout)


def global_avg_pool2d(x, *, layout="NCHW"):
    """Mean over the spatial dims: (N, C, 1, 1) ((N, 1, 1, C) for NHWC).

    Equal to ``global_depthwise_conv2d`` with every weight ``1/(H*W)``.

    >>> import numpy as np
    >>> from gconv import reference
    >>> reference.global_avg_pool2d(np.arange(8.0).reshape(1, 2, 2, 2)).ravel()
    array([1.5, 5.5])
    """
    layout = check_layout(layout)
    xn, unbatched = _as_nchw(x, layout)
    if min(xn.shape[1:]) < 1:
        raise ValueError(f"input channels and spatial sizes must be >= 1, got input shape {np.shape(x)}")
    y = xn.mean(axis=(2, 3), keepdims=True)
    return _from_nchw(y, layout, unbatched)


def channel_shuffle(x, groups, *, layout="NCHW"):
    """ShuffleNet's channel permutation: channels viewed as (groups, C // groups),
    transposed, flattened. Output channel ``j*groups + i`` is input channel
    ``i*(C//groups) + j``. Shuffling with ``g`` then with ``C // g`` is the identity.

    >>> import numpy as np
    >>> from gconv import reference
    >>> x = np.arange(6.0).reshape(1, 6, 1, 1)
    >>> reference.channel_shuffle(x, 2).ravel()
    array([0., 3., 1., 4., 2., 5.])
    """
    layout = check_layout(layout)
    groups = _count(groups, "groups")
    xn, unbatched = _as_nchw(x, layout)
    n, c, h, w = xn.shape
    if c % groups:
        raise ValueError(f"channels ({c}) must be divisible by groups ({groups})")
    y = xn.reshape(n, groups, c // groups, h, w).transpose(0, 2, 1, 3, 4).reshape(n, c, h, w)
    return _from_nchw(y, layout, unbatched)


def block_diagonal(weight, groups):
    """The grouped weight (K, C // G, R, S) as the equivalent dense (K, C, R, S).

    Output channels of group g (rows ``g*K/G .. (g+1)*K/G``) keep their weights
    on input channels ``g*C/G .. (g+1)*C/G`` and are zero elsewhere, so
    ``conv2d(x, block_diagonal(w, G)) == conv2d(x, w, groups=G)``.

    >>> import numpy as np
    >>> from gconv import reference
    >>> reference.block_diagonal(np.ones((4, 1, 1, 1)), 2)[:, :, 0, 0]
    array([[1., 0.],
           [1., 0.],
           [0., 1.],
           [0., 1.]])
    """
    groups = _count(groups, "groups")
    weight = np.asarray(weight).astype(np.float64, copy=False)
    if weight.ndim != 4:
        raise ValueError(
            f"weight must be 4-D (out_channels, in_channels/groups, R, S), got shape {weight.shape}")
    k, cg = weight.shape[:2]
    if k % groups:
        raise ValueError(f"out_channels ({k}) must be divisible by groups ({groups})")
    kg = k // groups
    dense = np.zeros((k, cg * groups) + weight.shape[2:])
    for g in range(groups):
        dense[g * kg:(g + 1) * kg, g * cg:(g + 1) * cg] = weight[g * kg:(g + 1) * kg]
    return dense
