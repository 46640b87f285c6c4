/* Internal to gconv's Python layer (not part of the C ABI in gconv.h).
 *
 * The weights of the convolution that computes one phase of a transposed
 * convolution (an input gradient): for the forward weight w (K, Cg, R, S),
 * C-contiguous, with K = groups * Kg,
 *   out[g * Cg + c][k][i][j] = w[g * Kg + k][c][r0 - i * r_step][s0 - j * s_step]
 * for i < rows and j < cols (the phase's taps, in decreasing order), out
 * (groups * Cg, Kg, rows, cols) C-contiguous. NumPy's strided copy of the
 * flipped, transposed view took 15 us for MobileNetV2's 960 x 3 x 3
 * depthwise weights (a tenth of its input gradient) and 2-5% of AlexNet's. */
#pragma once

#include <stdint.h>

#include "gconv/gconv.h"

#ifdef __cplusplus
extern "C" {
#endif

gconv_status gconv_transpose_weights(int32_t dtype, int64_t groups, int64_t K, int64_t Cg,
                                     int64_t R, int64_t S, int64_t r0, int64_t r_step,
                                     int64_t rows, int64_t s0, int64_t s_step, int64_t cols,
                                     const void* w, void* out);

#ifdef __cplusplus
}
#endif
