# cython: language_level=3, boundscheck=False, wraparound=False
"""Cython bridge to the CUDA kernels (src/cuda/gconv_cuda.h): device
pointers and the stream arrive as ints (from ``__cuda_array_interface__``),
the GIL is released while the launches are enqueued, and C status codes
become Python exceptions. No argument parsing here: gconv._cuda_api has
already checked shapes, dtypes, devices and contiguity."""

from libc.stdint cimport int32_t, int64_t, uintptr_t


cdef extern from "gconv/gconv.h":
    ctypedef enum gconv_status:
        GCONV_SUCCESS, GCONV_INVALID_PARAMETER, GCONV_UNSUPPORTED, GCONV_OUT_OF_MEMORY

    ctypedef struct gconv_conv2d_desc:
        int64_t batch, in_channels, out_channels, groups, in_h, in_w, kernel_h, kernel_w
        int64_t stride_h, stride_w, pad_top, pad_bottom, pad_left, pad_right
        int64_t dilation_h, dilation_w
        int32_t layout, dtype, activation, has_bias

    void gconv_conv2d_desc_init(gconv_conv2d_desc* d)
    const char* gconv_last_error()


cdef extern from "gconv_cuda.h":
    ctypedef enum gconv_cuda_algorithm:
        GCONV_CUDA_AUTO, GCONV_CUDA_ALGORITHM_COUNT

    gconv_status gconv_cuda_conv2d(const gconv_conv2d_desc* d, const void* x, const void* weight,
                                   const void* bias, void* y, int64_t batch, int device,
                                   void* stream, int algorithm, const char** algorithm_used) nogil
    gconv_status gconv_cuda_choose_algorithm(const gconv_conv2d_desc* d, int algorithm,
                                             int* chosen)
    const char* gconv_cuda_algorithm_name(int algorithm)
    gconv_status gconv_cuda_global_avg_pool2d(int32_t dtype, int32_t layout, int64_t batch,
                                              int64_t channels, int64_t in_h, int64_t in_w,
                                              const void* x, void* y, int device,
                                              void* stream) nogil
    int gconv_cuda_device_count()
    int gconv_cuda_runtime_version()


ALGORITHMS = tuple(gconv_cuda_algorithm_name(a).decode() for a in range(1, GCONV_CUDA_ALGORITHM_COUNT))


cdef int check(gconv_status status) except -1:
    if status == GCONV_SUCCESS:
        return 0
    message = gconv_last_error().decode("utf-8", "replace")
    if status == GCONV_OUT_OF_MEMORY:
        raise MemoryError(message)
    if status == GCONV_UNSUPPORTED:
        raise RuntimeError(message)
    raise ValueError(message)


cdef gconv_conv2d_desc make_desc(tuple f) except *:
    """The descriptor from the tuple gconv._conv_spec builds, in field order."""
    cdef gconv_conv2d_desc d
    gconv_conv2d_desc_init(&d)
    (d.batch, d.in_channels, d.out_channels, d.groups, d.in_h, d.in_w, d.kernel_h, d.kernel_w,
     d.stride_h, d.stride_w, d.pad_top, d.pad_bottom, d.pad_left, d.pad_right,
     d.dilation_h, d.dilation_w, d.layout, d.dtype, d.activation, d.has_bias) = f
    return d


cdef int algorithm_id(name) except -1:
    if name is None:
        return GCONV_CUDA_AUTO
    try:
        return ALGORITHMS.index(name) + 1
    except ValueError:
        raise ValueError(f"CUDA algorithm must be None or one of {ALGORITHMS}, got {name!r}") from None


def choose_algorithm(tuple desc, force=None):
    """Name of the CUDA algorithm for desc (checks that a forced one accepts it)."""
    cdef gconv_conv2d_desc d = make_desc(desc)
    cdef int chosen = 0
    check(gconv_cuda_choose_algorithm(&d, algorithm_id(force), &chosen))
    return gconv_cuda_algorithm_name(chosen).decode()


def conv2d(tuple desc, uintptr_t x, uintptr_t weight, uintptr_t bias, uintptr_t y,
           int64_t batch, int device, uintptr_t stream, force=None):
    """Enqueues y = conv2d(x) on `stream`; returns the algorithm's name."""
    cdef gconv_conv2d_desc d = make_desc(desc)
    cdef int algorithm = algorithm_id(force)
    cdef const char* used = NULL
    cdef gconv_status status
    with nogil:
        status = gconv_cuda_conv2d(&d, <const void*>x, <const void*>weight, <const void*>bias,
                                   <void*>y, batch, device, <void*>stream, algorithm, &used)
    check(status)
    return used.decode()


def global_avg_pool2d(int dtype, int layout, int64_t batch, int64_t channels, int64_t height,
                      int64_t width, uintptr_t x, uintptr_t y, int device, uintptr_t stream):
    cdef gconv_status status
    with nogil:
        status = gconv_cuda_global_avg_pool2d(dtype, layout, batch, channels, height, width,
                                              <const void*>x, <void*>y, device, <void*>stream)
    check(status)


def device_count():
    """CUDA devices this process can use (0 without a driver or a GPU)."""
    return gconv_cuda_device_count()


def runtime_version():
    """The linked CUDA runtime's version as (major, minor)."""
    cdef int v = gconv_cuda_runtime_version()
    return (v // 1000, (v % 1000) // 10)
