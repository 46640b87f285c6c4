"""gconv's thread pool as seen by threadpoolctl.

gconv keeps its own thread count (``gconv.set_num_threads``): every OpenMP
region passes it explicitly, so ``omp_set_num_threads`` -- what
threadpoolctl's built-in OpenMP controller calls -- does not change it. This
module registers a controller for gconv's extension module itself, so that
``threadpoolctl.threadpool_info()`` lists gconv's pool and
``threadpool_limits(n)`` (for every user API, or for ``user_api="openmp"``)
limits it, the way scikit-learn and Dask users limit every native pool at once.

The extension exports no C symbol for the count, so the controller goes
through ``gconv._core``'s Python functions, after checking that the shared
object threadpoolctl found is that very module (another package's
``_core.cpython-*.so`` must not be mistaken for gconv's).

Registration happens when gconv is imported, and only if threadpoolctl
(>= 3, the version with ``threadpoolctl.register``) is installed.
"""

import os

from . import _core


_registered = False


def _same_file(a, b):
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def register():
    """Registers gconv's controller with threadpoolctl; False when
    threadpoolctl is missing or too old to accept third-party controllers.

    Example:
        >>> from gconv import _threadpoolctl
        >>> _threadpoolctl.register() in (True, False)
        True
    """
    try:
        import threadpoolctl
    except ImportError:
        return False
    if not hasattr(threadpoolctl, "register") or not hasattr(threadpoolctl, "LibController"):
        return False
    global _registered
    if not _registered:
        threadpoolctl.register(_controller_class(threadpoolctl.LibController))
        _registered = True
    return True


def _controller_class(base):
    extension_path = os.path.realpath(_core.__file__)

    class GconvController(base):
        """gconv's OpenMP pool: the count ``gconv.set_num_threads`` sets."""

        # user_api "openmp": code that limits OpenMP pools to avoid
        # oversubscription (threadpool_limits(1, user_api="openmp")) means
        # gconv's too. internal_api tells gconv apart from libgomp/libomp.
        user_api = "openmp"
        internal_api = "gconv"
        # threadpoolctl lower-cases the file name before matching prefixes.
        filename_prefixes = (os.path.basename(extension_path).lower(),)
        check_symbols = ("PyInit__core",)

        def _find_affixes(self):
            # Called first while threadpoolctl builds the controller; an
            # OSError makes it skip this file, which is how a same-named
            # extension module of another package is turned away.
            if not _same_file(self.filepath, extension_path):
                raise OSError(f"{self.filepath} is not gconv's extension module")
            return "", ""

        def get_num_threads(self):
            return _core.get_num_threads()

        def set_num_threads(self, num_threads):
            _core.set_num_threads(max(1, min(int(num_threads), 1024)))

        def get_version(self):
            return _core.build_info()["version"]

        def set_additional_attributes(self):
            self.threading_layer = "openmp" if _core.build_info()["openmp"] else "none"

    return GconvController


# Importing this module (gconv/__init__.py does) is what registers the controller.
REGISTERED = register()
