# cython: language_level=3, boundscheck=False, wraparound=False
"""Cython bridge: array buffers to the C ABI, GIL released while kernels run,
C status codes turned into Python exceptions. No argument parsing here: the
caller (gconv._api) has already checked shapes, dtypes and contiguity."""

from cpython.buffer cimport (PyBUF_C_CONTIGUOUS, PyBUF_WRITABLE, PyBuffer_Release,
                             PyObject_GetBuffer)
from libc.stdint cimport int32_t, int64_t


cdef extern from "gconv/gconv.h":
    ctypedef enum gconv_status:
        GCONV_SUCCESS, GCONV_INVALID_PARAMETER, GCONV_UNSUPPORTED, GCONV_OUT_OF_MEMORY,
        GCONV_INTERNAL_ERROR
    ctypedef enum gconv_algorithm:
        GCONV_ALGO_AUTO, GCONV_ALGO_COUNT
    ctypedef enum gconv_isa:
        GCONV_ISA_SCALAR, GCONV_ISA_AVX2, GCONV_ISA_AVX512

    ctypedef struct gconv_conv2d_desc:
        int64_t batch, in_channels, out_channels, groups, in_h, in_w, kernel_h, kernel_w
        int64_t stride_h, stride_w, pad_top, pad_bottom, pad_left, pad_right
        int64_t dilation_h, dilation_w
        int32_t layout, dtype, activation, has_bias

    ctypedef struct gconv_plan:
        pass

    void gconv_conv2d_desc_init(gconv_conv2d_desc* d)
    gconv_status gconv_plan_create(const gconv_conv2d_desc* d, const void* weight,
                                   const void* bias, gconv_algorithm algorithm,
                                   gconv_plan** plan)
    gconv_status gconv_plan_execute(const gconv_plan* plan, int64_t batch, const void* x,
                                    void* y, int num_threads) nogil
    void gconv_plan_destroy(gconv_plan* plan)
    gconv_algorithm gconv_plan_algorithm(const gconv_plan* plan)
    gconv_isa gconv_plan_isa(const gconv_plan* plan)
    int gconv_algorithm_accepts(gconv_algorithm algorithm, const gconv_conv2d_desc* d)
    gconv_status gconv_choose_algorithm(const gconv_conv2d_desc* d, gconv_algorithm* algorithm)
    const char* gconv_algorithm_name(gconv_algorithm algorithm)
    gconv_status gconv_global_avg_pool2d(int32_t dtype, int32_t layout, int64_t batch,
                                         int64_t channels, int64_t in_h, int64_t in_w,
                                         const void* x, void* y, int num_threads) nogil
    gconv_status gconv_conv2d_weight_grad(const gconv_conv2d_desc* d, const void* x,
                                          const void* dy, void* dw, int num_threads) nogil
    int gconv_get_num_threads()
    gconv_status gconv_set_num_threads(int n)
    int gconv_isa_compiled(gconv_isa isa)
    int gconv_isa_supported(gconv_isa isa)
    gconv_isa gconv_isa_active()
    gconv_status gconv_set_max_isa(gconv_isa isa)
    const char* gconv_isa_name(gconv_isa isa)
    const char* gconv_version()
    int gconv_has_openmp()
    const char* gconv_compiler()
    const char* gconv_build_type()
    const char* gconv_last_error()

cdef extern from "cpu/transposed/interleave_phases.h":
    gconv_status gconv_interleave_phases(int32_t dtype, int32_t layout, int64_t batch,
                                         int64_t channels, int64_t out_h, int64_t out_w,
                                         int64_t stride_h, int64_t stride_w, int64_t phase_h,
                                         int64_t phase_w, const void* phases, void* y,
                                         int num_threads) nogil

cdef extern from "cpu/nd/stack_depth_taps.h":
    gconv_status gconv_stack_depth_taps(int32_t dtype, int32_t layout, int64_t batch,
                                        int64_t channels, int64_t groups, int64_t depth,
                                        int64_t plane, int64_t taps, int64_t stride,
                                        int64_t dilation, int64_t pad_front, int64_t first,
                                        int64_t count, const void* x, void* stacked,
                                        int num_threads) nogil

