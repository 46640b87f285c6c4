// The validated convolution, as every kernel and driver sees it.
//
// Built once from a gconv_conv2d_desc by validate_conv2d(); all sizes are
// int64 and every product that indexes memory has been checked for overflow.
#pragma once

#include <cstdint>

#include "gconv/gconv.h"

namespace gconv {

struct ConvGeometry {
    int64_t C, K, G;        // channels in/out, groups
    int64_t Cg, Kg;         // per group
    int64_t H, W;           // input spatial size
    int64_t R, S;           // kernel
    int64_t sh, sw;         // stride
    int64_t pt, pb, pl, pr; // padding top/bottom/left/right
    int64_t dh, dw;         // dilation
    int64_t OH, OW;         // output spatial size
    int act;                // gconv_activation
    bool has_bias;
    gconv_layout layout;
    gconv_dtype dtype;

    int64_t in_image() const { return C * H * W; }
    int64_t out_image() const { return K * OH * OW; }
    int64_t out_pixels() const { return OH * OW; }
    int64_t reduction() const { return Cg * R * S; }  // GEMM's inner dimension
    int64_t multiplier() const { return Kg; }         // depthwise only (Cg == 1)
};

}  // namespace gconv
