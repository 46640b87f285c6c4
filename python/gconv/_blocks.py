"""Blocks from the seed's references, composed from gconv's own ops.

* Interleaved group convolution (IGC; Zhang, Qi, Xiao, Wang, "Interleaved
  Group Convolutions for Deep Neural Networks", ICCV 2017).
* The ShuffleNet unit (Zhang, Zhou, Lin, Sun, "ShuffleNet: An Extremely
  Efficient Convolutional Neural Network for Mobile Devices", CVPR 2018).

Every convolution runs on gconv's kernels (conv2d, depthwise_conv2d); the
permutations are ``channel_shuffle``.
"""

import collections

import numpy as np

from . import _args
from ._api import channel_shuffle, conv2d, depthwise_conv2d
from ._conv_spec import as_float_array, split_batch

ParamCount = collections.namedtuple("ParamCount", "block dense")


def _groups(value, name):
    value = _args.as_int(value, name)
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
    return value


def _channel_axis(layout):
    return -1 if _args.check_layout(layout) == "NHWC" else -3


def _weight(value, name, where):
    weight = as_float_array(value, name)
    if weight.ndim != 4:
        raise ValueError(f"{where}: {name} must be 4-D (out, in // groups, R, S), got shape "
                         f"{weight.shape}")
    return weight


def igc_params(primary_groups, channels_per_group, kernel_size=3, *, bias=False):
    """Parameters of an IGC block next to a dense convolution of the same width.

    An IGC block with L = ``primary_groups`` partitions of M =
    ``channels_per_group`` channels (width L*M in and out) holds
    ``L*M*M*R*S`` primary weights (L groups of M -> M, kernel R x S) and
    ``M*L*L`` secondary weights (M groups of L -> L, 1x1):
    ``block = L*M*(M*R*S + L)``, against ``dense = (L*M)**2 * R*S`` for a
    dense R x S convolution of width L*M. With ``bias`` the block adds
    ``2*L*M`` and the dense conv ``L*M``. For a fixed width the block is
    smallest at L = M*R*S, the paper's balance condition; for a fixed
    budget that makes IGC the widest.

    Example:
        >>> import gconv
        >>> gconv.igc_params(primary_groups=8, channels_per_group=16, kernel_size=3)
        ParamCount(block=19456, dense=147456)
    """
    lg = _groups(primary_groups, "primary_groups")
    m = _groups(channels_per_group, "channels_per_group")
    r, s = _args.spatial_tuple(kernel_size, "kernel_size")
    width = lg * m
    block = width * (m * r * s + lg) + (2 * width if bias else 0)
    dense = width * width * r * s + (width if bias else 0)
    return ParamCount(block, dense)


