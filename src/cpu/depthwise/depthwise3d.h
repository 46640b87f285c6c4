/* Internal to gconv's Python layer (not part of the C ABI in gconv.h).
 *
 * Depthwise conv3d, depth multiplier 1: x (batch x channels x d x h x w,
 * or NDHWC), weight (channels x 1 x kernel_d x kernel_h x kernel_w), bias
 * (channels, or null), y (batch x channels x out_d x out_h x out_w, or
 * NDHWC), padding given as the front/top/left amounts (the output sizes fix
 * the rest), activation a gconv_activation. Every output is summed over all
 * its taps at once, where running one depthwise conv2d per depth tap added
 * each tap's result into y in a pass of its own.
 *
 * Returns GCONV_UNSUPPORTED, writing nothing, for what the kernels do not
 * take: NCDHW with a column stride above 1, or more than 64 (depth tap,
 * kernel row) pairs. */
#pragma once

#include <stdint.h>

#include "gconv/gconv.h"

#ifdef __cplusplus
extern "C" {
#endif

gconv_status gconv_depthwise_conv3d(int32_t dtype, int32_t layout, int64_t batch,
                                    int64_t channels, const int64_t in_size[3],
                                    const int64_t out_size[3], const int64_t kernel[3],
                                    const int64_t stride[3], const int64_t pad_before[3],
                                    const int64_t dilation[3], int32_t activation,
                                    const void* x, const void* weight, const void* bias, void* y,
                                    int num_threads);

#ifdef __cplusplus
}
#endif