cdef extern from "cpu/transposed/transpose_weights.h":
    gconv_status gconv_transpose_weights(int32_t dtype, int64_t groups, int64_t K, int64_t Cg,
                                         int64_t R, int64_t S, int64_t r0, int64_t r_step,
                                         int64_t rows, int64_t s0, int64_t s_step, int64_t cols,
                                         const void* w, void* out) nogil

cdef extern from "cpu/transposed/scale_planes.h":
    gconv_status gconv_scale_planes(int32_t dtype, int32_t layout, int64_t batch,
                                    int64_t channels, int64_t pixels, const void* x,
                                    const void* planes, const void* bias, void* y,
                                    int num_threads) nogil

cdef extern from "cpu/transposed/transposed_depthwise.h":
    gconv_status gconv_transposed_depthwise(int32_t dtype, int32_t layout, int64_t batch,
                                            int64_t channels, int64_t multiplier,
                                            int64_t in_h, int64_t in_w,
                                            int64_t out_h, int64_t out_w, int64_t kernel_h,
                                            int64_t kernel_w, int64_t stride_h, int64_t stride_w,
                                            int64_t pad_top, int64_t pad_left,
                                            int64_t dilation_h, int64_t dilation_w,
                                            const void* dy, const void* weight,
                                            const void* bias, void* y, int num_threads) nogil

cdef extern from "cpu/transposed/transposed_grouped.h":
    gconv_status gconv_transposed_grouped(int32_t dtype, int32_t layout, int64_t batch,
                                          int64_t groups, int64_t dy_per_group,
                                          int64_t out_per_group, int64_t in_h, int64_t in_w,
                                          int64_t out_h, int64_t out_w, int64_t kernel_h,
                                          int64_t kernel_w, int64_t stride_h, int64_t stride_w,
                                          int64_t pad_top, int64_t pad_left,
                                          int64_t dilation_h, int64_t dilation_w,
                                          const void* dy, const void* weight, const void* bias,
                                          void* y, int num_threads) nogil

cdef extern from "cpu/depthwise/depthwise3d.h":
    gconv_status gconv_depthwise_conv3d(int32_t dtype, int32_t layout, int64_t batch,
                                        int64_t channels, const int64_t* in_size,
                                        const int64_t* out_size, const int64_t* kernel,
                                        const int64_t* stride, const int64_t* pad_before,
                                        const int64_t* dilation, int32_t activation,
                                        const void* x, const void* weight, const void* bias,
                                        void* y, int num_threads) nogil

cdef extern from "core/diagnostics.h":
    double gconv_measure_fma_peak(int64_t iterations, int num_threads) nogil


ALGORITHMS = tuple(gconv_algorithm_name(<gconv_algorithm>a).decode() for a in range(1, GCONV_ALGO_COUNT))
ISA_NAMES = tuple(gconv_isa_name(<gconv_isa>i).decode() for i in range(GCONV_ISA_SCALAR, GCONV_ISA_AVX512 + 1))


cdef int check(gconv_status status) except -1:
    if status == GCONV_SUCCESS:
        return 0
    message = gconv_last_error().decode("utf-8", "replace")
    if status == GCONV_OUT_OF_MEMORY:
        raise MemoryError(message)
    if status == GCONV_INTERNAL_ERROR:
        raise RuntimeError(message)
    raise ValueError(message)


cdef int acquire_input_output(x, y, Py_buffer* xbuf, Py_buffer* ybuf,
                              bint writable=True) except -1:
    """C-contiguous views of x (read) and y (written, unless `writable` is
    false); release both with release_input_output. On failure nothing stays
    acquired."""
    PyObject_GetBuffer(x, xbuf, PyBUF_C_CONTIGUOUS)
    try:
        PyObject_GetBuffer(y, ybuf, PyBUF_C_CONTIGUOUS | (PyBUF_WRITABLE if writable else 0))
    except BaseException:
        PyBuffer_Release(xbuf)
        raise
    return 0


