"""Builds examples/cpp against an installed gconv and runs it.

    python examples/cpp/build_and_run.py                 # the wheel: gconv.get_cmake_dir()
    python examples/cpp/build_and_run.py --prefix P      # a `cmake --install` tree
    python examples/cpp/build_and_run.py --static        # link gconv::gconv_static (source install)

Needs cmake (and uses ninja where it is installed, except on Windows, where
CMake picks Visual Studio). Exit status: the example's (0 when its output
matches the naive loops).
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prefix", help="CMAKE_PREFIX_PATH (default: gconv.get_cmake_dir())")
    parser.add_argument("--static", action="store_true", help="link gconv::gconv_static")
    parser.add_argument("--build-dir", help="build here instead of a temporary directory")
    args = parser.parse_args(argv)
    if args.prefix is None:
        import gconv

        args.prefix = gconv.get_cmake_dir()

    build = args.build_dir or tempfile.mkdtemp(prefix="gconv-example-")
    configure = ["cmake", "-S", HERE, "-B", build, f"-DCMAKE_PREFIX_PATH={args.prefix}",
                 "-DCMAKE_BUILD_TYPE=Release", f"-DGCONV_EXAMPLE_STATIC={'ON' if args.static else 'OFF'}"]
    if os.name != "nt" and shutil.which("ninja"):
        configure += ["-G", "Ninja"]
    subprocess.run(configure, check=True)
    subprocess.run(["cmake", "--build", build, "--config", "Release"], check=True)
    candidates = [os.path.join(build, "mobilenet_block"),
                  os.path.join(build, "mobilenet_block.exe"),
                  os.path.join(build, "Release", "mobilenet_block.exe")]
    executable = next(path for path in candidates if os.path.isfile(path))
    env = dict(os.environ)
    if os.name == "nt":
        # Windows has no rpath: the DLL dirs of an install or of the wheel
        # (gconv/lib, and gconv.libs/ where delvewheel puts the OpenMP runtime).
        cmake_dir = os.path.abspath(args.prefix)
        if not os.path.isfile(os.path.join(cmake_dir, "gconvConfig.cmake")):
            cmake_dir = os.path.join(cmake_dir, "lib", "cmake", "gconv")
        lib = os.path.dirname(os.path.dirname(cmake_dir))
        top = os.path.dirname(lib)
        dirs = [lib, os.path.join(top, "bin"), os.path.join(os.path.dirname(top), "gconv.libs")]
        env["PATH"] = os.pathsep.join(dirs + [env.get("PATH", "")])
    result = subprocess.run([executable], env=env)
    if args.build_dir is None:
        shutil.rmtree(build, ignore_errors=True)
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
