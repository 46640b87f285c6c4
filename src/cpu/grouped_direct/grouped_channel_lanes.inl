// grouped_direct when a group's output channels fill whole vectors (Kg a
// multiple of the lanes: ResNeXt's 8-32 channels per group, RegNet's 16 on
// AVX2), in NHWC, and in NCHW from two vectors per group.
//
// Vector lanes run over one group's output channels, which is the direction
// NHWC stores contiguously; each input value is broadcast to all of them.
// NCHW transposes each finished block on its way out.
// A block of up to 8 output pixels x one or two channel vectors stays in
// registers over the whole reduction (c, r, s), loading per step one or two
// weight vectors and one broadcast per pixel: about one load per FMA.
//
// The input rows are copied once per item into zero-padded scratch. NCHW
// uses the phase-split, channel-major rows the plane kernel uses, so
// consecutive output pixels of a tap read consecutive scratch elements at
// every stride: one pointer and constant offsets. NHWC keeps each group's
// rows pixel-major (channel_lanes_pixel_major), which its copy moves a run
// of channels at a time; a pointer per pixel then steps through a tap's
// channels.
#include <cstring>

#if defined(__SSE2__)
#include <immintrin.h>
#endif

#include "cpu/common/padded_rows.hpp"
#include "cpu/common/prefetch.hpp"
#include "cpu/kernel_table.hpp"