cdef void release_input_output(Py_buffer* xbuf, Py_buffer* ybuf) noexcept:
    PyBuffer_Release(ybuf)
    PyBuffer_Release(xbuf)


cdef int acquire_with_weights(x, y, w, bias, Py_buffer* bufs) except -1:
    """bufs[0..3]: x (read), y (written), w and bias (read; w again when
    bias is None); release with release_with_weights. On failure nothing
    stays acquired."""
    acquire_input_output(x, y, &bufs[0], &bufs[1])
    try:
        acquire_input_output(w, bias if bias is not None else w, &bufs[2], &bufs[3], False)
    except BaseException:
        release_input_output(&bufs[0], &bufs[1])
        raise
    return 0


cdef void release_with_weights(Py_buffer* bufs) noexcept:
    release_input_output(&bufs[2], &bufs[3])
    release_input_output(&bufs[0], &bufs[1])


cdef bint one_dtype(int dtype, arrays):
    """Whether every array (None skipped) has the dtype the code names."""
    first = arrays[0].dtype
    return all(a.dtype == first and a.itemsize == (8 if dtype == 1 else 4)
               for a in arrays if a is not None)


cdef gconv_conv2d_desc make_desc(tuple f) except *:
    """The descriptor from the tuple gconv._api builds, in field order."""
    cdef gconv_conv2d_desc d
    gconv_conv2d_desc_init(&d)
    (d.batch, d.in_channels, d.out_channels, d.groups, d.in_h, d.in_w, d.kernel_h, d.kernel_w,
     d.stride_h, d.stride_w, d.pad_top, d.pad_bottom, d.pad_left, d.pad_right,
     d.dilation_h, d.dilation_w, d.layout, d.dtype, d.activation, d.has_bias) = f
    return d


cdef gconv_algorithm algorithm_id(name) except *:
    if name is None:
        return GCONV_ALGO_AUTO
    try:
        return <gconv_algorithm><int>(ALGORITHMS.index(name) + 1)
    except ValueError:
        raise ValueError(f"force_algorithm must be None or one of {ALGORITHMS}, got {name!r}") from None


def choose_algorithm(tuple desc, force=None):
    """Name of the algorithm the planner picks (or checks that `force` accepts desc)."""
    cdef gconv_conv2d_desc d = make_desc(desc)
    cdef gconv_algorithm a = algorithm_id(force)
    if a == GCONV_ALGO_AUTO:
        check(gconv_choose_algorithm(&d, &a))
    elif not gconv_algorithm_accepts(a, &d):
        raise ValueError(f"force_algorithm={force!r} does not accept this convolution")
    return gconv_algorithm_name(a).decode()


cdef class Plan:
    """A C plan: validated descriptor, chosen algorithm, packed weight copy."""
    cdef gconv_plan* ptr

    def __cinit__(self, tuple desc, weight, bias, force=None):
        cdef gconv_conv2d_desc d = make_desc(desc)
        cdef gconv_algorithm a = algorithm_id(force)
        cdef Py_buffer wbuf, bbuf
        cdef const void* bias_ptr = NULL
        PyObject_GetBuffer(weight, &wbuf, PyBUF_C_CONTIGUOUS)
        try:
            if bias is not None:
                PyObject_GetBuffer(bias, &bbuf, PyBUF_C_CONTIGUOUS)
                bias_ptr = bbuf.buf
            try:
                check(gconv_plan_create(&d, wbuf.buf, bias_ptr, a, &self.ptr))
            finally:
                if bias is not None:
                    PyBuffer_Release(&bbuf)
        finally:
            PyBuffer_Release(&wbuf)

    def __dealloc__(self):
        gconv_plan_destroy(self.ptr)

    @property
    def algorithm(self):
        return gconv_algorithm_name(gconv_plan_algorithm(self.ptr)).decode()

    @property
    def isa(self):
        return gconv_isa_name(gconv_plan_isa(self.ptr)).decode()

    def execute(self, x, y, int64_t batch, int num_threads=0):
        """y = conv(x); both C-contiguous arrays of the plan's dtype and shapes."""
        cdef Py_buffer xbuf, ybuf
        cdef gconv_status status
        acquire_input_output(x, y, &xbuf, &ybuf)
        with nogil:
            status = gconv_plan_execute(self.ptr, batch, xbuf.buf, ybuf.buf, num_threads)
        release_input_output(&xbuf, &ybuf)
        check(status)
        return y


