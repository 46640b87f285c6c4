/* Internal to gconv's Python layer (not part of the C ABI in gconv.h).
 *
 * The transposed depthwise convolution of dy (batch x channels * multiplier
 * x in_h x in_w, or its NHWC form) with weight (channels * multiplier x 1 x
 * kernel_h x kernel_w), written into y (batch x channels x out_h x out_w,
 * or NHWC): output (i, j) of channel c gets weight[k][r][s] * dy[k][oi][oj]
 * for k = c * multiplier + m, m < multiplier, wherever
 * i + pad_top - r * dilation_h == oi * stride_h and
 * j + pad_left - s * dilation_w == oj * stride_w, plus bias[c] (bias may be
 * null). The input gradient of a strided depthwise convolution in one pass,
 * where the phase split ran stride_h * stride_w convolutions and an
 * interleave; and in NHWC of a depth-multiplier-2 convolution at any
 * stride, where a grouped convolution (2 channels into 1 per group) ran.
 * multiplier: 1, or 2 in NHWC (GCONV_INVALID_PARAMETER otherwise).
 *
 * Returns GCONV_UNSUPPORTED, writing nothing, where the phase split is the
 * better route (NCHW: see nchw_one_pass_pays in transposed_depthwise.cpp). */
#pragma once

#include <stdint.h>

#include "gconv/gconv.h"

#ifdef __cplusplus
extern "C" {
#endif

gconv_status gconv_transposed_depthwise(int32_t dtype, int32_t layout, int64_t batch,
                                        int64_t channels, int64_t multiplier, int64_t in_h,
                                        int64_t in_w,
                                        int64_t out_h, int64_t out_w, int64_t kernel_h,
                                        int64_t kernel_w, int64_t stride_h, int64_t stride_w,
                                        int64_t pad_top, int64_t pad_left, int64_t dilation_h,
                                        int64_t dilation_w, const void* dy, const void* weight,
                                        const void* bias, void* y, int num_threads);

#ifdef __cplusplus
}
#endif
