"""gconv: grouped, depthwise and global depthwise convolution for NumPy.

Regular (groups=1), grouped (1 < groups < C), depthwise (groups == C, with
depth multiplier) and global depthwise convolution, with PyTorch's
semantics, in NCHW or NHWC, float32 or float64, on C++ kernels chosen per
CPU (scalar, AVX2, AVX-512) and parallelised with OpenMP.

    >>> import numpy as np, gconv
    >>> x = np.random.rand(1, 64, 56, 56).astype(np.float32)
    >>> w = np.random.rand(64, 2, 3, 3).astype(np.float32)   # 32 groups
    >>> gconv.conv2d(x, w, groups=32, padding=1).shape
    (1, 64, 56, 56)

See ``gconv.reference`` for the float64 NumPy definition of every op.
"""

from ._api import (
    ALGORITHMS,
    Conv2d,
    ConvCost,
    _set_max_isa,
    block_diagonal,
    build_info,
    channel_shuffle,
    conv2d,
    conv2d_cost,
    depthwise_conv2d,
    get_num_threads,
    global_avg_pool2d,
    global_depthwise_conv2d,
    set_num_threads,
    threads,
)
from ._blocks import (ParamCount, igc_params, interleaved_group_conv, shuffle_unit,
                      shuffle_unit_params)
from ._grad import conv2d_backward, conv2d_input_grad, conv2d_weight_grad, conv_transpose2d
from ._nd import conv1d, conv3d
from ._paths import get_cmake_dir, get_include
from . import cuda, reference
from . import _threadpoolctl  # noqa: F401  (lists gconv's thread pool in threadpoolctl, if installed)

__version__ = build_info()["version"]

__all__ = [
    "ALGORITHMS",
    "Conv2d",
    "ConvCost",
    "ParamCount",
    "block_diagonal",
    "build_info",
    "channel_shuffle",
    "conv1d",
    "conv2d",
    "conv2d_backward",
    "conv2d_cost",
    "conv2d_input_grad",
    "conv2d_weight_grad",
    "conv3d",
    "conv_transpose2d",
    "cuda",
    "depthwise_conv2d",
    "get_cmake_dir",
    "get_include",
    "get_num_threads",
    "global_avg_pool2d",
    "global_depthwise_conv2d",
    "igc_params",
    "interleaved_group_conv",
    "reference",
    "set_num_threads",
    "shuffle_unit",
    "shuffle_unit_params",
    "threads",
]
