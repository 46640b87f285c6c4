"""Result arrays on whole cache lines, and large ones reused.

NumPy places a large array 16 bytes into a page, so every 64-byte vector
store of an NHWC kernel splits two cache lines: ResNeXt's 16-channel groups
at N=16 ran 1.12x slower into such an output than into one that starts on a
line. Small arrays stay in L1 either way and keep ``np.empty``'s lower cost
(the per-call overhead of a one-element convolution).

The C library maps an allocation of 32 MiB or more afresh and unmaps it when
it is freed, so a result that large faulted all of its pages in again on
every call: MobileNetV2's stride-2 input gradient at N=16 (77 MB) spent 3.4
of its 6.3 ms there, ResNeXt s3_down's (51 MB) 2.4 of 8.4. The last two
such buffers (at most ``KEPT_MOST_BYTES`` together) are kept, and a request
of the same size takes one back once nothing references it: no array or
view of it is alive.
"""

import sys

import numpy as np

LINE_BYTES = 64
# Below this an array is allocated as NumPy places it.
ALIGNED_FROM_BYTES = 64 * 1024
# Buffers from this size are kept for reuse, two at most, within the bound.
KEPT_FROM_BYTES = 32 << 20
KEPT_MOST_BYTES = 256 << 20
_KEPT_COUNT = 2

_kept = []  # most recent first


def _reusable(size):
    """A kept buffer of ``size`` bytes that nothing else references, or None."""
    for raw in _kept:  # (a list iterator holds no reference to its items)
        # References: the list's, `raw` and getrefcount's argument. An array
        # or view of the buffer holds one more, and so does another thread
        # that has just taken it.
        if raw.nbytes == size and sys.getrefcount(raw) == 3:
            return raw
    return None


def kept(raw):
    """1 if the reuse pool holds ``raw`` (one reference to it), else 0."""
    for r in _kept:
        if r is raw:
            return 1
    return 0


def _keep(raw):
    _kept.insert(0, raw)
    while len(_kept) > _KEPT_COUNT or sum(r.nbytes for r in _kept) > KEPT_MOST_BYTES:
        _kept.pop()


def empty(shape, dtype):
    """An uninitialised C-contiguous array whose data start on a cache line
    when it holds at least ``ALIGNED_FROM_BYTES``; from ``KEPT_FROM_BYTES``,
    in the memory of an earlier result of the same size that is no longer
    referenced, if one was kept.

    Example:
        >>> from gconv import _alloc
        >>> a = _alloc.empty((16, 56, 56, 128), np.float32)
        >>> a.ctypes.data % 64, a.shape, a.flags.c_contiguous
        (0, (16, 56, 56, 128), True)
    """
    dtype = np.dtype(dtype)
    count = 1
    for d in shape:
        count *= d
    nbytes = count * dtype.itemsize
    if nbytes < ALIGNED_FROM_BYTES:
        return np.empty(shape, dtype)
    size = nbytes + LINE_BYTES
    raw = _reusable(size) if nbytes >= KEPT_FROM_BYTES else None
    if raw is None:
        raw = np.empty(size, np.uint8)
        if nbytes >= KEPT_FROM_BYTES and size <= KEPT_MOST_BYTES:
            _keep(raw)
    start = -raw.__array_interface__["data"][0] % LINE_BYTES
    return raw[start:start + nbytes].view(dtype).reshape(shape)