def interleaved_group_conv(x, w_primary, w_secondary, primary_groups, *, stride=1,
                           padding="same", dilation=1, layout="NCHW", bias_primary=None,
                           bias_secondary=None, activation=None):
    """Interleaved group convolution (IGC, Zhang et al. 2017): a primary
    spatial group conv, a channel permutation, a secondary 1x1 group conv
    whose groups take one channel from every primary group, the permutation
    back.

    With L = ``primary_groups``:

    1. primary: ``conv2d(x, w_primary, groups=L)``; ``w_primary`` is
       (L*M, C // L, R, S) (the paper's case: C = L*M, each partition maps
       M -> M channels), with ``stride``, ``padding`` (default ``"same"``:
       the paper keeps the spatial size), ``dilation``;
    2. ``channel_shuffle(., L)``: secondary partition m gathers channel m of
       every primary partition;
    3. secondary: ``conv2d(., w_secondary, groups=M)``, 1x1, ``w_secondary``
       is (M*L2, L, 1, 1) (the paper: L2 = L, so (L*M, L, 1, 1));
    4. ``channel_shuffle(., M)``: back to the primary order, output channel
       ``l*M + m`` is channel l of secondary partition m.

    No nonlinearity between the two convolutions: as in the paper, the block
    is one linear convolution whose dense weight is the product of two
    permuted block-diagonal ones, and every output channel depends on every
    input channel (unlike a plain group conv). ``bias_primary`` (L*M,)
    is added after step 1, ``bias_secondary`` (M*L2,) after step 3 in the
    secondary conv's own channel order (the rows of ``w_secondary``);
    ``activation`` (None, "relu", "relu6") is applied to the result.

    Parameters, bias left out: ``L*M*M*R*S + M*L*L`` against ``(L*M)**2*R*S``
    for a dense conv of width L*M (see :func:`igc_params`): for L=8, M=16,
    3x3 it is 19456 against 147456, 7.6x fewer.

    Shapes: ``x`` (N, C, H, W) (NHWC: (N, H, W, C)) or unbatched; result
    (N, M*L2, OH, OW).

    Example:
        >>> import numpy as np, gconv
        >>> L, M = 4, 8                                  # width 32
        >>> x = np.random.rand(1, L * M, 14, 14).astype(np.float32)
        >>> w1 = np.random.rand(L * M, M, 3, 3).astype(np.float32)
        >>> w2 = np.random.rand(L * M, L, 1, 1).astype(np.float32)
        >>> gconv.interleaved_group_conv(x, w1, w2, primary_groups=L).shape
        (1, 32, 14, 14)
        >>> w1.size + w2.size, 32 * 32 * 9            # vs a dense 3x3 conv of width 32
        (2432, 9216)
    """
    where = "interleaved_group_conv"
    lg = _groups(primary_groups, "primary_groups")
    _args.check_layout(layout)
    w_primary = _weight(w_primary, "w_primary", where)
    w_secondary = _weight(w_secondary, "w_secondary", where)
    if w_primary.shape[0] % lg:
        raise ValueError(
            f"{where}: w_primary.shape[0] ({w_primary.shape[0]}) must be divisible by "
            f"primary_groups ({lg})"
        )
    m = w_primary.shape[0] // lg
    k2, l_in, r, s = w_secondary.shape
    if l_in != lg or (r, s) != (1, 1) or k2 % m:
        raise ValueError(
            f"{where}: w_secondary must have shape (M * L2, primary_groups = {lg}, 1, 1) with "
            f"M = w_primary.shape[0] // primary_groups = {m}, got {w_secondary.shape}"
        )
    y = conv2d(x, w_primary, bias_primary, stride, padding, dilation, lg, layout=layout)
    y = channel_shuffle(y, lg, layout=layout)
    y = conv2d(y, w_secondary, bias_secondary, groups=m, layout=layout, activation=activation)
    return channel_shuffle(y, m, layout=layout, out=y)


def shuffle_unit_params(in_channels, bottleneck_channels, out_channels, groups, *, bias=False):
    """Parameters of a ShuffleNet unit next to a ResNet bottleneck of the same widths.

    Unit: grouped 1x1 ``Cin -> Cb`` (``Cin*Cb/g``), depthwise 3x3 (``9*Cb``),
    grouped 1x1 ``Cb -> Cout`` (``Cb*Cout/g``). Dense equivalent: 1x1, a
    dense 3x3 ``Cb -> Cb`` and 1x1, ``Cin*Cb + 9*Cb*Cb + Cb*Cout``. With
    ``bias`` both add ``Cb + Cb + Cout``. ``out_channels`` is the branch's
    (for stride 2 the unit's output has ``Cin + Cout`` channels; the pooled
    shortcut has no parameters).

    Example (ShuffleNet 1x, g=3, stage 3: 240 channels, bottleneck 60):
        >>> import gconv
        >>> gconv.shuffle_unit_params(240, 60, 240, groups=3)
        ParamCount(block=10140, dense=61200)
    """
    cin = _groups(in_channels, "in_channels")
    cb = _groups(bottleneck_channels, "bottleneck_channels")
    cout = _groups(out_channels, "out_channels")
    g = _groups(groups, "groups")
    for name, value in (("in_channels", cin), ("bottleneck_channels", cb),
                        ("out_channels", cout)):
        if value % g:
            raise ValueError(f"{name} ({value}) must be divisible by groups ({g})")
    extra = 2 * cb + cout if bias else 0
    block = cin * cb // g + 9 * cb + cb * cout // g + extra
    dense = cin * cb + 9 * cb * cb + cb * cout + extra
    return ParamCount(block, dense)


