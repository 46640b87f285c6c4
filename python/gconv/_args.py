"""Argument normalisation shared by the public API and the reference.

Everything here turns the forms users write (ints, tuples, strings) into
plain tuples of Python ints, and raises the exceptions API.md promises:
``TypeError`` for a wrong type, ``ValueError`` for a wrong value, each naming
the parameter and what was seen. No arithmetic on arrays happens here.
"""

import math
import operator

import numpy as np

INT64_MAX = 2**63 - 1

LAYOUTS_2D = ("NCHW", "NHWC")
ACTIVATIONS = (None, "relu", "relu6")


def as_int(value, name):
    """Return ``value`` as a Python int; bools and floats are a TypeError."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an int, got bool {value!r}")
    try:
        result = operator.index(value)
    except TypeError:
        raise TypeError(
            f"{name} must be an int, got {type(value).__name__} {value!r}"
        ) from None
    if not -INT64_MAX - 1 <= result <= INT64_MAX:
        raise ValueError(f"{name} ({result}) does not fit in a 64-bit integer")
    return result


def _as_sequence(value, name):
    if isinstance(value, (str, bytes)):
        raise TypeError(f"{name} must be an int or a tuple of ints, got {value!r}")
    try:
        return tuple(value)
    except TypeError:
        raise TypeError(
            f"{name} must be an int or a tuple of ints, got {type(value).__name__} {value!r}"
        ) from None


def spatial_tuple(value, name, ndim=2):
    """An int or a tuple of ``ndim`` positive ints (stride, dilation, kernel)."""
    if isinstance(value, (list, tuple, np.ndarray)):
        items = _as_sequence(value, name)
        if len(items) != ndim:
            raise ValueError(
                f"{name} must have {ndim} elements (one per spatial dim), got {len(items)}: {value!r}"
            )
        result = tuple(as_int(v, name) for v in items)
    else:
        result = (as_int(value, name),) * ndim
    for v in result:
        if v < 1:
            raise ValueError(f"{name} must be positive, got {value!r}")
    return result


def _pad_amount(value, name):
    amount = as_int(value, name)
    if amount < 0:
        raise ValueError(f"{name} must be >= 0, got {amount}")
    return amount


def resolve_padding(padding, in_sizes, kernel_sizes, strides, dilations):
    """Every padding form as a tuple of ``(before, after)`` per spatial dim.

    Forms: int; one int per dim; one ``(before, after)`` pair per dim;
    ``"valid"`` (no padding); ``"same"`` (output = ceil(in / stride), the odd
    pad going after, TensorFlow's rule, which equals PyTorch's at stride 1).
    """
    ndim = len(in_sizes)
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * ndim
        if padding == "same":
            pads = []
            for size, k, s, d in zip(in_sizes, kernel_sizes, strides, dilations):
                out = -(-size // s)
                total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
                pads.append((total // 2, total - total // 2))
            return tuple(pads)
        raise ValueError(
            f"padding must be an int, a tuple, 'valid' or 'same', got {padding!r}"
        )
    if not isinstance(padding, (list, tuple, np.ndarray)):
        amount = _pad_amount(padding, "padding")
        return ((amount, amount),) * ndim
    items = _as_sequence(padding, "padding")
    if len(items) != ndim:
        raise ValueError(
            f"padding must have {ndim} entries (one per spatial dim), got {len(items)}: {padding!r}"
        )
    pads = []
    for item in items:
        if isinstance(item, (list, tuple, np.ndarray)):
            pair = _as_sequence(item, "padding")
            if len(pair) != 2:
                raise ValueError(
                    f"padding pairs must be (before, after), got {item!r} in {padding!r}"
                )
            pads.append((_pad_amount(pair[0], "padding"), _pad_amount(pair[1], "padding")))
        else:
            amount = _pad_amount(item, "padding")
            pads.append((amount, amount))
    return tuple(pads)


def check_layout(layout, ndim=2):
    """The layout string, validated for ``ndim`` spatial dims."""
    allowed = {1: ("NCL", "NLC"), 2: LAYOUTS_2D, 3: ("NCDHW", "NDHWC")}[ndim]
    if not isinstance(layout, str):
        raise TypeError(f"layout must be a str, one of {allowed}, got {layout!r}")
    if layout not in allowed:
        raise ValueError(f"layout must be one of {allowed}, got {layout!r}")
    return layout


def check_activation(activation):
    """``None``, ``"relu"`` or ``"relu6"``."""
    if activation is not None and not isinstance(activation, str):
        raise TypeError(f"activation must be None, 'relu' or 'relu6', got {activation!r}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be None, 'relu' or 'relu6', got {activation!r}")
    return activation


def output_size(size, kernel, stride, pad, dilation, name):
    """One spatial output size, as torch computes it; < 1 is a ValueError."""
    before, after = pad
    padded = size + before + after
    extent = dilation * (kernel - 1) + 1
    out = (padded - extent) // stride + 1
    if padded < extent:
        raise ValueError(
            f"{name}: padded input size ({size} + {before} + {after} = {padded}) is smaller "
            f"than the dilated kernel ({extent} = {dilation} * ({kernel} - 1) + 1)"
        )
    return out


def checked_product(dims, what):
    """Product of sizes, raising ValueError instead of exceeding int64."""
    total = math.prod(dims)
    if total > INT64_MAX:
        raise ValueError(f"{what} has {total} elements, more than a 64-bit count holds")
    return total