def global_avg_pool2d(int dtype, int layout, int64_t batch, int64_t channels, int64_t height,
                      int64_t width, x, y, int num_threads=0):
    cdef Py_buffer xbuf, ybuf
    cdef gconv_status status
    acquire_input_output(x, y, &xbuf, &ybuf)
    with nogil:
        status = gconv_global_avg_pool2d(dtype, layout, batch, channels, height, width,
                                         xbuf.buf, ybuf.buf, num_threads)
    release_input_output(&xbuf, &ybuf)
    check(status)
    return y


def conv2d_weight_grad(tuple desc, x, dy, dw, int num_threads=0):
    """dw = the weight gradient of the convolution desc for input x and
    output gradient dy (all C-contiguous, of the descriptor's dtype)."""
    cdef gconv_conv2d_desc d = make_desc(desc)
    cdef Py_buffer xbuf, dybuf, dwbuf
    cdef gconv_status status
    acquire_input_output(x, dw, &xbuf, &dwbuf)
    try:
        PyObject_GetBuffer(dy, &dybuf, PyBUF_C_CONTIGUOUS)
    except BaseException:
        release_input_output(&xbuf, &dwbuf)
        raise
    with nogil:
        status = gconv_conv2d_weight_grad(&d, xbuf.buf, dybuf.buf, dwbuf.buf, num_threads)
    PyBuffer_Release(&dybuf)
    release_input_output(&xbuf, &dwbuf)
    check(status)
    return dw


def interleave_phases(int dtype, int layout, int64_t batch, int64_t channels, int64_t out_h,
                      int64_t out_w, int64_t stride_h, int64_t stride_w, phases, y,
                      int num_threads=0):
    """y = the stride_h x stride_w phase outputs in `phases` (shape
    (stride_h, stride_w, *phase shape)), interleaved."""
    cdef Py_buffer pbuf, ybuf
    cdef gconv_status status
    cdef int64_t phase_h = phases.shape[4] if layout == 0 else phases.shape[3]
    cdef int64_t phase_w = phases.shape[5] if layout == 0 else phases.shape[4]
    acquire_input_output(phases, y, &pbuf, &ybuf)
    with nogil:
        status = gconv_interleave_phases(dtype, layout, batch, channels, out_h, out_w, stride_h,
                                         stride_w, phase_h, phase_w, pbuf.buf, ybuf.buf,
                                         num_threads)
    release_input_output(&pbuf, &ybuf)
    check(status)
    return y


