/* Internal to gconv's Python layer (not part of the C ABI in gconv.h).
 *
 * The transposed depthwise convolution of a 1 x 1 image (GDC's input
 * gradient): each output element gets exactly one product,
 *   NCHW: y[n, c, p] = x[n, c] * planes[c, p] (+ bias[c])
 *   NHWC: y[n, p, c] = x[n, c] * planes[c, p] (+ bias[c])
 * for p < pixels; `planes` (channels x pixels) is the window of weights
 * each pixel meets. bias may be null. A plane of products per input
 * element: NumPy's broadcast multiply ran one short inner loop per plane on
 * one thread (2.5-4x the forward GDC's time). */
#pragma once

#include <stdint.h>

#include "gconv/gconv.h"

#ifdef __cplusplus
extern "C" {
#endif

gconv_status gconv_scale_planes(int32_t dtype, int32_t layout, int64_t batch, int64_t channels,
                                int64_t pixels, const void* x, const void* planes,
                                const void* bias, void* y, int num_threads);

#ifdef __cplusplus
}
#endif
