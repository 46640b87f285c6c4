"""Per-call overhead: what a call costs when there is no arithmetic to do.

The target of issue 3: a 1x1 convolution of one element, through
``gconv.conv2d`` (arguments checked and a plan made on every call) and
through a ``gconv.Conv2d`` plan, below 10 microseconds from Python; each
peer's call on the same convolution is timed alongside, in the same
interleaved rounds as the suite (``_bench.time_interleaved``).
"""

import numpy as np

import gconv

from . import _bench_suite as suite

TARGET_US = 10.0

# One input element, one weight: every microsecond measured is overhead.
ONE_ELEMENT = suite.Layer("one_element_1x1", in_channels=1, size=1, out_channels=1, kernel=1,
                          stride=1, groups=1, padding=0)


def implementations(peers):
    """gconv's two entry points and every peer form on ONE_ELEMENT."""
    from ._bench import Implementation, Unsupported

    x = np.ones((1, 1, 1, 1), np.float32)
    w = np.ones((1, 1, 1, 1), np.float32)
    plan = gconv.Conv2d(w)
    impls = [Implementation("gconv.conv2d", lambda: gconv.conv2d(x, w)),
             Implementation("gconv.Conv2d", lambda: plan(x))]
    for peer in peers:
        try:
            impls.extend(peer.prepare(ONE_ELEMENT, x, w))
        except Unsupported:
            pass
    return impls


def measure(peers, timing):
    """{implementation name: microseconds per call}, medians of interleaved samples."""
    from ._bench import time_interleaved

    seconds = time_interleaved(implementations(peers), timing)
    return {name: value * 1e6 for name, value in seconds.items()}


def lines(overhead):
    """Human-readable lines: each implementation's microseconds and the target check."""
    out = [f"{name}: {us:.1f} us" for name, us in overhead.items()]
    worst = max(overhead["gconv.conv2d"], overhead["gconv.Conv2d"])
    verdict = "met" if worst < TARGET_US else "NOT met"
    out.append(f"target (gconv.conv2d and gconv.Conv2d below {TARGET_US:.0f} us): {verdict}")
    return out