def shuffle_unit(x, w_gconv1, w_dw, w_gconv2, groups, *, stride=1, layout="NCHW",
                 bias_gconv1=None, bias_dw=None, bias_gconv2=None):
    """The ShuffleNet (v1) unit, batch norm folded away (optional biases).

    Branch: ``relu(conv2d(x, w_gconv1, groups=g))`` (grouped 1x1,
    Cin -> Cb), ``channel_shuffle(., g)``, ``depthwise_conv2d(., w_dw,
    stride, padding=1)`` (3x3, no ReLU after it, as in the paper),
    ``conv2d(., w_gconv2, groups=g)`` (grouped 1x1, Cb -> Cout). Then:

    * ``stride=1``: ``relu(x + branch)``; needs Cout == Cin.
    * ``stride=2``: ``relu(concat([avg_pool(x), branch]))`` on the channel
      axis, the shortcut first; ``avg_pool`` is a 3x3, stride 2, padding 1
      average counting the padded zeros (``torch``'s ``avg_pool2d(x, 3, 2,
      1)``, ``count_include_pad=True``), run as ``depthwise_conv2d`` with
      weights 1/9. The result has Cin + Cout channels.

    Weights: ``w_gconv1`` (Cb, Cin // g, 1, 1), ``w_dw`` (Cb, 1, 3, 3),
    ``w_gconv2`` (Cout, Cb // g, 1, 1); biases (Cb,), (Cb,), (Cout,).
    Parameters ``Cin*Cb/g + 9*Cb + Cb*Cout/g`` against
    ``Cin*Cb + 9*Cb**2 + Cb*Cout`` for a ResNet bottleneck of the same
    widths (:func:`shuffle_unit_params`): 10140 against 61200 for the
    paper's 240-channel g=3 stage.

    Example:
        >>> import numpy as np, gconv
        >>> g, cin, cb = 3, 24, 12
        >>> x = np.random.rand(1, cin, 8, 8).astype(np.float32)
        >>> w1 = np.random.rand(cb, cin // g, 1, 1).astype(np.float32)
        >>> wd = np.random.rand(cb, 1, 3, 3).astype(np.float32)
        >>> w2 = np.random.rand(cin, cb // g, 1, 1).astype(np.float32)
        >>> gconv.shuffle_unit(x, w1, wd, w2, g).shape
        (1, 24, 8, 8)
        >>> gconv.shuffle_unit(x, w1, wd, w2, g, stride=2).shape   # 24 pooled + 24 branch
        (1, 48, 4, 4)
    """
    where = "shuffle_unit"
    g = _groups(groups, "groups")
    stride = _args.as_int(stride, "stride")
    if stride not in (1, 2):
        raise ValueError(f"{where}: stride must be 1 or 2, got {stride}")
    axis = _channel_axis(layout)
    x = as_float_array(x, "input")
    _, cin, _, _ = split_batch(x, layout, where)
    w_gconv1 = _weight(w_gconv1, "w_gconv1", where)
    w_dw = _weight(w_dw, "w_dw", where)
    w_gconv2 = _weight(w_gconv2, "w_gconv2", where)
    if w_gconv1.shape[2:] != (1, 1) or w_gconv2.shape[2:] != (1, 1):
        raise ValueError(f"{where}: w_gconv1 and w_gconv2 must be 1x1, got shapes "
                         f"{w_gconv1.shape} and {w_gconv2.shape}")
    cb = w_gconv1.shape[0]
    if w_dw.shape != (cb, 1, 3, 3):
        raise ValueError(f"{where}: w_dw must have shape ({cb}, 1, 3, 3) (one 3x3 filter per "
                         f"bottleneck channel), got {w_dw.shape}")
    cout = w_gconv2.shape[0]
    if stride == 1 and cout != cin:
        raise ValueError(f"{where}: stride 1 adds the input, so w_gconv2.shape[0] ({cout}) must "
                         f"equal the input channels ({cin})")
    y = conv2d(x, w_gconv1, bias_gconv1, groups=g, layout=layout, activation="relu")
    y = channel_shuffle(y, g, layout=layout, out=y)
    y = depthwise_conv2d(y, w_dw, bias_dw, stride=stride, padding=1, layout=layout)
    if stride == 1:
        y = conv2d(y, w_gconv2, bias_gconv2, groups=g, layout=layout)
        np.add(y, x, out=y)
        return np.maximum(y, 0, out=y)
    y = conv2d(y, w_gconv2, bias_gconv2, groups=g, layout=layout, activation="relu")
    pool = np.full((cin, 1, 3, 3), 1 / 9, x.dtype)
    shortcut = depthwise_conv2d(x, pool, stride=2, padding=1, layout=layout, activation="relu")
    return np.concatenate([shortcut, y], axis=axis)
