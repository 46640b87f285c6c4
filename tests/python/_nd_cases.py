"""Convolution cases of any spatial rank (conv1d, conv2d, conv3d), for the
tests of conv1d, conv3d and padding_mode.

``NdCase`` makes its data, calls gconv, the reference and torch (torch pads
with its own ``F.pad``, so a padding mode is checked against torch's
implementation, not against ours), and prints as a one-line descriptor.
"""

from dataclasses import dataclass, replace

import numpy as np

import gconv
from gconv import _args, reference
from conftest import assert_close, random_array

LAYOUTS = {1: ("NCL", "NLC"), 2: ("NCHW", "NHWC"), 3: ("NCDHW", "NDHWC")}
GCONV = {1: gconv.conv1d, 2: gconv.conv2d, 3: gconv.conv3d}
REFERENCE = {1: reference.conv1d, 2: reference.conv2d, 3: reference.conv3d}
TORCH_PAD_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "replicate",
                   "circular": "circular"}


def as_tuple(value, nd):
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * nd


@dataclass(frozen=True)
class NdCase:
    """One convolution problem; ``n=None`` is an unbatched input."""

    c: int
    g: int
    k: int
    spatial: tuple
    kernel: tuple
    n: object = 1
    stride: object = 1
    padding: object = 0
    dilation: object = 1
    layout: str = ""
    dtype: str = "float32"
    bias: bool = False
    activation: object = None
    padding_mode: str = "zeros"
    seed: int = 0

    @property
    def nd(self):
        return len(self.spatial)

    @property
    def channels_first(self):
        return self.layout_name.startswith("NC")

    @property
    def layout_name(self):
        return self.layout or LAYOUTS[self.nd][0]

    def x_shape(self):
        batch = () if self.n is None else (self.n,)
        inner = (self.c,) + self.spatial if self.channels_first else self.spatial + (self.c,)
        return batch + inner

    def w_shape(self):
        return (self.k, self.c // self.g) + self.kernel

    def pads(self):
        return _args.resolve_padding(self.padding, self.spatial, self.kernel,
                                     as_tuple(self.stride, self.nd), as_tuple(self.dilation, self.nd))

    def out_spatial(self):
        return tuple((size + before + after - d * (k - 1) - 1) // s + 1
                     for size, (before, after), k, s, d in zip(
                         self.spatial, self.pads(), self.kernel, as_tuple(self.stride, self.nd),
                         as_tuple(self.dilation, self.nd)))

    def y_shape(self):
        batch = () if self.n is None else (self.n,)
        out = self.out_spatial()
        return batch + ((self.k,) + out if self.channels_first else out + (self.k,))

    def fit(self):
        """This case with its spatial size raised so the output is >= 1 and the
        padding mode's limits hold."""
        spatial = list(self.spatial)
        for i, ((before, after), k, d) in enumerate(zip(self.pads(), self.kernel,
                                                        as_tuple(self.dilation, self.nd))):
            need = max(d * (k - 1) + 1 - before - after, 1)
            if self.padding_mode == "reflect":
                need = max(need, before + 1, after + 1)
            elif self.padding_mode == "circular":
                need = max(need, before, after)
            spatial[i] = max(spatial[i], need)
        case = replace(self, spatial=tuple(spatial))
        return case if case.spatial == self.spatial else case.fit()

    def arrays(self):
        x = random_array(self.x_shape(), self.dtype, self.seed)
        w = random_array(self.w_shape(), self.dtype, self.seed + 1)
        b = random_array((self.k,), self.dtype, self.seed + 2) if self.bias else None
        return x, w, b

    def kwargs(self):
        return dict(stride=self.stride, padding=self.padding, dilation=self.dilation,
                    groups=self.g, layout=self.layout_name, activation=self.activation,
                    padding_mode=self.padding_mode)

    def run(self, x, w, b, **extra):
        return GCONV[self.nd](x, w, b, **self.kwargs(), **extra)

    def reference(self, x, w, b):
        return REFERENCE[self.nd](x, w, b, **self.kwargs())

    def check(self, **extra):
        """gconv on this case matches the reference; returns (x, w, b, result)."""
        x, w, b = self.arrays()
        got = self.run(x, w, b, **extra)
        assert_close(got, self.reference(x, w, b), self.dtype, self.descriptor())
        return x, w, b, got

    def torch_result(self, torch, x, w, b):
        """torch's float64 result: F.pad in torch's own mode, then an unpadded conv."""
        F = torch.nn.functional
        xt = torch.from_numpy(np.array(x, np.float64))
        if self.n is None:
            xt = xt.unsqueeze(0)
        if not self.channels_first:
            xt = xt.movedim(-1, 1)
        flat = [amount for pair in reversed(self.pads()) for amount in pair]
        mode = TORCH_PAD_MODES[self.padding_mode]
        xt = F.pad(xt, flat, mode=mode) if any(flat) else xt
        conv = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[self.nd]
        bt = None if b is None else torch.from_numpy(b.astype(np.float64))
        y = conv(xt, torch.from_numpy(w.astype(np.float64)), bt, as_tuple(self.stride, self.nd), 0,
                 as_tuple(self.dilation, self.nd), self.g)
        if self.activation == "relu":
            y = F.relu(y)
        elif self.activation == "relu6":
            y = F.relu6(y)
        if not self.channels_first:
            y = y.movedim(1, -1)
        if self.n is None:
            y = y.squeeze(0)
        return y.contiguous().numpy()

    def descriptor(self):
        mb = "U" if self.n is None else self.n
        pads = "_".join(f"{a}_{b}" for a, b in self.pads())
        return (f"conv{self.nd}d g{self.g}mb{mb}ic{self.c}oc{self.k} in{self.spatial} "
                f"k{self.kernel} s{self.stride} d{self.dilation} p{pads} padding={self.padding!r} "
                f"mode={self.padding_mode} layout={self.layout_name} dtype={self.dtype} "
                f"bias={int(self.bias)} act={self.activation} seed={self.seed}")

    def id(self):
        return self.descriptor().replace(" ", "-").replace("'", "")
