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

// The channel-lane grouped kernel (grouped_channel_lanes.inl) computes blocks
// of output pixels x one or two vectors of a group's output channels, with
// one accumulator per pixel and vector: 6 pixels of two vectors (16 vector
// registers less the weights and a broadcast), 8 of one (with 10-12, GCC
// spilled accumulators inside the FMA loop: ResNeXt s3 at N=1 ran 1.35x
// slower). Rows are cut into equal blocks, so a 7- or 14-wide map wastes no
// lanes; a block has at least kChannelLanesMinPixels.
constexpr int64_t kChannelLanesMinPixels = 3;
static inline int64_t channel_lanes_vectors(const ConvGeometry& g, int64_t lanes) {
    return g.Kg % (2 * lanes) == 0 ? 2 : 1;
}
static inline int64_t channel_lanes_pixels(const ConvGeometry& g, int64_t lanes) {
    const int64_t most = channel_lanes_vectors(g, lanes) == 2 ? 6 : 8;
    if (g.OW <= most) return g.OW < kChannelLanesMinPixels ? kChannelLanesMinPixels : g.OW;
    const int64_t blocks = (g.OW + most - 1) / most;
    const int64_t pixels = (g.OW + blocks - 1) / blocks;
    return pixels < kChannelLanesMinPixels ? kChannelLanesMinPixels : pixels;
}
// Phase-row width it reads: whole blocks plus the largest tap offset.
static inline int64_t channel_lanes_phase_width(const ConvGeometry& g, int64_t lanes) {
    const int64_t block = channel_lanes_pixels(g, lanes);
    return (g.OW + block - 1) / block * block + (g.S - 1) * g.dw / g.sw + 1;
}

// In NHWC the channel-lane kernel keeps each group's rows pixel-major
// ([row][column][Cg]), so the copy moves each pixel's run of Cg channels
// instead of transposing it (the transpose was 14% of ResNeXt s3's time at
// stride 1, 37% at stride 2). Not when the stride is wider than the kernel:
// most columns would never be read, and the phase rows skip them.
static inline bool channel_lanes_pixel_major(const ConvGeometry& g) {
    return g.layout == GCONV_LAYOUT_NHWC && g.sw <= g.S;
}
// Columns of a pixel-major row: every column the whole output blocks read.
// Never more than phase_rows * channel_lanes_phase_width, the row the plan
// sizes the scratch for.
static inline int64_t channel_lanes_columns(const ConvGeometry& g, int64_t lanes) {
    const int64_t block = channel_lanes_pixels(g, lanes);
    return ((g.OW + block - 1) / block * block - 1) * g.sw + (g.S - 1) * g.dw + 1;
}

// Phase rows kept per input row. Normally one per column phase: tap s reads
// phase (s * dw) % sw at column ow + (s * dw) / sw. When the stride is wider
// than the kernel, most phases are never read: then one row per tap, holding
// the columns ow * sw + s * dw, so a huge stride costs nothing.
static inline bool phase_per_tap(const ConvGeometry& g) { return g.sw > g.S; }
static inline int64_t phase_rows(const ConvGeometry& g) { return phase_per_tap(g) ? g.S : g.sw; }
// Input column offset (before the padding) of phase row j's column 0.
static inline int64_t phase_offset(const ConvGeometry& g, int64_t j) {
    return phase_per_tap(g) ? j * g.dw : j;
}
// Where tap s reads, relative to output column ow of phase row 0.
static inline int64_t tap_column(const ConvGeometry& g, int64_t s, int64_t phase_width) {
    if (phase_per_tap(g)) return s * phase_width;
    return (s * g.dw) % g.sw * phase_width + (s * g.dw) / g.sw;
}

// How the rows of input for `out_rows` consecutive output rows are kept:
// contiguous (every input row from the first to the last read, shared by
// neighbouring output rows) or gathered (R rows per output row) when a
// stride or dilation larger than the kernel would make the contiguous range
// mostly rows nobody reads.
static inline bool gathered_rows(const ConvGeometry& g, int64_t out_rows) {
    return out_rows * g.R < (out_rows - 1) * g.sh + (g.R - 1) * g.dh + 1;
}

// Input rows kept for `out_rows` consecutive output rows.
static inline int64_t padded_rows(const ConvGeometry& g, int64_t out_rows) {
    return gathered_rows(g, out_rows) ? out_rows * g.R
                                      : (out_rows - 1) * g.sh + (g.R - 1) * g.dh + 1;
}

// Input row held by kept row `i` of a block starting at output row oh_begin.
static inline int64_t kept_row_input(const ConvGeometry& g, int64_t oh_begin, bool gathered,
                                     int64_t i) {
    return gathered ? (oh_begin + i / g.R) * g.sh - g.pt + i % g.R * g.dh
                    : oh_begin * g.sh - g.pt + i;
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
// The padded tile, then the output block.
static inline int64_t small_plane_scratch(const ConvGeometry& g) {
    const int64_t staged = g.OH * g.OW;
    return (small_plane_height(g) * small_plane_width(g) + staged) * kSmallPlaneChannels;
}

}  // namespace gconv
