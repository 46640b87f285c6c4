"""The C/C++ package inside the installed wheel: headers, shared library and
CMake config, found through ``gconv.get_include()`` / ``gconv.get_cmake_dir()``."""

import glob
import os
import re
import subprocess
import sys

import pytest

import gconv


def test_get_include_has_the_c_and_cpp_headers():
    include = gconv.get_include()
    for header in ("gconv.h", "gconv.hpp"):
        assert os.path.isfile(os.path.join(include, "gconv", header)), header


def test_header_version_is_the_package_version():
    with open(os.path.join(gconv.get_include(), "gconv", "gconv.h"), encoding="utf-8") as f:
        text = f.read()
    parts = [re.search(rf"#define GCONV_VERSION_{p} (\d+)", text).group(1)
             for p in ("MAJOR", "MINOR", "PATCH")]
    assert ".".join(parts) == gconv.__version__


def test_get_cmake_dir_has_the_package_config_and_the_shared_library():
    cmake_dir = gconv.get_cmake_dir()
    for name in ("gconvConfig.cmake", "gconvConfigVersion.cmake", "gconvTargets.cmake"):
        assert os.path.isfile(os.path.join(cmake_dir, name)), name
    lib_dir = os.path.dirname(os.path.dirname(cmake_dir))
    libraries = [p for pattern in ("libgconv.so*", "libgconv*.dylib", "gconv.dll")
                 for p in glob.glob(os.path.join(lib_dir, pattern))]
    assert libraries, os.listdir(lib_dir)


@pytest.mark.parametrize("flag, getter", [("--includedir", "get_include"),
                                          ("--cmakedir", "get_cmake_dir")])
def test_cli_flags_print_the_getters_directories(flag, getter):
    result = subprocess.run([sys.executable, "-m", "gconv", flag], capture_output=True,
                            text=True, check=True)
    assert result.stdout.strip() == getattr(gconv, getter)()