def transpose_weights(int dtype, w, int64_t groups, int64_t r0, int64_t r_step, int64_t rows,
                      int64_t s0, int64_t s_step, int64_t cols, out):
    """out (groups * Cg, Kg, rows, cols) = the weights of the convolution
    that computes one phase of w's transposed convolution: w (K, Cg, R, S)
    at rows r0, r0 - r_step, ... and columns s0, s0 - s_step, ..., each
    group's (Kg, Cg) swapped (see src/cpu/transposed/transpose_weights.h)."""
    cdef Py_buffer wbuf, obuf
    cdef gconv_status status
    if w.ndim != 4 or w.dtype != out.dtype or w.itemsize != (8 if dtype == 1 else 4):
        raise ValueError(f"transpose_weights: w ({w.dtype}, {w.ndim}-D) and out ({out.dtype}) "
                         f"must be 4-D arrays of the dtype code's type ({dtype})")
    cdef int64_t K = w.shape[0], Cg = w.shape[1], R = w.shape[2], S = w.shape[3]
    if out.shape != (groups * Cg, K // groups, rows, cols):
        raise ValueError(f"transpose_weights: out has shape {out.shape}, expected "
                         f"{(groups * Cg, K // groups, rows, cols)}")
    acquire_input_output(w, out, &wbuf, &obuf)
    with nogil:
        status = gconv_transpose_weights(dtype, groups, K, Cg, R, S, r0, r_step, rows, s0,
                                         s_step, cols, wbuf.buf, obuf.buf)
    release_input_output(&wbuf, &obuf)
    check(status)
    return out


def stack_depth_taps(int dtype, int layout, x, int64_t groups, int64_t taps, int64_t stride,
                     int64_t dilation, int64_t pad_front, int64_t first, stacked,
                     int num_threads=0):
    """stacked = the depth taps of x (batch, C, D, H, W) or (batch, D, H, W, C)
    that output slices [first, first + stacked.shape[1]) read, each group's
    taps side by side as channels (see src/cpu/nd/stack_depth_taps.h)."""
    cdef Py_buffer xbuf, sbuf
    cdef gconv_status status
    cdef int64_t batch = x.shape[0]
    cdef int64_t channels = x.shape[1] if layout == 0 else x.shape[4]
    cdef int64_t depth = x.shape[2] if layout == 0 else x.shape[1]
    cdef int64_t plane = x.shape[3] * x.shape[4] if layout == 0 else x.shape[2] * x.shape[3]
    cdef int64_t count = stacked.shape[1]
    acquire_input_output(x, stacked, &xbuf, &sbuf)
    with nogil:
        status = gconv_stack_depth_taps(dtype, layout, batch, channels, groups, depth, plane,
                                        taps, stride, dilation, pad_front, first, count,
                                        xbuf.buf, sbuf.buf, num_threads)
    release_input_output(&xbuf, &sbuf)
    check(status)
    return stacked


def scale_planes(int dtype, int layout, x, planes, bias, y, int num_threads=0):
    """y = each element of x (batch, channels) times its channel's plane of
    `planes` (channels, pixels), plus bias, in `layout`: the transposed
    depthwise convolution of a 1 x 1 image. All C-contiguous, of the dtype
    `dtype` names."""
    cdef Py_buffer bufs[4]
    cdef gconv_status status
    cdef const void* bias_ptr
    cdef int64_t batch = x.shape[0], channels = x.shape[1], pixels = planes.size // channels
    if not one_dtype(dtype, (x, planes, y, bias)) or planes.size != channels * pixels or \
            y.size != batch * channels * pixels or (bias is not None and bias.size != channels):
        raise ValueError("scale_planes: inconsistent sizes or dtypes")
    acquire_with_weights(x, y, planes, bias, bufs)
    bias_ptr = bufs[3].buf if bias is not None else NULL
    with nogil:
        status = gconv_scale_planes(dtype, layout, batch, channels, pixels, bufs[0].buf,
                                    bufs[2].buf, bias_ptr, bufs[1].buf, num_threads)
    release_with_weights(bufs)
    check(status)
    return y


def transposed_depthwise(int dtype, int layout, dy, weight, bias, y, stride, pad_before,
                         dilation, int num_threads=0):
    """y = the transposed depthwise convolution of dy with weight (C * M, 1,
    R, S), plus bias: output channel c sums dy channels c * M .. c * M + M - 1
    (M, the depth multiplier: 1, or 2 in NHWC); dy and y batched, in
    `layout`. All C-contiguous, of the dtype `dtype` names. Returns False,
    leaving y unwritten, where the kernels decline (the phase split is the
    better route), True when y is written."""
    cdef Py_buffer bufs[4]
    cdef gconv_status status
    cdef const void* bias_ptr
    cdef int64_t batch = dy.shape[0], dy_channels = weight.shape[0]
    cdef int64_t kernel_h = weight.shape[2], kernel_w = weight.shape[3]
    cdef int64_t in_h, in_w, out_h, out_w, channels, multiplier
    cdef int64_t sh = stride[0], sw = stride[1], pt = pad_before[0], pl = pad_before[1]
    cdef int64_t dh = dilation[0], dw = dilation[1]
    if layout == 0:
        in_h, in_w, out_h, out_w = dy.shape[2], dy.shape[3], y.shape[2], y.shape[3]
        channels = y.shape[1]
        shapes_agree = dy.shape[1] == dy_channels
    else:
        in_h, in_w, out_h, out_w = dy.shape[1], dy.shape[2], y.shape[1], y.shape[2]
        channels = y.shape[3]
        shapes_agree = dy.shape[3] == dy_channels
    multiplier = dy_channels // channels if channels > 0 else 0
    if not one_dtype(dtype, (dy, weight, y, bias)) or not shapes_agree or \
            channels < 1 or multiplier * channels != dy_channels or \
            y.shape[0] != batch or weight.shape[1] != 1 or (
            bias is not None and bias.size != channels):
        raise ValueError("transposed_depthwise: inconsistent shapes or dtypes")
    acquire_with_weights(dy, y, weight, bias, bufs)
    bias_ptr = bufs[3].buf if bias is not None else NULL
    with nogil:
        status = gconv_transposed_depthwise(dtype, layout, batch, channels, multiplier, in_h,
                                            in_w, out_h, out_w, kernel_h, kernel_w, sh, sw, pt,
                                            pl, dh, dw, bufs[0].buf, bufs[2].buf, bias_ptr,
                                            bufs[1].buf, num_threads)
    release_with_weights(bufs)
    if status == GCONV_UNSUPPORTED:
        return False
    check(status)
    return True


def transposed_grouped(int dtype, int layout, dy, weight, int64_t groups, bias, y, stride,
                       pad_before, dilation, int num_threads=0):
    """y = the strided transposed grouped convolution of dy with weight
    (groups * Kg, Cg, R, S), plus bias; dy and y batched, in `layout`. All
    C-contiguous, of the dtype `dtype` names. Returns False, leaving y
    unwritten, where the kernels decline (the phase split is the better
    route, or the family cannot take the layout), True when y is written."""
    cdef Py_buffer bufs[4]
    cdef gconv_status status
    cdef const void* bias_ptr
    cdef int64_t batch = dy.shape[0], out_per_group = weight.shape[1]
    cdef int64_t dy_per_group = weight.shape[0] // groups
    cdef int64_t kernel_h = weight.shape[2], kernel_w = weight.shape[3]
    cdef int64_t in_h, in_w, out_h, out_w
    cdef int64_t sh = stride[0], sw = stride[1], pt = pad_before[0], pl = pad_before[1]
    cdef int64_t dh = dilation[0], dw = dilation[1]
    cdef int channel_axis = 1 if layout == 0 else 3
    if layout == 0:
        in_h, in_w, out_h, out_w = dy.shape[2], dy.shape[3], y.shape[2], y.shape[3]
    else:
        in_h, in_w, out_h, out_w = dy.shape[1], dy.shape[2], y.shape[1], y.shape[2]
    if not one_dtype(dtype, (dy, weight, y, bias)) or groups < 1 or \
            weight.shape[0] != groups * dy_per_group or \
            dy.shape[channel_axis] != weight.shape[0] or \
            y.shape[channel_axis] != groups * out_per_group or y.shape[0] != batch or (
            bias is not None and bias.size != groups * out_per_group):
        raise ValueError("transposed_grouped: inconsistent shapes or dtypes")
    acquire_with_weights(dy, y, weight, bias, bufs)
    bias_ptr = bufs[3].buf if bias is not None else NULL
    with nogil:
        status = gconv_transposed_grouped(dtype, layout, batch, groups, dy_per_group,
                                          out_per_group, in_h, in_w, out_h, out_w, kernel_h,
                                          kernel_w, sh, sw, pt, pl, dh, dw, bufs[0].buf,
                                          bufs[2].buf, bias_ptr, bufs[1].buf, num_threads)
    release_with_weights(bufs)
    if status == GCONV_UNSUPPORTED:
        return False
    check(status)
    return True


def depthwise_conv3d(int dtype, int layout, x, weight, bias, y, stride, pad_before, dilation,
                     int activation, int num_threads=0):
    """y = activation(depthwise conv3d of x with weight (C, 1, kD, kH, kW),
    plus bias); x and y batched, NCDHW (layout 0) or NDHWC (1). All
    C-contiguous, of the dtype `dtype` names. Returns False, leaving y
    unwritten, where the kernels decline (see depthwise3d.h), True when y
    is written."""
    cdef Py_buffer bufs[4]
    cdef gconv_status status
    cdef const void* bias_ptr
    cdef int64_t batch = x.shape[0], channels = weight.shape[0]
    cdef int64_t in_size[3]
    cdef int64_t out_size[3]
    cdef int64_t kernel[3]
    cdef int64_t st[3]
    cdef int64_t pads[3]
    cdef int64_t dil[3]
    cdef int channel_axis = 1 if layout == 0 else 4
    cdef int first = 2 if layout == 0 else 1
    if not one_dtype(dtype, (x, weight, y, bias)) or x.ndim != 5 or y.ndim != 5 or \
            weight.ndim != 5 or weight.shape[1] != 1 or y.shape[0] != batch or \
            x.shape[channel_axis] != channels or y.shape[channel_axis] != channels or (
            bias is not None and bias.size != channels):
        raise ValueError("depthwise_conv3d: inconsistent shapes or dtypes")
    for d in range(3):
        in_size[d] = x.shape[first + d]
        out_size[d] = y.shape[first + d]
        kernel[d] = weight.shape[2 + d]
        st[d] = stride[d]
        pads[d] = pad_before[d]
        dil[d] = dilation[d]
    acquire_with_weights(x, y, weight, bias, bufs)
    bias_ptr = bufs[3].buf if bias is not None else NULL
    with nogil:
        status = gconv_depthwise_conv3d(dtype, layout, batch, channels, in_size, out_size, kernel,
                                        st, pads, dil, activation, bufs[0].buf, bufs[2].buf,
                                        bias_ptr, bufs[1].buf, num_threads)
    release_with_weights(bufs)
    if status == GCONV_UNSUPPORTED:
        return False
    check(status)
    return True


def get_num_threads():
    return gconv_get_num_threads()


def set_num_threads(int n):
    check(gconv_set_num_threads(n))


def set_max_isa(name):
    """Caps the ISA family for plans created afterwards; returns the previous active one."""
    if name not in ISA_NAMES:
        raise ValueError(f"isa must be one of {ISA_NAMES}, got {name!r}")
    previous = gconv_isa_name(gconv_isa_active()).decode()
    check(gconv_set_max_isa(<gconv_isa><int>ISA_NAMES.index(name)))
    return previous


def build_info():
    return {
        "version": gconv_version().decode(),
        "openmp": bool(gconv_has_openmp()),
        "isa_compiled": [n for i, n in enumerate(ISA_NAMES) if gconv_isa_compiled(<gconv_isa>i)],
        "isa_supported": [n for i, n in enumerate(ISA_NAMES)
                          if gconv_isa_compiled(<gconv_isa>i) and gconv_isa_supported(<gconv_isa>i)],
        "isa_active": gconv_isa_name(gconv_isa_active()).decode(),
        "cuda": False,
        "compiler": gconv_compiler().decode(),
        "build_type": gconv_build_type().decode(),
        "num_threads": gconv_get_num_threads(),
    }


def measure_fma_peak(int64_t iterations, int num_threads=0):
    """float32 GFLOP/s of independent FMAs on `num_threads` threads (benchmarks)."""
    cdef double gflops
    with nogil:
        gflops = gconv_measure_fma_peak(iterations, num_threads)
    return gflops
