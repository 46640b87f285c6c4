"""Where the installed package keeps its C/C++ side: headers, the shared
library and the CMake package config (``find_package(gconv CONFIG)``)."""

import os

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def _shipped(path, what):
    if not os.path.isdir(path):
        raise FileNotFoundError(
            f"gconv: the C++ package ({what}) is not shipped with this build: {path} is missing")
    return path


def get_include():
    """Directory of the C/C++ headers (``gconv/gconv.h``, ``gconv/gconv.hpp``).

        >>> import os, gconv
        >>> os.path.isfile(os.path.join(gconv.get_include(), "gconv", "gconv.h"))
        True
    """
    return _shipped(os.path.join(_PACKAGE_DIR, "include"), "headers")


def get_cmake_dir():
    """Directory of ``gconvConfig.cmake``: pass it as ``CMAKE_PREFIX_PATH`` or ``gconv_DIR``.

        >>> import os, gconv
        >>> os.path.isfile(os.path.join(gconv.get_cmake_dir(), "gconvConfig.cmake"))
        True
    """
    return _shipped(os.path.join(_PACKAGE_DIR, "lib", "cmake", "gconv"), "CMake config")
