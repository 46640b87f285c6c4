// Packing into the micro-kernel's panel formats (BLIS style), ISA-neutral.
//
// A (weights of one group, M = K/G rows, kd = C/G * R * S columns) is packed
// once per plan: panel i holds rows [i*MR, i*MR + MR) as kd steps of MR
// values, zero rows past M. For NCHW, B (im2col of the input, kd x pixels)
// is packed per work item, one KC x NC block at a time, as NR-column panels
// of kc steps of NR values; columns past the tile are zero. NHWC never packs
// B (the indirect micro-kernel reads it in place). The order of the
// reduction index is a packing choice as long as A and B agree: (c, r, s)
// for NCHW so that B rows are input rows, (r, s, c) for NHWC so that a
// column's steps under one tap are a pixel's contiguous channels.
#pragma once

#include <cstdint>

#include "core/geometry.hpp"

namespace gconv {

enum class ReductionOrder { kChannelMajor, kTapMajor };  // (c, r, s) or (r, s, c)

// Elements of one group's packed A.
inline int64_t packed_a_group_size(const ConvGeometry& g, int mr) {
    return (g.Kg + mr - 1) / mr * mr * g.reduction();
}

template <typename T>
void pack_a_weights(const ConvGeometry& g, ReductionOrder order, int mr, const T* weight,
                    T* packed);

// NCHW B block for pixels [j0, j0 + nc) and reduction steps [p0, p0 + kc)
// of group `group` of one image `x` (the whole image).
template <typename T>
void pack_b_im2col(const ConvGeometry& g, const T* x, int64_t group, int64_t p0, int64_t kc,
                   int64_t j0, int64_t nc, int nr, T* dst);

// The same for a 1x1, stride 1, unpadded convolution, where B's rows are
// the input's rows of pixels.
template <typename T>
void pack_b_direct(const ConvGeometry& g, const T* x, int64_t group, int64_t p0, int64_t kc,
                   int64_t j0, int64_t nc, int nr, T* dst);

}  // namespace gconv
