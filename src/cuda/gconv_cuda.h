/* gconv's CUDA kernels behind a small internal C ABI (read by the Cython
 * bridge gconv._cuda_core; not installed with the public headers).
 *
 * Pointers are device pointers; `stream` is a cudaStream_t (0 = the legacy
 * default stream) and every kernel is launched on it, asynchronously: a
 * success status means the launches were accepted. Functions never abort;
 * on failure gconv_last_error() holds the message (CUDA runtime failures
 * come back as GCONV_UNSUPPORTED with a message starting "CUDA error").
 */
#ifndef GCONV_CUDA_H
#define GCONV_CUDA_H

#include <stdint.h>

#include "gconv/gconv.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The CUDA algorithms. AUTO picks: global_depthwise (kernel covers the whole
 * padded input, one output pixel), depthwise (groups == channels), then
 * implicit_gemm for wide groups (C/G >= 16 and K/G >= 32), else grouped_narrow
 * (implicit_gemm when a narrow block's weights do not fit in shared memory). */
typedef enum gconv_cuda_algorithm {
    GCONV_CUDA_AUTO = 0,
    GCONV_CUDA_IMPLICIT_GEMM = 1,    /* tiled GEMM per group, im2col done while loading tiles */
    GCONV_CUDA_GROUPED_NARROW = 2,   /* several narrow groups per block, weights in shared memory */
    GCONV_CUDA_DEPTHWISE = 3,        /* NCHW: shared input tiles; NHWC: lanes over channels */
    GCONV_CUDA_GLOBAL_DEPTHWISE = 4, /* a block reduction per output */
    GCONV_CUDA_DIRECT = 5,           /* one thread per output: accepts everything, for tests */
    GCONV_CUDA_ALGORITHM_COUNT = 6
} gconv_cuda_algorithm;

/* y = conv2d(x) for `batch` images (the descriptor's batch is ignored), all
 * C-contiguous in d->layout, weight in PyTorch's (K, C/G, R, S) layout, bias
 * (K,) when d->has_bias. `device` >= 0 makes that device current first.
 * `algorithm` GCONV_CUDA_AUTO or a forced one (GCONV_INVALID_PARAMETER when it
 * cannot compute d); `algorithm_used` (may be NULL) receives its name. */
gconv_status gconv_cuda_conv2d(const gconv_conv2d_desc* d, const void* x, const void* weight,
                               const void* bias, void* y, int64_t batch, int device,
                               void* stream, int algorithm, const char** algorithm_used);

/* The algorithm gconv_cuda_conv2d would run (checking a forced one). */
gconv_status gconv_cuda_choose_algorithm(const gconv_conv2d_desc* d, int algorithm,
                                         int* chosen);
const char* gconv_cuda_algorithm_name(int algorithm);

/* y[n, c] = mean over H*W of x[n, c]; output (N, C) in either layout. */
gconv_status gconv_cuda_global_avg_pool2d(int32_t dtype, int32_t layout, int64_t batch,
                                          int64_t channels, int64_t in_h, int64_t in_w,
                                          const void* x, void* y, int device, void* stream);

/* Number of CUDA devices this process can use; 0 without a driver or GPU. */
int gconv_cuda_device_count(void);
/* The CUDA runtime version this build links, as 1000 * major + 10 * minor. */
int gconv_cuda_runtime_version(void);

#ifdef __cplusplus
}
#endif

#endif /* GCONV_CUDA_H */