namespace gconv {
namespace GCONV_ISA {

#include "cpu/common/kernel_common.inl"
#include "cpu/common/simd.inl"
#include "cpu/common/transpose.inl"
#include "cpu/common/padded_rows_fill.inl"
#include "cpu/common/copy_runs.inl"

namespace {

// Where the block's rows live in the scratch and how taps step through it.
struct ScratchRows {
    int64_t channel_stride, out_row_step, tap_row_step, phase_width;
    bool pixel_major;  // NHWC's [row][column][Cg] per group (channel_stride 1)
};

// One channel vector pass (MV vectors of the group's output channels
// starting at w / y / bias) over output rows [oh_begin, oh_end), NR pixels
// at a time. w is the group's [R][S][Cg][Kg] at this pass's first channel.
template <typename T, int MV, int NR, int KR, int KS>
void channel_lanes_pass(const ConvGeometry& g, const T* w, const T* bias, T* y,
                        int64_t oh_begin, int64_t oh_end, const T* scratch,
                        const ScratchRows& sr, const int64_t* tap_offset) {
    using V = Vec<T>;
    const int64_t R = KR ? KR : g.R, S = KS ? KS : g.S;
    const int64_t w_tap = g.Cg * g.Kg;  // between taps in the packed weights
    V b[MV];
    for (int m = 0; m < MV; ++m) b[m] = bias ? V::load(bias + m * V::N) : V::zero();
    for (int64_t oh = oh_begin; oh < oh_end; ++oh) {
        const T* rows_base = scratch + (oh - oh_begin) * sr.out_row_step;
        for (int64_t ow0 = 0; ow0 < g.OW; ow0 += NR) {
            V acc[NR][MV];
            for (int j = 0; j < NR; ++j)
                for (int m = 0; m < MV; ++m) acc[j][m] = V::zero();
            for (int64_t c = 0; c < g.Cg; ++c) {
                for (int64_t r = 0; r < R; ++r) {
                    const T* row = rows_base + c * sr.channel_stride + r * sr.tap_row_step + ow0;
                    const T* wr = w + r * S * w_tap + c * g.Kg;
#pragma GCC unroll 7
                    for (int64_t s = 0; s < S; ++s) {
                        const T* src =
                            row + (tap_offset ? tap_offset[s] : tap_column(g, s, sr.phase_width));
                        V wv[MV];
                        for (int m = 0; m < MV; ++m) wv[m] = V::load(wr + s * w_tap + m * V::N);
                        for (int j = 0; j < NR; ++j) {
                            const V xj = V::set1(src[j]);
                            for (int m = 0; m < MV; ++m) acc[j][m] = fmadd(wv[m], xj, acc[j][m]);
                        }
                    }
                }
            }
            const int64_t valid = g.OW - ow0 < NR ? g.OW - ow0 : NR;
            if (g.layout == GCONV_LAYOUT_NHWC) {
                T* out = y + (oh * g.OW + ow0) * g.K;
                // To NR, not valid: unrolled, so acc[][] stays in registers
                // (a runtime bound kept it on the stack, spilled in the FMAs).
                for (int j = 0; j < NR; ++j) {
                    if (j == valid) break;
                    for (int m = 0; m < MV; ++m)
                        activate_vec(acc[j][m] + b[m], g.act).store(out + j * g.K + m * V::N);
                }
            } else {
                // NCHW: each channel's pixels are a row; the block's
                // MV * N x NR results are transposed through the stack (their
                // reduction is Cg * R * S FMAs each, so this costs little).
                alignas(64) T block[NR][MV * V::N];
                for (int j = 0; j < NR; ++j)
                    for (int m = 0; m < MV; ++m)
                        activate_vec(acc[j][m] + b[m], g.act).store(block[j] + m * V::N);
                const int64_t plane = g.OH * g.OW;
                T* out = y + oh * g.OW + ow0;
                for (int ch = 0; ch < MV * V::N; ++ch)
                    for (int j = 0; j < valid; ++j) out[ch * plane + j] = block[j][ch];
            }
        }
    }
}

// The NHWC pass over pixel-major rows ([row][column][Cg] per group): tap
// (r, s) of output pixel ow reads column ow * sw + s * dw of kept row
// r * tap_row_step. One pointer per pixel of the block; the channel loop,
// innermost, steps them all by one, and the weights by Kg. kStep: the
// pixels' step (sw * Cg) where it is known at compile time (16 channels at
// stride 1: ResNeXt s4, RegNet), so that one pointer and constant offsets
// reach every pixel: 1.02-1.05x there.
template <typename T, int MV, int NR, int KR, int KS, int kStep = 0>
void channel_lanes_pixel_pass(const ConvGeometry& g, const T* w, const T* bias, T* y,
                              int64_t oh_begin, int64_t oh_end, const T* scratch,
                              const ScratchRows& sr) {
    using V = Vec<T>;
    const int64_t R = KR ? KR : g.R, S = KS ? KS : g.S;
    const int64_t Cg = g.Cg, Kg = g.Kg, tap_step = g.dw * Cg;
    const int64_t pixel_step = kStep ? kStep : g.sw * Cg;
    V b[MV];
    for (int m = 0; m < MV; ++m) b[m] = bias ? V::load(bias + m * V::N) : V::zero();
    for (int64_t oh = oh_begin; oh < oh_end; ++oh) {
        const T* rows_base = scratch + (oh - oh_begin) * sr.out_row_step;
        for (int64_t ow0 = 0; ow0 < g.OW; ow0 += NR) {
            V acc[NR][MV];
            for (int j = 0; j < NR; ++j)
                for (int m = 0; m < MV; ++m) acc[j][m] = V::zero();
            const T* wt = w;
            for (int64_t r = 0; r < R; ++r) {
                for (int64_t s = 0; s < S; ++s, wt += Cg * Kg) {
                    const T* tap = rows_base + r * sr.tap_row_step + s * tap_step +
                                   ow0 * pixel_step;
                    const T* px[NR];
                    for (int j = 0; j < NR; ++j) px[j] = tap + j * pixel_step;
                    for (int64_t c = 0; c < Cg; ++c) {
                        V wv[MV];
                        for (int m = 0; m < MV; ++m) wv[m] = V::load(wt + c * Kg + m * V::N);
                        for (int j = 0; j < NR; ++j) {
                            const V xj = V::set1(px[j][c]);
                            for (int m = 0; m < MV; ++m) acc[j][m] = fmadd(wv[m], xj, acc[j][m]);
                        }
                    }
                }
            }
            const int64_t valid = g.OW - ow0 < NR ? g.OW - ow0 : NR;
            T* out = y + (oh * g.OW + ow0) * g.K;
            for (int j = 0; j < NR; ++j) {  // to NR: see channel_lanes_pass
                if (j == valid) break;
                for (int m = 0; m < MV; ++m)
                    activate_vec(acc[j][m] + b[m], g.act).store(out + j * g.K + m * V::N);
            }
        }
    }
}

// `groups` groups' NHWC input rows into pixel-major scratch: group gi's
// kept row i, column q (input column q - pl) at
// scratch + ((gi * rows + i) * columns + q) * Cg; zeros outside the input.
// Pixel by pixel, each pixel's channels dealt to the groups' rows, so the
// input is read in order (group by group, a row's pixels C apart: ResNeXt
// s3 at N=16, its input streaming from memory, ran 1.1x slower).
template <typename T>
void fill_pixel_major_rows(const ConvGeometry& g, const T* x, int64_t oh_begin, bool gathered,
                           int64_t rows, int64_t columns, int64_t groups, T* scratch) {
    const int64_t Cg = g.Cg, row_size = columns * Cg, group_stride = rows * row_size;
    int64_t lo = g.pl < columns ? g.pl : columns;
    int64_t hi = g.pl + g.W < columns ? g.pl + g.W : columns;
    if (hi < lo) hi = lo;
    for (int64_t i = 0; i < rows; ++i) {
        const int64_t ih = kept_row_input(g, oh_begin, gathered, i);
        const bool inside = ih >= 0 && ih < g.H;
        T* d = scratch + i * row_size;
        for (int64_t gi = 0; gi < groups; ++gi) {
            T* dg = d + gi * group_stride;
            if (!inside) {
                std::memset(dg, 0, sizeof(T) * row_size);
                continue;
            }
            std::memset(dg, 0, sizeof(T) * lo * Cg);
            std::memset(dg + hi * Cg, 0, sizeof(T) * (columns - hi) * Cg);
        }
        if (!inside) continue;
        const T* src = x + (ih * g.W + lo - g.pl) * g.C;
        for (int64_t q = lo; q < hi; ++q, src += g.C)
            copy_runs(src, Cg, groups, Cg, d + q * Cg, group_stride);
    }
}

template <typename T, int MV, int NR>
void channel_lanes_sized(const ConvGeometry& g, const T* w, const T* bias, T* y,
                         int64_t oh_begin, int64_t oh_end, const T* scratch,
                         const ScratchRows& sr, const int64_t* tap_offset) {
    const bool k3 = g.R == 3 && g.S == 3;
    if (sr.pixel_major) {
        if (k3 && g.sw * g.Cg == 16)
            channel_lanes_pixel_pass<T, MV, NR, 3, 3, 16>(g, w, bias, y, oh_begin, oh_end,
                                                          scratch, sr);
        else if (k3)
            channel_lanes_pixel_pass<T, MV, NR, 3, 3>(g, w, bias, y, oh_begin, oh_end, scratch,
                                                      sr);
        else
            channel_lanes_pixel_pass<T, MV, NR, 0, 0>(g, w, bias, y, oh_begin, oh_end, scratch,
                                                      sr);
    } else if (k3) {
        channel_lanes_pass<T, MV, NR, 3, 3>(g, w, bias, y, oh_begin, oh_end, scratch, sr,
                                            tap_offset);
    } else {
        channel_lanes_pass<T, MV, NR, 0, 0>(g, w, bias, y, oh_begin, oh_end, scratch, sr,
                                            tap_offset);
    }
}

template <typename T, int MV>
using PassFn = void (*)(const ConvGeometry&, const T*, const T*, T*, int64_t, int64_t,
                        const T*, const ScratchRows&, const int64_t*);

// The pass for a block of `pixels` (kChannelLanesMinPixels..6 for two
// vectors, ..8 for one: channel_lanes_pixels).
template <typename T, int MV>
PassFn<T, MV> pass_for(int64_t pixels) {
    switch (pixels) {
        case 3: return channel_lanes_sized<T, MV, 3>;
        case 4: return channel_lanes_sized<T, MV, 4>;
        case 5: return channel_lanes_sized<T, MV, 5>;
        case 6: return channel_lanes_sized<T, MV, 6>;
        case 7: return channel_lanes_sized<T, MV, MV == 2 ? 6 : 7>;
        default: return channel_lanes_sized<T, MV, MV == 2 ? 6 : 8>;
    }
}

// PlaneKernelFn for g.Kg % Vec<T>::N == 0: all output channels of
// `groups` groups, rows [oh_begin, oh_end). `w` points at the first group's
// packed weights, [R][S][Cg][Kg] per group.
template <typename T>
void grouped_channel_lanes(const ConvGeometry& g, const T* x, const T* w, const T* bias, T* y,
                           int64_t oh_begin, int64_t oh_end, int64_t groups, T* scratch,
                           bool fetch) {
    using V = Vec<T>;
    const int64_t phase_width = channel_lanes_phase_width(g, V::N);
    const int64_t out_rows = oh_end - oh_begin;
    const int64_t rows = padded_rows(g, out_rows);
    const bool gathered = gathered_rows(g, out_rows);
    ScratchRows sr;
    sr.phase_width = phase_width;
    sr.pixel_major = channel_lanes_pixel_major(g);
    int64_t group_scratch;
    if (sr.pixel_major) {
        const int64_t columns = channel_lanes_columns(g, V::N);
        fill_pixel_major_rows(g, x, oh_begin, gathered, rows, columns, groups, scratch);
        const int64_t row_size = columns * g.Cg;
        sr.channel_stride = 1;
        sr.out_row_step = (gathered ? g.R : g.sh) * row_size;
        sr.tap_row_step = (gathered ? 1 : g.dh) * row_size;
        group_scratch = rows * row_size;
    } else {
        fill_padded_rows(g, x, oh_begin, gathered, rows, phase_width, groups, scratch, fetch);
        const int64_t row_stride = phase_rows(g) * phase_width;
        sr.channel_stride = rows * row_stride;
        sr.out_row_step = (gathered ? g.R : g.sh) * row_stride;
        sr.tap_row_step = (gathered ? 1 : g.dh) * row_stride;
        group_scratch = g.Cg * sr.channel_stride;
    }
    // Tap offsets within a phase row, from a table on the stack; wider
    // kernels compute each (null table).
    constexpr int64_t kMaxTabled = 64;
    int64_t table[kMaxTabled];
    const int64_t* tap_offset = g.S <= kMaxTabled ? table : nullptr;
    for (int64_t s = 0; s < g.S && s < kMaxTabled; ++s) table[s] = tap_column(g, s, phase_width);

    const int64_t pixels = channel_lanes_pixels(g, V::N);
    const int mv = static_cast<int>(channel_lanes_vectors(g, V::N));
    const int64_t group_weights = g.R * g.S * g.Cg * g.Kg;
    for (int64_t gi = 0; gi < groups; ++gi) {
        const T* sg = scratch + gi * group_scratch;
        for (int64_t kk = 0; kk < g.Kg; kk += mv * V::N) {
            const int64_t k = gi * g.Kg + kk;
            const T* wk = w + gi * group_weights + kk;
            const T* bk = bias ? bias + k : nullptr;
            T* yk = y + k * (g.layout == GCONV_LAYOUT_NHWC ? 1 : g.OH * g.OW);
            if (mv == 2)
                pass_for<T, 2>(pixels)(g, wk, bk, yk, oh_begin, oh_end, sg, sr, tap_offset);
            else
                pass_for<T, 1>(pixels)(g, wk, bk, yk, oh_begin, oh_end, sg, sr, tap_offset);
        }
    }
}

}  // namespace

void fill_grouped_channel_lanes(KernelTable& table) {
    table.f32.grouped_channel_lanes = grouped_channel_lanes<float>;
    table.f64.grouped_channel_lanes = grouped_channel_lanes<double>;
}

}  // namespace GCONV_ISA
}  // namespace gconv
