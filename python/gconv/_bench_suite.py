"""The benchmark suite as data: convolution layers of real networks.

One list, shared by ``python -m gconv bench`` (gconv._bench) and the tests
(tests/python/test_bench_suite.py): AlexNet's 2 groups, ResNeXt's 32 narrow
groups, RegNet, ShuffleNet's grouped 1x1, MobileNetV2/EfficientNet/ConvNeXt
depthwise, a depth multiplier of 2, MobileFaceNet's GDC and dense ResNet
baselines, plus float64 runs of four of them.

    >>> from gconv import _bench_suite as suite
    >>> layer = suite.find("resnext50_s3")
    >>> suite.input_shape(layer, 16, "NHWC"), suite.weight_shape(layer)
    ((16, 28, 28, 256), (256, 8, 3, 3))
"""

from dataclasses import dataclass, replace

LAYOUTS = ("NCHW", "NHWC")
DTYPES = ("float32", "float64")


@dataclass(frozen=True)
class Layer:
    """One square convolution: ``in_channels`` x ``size`` x ``size`` in,
    ``out_channels`` out, a ``kernel`` x ``kernel`` window, symmetric
    ``padding``, and the dtype it is benchmarked in."""

    name: str
    in_channels: int
    size: int
    out_channels: int
    kernel: int
    stride: int
    groups: int
    padding: int
    dtype: str = "float32"

    @property
    def key(self):
        """``name`` for float32 layers, ``name/float64`` otherwise: unique in SUITE."""
        return self.name if self.dtype == "float32" else f"{self.name}/{self.dtype}"

    @property
    def kind(self):
        """``dense``, ``grouped``, ``depthwise``, ``depthwise_multiplier`` or
        ``global_depthwise``."""
        if self.groups == 1:
            return "dense"
        if self.groups != self.in_channels:
            return "grouped"
        if self.kernel == self.size and self.padding == 0:
            return "global_depthwise"
        return "depthwise" if self.out_channels == self.in_channels else "depthwise_multiplier"

    @property
    def output_size(self):
        """Height (= width) of the output."""
        return (self.size + 2 * self.padding - self.kernel) // self.stride + 1


def _layer(name, in_channels, size, out_channels, kernel, stride, groups, padding=None):
    """A float32 Layer, padded ``(kernel - 1) // 2`` unless told otherwise."""
    if padding is None:
        padding = (kernel - 1) // 2
    return Layer(name, in_channels, size, out_channels, kernel, stride, groups, padding)


# name: C_in, H=W, C_out, kernel, stride, groups (issue 3, "Suite").
LAYERS = (
    _layer("alexnet_conv2", 96, 27, 256, 5, 1, 2),
    _layer("alexnet_conv4", 384, 13, 384, 3, 1, 2),
    _layer("alexnet_conv5", 384, 13, 256, 3, 1, 2),
    _layer("resnext50_s2", 128, 56, 128, 3, 1, 32),
    _layer("resnext50_s3", 256, 28, 256, 3, 1, 32),
    _layer("resnext50_s4", 512, 14, 512, 3, 1, 32),
    _layer("resnext50_s5", 1024, 7, 1024, 3, 1, 32),
    _layer("resnext50_s3_down", 256, 56, 256, 3, 2, 32),
    _layer("regnetx_g", 160, 14, 160, 3, 1, 10),
    _layer("shufflenetv1_pw_g3", 240, 28, 240, 1, 1, 3, padding=0),
    _layer("mbv2_dw_112", 32, 112, 32, 3, 1, 32),
    _layer("mbv2_dw_112_s2", 96, 112, 96, 3, 2, 96),
    _layer("mbv2_dw_56", 144, 56, 144, 3, 1, 144),
    _layer("mbv2_dw_14", 384, 14, 384, 3, 1, 384),
    _layer("mbv2_dw_7", 960, 7, 960, 3, 1, 960),
    _layer("effnet_dw5_28", 240, 28, 240, 5, 1, 240),
    _layer("effnet_dw5_14", 672, 14, 672, 5, 1, 672),
    _layer("convnext_dw7_56", 96, 56, 96, 7, 1, 96),
    _layer("dw_mult2", 32, 56, 64, 3, 1, 32),
    _layer("mobilefacenet_gdc", 512, 7, 512, 7, 1, 512, padding=0),
    _layer("resnet50_dense3x3", 64, 56, 64, 3, 1, 1),
    _layer("resnet50_dense3x3_s4", 256, 14, 256, 3, 1, 1),
)

