"""Command line of gconv: ``python -m gconv {info,demo,bench}``.

    python -m gconv info          # build, CPU features, kernel family, threads
    python -m gconv demo          # the tour: regular vs grouped vs depthwise vs GDC
    python -m gconv bench         # the benchmark suite (bench/)
    python -m gconv --includedir  # C/C++ headers, for C++ builds
    python -m gconv --cmakedir    # for find_package(gconv CONFIG)

Without arguments it prints this help.
"""

import argparse
import os
import platform
import sys

import gconv
from gconv import _bench

# The CPU flags the kernels care about: AVX2 + FMA for the avx2 family,
# AVX-512 F/VL/BW/DQ for the avx512 family.
CPU_FEATURES = ("avx2", "fma", "avx512f", "avx512vl", "avx512bw", "avx512dq")

CPUINFO_PATH = "/proc/cpuinfo"

EXIT_UNAVAILABLE = 2


def cpu_description(cpuinfo_path=CPUINFO_PATH):
    """``(model name, {feature: bool} or None)`` of this CPU.

    Read from ``/proc/cpuinfo`` where it exists (Linux); elsewhere the model is
    ``platform.processor()`` and the features are unknown (``None``).
    """
    try:
        with open(cpuinfo_path, encoding="utf-8", errors="replace") as handle:
            text = handle.read()
    except OSError:
        return platform.processor() or platform.machine() or "unknown", None
    model, flags = None, None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and model is None:
            model = value.strip()
        elif key in ("flags", "Features") and flags is None:
            flags = set(value.split())
    model = model or platform.processor() or platform.machine() or "unknown"
    if flags is None:
        return model, None
    return model, {feature: feature in flags for feature in CPU_FEATURES}


def thread_source(environ=None):
    """Where the default thread count comes from: the variable and its value, or the default."""
    environ = os.environ if environ is None else environ
    for name in ("GCONV_NUM_THREADS", "OMP_NUM_THREADS"):
        value = environ.get(name, "").strip()
        if value:
            return f"{name}={value}"
    return f"default (all cores: os.cpu_count() = {os.cpu_count()})"


def _format_value(value):
    """A build_info value as text: lists joined by commas, booleans as yes/no."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(item) for item in value)
    return str(value)


def command_info(args):
    """``python -m gconv info``: build_info, the CPU's relevant features, threads."""
    info = gconv.build_info()
    width = max(len(key) for key in info)
    print("gconv build")
    for key, value in info.items():
        print(f"  {key:<{width}}  {_format_value(value)}")
    cap = os.environ.get("GCONV_MAX_ISA", "").strip()
    if cap:
        print(f"  {'isa cap':<{width}}  GCONV_MAX_ISA={cap}")

    model, features = cpu_description()
    print("cpu")
    print(f"  model     {model}")
    if features is None:
        print(f"  features  unknown ({CPUINFO_PATH} not readable)")
    else:
        print("  features  " + "  ".join(f"{name}={'yes' if present else 'no'}"
                                         for name, present in features.items()))

    print("threads")
    print(f"  count     {gconv.get_num_threads()}")
    print(f"  from      {thread_source()}")
    return 0


def command_demo(args):
    """``python -m gconv demo``: the tour of gconv._demo."""
    from gconv import _demo

    return _demo.main() or 0


def command_bench(args):
    """``python -m gconv bench``: the benchmark suite of gconv._bench."""
    return _bench.main(args)


def _print_path(flag, getter_name):
    """Prints ``gconv.<getter_name>()`` for ``flag``; exits 2 where the build ships no C++ package."""
    getter = getattr(gconv, getter_name, None)
    if getter is None:
        print(f"gconv {flag}: the C++ package (headers and CMake config) is not shipped "
              f"with this build yet", file=sys.stderr)
        return EXIT_UNAVAILABLE
    try:
        print(getter())
    except FileNotFoundError as error:
        print(f"gconv {flag}: {error}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    return 0


def build_parser():
    """The argparse parser: the --includedir/--cmakedir flags and the subcommands."""
    parser = argparse.ArgumentParser(
        prog="python -m gconv",
        description="gconv: grouped, depthwise and global depthwise convolution for NumPy.")
    parser.add_argument("--version", action="version", version=f"gconv {gconv.__version__}")
    parser.add_argument("--includedir", action="store_true",
                        help="print the directory of the C/C++ headers and exit")
    parser.add_argument("--cmakedir", action="store_true",
                        help="print the directory for CMAKE_PREFIX_PATH / gconv_DIR and exit")
    commands = parser.add_subparsers(dest="command", metavar="{info,demo,bench}")
    commands.add_parser(
        "info", help="build, CPU features, kernel family in use, threads"
    ).set_defaults(handler=command_info)
    commands.add_parser(
        "demo", help="the tour: regular vs grouped vs depthwise vs GDC on real arrays"
    ).set_defaults(handler=command_demo)
    bench = commands.add_parser(
        "bench", help="the benchmark suite against the installed peers (bench/)",
        description="The benchmark suite of bench/: every layer x batch x layout x dtype, "
                    "gconv and each installed peer timed interleaved, as GFLOP/s, fraction "
                    "of the machine's peak and roofline, and ratio to the best peer.")
    _bench.add_arguments(bench)
    bench.set_defaults(handler=command_bench)
    return parser


def main(argv=None):
    """Parses ``argv`` (default ``sys.argv[1:]``), runs the command, returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.includedir:
        return _print_path("--includedir", "get_include")
    if args.cmakedir:
        return _print_path("--cmakedir", "get_cmake_dir")
    if args.command is None:
        parser.print_help()
        return 0
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
