// The catalogue of kernels one instruction-set family provides.
//
// Each family (scalar, avx2, avx512) compiles its kernels in its own
// translation units with its own flags and its own namespace, and fills one
// KernelTable. Drivers (src/cpu/*/ *.cpp, compiled for the baseline) reach
// kernels only through a table chosen at plan time, so an AVX-512 instruction
// can only execute on a CPU that dispatch found able to run it.
#pragma once

#include <cstdint>

#include "core/geometry.hpp"

namespace gconv {

// One MR x NR tile of C = A * B (+ C when accumulating) and where it goes:
// C(i, j) lives at c[i * rs + j * cs]; only the first m rows and n columns
// are stored. On the last reduction block, bias (per row, may be null) and
// the activation are applied.
template <typename T>
struct GemmTile {
    T* c;
    int64_t rs, cs;
    int m, n;
    bool accumulate;
    bool last;
    const T* bias;
    int act;
};

// kc >= 1 steps of the rank-1 update on packed panels: a is kc x MR (column
// i of step p at a[p * MR + i]), b is kc x NR (b[p * NR + j]).
template <typename T>
using GemmUkernelFn = void (*)(int64_t kc, const T* a, const T* b, const GemmTile<T>& tile);

// The same with B read in place through a table of pointers rather than
// packed: `taps` >= 1 runs of `channels` >= 1 steps, column j's run t starting at
// rows[t * NR + j] + c0. For NHWC convolutions, where a pixel's channels
// under one kernel tap are contiguous in the input: the table points at them
// (or at a row of zeros where the tap falls in the padding), and the kernel
// reads them where they lie instead of copying them into a panel (the
// indirect convolution of Dukhan, 2019).
template <typename T>
using GemmUkernelIndirectFn = void (*)(int64_t taps, int64_t c0, int64_t channels, const T* a,
                                       const T* const* rows, const GemmTile<T>& tile);

// GemmUkernelFn with B read where it lies: step p's NR values at
// b + p * ldb (NCHW 1x1: an input plane's row of pixels, ldb the plane).
template <typename T>
using GemmUkernelStridedFn = void (*)(int64_t kc, const T* a, const T* b, int64_t ldb,
                                      const GemmTile<T>& tile);

template <typename T>
struct GemmUkernel {
    GemmUkernelFn<T> fn;
    int mr, nr;
    GemmUkernelIndirectFn<T> fn_indirect = nullptr;  // gemm_cols only
    // fn_indirect for a last row panel of at most mr / 2 rows (null: none),
    // reading the same mr-row packed panel: M = 80 computed 96 rows.
    GemmUkernelIndirectFn<T> fn_indirect_half = nullptr;
    // fn_indirect for a last micro-panel of at most `narrow_nr` columns
    // (null: none), reading the same nr-column table: a 13x13 map's 169
    // pixels took 15 panels of 12, the last for one pixel.
    GemmUkernelIndirectFn<T> fn_indirect_narrow = nullptr;
    int narrow_nr = 0;
    GemmUkernelStridedFn<T> fn_strided = nullptr;  // gemm_rows only
};

// Rows [oh_begin, oh_end) of all output channels of `groups` consecutive
// groups. `x` points at the first group's first input channel of the image
// and `y` at its first output channel's (elements laid out as g.layout says),
// `w` at its first channel's Cg x R x S weights (the others follow), `bias`
// at its bias or null. `scratch` holds those groups' padded input rows
// (sized by the plan, see size_direct_nchw_scratch). `fetch_ahead` as for
// PixelKernelFn.
template <typename T>
using PlaneKernelFn = void (*)(const ConvGeometry& g, const T* x, const T* w, const T* bias,
                               T* y, int64_t oh_begin, int64_t oh_end, int64_t groups,
                               T* scratch, bool fetch_ahead);

// How the NHWC pixel kernels request the lines the next item reads.
struct FetchAhead {
    bool on = false;       // the batch's data do not stay in the caches (fetches_ahead)
    bool into_l2 = false;  // nor in the last level: input lines requested into L2 only
    explicit operator bool() const { return on; }
};

// Output pixels [ow_begin, ow_end) of row `oh` for all K channels (NHWC).
// `x` is the whole input image, `w` the packed weights, `y` the output image.
// `fetch_ahead`: request the lines the next item reads, because the batch's
// data do not stay in the caches (see fetches_ahead and FetchAhead). `stream_output`: the
// result is too large to stay cached, y is line-aligned and each pixel's
// K values fill whole lines; the kernels may store whole vectors
// non-temporally (Vec::stream), and end each call with a store fence.
template <typename T>
using PixelKernelFn = void (*)(const ConvGeometry& g, const T* x, const T* w, const T* bias,
                               T* y, int64_t oh, int64_t ow_begin, int64_t ow_end,
                               FetchAhead fetch_ahead, bool stream_output);

// Depthwise NCHW on small planes (multiplier 1): channels [c_begin, c_end)
// of one image (`x`, `y` at the image), through a channels-innermost copy of
// the padded planes in `scratch` (small_plane_scratch(g) elements);
// `fetch_ahead` as for PixelKernelFn.
template <typename T>
using SmallPlaneFn = void (*)(const ConvGeometry& g, const T* x, const T* w, const T* bias,
                              T* y, int64_t c_begin, int64_t c_end, T* scratch,
                              bool fetch_ahead);

// NCHW kernels that read x in place through masked loads (null in families
// without them), undilated: output channels [k_begin, k_end) of
// one image (`x`, `y` at the image); `w` holds PyTorch's (K, Cg, R, S)
// weights.
//  - depthwise, any multiplier (output channel k reads plane k / Kg),
//    R == S in {3, 5, 7}, stride 1, on planes
//    whose output and input rows fit one vector and with at most
//    kPackedRowsMostRows output rows (src/cpu/depthwise/dwconv2d_packed_rows.inl);
//  - the same for output rows of up to kWideRowsMostVectors vectors and
//    input rows of up to kWideRowsMostColumns, any number of rows, also at
//    stride 2 (src/cpu/depthwise/dwconv2d_wide_rows.inl);
//  - grouped, 3x3, stride 1, rows of up to kGroupedRowsMostVectors vectors,
//    `w` packed in blocks of kGroupedRowsChannels output channels
//    (src/cpu/grouped_direct/grouped_rows_nchw.inl);
//  - grouped on the wide-rows kernel's planes, output channel k summing the
//    Cg planes of its group (src/cpu/depthwise/dwconv2d_wide_rows.inl).
// `flags`: kRowsStream (streams_nchw_planes): y is line-aligned, each
// output plane whole lines, and the batch's result too large to stay in
// the caches; a kernel may store whole lines non-temporally (the wide-rows
// kernel does: rows of whole lines, or runs of rows that are).
// kRowsFetch (fetches_ahead): the batch's data come from beyond the
// caches; a kernel may request the lines it reads and writes next (the
// depthwise wide-rows kernels do, and packed rows at 5x5 and 7x7).
constexpr int64_t kPackedRowsMostRows = 32;
constexpr int kGroupedRowsChannels = 4;
constexpr int kGroupedRowsMostVectors = 4;
constexpr int64_t kWideRowsMostVectors = 16;
constexpr int64_t kWideRowsMostColumns = kWideRowsMostVectors * 16;  // for every family
constexpr unsigned kRowsStream = 1, kRowsFetch = 2;
template <typename T>
using InPlaceRowsFn = void (*)(const ConvGeometry& g, const T* x, const T* w, const T* bias,
                               T* y, int64_t k_begin, int64_t k_end, unsigned flags);

// Global depthwise conv, NCHW: output channels [k_begin, k_end) of `images`
// (1 to 8) consecutive images.
template <typename T>
using GlobalNchwFn = void (*)(const ConvGeometry& g, const T* x, const T* w, const T* bias,
                              T* y, int64_t k_begin, int64_t k_end, int64_t images);

// Global depthwise conv, NHWC: all K outputs of `images` consecutive
// images, weights packed as [R * S][K].
template <typename T>
using GlobalNhwcFn = void (*)(const ConvGeometry& g, const T* x, const T* w, const T* bias,
                              T* y, int64_t images);

// Global average pooling of `channels` channels (NCHW: planes of `pixels`
// values; NHWC: `pixels` rows with a stride of `channel_stride`).
template <typename T>
using AvgPoolFn = void (*)(const T* x, T* y, int64_t channels, int64_t pixels,
                           int64_t channel_stride);

// One pass of a weight-gradient kernel over output rows [oh0, oh1) of
// `images` images (x_image and dy_image apart; small maps share a pass, so
// that the accumulators' loads and stores and the call are paid once per
// several images): kb x jb accumulator vectors (at acc + k * acc_k + j *
// acc_j) gain the sum over the rows' pixels, image by image in order, of
// dy(k) * x(j), where x and dy are the
// channels-innermost copies the driver made (see src/cpu/wgrad/). Member
// j of the block is a kernel tap (lanes over groups) or a vector of input
// channels (lanes over channels, dy broadcast); the layout strides say which.
template <typename T>
struct WgradBlock {
    const T* x;        // at output pixel (0, 0) of the block's first tap/channel
    const T* dy;       // at output pixel (0, 0) of the block's first k
    T* acc;
    int64_t x_row, x_pixel, x_step;  // between input rows, pixels, block members j
    int64_t dy_pixel, dy_k;          // between output pixels, block members k
    int64_t acc_k, acc_j;
    int64_t sh, sw, oh0, oh1, OW;
    int64_t images, x_image, dy_image;
    int kb, jb;
    bool fresh;  // the accumulators start from zero instead of acc's values
};

template <typename T>
using WgradFn = void (*)(const WgradBlock<T>& block);

// Depthwise (multiplier 1) NHWC weight gradient, read in place: for one
// vector of channels of one image, the R x S accumulators (tap (r, s) at
// acc + (r * S + s) * V) gain the sum over output rows [oh0, oh1), pixel by
// pixel in order, of dy(oh, ow) * x(oh * sh + r * dh - pt, ow * sw + s * dw - pl),
// where a position outside x reads zero (0 * dy: NaN for a non-finite dy,
// as the zero-padded definition).
template <typename T>
struct WgradDwNhwc {
    const T* x;    // the image's pixel (0, 0), at the vector's first channel
    const T* dy;   // likewise
    T* acc;
    int64_t C;     // channels: the pixel stride of x and dy
    int64_t H, W, OW, oh0, oh1;
    int64_t sh, sw, dh, dw, pt, pl;
    // From a value to the same pixel's next cache line of channels, which
    // a following call reads: requested while this one runs (each pixel is
    // C values from the last, a stride the hardware prefetchers miss).
    int64_t ahead;
    int R, S;
    // Interior pixels through a sliding window of input columns (where
    // stride equals dilation, and the family has the registers): one new
    // column per pixel instead of one load per tap. The sums are the same.
    bool slide;
};

template <typename T>
using WgradDwNhwcFn = void (*)(const WgradDwNhwc<T>& block);

// Depthwise (any multiplier) NCHW, stride 1, undilated, R == S in {3, 5}, on
// planes whose output rows fit kWgradDwRowsMostVectors vectors and input rows
// 16 times that (src/cpu/wgrad/wgrad_dw_nchw_rows.inl):
// dW of output channels [k_begin, k_end), in PyTorch's (K, 1, R, S), over
// `batch` images of x and dy read in place, with kWgradDwRowsScratchBytes
// of 64-byte aligned scratch for its accumulators. Null in families without
// masked loads.
constexpr int64_t kWgradDwRowsMostVectors = 8;
constexpr int64_t kWgradDwRowsScratchBytes = 64 * 1024;
template <typename T>
using WgradDwNchwRowsFn = void (*)(const ConvGeometry& g, int64_t batch, const T* x,
                                   const T* dy, T* dw, int64_t k_begin, int64_t k_end,
                                   void* scratch);

// The kernels it has: R x S accumulators, a dy and an x vector in 16
// registers.
constexpr int kWgradDwMaxS = 7;
constexpr int kWgradDwMaxR = 4;
constexpr int kWgradDwMaxTaps = 12;

// out[j * out_stride + i] = rows[i][j] for i < count (<= the family's
// transpose_lanes), j < cols: the transposes that put channels side by side
// in the weight gradient's copies and the staged GEMM's NCHW images.
template <typename T>
using TransposeRowsFn = void (*)(const T* const* rows, int count, int64_t cols, T* out,
                                 int64_t out_stride);

// out[c * out_plane + p * out_pixel + l] = in[p * in_pixel + l * count + c]
// for pixels p, lanes l < lanes (<= the family's vector lanes) and channels
// c < count: each pixel's `lanes` groups of `count` channels (NHWC), one
// group per lane into `count` planes (the weight gradient's copies over
// groups).
template <typename T>
using SplitGroupsFn = void (*)(const T* in, int64_t in_pixel, int64_t pixels, int lanes,
                               int64_t count, T* out, int64_t out_pixel, int64_t out_plane);

// The strided transposed convolutions, see src/cpu/transposed/: dy is
// K x H x W, the output C x OH x OW; output (i, j) gets w[r][s] * dy[oi][oj]
// wherever i + pt - r * dh == oi * sh and j + pl - s * dw == oj * sw.
// Depthwise (multiplier 1, transposed_dw.inl): K == C, one weight plane
// per channel. Grouped (transposed_grouped.inl): G groups, output channel
// c of group g sums over the group's Kg dy channels (K = G * Kg,
// C = G * Cg).
struct TransposedGeometry {
    int64_t C, H, W, OH, OW, R, S, sh, sw, pt, pl, dh, dw;
    int64_t G, Cg, Kg;  // grouped kernels only
};

// Which taps reach which outputs, worked out once per call by the driver.
// Output row i (q = (i + pt) mod sh, base = (i + pt) / sh) gets kernel rows
// row_r[t] for t in [row_begin[q], row_begin[q + 1]), from dy row
// base - row_k[t]. Output column j = u * sw + b gets kernel columns
// col_s[t] for t in [col_begin[b], col_begin[b + 1]), from dy column
// u + col_d[t].
struct TransposedTaps {
    const int64_t *row_r, *row_k, *row_begin;
    const int64_t *col_s, *col_d, *col_begin;
};

// NCHW: output rows [i0, i1) of one channel (`dy`, `y` at its planes, `w`
// at its R x S weights); `phases` holds sw * ceil(OW / sw) values.
// `stream`: write the output with streaming stores where the kernel can
// (the result is too big to stay in the caches).
template <typename T>
using TransposedDwNchwFn = void (*)(const TransposedGeometry& g, const TransposedTaps& taps,
                                    const T* dy, const T* w, T bias, T* y, int64_t i0,
                                    int64_t i1, T* phases, bool stream);

// NHWC: output row i of one image, every channel; g.Kg dy channels per
// output (the forward convolution's depth multiplier, 1 or 2): dy has
// C * Kg channels, `w` is packed [R * S][C * Kg], `bias` null or C values.
// `stream`: y is line-aligned and each pixel's C values fill whole lines;
// the kernel may store whole vectors with streaming stores.
template <typename T>
using TransposedDwNhwcFn = void (*)(const TransposedGeometry& g, const TransposedTaps& taps,
                                    const T* dy, const T* w, const T* bias, T* y, int64_t i,
                                    bool stream);

// The grouped NCHW kernel reads dy from zero-padded copies of its rows,
// so that every vector it loads is inside them, and computes phase rows
// `phase` wide (ceil(OW / sw) rounded up to whole vectors).
// Copied row: `left` zeros, the W values, zeros up to `width`.
struct TransposedPadding {
    int64_t left, width, phase;
    int64_t dy_rows(const TransposedGeometry& g, int64_t out_rows) const {  // most a block reads
        const int64_t most = out_rows / g.sh + (g.R * g.dh) / g.sh + 3;
        return most < g.H ? most : g.H;
    }
};

inline TransposedPadding transposed_grouped_padding(const TransposedGeometry& g,
                                                    const TransposedTaps& k, int lanes) {
    int64_t lo = 0, hi = 0;  // extremes of the column offsets
    for (int64_t e = k.col_begin[0]; e < k.col_begin[g.sw]; ++e) {
        lo = k.col_d[e] < lo ? k.col_d[e] : lo;
        hi = k.col_d[e] > hi ? k.col_d[e] : hi;
    }
    const int64_t phase = ((g.OW + g.sw - 1) / g.sw + lanes - 1) / lanes * lanes;
    const int64_t reach = phase + hi > g.W ? phase + hi : g.W;
    return {-lo, -lo + reach, phase};
}

// Grouped NCHW: output rows [i0, i1) of one group's Cg channels (`dy` at
// the group's first dy plane, `y` at its first output plane, `bias` null or
// its Cg values); `w` the group's weights packed [R * S][Kg][Cg]. Scratch:
// `rows` holds Kg * pad.dy_rows(g, i1 - i0) * pad.width values, `phases`
// Cg * sw * pad.phase.
template <typename T>
using TransposedGroupedNchwFn = void (*)(const TransposedGeometry& g, const TransposedTaps& taps,
                                         const TransposedPadding& pad, const T* dy, const T* w,
                                         const T* bias, T* y, int64_t i0, int64_t i1, T* rows,
                                         T* phases, bool stream);

// Grouped NHWC: output row i of one image, every group (Cg a multiple of
// the family's vector_lanes); `w` packed [G][R * S][Kg][Cg], `bias` null or
// C values.
template <typename T>
using TransposedGroupedNhwcFn = void (*)(const TransposedGeometry& g,
                                         const TransposedTaps& taps, const T* dy, const T* w,
                                         const T* bias, T* y, int64_t i);

// Grouped NHWC with whole groups in each vector's lanes, for Cg == Kg = 4
// (or 8, float32) and 3x3, stride 2, padding 1 (transposed_3x3s2_fits):
// output row i of one image, every channel (C a multiple of the family's
// vector_lanes); `w` packed [R * S][Kg][C] (dy channel k's weight of every
// output channel), `bias` null or C values; `stream` as for
// TransposedDwNhwcFn.
template <typename T>
using TransposedGroupedRunsFn = void (*)(const TransposedGeometry& g, const T* dy, const T* w,
                                         const T* bias, T* y, int64_t i, bool stream);

// Depthwise conv3d, multiplier 1 (src/cpu/depthwise/dwconv3d.inl): output
// (od, oh, ow) of channel c sums w[c][a][r][s] * x[c][id][ih][iw] over the
// taps, id = od * sd - pf + a * dd (likewise ih, iw); taps in the padding
// multiply zeros, as in the reference.
struct Dw3dGeometry {
    int64_t C, D, H, W, OD, OH, OW, KD, R, S;
    int64_t sd, sh, sw, pf, pt, pl, dd, dh, dw;
    int act;  // gconv_activation
};

// The most (depth tap, kernel row) pairs the kernels take.
constexpr int kDw3dMostRowTaps = 64;

// NDHWC: output row (od, oh) of one image, every channel; `w` packed
// [KD * R * S][C], `bias` null or C values, `zeros` W * C zeros (the rows
// of taps in the depth or height padding).
template <typename T>
using Dw3dNdhwcFn = void (*)(const Dw3dGeometry& g, const T* x, const T* w, const T* bias,
                             const T* zeros, T* y, int64_t od, int64_t oh);

// NCDHW, column stride 1: output rows [oh0, oh1) of slice od of one
// channel (`x` at its D x H x W input, `w` at its KD x R x S weights, `y`
// at its output). The input rows they read are first copied, zero-padded,
// into `rows`: KD * dw3d_copied_rows(g, oh1 - oh0) rows of
// dw3d_row_width(g, lanes) values (AVX-512 reads stride-1 3x3 slices in
// place, leaving `rows` unused).
template <typename T>
using Dw3dNcdhwFn = void (*)(const Dw3dGeometry& g, const T* x, const T* w, T bias, T* y,
                             int64_t od, int64_t oh0, int64_t oh1, T* rows);

inline int64_t dw3d_copied_rows(const Dw3dGeometry& g, int64_t out_rows) {
    return (out_rows - 1) * g.sh + (g.R - 1) * g.dh + 1;
}

inline int64_t dw3d_row_width(const Dw3dGeometry& g, int lanes) {
    return (g.OW + lanes - 1) / lanes * lanes + (g.S - 1) * g.dw;
}

// Largest blocks the weight-gradient kernels take (kb x jb accumulators).
constexpr int kWgradLaneMaxK = 4;       // lanes over groups: kb <= 4, kb * jb <= 12
constexpr int kWgradLaneMaxProduct = 12;
// Lanes over channels: kb <= the family's wgrad_broadcast_k (at most 8),
// jb <= 4 and kb * jb <= its wgrad_broadcast_product; members j are vectors
// of channels, or taps of a kernel row when a group's channels fit one
// vector.
constexpr int kWgradBroadcastMaxK = 8;
constexpr int kWgradBroadcastMaxJ = 4;

template <typename T>
struct KernelFamily {
    GemmUkernel<T> gemm_rows;  // vector lanes along a row of C: NCHW outputs
    // gemm_rows with two thirds of its rows and one and a half times its
    // columns (AVX-512 only, else fn null): 3 vector loads and 8 broadcasts
    // per 24 FMAs where gemm_rows has 2 and 12. For M a multiple of its mr
    // (8) but not of gemm_rows' (12): ShuffleNet's 80 channels per group.
    GemmUkernel<T> gemm_rows_tall;
    GemmUkernel<T> gemm_cols;  // vector lanes along a column of C: NHWC outputs
    // gemm_cols with one and a half times its rows (AVX-512 only, else
    // fn null): for M a multiple of its mr but not of gemm_cols' (48).
    GemmUkernel<T> gemm_cols_tall;
    // gemm_cols with twice its rows and half its columns (AVX-512 only,
    // else fn null): 4 vector loads and 6 broadcasts per 24 FMAs where
    // gemm_cols has 2 and 12, and 6 column pointers where 12 left one in a
    // vector register. For M a multiple of its mr.
    GemmUkernel<T> gemm_cols_wide;
    // gemm_cols with five vectors of rows and five columns (AVX-512 float32
    // only, else fn null): 25 accumulators, 5 vector loads and 5 broadcasts
    // per 25 FMAs. For M a multiple of its mr (80) but not of gemm_cols'
    // (ShuffleNet's 80 channels per group, which gemm_cols took in three
    // calls, the last on 16 rows).
    GemmUkernel<T> gemm_cols_five;
    PlaneKernelFn<T> grouped_direct;  // both layouts
    // Lanes over a group's output channels (Kg % vector_lanes == 0), both
    // layouts; weights packed [G][R][S][Cg][Kg], `w` at the first group's.
    PlaneKernelFn<T> grouped_channel_lanes;
    PlaneKernelFn<T> dwconv_nchw;
    SmallPlaneFn<T> dwconv_nchw_small;
    InPlaceRowsFn<T> dwconv_nchw_packed_rows;
    InPlaceRowsFn<T> dwconv_nchw_wide_rows;
    InPlaceRowsFn<T> grouped_rows_nchw;
    InPlaceRowsFn<T> grouped_rows_s2_nchw;  // 3x3 stride 2, rows of up to two vectors
    InPlaceRowsFn<T> grouped_wide_rows_nchw;
    PixelKernelFn<T> dwconv_nhwc;
    PixelKernelFn<T> grouped_pairs_nhwc;  // Cg = 2, Kg = 1, 3x3 (dwconv2d.inl)
    PixelKernelFn<T> grouped_runs_nhwc;  // Cg = Kg = 4 or 8, 3x3 (grouped_nhwc_runs.inl)
    GlobalNchwFn<T> global_dwconv_nchw;
    GlobalNhwcFn<T> global_dwconv_nhwc;
    AvgPoolFn<T> avg_pool_nchw;
    AvgPoolFn<T> avg_pool_nhwc;
    WgradFn<T> wgrad_group_lanes;      // dy and x both vectors over groups
    WgradFn<T> wgrad_channel_lanes;    // dy broadcast, x vectors over channels
    WgradDwNhwcFn<T> wgrad_dw_nhwc;    // depthwise NHWC, read in place
    WgradDwNchwRowsFn<T> wgrad_dw_nchw_rows;  // depthwise NCHW, in place
    TransposeRowsFn<T> transpose_rows;
    int transpose_lanes;  // the most rows transpose_rows takes: 16 or 8
    SplitGroupsFn<T> split_groups;
    TransposedDwNchwFn<T> transposed_dw_nchw;
    // transposed_dw_nchw has a row kernel of its own for 3x3, stride 2,
    // padding 1 (transposed_3x3s2_fits in transposed_common.hpp).
    bool transposed_dw_nchw_3x3s2 = false;
    TransposedDwNhwcFn<T> transposed_dw_nhwc;
    TransposedGroupedNchwFn<T> transposed_grouped_nchw;
    TransposedGroupedNhwcFn<T> transposed_grouped_nhwc;
    TransposedGroupedRunsFn<T> transposed_grouped_runs_nhwc;  // null off native AVX2/AVX-512
    Dw3dNdhwcFn<T> dwconv3d_ndhwc;
    Dw3dNcdhwFn<T> dwconv3d_ncdhw;
    int vector_lanes;                  // Vec<T>::N of the family
    // Largest kb * jb of wgrad_channel_lanes over taps: the accumulators,
    // jb vectors of x and a broadcast within the family's registers.
    int wgrad_broadcast_product;
    int wgrad_broadcast_k;
    // A narrower family (AVX2's in the AVX-512 table, null elsewhere), for
    // kernels whose lanes run over a group's channels when those fill its
    // vectors but not this family's: ResNeXt's 8 channels per group with 16
    // float lanes. Set by dispatch, on CPUs that run both families.
    const KernelFamily* narrow = nullptr;
};

struct KernelTable {
    gconv_isa isa;
    // How execute_indirect requests the next micro-panel's strided slices
    // (IndirectRequests), set from the CPU's vendor. Zen 4: into L1, with
    // the output's columns, ShuffleNet's grouped 1x1 at N=16, NHWC, 1.3x
    // faster. Sapphire Rapids: the output's requests made it 0.91-0.94x
    // slower with its input in L3 (the rows' own cost nothing), the rows
    // alone into L2 0.98-1.0x there and 1.07-1.12x from memory.
    bool slices_into_l2;
    KernelFamily<float> f32;
    KernelFamily<double> f64;
    // Benchmark support: iterations of independent FMAs, and FLOPs per iteration.
    float (*fma_peak_loop)(int64_t iterations, float seed);
    int fma_peak_flops_per_iteration;
};

template <typename T> const KernelFamily<T>& family(const KernelTable& table);
template <> inline const KernelFamily<float>& family<float>(const KernelTable& t) { return t.f32; }
template <> inline const KernelFamily<double>& family<double>(const KernelTable& t) { return t.f64; }

// f.narrow when `channels` fill a whole number of its vectors, else null.
template <typename T>
const KernelFamily<T>* narrow_family_for(const KernelFamily<T>& f, int64_t channels) {
    return f.narrow != nullptr && channels % f.narrow->vector_lanes == 0 ? f.narrow : nullptr;
}

// Each family's translation units define these in namespace gconv::<isa>.
#define GCONV_DECLARE_ISA_FAMILY(isa_namespace)          \
    namespace isa_namespace {                            \
    void fill_gemm(KernelTable& table);                  \
    void fill_direct_nchw(KernelTable& table);           \
    void fill_grouped_channel_lanes(KernelTable& table); \
    void fill_grouped_runs_nhwc(KernelTable& table);    \
    void fill_depthwise(KernelTable& table);             \
    void fill_depthwise_packed_rows(KernelTable& table); \
    void fill_depthwise_wide_rows(KernelTable& table);   \
    void fill_grouped_rows_nchw(KernelTable& table);     \
    void fill_wgrad_dw_nchw_rows(KernelTable& table);    \
    void fill_global(KernelTable& table);                \
    void fill_peak(KernelTable& table);                  \
    void fill_wgrad(KernelTable& table);                 \
    void fill_transposed(KernelTable& table);            \
    void fill_transposed_grouped(KernelTable& table);    \
    void fill_transposed_grouped_runs(KernelTable& table); \
    void fill_dwconv3d(KernelTable& table);              \
    }

GCONV_DECLARE_ISA_FAMILY(scalar)
#if defined(GCONV_HAVE_AVX2)
GCONV_DECLARE_ISA_FAMILY(avx2)
#endif
#if defined(GCONV_HAVE_AVX512)
GCONV_DECLARE_ISA_FAMILY(avx512)
#endif

// The table of the best family the CPU supports, capped by set_max_isa.
const KernelTable& active_kernel_table();

}  // namespace gconv
