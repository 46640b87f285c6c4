/* Internal to gconv's Python layer (not part of the C ABI in gconv.h).
 *
 * A strided (transposed) convolution's output splits into stride_h x
 * stride_w phases, each an ordinary convolution's output; this writes them
 * back interleaved in one pass over the result, which a strided NumPy
 * assignment per phase does at a fraction of memory bandwidth (it rewrites
 * every cache line of the result once per phase).
 *
 * phases: [stride_h][stride_w] arrays of (batch, channels, phase_h, phase_w)
 * (NCHW) or (batch, phase_h, phase_w, channels) (NHWC), C-contiguous, back to
 * back; y: (batch, channels, out_h, out_w) or its NHWC form, with
 * out_h <= phase_h * stride_h and out_w <= phase_w * stride_w. */
#pragma once

#include <stdint.h>

#include "gconv/gconv.h"

#ifdef __cplusplus
extern "C" {
#endif

gconv_status gconv_interleave_phases(int32_t dtype, int32_t layout, int64_t batch,
                                     int64_t channels, int64_t out_h, int64_t out_w,
                                     int64_t stride_h, int64_t stride_w, int64_t phase_h,
                                     int64_t phase_w, const void* phases, void* y,
                                     int num_threads);

#ifdef __cplusplus
}
#endif