# One of each family: narrow groups, depthwise 3x3 and 5x5, dense.
FLOAT64_LAYERS = ("resnext50_s3", "mbv2_dw_56", "effnet_dw5_14", "resnet50_dense3x3")

SUITE = LAYERS + tuple(replace(layer, dtype="float64")
                       for layer in LAYERS if layer.name in FLOAT64_LAYERS)


def find(name, dtype="float32"):
    """The suite's layer called ``name`` in ``dtype``; KeyError if there is none."""
    for layer in SUITE:
        if layer.name == name and layer.dtype == dtype:
            return layer
    raise KeyError(f"no layer {name!r} in {dtype} in the benchmark suite")


def select(names=None, dtypes=None):
    """The suite's layers whose name contains one of ``names`` (all when None)
    and whose dtype is one of ``dtypes`` (all when None), in suite order."""
    return tuple(layer for layer in SUITE
                 if (not names or any(part in layer.name for part in names))
                 and (not dtypes or layer.dtype in dtypes))


def input_shape(layer, batch, layout="NCHW"):
    """Shape of the input for ``batch`` images in ``layout`` ("NCHW" or "NHWC")."""
    if layout == "NCHW":
        return (batch, layer.in_channels, layer.size, layer.size)
    if layout == "NHWC":
        return (batch, layer.size, layer.size, layer.in_channels)
    raise ValueError(f"layout must be 'NCHW' or 'NHWC', got {layout!r}")


def output_shape(layer, batch, layout="NCHW"):
    """Shape of the output for ``batch`` images in ``layout``."""
    size = layer.output_size
    if layout == "NCHW":
        return (batch, layer.out_channels, size, size)
    if layout == "NHWC":
        return (batch, size, size, layer.out_channels)
    raise ValueError(f"layout must be 'NCHW' or 'NHWC', got {layout!r}")


def weight_shape(layer):
    """PyTorch's weight shape ``(K, C // G, R, S)``, whatever the layout."""
    return (layer.out_channels, layer.in_channels // layer.groups, layer.kernel, layer.kernel)


def conv_kwargs(layer):
    """The keyword arguments of gconv.conv2d / gconv.Conv2d for ``layer``."""
    return {"stride": layer.stride, "padding": layer.padding, "groups": layer.groups}


def scaled(layer, max_size, max_channels=None):
    """A smaller layer of the same family, for tests.

    The spatial size is cut to ``max_size`` (a global kernel shrinks with it,
    other kernels are kept); channels are cut below ``max_channels`` by halving
    the number of groups first (keeping the channels per group, hence narrow,
    depthwise and multiplier layers stay what they are) and the channels per
    group once the groups cannot be halved (odd, or 2 left).

        >>> from gconv import _bench_suite as suite
        >>> small = suite.scaled(suite.find("resnext50_s5"), 5, 64)
        >>> small.in_channels, small.groups, small.size
        (64, 2, 5)
    """
    size = min(layer.size, max_size)
    kernel = layer.kernel
    if layer.kind == "global_depthwise":
        kernel = size
    groups = layer.groups
    per_group_in = layer.in_channels // groups
    per_group_out = layer.out_channels // groups
    while max_channels is not None and max(per_group_in, per_group_out) * groups > max_channels:
        if groups % 2 == 0 and groups > 2:
            groups //= 2
        elif per_group_in % 2 == 0 and per_group_out % 2 == 0:
            per_group_in //= 2
            per_group_out //= 2
        else:
            break
    return replace(layer, size=size, kernel=kernel, groups=groups,
                   in_channels=per_group_in * groups, out_channels=per_group_out * groups)
