"""Fuzz target for gconv's Python argument layer (atheris).

Each input starts from a valid call of one public function and replaces one
to three of its arguments with arbitrary values: ints of every size and
sign, floats (NaN, Inf), bools, strings, bytes, None, nested tuples and
lists, NumPy scalars, arrays of odd dtypes, shapes and strides, and plain
objects. The contract (API.md) allows exactly three exception types to
escape, ``TypeError``, ``ValueError`` and ``MemoryError``; anything else is
a finding, and so is a crash, a hang, or an ``out=`` array modified by a
call that failed.

Run it (see README.md in this folder):

    pip install atheris
    python tests/fuzz/fuzz_arguments.py -atheris_runs=200000 -timeout=20

Without atheris, ``python tests/fuzz/fuzz_arguments.py --random N`` feeds N
random byte strings through the same target. The address space is capped
(``GCONV_FUZZ_MEMORY_MB`` above the start, default 2048) so that arguments
asking for huge results fail with MemoryError instead of swapping.
tests/python/test_fuzz_arguments.py is the bounded version CI runs.
"""

import os
import resource
import sys

import numpy as np

import gconv

ALLOWED = (TypeError, ValueError, MemoryError)
SENTINEL = -7.5

INTS = (0, 1, 2, 3, 4, 5, 7, 8, -1, -2, 2**31 - 1, 2**31, 2**32, 2**62, 2**63 - 1, 2**63, 2**64,
        -2**63, -2**63 - 1, 10**30)
FLOATS = (0.0, 1.0, 2.0, 2.5, -1.0, float("nan"), float("inf"), float("-inf"), 1e308, 5e-324)
STRINGS = ("NCHW", "NHWC", "NCL", "NCDHW", "same", "valid", "full", "relu", "relu6", "gelu", "",
           "depthwise", "gemm_1x1", "im2col_gemm", "grouped_direct", "global_depthwise", "\x00", "ńçhw")
NUMPY_SCALARS = (np.int64(2), np.int32(-1), np.uint64(2**64 - 1), np.int8(3), np.float32(1.0),
                 np.float64(np.nan), np.bool_(True), np.complex64(1j), np.str_("NCHW"))
DTYPES = (np.float32, np.float64, np.float16, np.int32, np.int64, np.uint8, np.bool_, np.complex64,
          np.object_, ">f4", "<f8", "U1", "S2", "M8[s]", [("a", "f4"), ("b", "f4")])
SHAPES = ((), (0,), (3,), (4, 5), (4, 5, 5), (1, 4, 5, 5), (2, 5, 5, 4), (1, 4, 5, 5, 1), (0, 4, 5, 5),
          (1, 0, 5, 5), (1, 4, 0, 5), (4, 2, 3, 3), (8, 1, 3, 3), (4, 1, 5, 5), (4,), (8,), (1, 1, 1, 1))
OBJECTS = (object(), {}, {"a": 1}, set(), slice(1, 2), Ellipsis, 1 + 2j, b"NCHW", bytearray(b"\x01"),
           range(3), memoryview(b"abcd"), type, print, NotImplemented)


class _Opaque:
    """An object that is nothing the API knows."""

    def __repr__(self):
        return "_Opaque()"


def base_arrays():
    """The valid arguments every op starts from (small, float32)."""
    rng = np.random.default_rng(0)
    return {
        "x": rng.standard_normal((1, 4, 5, 5)).astype(np.float32),
        "weight": rng.standard_normal((4, 2, 3, 3)).astype(np.float32),
        "dw_weight": rng.standard_normal((8, 1, 3, 3)).astype(np.float32),
        "gdc_weight": rng.standard_normal((4, 1, 5, 5)).astype(np.float32),
        "bias": rng.standard_normal((4,)).astype(np.float32),
    }


