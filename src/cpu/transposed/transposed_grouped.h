/* Internal to gconv's Python layer (not part of the C ABI in gconv.h).
 *
 * The strided transposed grouped convolution of dy (batch x groups *
 * dy_per_group x in_h x in_w, or its NHWC form) with weight (groups *
 * dy_per_group x out_per_group x kernel_h x kernel_w), written into y
 * (batch x groups * out_per_group x out_h x out_w, or NHWC): output channel
 * c of group g at (i, j) gets weight[g * dy_per_group + k][c][r][s] *
 * dy[g * dy_per_group + k][oi][oj] for each of the group's dy channels k
 * wherever i + pad_top - r * dilation_h == oi * stride_h and
 * j + pad_left - s * dilation_w == oj * stride_w, plus bias[c] (bias may
 * be null). The input gradient of a strided narrow-group convolution in
 * one pass, where the phase split ran stride_h * stride_w convolutions and
 * an interleave.
 *
 * Returns GCONV_UNSUPPORTED, writing nothing, where the phase split is the
 * better route (wide groups, whose phase convolutions run as GEMMs) or the
 * kernel family cannot take the layout (NHWC needs out_per_group to be a
 * multiple of the family's vector lanes). */
#pragma once

#include <stdint.h>

#include "gconv/gconv.h"

#ifdef __cplusplus
extern "C" {
#endif

gconv_status gconv_transposed_grouped(int32_t dtype, int32_t layout, int64_t batch, int64_t groups,
                                      int64_t dy_per_group, int64_t out_per_group, int64_t in_h,
                                      int64_t in_w, int64_t out_h, int64_t out_w,
                                      int64_t kernel_h, int64_t kernel_w, int64_t stride_h,
                                      int64_t stride_w, int64_t pad_top, int64_t pad_left,
                                      int64_t dilation_h, int64_t dilation_w, const void* dy,
                                      const void* weight, const void* bias, void* y,
                                      int num_threads);

#ifdef __cplusplus
}
#endif
