/* Internal to gconv's Python layer (not part of the C ABI in gconv.h).
 *
 * conv3d folds its depth taps into the channels: output depth slice o reads
 * input slices o * stride + tap * dilation - pad_front for tap < taps, and
 * the folded conv2d sees them stacked as channels, each group's taps side
 * by side. This writes that stack for images [0, batch) of x and output
 * slices [first, first + count), zeros where a slice falls in the depth
 * padding. A NumPy assignment per tap did it at about 1 GB/s in NDHWC (a
 * strided copy of Cg values at a time).
 *
 * x: (batch, C, D, H, W) (NCDHW) or (batch, D, H, W, C) (NDHWC), C-contiguous.
 * stacked: (batch, count, G, taps, C/G, H, W) or (batch, count, H, W, G, taps,
 * C/G), C-contiguous; `plane` is H * W. */
#pragma once

#include <stdint.h>

#include "gconv/gconv.h"

#ifdef __cplusplus
extern "C" {
#endif

gconv_status gconv_stack_depth_taps(int32_t dtype, int32_t layout, int64_t batch,
                                    int64_t channels, int64_t groups, int64_t depth,
                                    int64_t plane, int64_t taps, int64_t stride,
                                    int64_t dilation, int64_t pad_front, int64_t first,
                                    int64_t count, const void* x, void* stacked,
                                    int num_threads);

#ifdef __cplusplus
}
#endif