def _ops():
    a = base_arrays()
    conv = dict(x=a["x"], weight=a["weight"], bias=a["bias"], stride=1, padding=1, dilation=1, groups=2,
                layout="NCHW", activation=None, out=None, force_algorithm=None)
    return {
        "conv2d": (gconv.conv2d, conv),
        "depthwise_conv2d": (gconv.depthwise_conv2d,
                             dict(x=a["x"], weight=a["dw_weight"], bias=None, stride=1, padding="same",
                                  dilation=1, layout="NCHW", activation="relu", out=None)),
        "global_depthwise_conv2d": (gconv.global_depthwise_conv2d,
                                    dict(x=a["x"], weight=a["gdc_weight"], bias=a["bias"], layout="NCHW",
                                         out=None)),
        "global_avg_pool2d": (gconv.global_avg_pool2d, dict(x=a["x"], layout="NCHW", out=None)),
        "channel_shuffle": (gconv.channel_shuffle, dict(x=a["x"], groups=2, layout="NCHW", out=None)),
        "block_diagonal": (gconv.block_diagonal, dict(weight=a["weight"], groups=2)),
        "conv2d_cost": (gconv.conv2d_cost,
                        dict(input_shape=(1, 4, 5, 5), weight_shape=(4, 2, 3, 3), stride=1, padding=1,
                             dilation=1, groups=2, layout="NCHW", bias=False, dtype=np.float32)),
        "Conv2d": (_plan_call,
                   dict(weight=a["weight"], bias=None, stride=1, padding=0, dilation=1, groups=2,
                        layout="NCHW", activation=None, force_algorithm=None, x=a["x"], out=None,
                        x_shape=(1, 4, 5, 5))),
        "set_num_threads": (_set_threads, dict(n=2)),
    }


def _plan_call(x, x_shape, out, **kwargs):
    plan = gconv.Conv2d(**kwargs)
    plan.algorithm(x_shape)
    return plan(x, out=out)


def _set_threads(n):
    before = gconv.get_num_threads()
    try:
        with gconv.threads(n):
            gconv.get_num_threads()
        gconv.set_num_threads(n)
    finally:
        gconv.set_num_threads(before)


OPS = _ops()
OP_NAMES = tuple(OPS)


def make_array(dtype, shape, order, fill):
    """An array of ``dtype`` and ``shape``: 'C', 'F', a strided view or read-only."""
    try:
        array = np.zeros(shape, dtype)
    except (TypeError, ValueError):
        array = np.zeros(shape, np.float32)
    if array.dtype.kind in "fc":
        array[...] = fill
    if order == "F":
        array = np.asfortranarray(array)
    elif order == "strided" and array.ndim:
        array = np.repeat(array, 2, axis=-1)[..., ::2]
    elif order == "readonly":
        array.flags.writeable = False
    return array


def call(op_name, overrides):
    """Runs ``op_name`` with ``overrides`` replacing its valid arguments.

    Returns the result or the allowed exception; raises AssertionError for
    a contract violation (another exception type, or ``out=`` modified by a
    failing call) and lets the unexpected exception chain from it.
    """
    function, valid = OPS[op_name]
    kwargs = dict(valid)
    kwargs.update(overrides)
    out = kwargs.get("out")
    before = out.copy() if isinstance(out, np.ndarray) else None
    try:
        return function(**kwargs)
    except ALLOWED as exc:
        if before is not None:
            same = np.array_equal(out, before, equal_nan=True) if out.dtype.kind in "fc" \
                else np.array_equal(out, before)
            assert same, f"{describe(op_name, overrides)}: out modified by a call that raised {exc!r}"
        return exc
    except Exception as exc:
        raise AssertionError(f"{describe(op_name, overrides)} raised {type(exc).__name__}: {exc}") from exc


def describe(op_name, overrides):
    """A one-line reproducer: the op and the arguments that were replaced."""
    parts = []
    for key, value in overrides.items():
        if isinstance(value, np.ndarray):
            flags = "C" if value.flags.c_contiguous else ("F" if value.flags.f_contiguous else "strided")
            value = f"<array {value.dtype.str} shape={value.shape} {flags}" \
                    f"{' readonly' if not value.flags.writeable else ''}>"
        parts.append(f"{key}={value!r}")
    return f"gconv fuzz: {op_name}({', '.join(parts)})"


