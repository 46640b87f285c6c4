// Size of the zero-padded, phase-split input rows the NCHW direct kernels
// read (see direct_nchw.inl). `static` so each translation unit, whatever
// its ISA flags, has its own copy.
#pragma once

#include <cstdint>

#include "core/geometry.hpp"

namespace gconv {

// Widest output block a kernel computes at once: four vectors of 16 floats.
constexpr int64_t kDirectMaxBlock = 64;
// Output rows a kernel may compute past the end of its item (discarded).
constexpr int64_t kDirectExtraRows = 3;

// Elements per phase row: every output column block, plus the largest tap
// offset, rounded so whole-vector loads of the last block stay inside.
static inline int64_t padded_phase_width(const ConvGeometry& g) {
    return (g.OW + kDirectMaxBlock - 1) / kDirectMaxBlock * kDirectMaxBlock +
           (g.S - 1) * g.dw / g.sw + 1;
}

// Input rows needed for `out_rows` consecutive output rows.
static inline int64_t padded_rows(const ConvGeometry& g, int64_t out_rows) {
    return (out_rows - 1) * g.sh + (g.R - 1) * g.dh + 1;
}

// Input channels one kernel call may copy into scratch (the plan sizes the
// scratch for fewer when it can): all of them for NHWC, one group for NCHW.
static inline int64_t direct_scratch_channels(const ConvGeometry& g) {
    return g.layout == GCONV_LAYOUT_NHWC ? g.C : g.Cg;
}

// The small-plane depthwise path (dwconv2d.inl): channels per block (the
// widest vector), and the padded input region and output of one block.
constexpr int64_t kSmallPlaneChannels = 16;
static inline int64_t small_plane_height(const ConvGeometry& g) {
    return (g.OH - 1) * g.sh + (g.R - 1) * g.dh + 1;
}
static inline int64_t small_plane_width(const ConvGeometry& g) {
    return (g.OW - 1) * g.sw + (g.S - 1) * g.dw + 1;
}
static inline int64_t small_plane_scratch(const ConvGeometry& g) {
    return (small_plane_height(g) * small_plane_width(g) + g.OH * g.OW) * kSmallPlaneChannels;
}

}  // namespace gconv