def cap_address_space(extra_mb=None):
    """Caps the soft address-space limit ``extra_mb`` above what is mapped
    now; returns the previous limit (for ``restore_address_space``)."""
    extra_mb = int(os.environ.get("GCONV_FUZZ_MEMORY_MB", "2048")) if extra_mb is None else extra_mb
    previous = resource.getrlimit(resource.RLIMIT_AS)
    with open("/proc/self/status") as status:
        mapped = next(int(line.split()[1]) for line in status if line.startswith("VmSize:")) * 1024
    soft = mapped + (extra_mb << 20)
    if previous[1] != resource.RLIM_INFINITY:
        soft = min(soft, previous[1])
    resource.setrlimit(resource.RLIMIT_AS, (soft, previous[1]))
    return previous


def restore_address_space(previous):
    resource.setrlimit(resource.RLIMIT_AS, previous)


# --------------------------------------------------------------------------- atheris

class _Source:
    """Values drawn from fuzz bytes (atheris's FuzzedDataProvider)."""

    def __init__(self, provider):
        self.p = provider

    def pick(self, seq):
        return seq[self.p.ConsumeIntInRange(0, len(seq) - 1)]

    def value(self, depth=0):
        kind = self.p.ConsumeIntInRange(0, 12)
        if kind == 0:
            return self.pick(INTS)
        if kind == 1:
            return self.p.ConsumeIntInRange(-2**64, 2**64)
        if kind == 2:
            return self.pick(FLOATS) if self.p.ConsumeBool() else self.p.ConsumeFloat()
        if kind == 3:
            return self.p.ConsumeBool()
        if kind == 4:
            return self.pick(STRINGS) if self.p.ConsumeBool() else self.p.ConsumeUnicodeNoSurrogates(8)
        if kind == 5:
            return None
        if kind in (6, 7) and depth < 3:
            items = [self.value(depth + 1) for _ in range(self.p.ConsumeIntInRange(0, 4))]
            return tuple(items) if kind == 6 else items
        if kind == 8:
            return self.pick(NUMPY_SCALARS)
        if kind in (9, 10):
            return make_array(self.pick(DTYPES), self.pick(SHAPES),
                              self.pick(("C", "F", "strided", "readonly")), self.pick(FLOATS[:8]))
        if kind == 11:
            return self.pick(OBJECTS)
        return _Opaque()


def test_one_input(data):
    import atheris

    source = _Source(atheris.FuzzedDataProvider(data))
    op_name = source.pick(OP_NAMES)
    names = sorted(OPS[op_name][1])
    overrides = {source.pick(names): source.value() for _ in range(source.p.ConsumeIntInRange(1, 3))}
    call(op_name, overrides)


def _random_inputs(count, seed=0):
    """Without atheris: random byte strings through a minimal provider."""
    import random

    class Provider:
        def __init__(self, data):
            self.rng = random.Random(data)

        def ConsumeIntInRange(self, lo, hi):
            return self.rng.randint(lo, hi)

        def ConsumeBool(self):
            return self.rng.random() < 0.5

        def ConsumeFloat(self):
            return self.rng.choice((self.rng.uniform(-1e9, 1e9), self.rng.random()))

        def ConsumeUnicodeNoSurrogates(self, n):
            return "".join(chr(self.rng.randint(32, 0x2FF)) for _ in range(self.rng.randint(0, n)))

    rng = random.Random(seed)
    for i in range(count):
        source = _Source(Provider(rng.getrandbits(64)))
        op_name = source.pick(OP_NAMES)
        names = sorted(OPS[op_name][1])
        overrides = {source.pick(names): source.value() for _ in range(source.p.ConsumeIntInRange(1, 3))}
        call(op_name, overrides)


def main(argv):
    gconv.conv2d(OPS["conv2d"][1]["x"], OPS["conv2d"][1]["weight"], groups=2)  # start the thread pool
    cap_address_space()
    if len(argv) >= 3 and argv[1] == "--random":
        _random_inputs(int(argv[2]))
        print(f"{argv[2]} random inputs: no contract violation")
        return
    import atheris

    atheris.instrument_all()  # coverage feedback from gconv's (and NumPy's) Python code
    atheris.Setup(argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
