// grouped_direct in NHWC for groups of four input and four output channels
// (ResNeXt's first stage: 32 groups of 4), 3x3 at stride 1 or 2,
// undilated, float32 on AVX2 and AVX-512, read in place.
//
// Lanes run over output channels: a vector holds the outputs of two (AVX2)
// or four (AVX-512) whole groups, and the input vector of the same channels
// holds those groups' inputs. Input channel c of every group reaches its
// group's four output lanes by one in-lane shuffle (vpermilps: element c of
// each 128-bit lane), so each output vector takes four FMAs per tap, each
// with a full vector of weights ([R * S][4][K]: input c's weight of every
// output channel). The channel-lane kernel this replaces broadcast one
// input value per FMA into four-lane (SSE) vectors, a quarter of AVX-512's.
//
// Runs of PW output pixels share each input vector and its four shuffles
// between the pixels whose windows cover it, as the depthwise runs do
// (dwconv2d.inl). Taps over the padding multiply zeros, as the reference.
#if defined(__SSE2__)
#include <immintrin.h>
#endif

#include <algorithm>

#include "cpu/common/prefetch.hpp"
#include "cpu/kernel_table.hpp"

namespace gconv {
namespace GCONV_ISA {

#include "cpu/common/kernel_common.inl"
#include "cpu/common/simd.inl"

namespace {

#include "cpu/common/row_fetch.inl"

#if GCONV_ISA_LEVEL >= 1 && !defined(GCONV_GENERIC_VECTORS)

constexpr int kGroup = 4;  // input and output channels per group

// Element c of each 128-bit lane of x, in all four of the lane's places.
template <int c>
GCONV_ALWAYS_INLINE Vec<float> group_input(Vec<float> x) {
    constexpr int imm = c * 0x55;
#if GCONV_ISA_LEVEL == 2
    return {_mm512_permute_ps(x.v, imm)};
#else
    return {_mm256_permute_ps(x.v, imm)};
#endif
}

// Output pixels per run: PW accumulators, an input vector and its four
// shuffles within the family's registers (the weights are FMA operands
// from memory).
#if GCONV_ISA_LEVEL == 2
constexpr int kQuadRun = 16;
#else
constexpr int kQuadRun = 8;
#endif

// Pixels [ow, ow + count) of row oh (count <= PW), output channels
// [c0, c0 + N), at column stride SW.
template <int SW, int PW>
GCONV_ALWAYS_INLINE void quads_run(const ConvGeometry& g, const float* x, const float* w,
                                   const float* bias, float* y, int64_t oh, int64_t ow,
                                   int count, int64_t c0) {
    using V = Vec<float>;
    constexpr int S = 3, kSpan = (PW - 1) * SW + S;
    const int64_t C = g.C, K = g.K;
    const int64_t ih0 = oh * g.sh - g.pt, iw0 = ow * SW - g.pl;
    V acc[PW];
    for (int p = 0; p < PW; ++p) acc[p] = V::zero();
    for (int r = 0; r < S; ++r) {
        const int64_t ih = ih0 + r;
        const bool row_inside = ih >= 0 && ih < g.H;
        const float* xp = row_inside ? x + (ih * g.W + iw0) * C + c0 : x;
        const float* wr = w + r * S * kGroup * K + c0;
#pragma GCC unroll 48
        for (int q = 0; q < kSpan; ++q) {
            const bool real = row_inside && iw0 + q >= 0 && iw0 + q < g.W;
            const V xv = real ? V::load(xp + q * C) : V::zero();
            const V xc[kGroup] = {group_input<0>(xv), group_input<1>(xv), group_input<2>(xv),
                                  group_input<3>(xv)};
#pragma GCC unroll 3
            for (int s = 0; s < S; ++s) {
                const int d = q - s, p = d / SW;  // column q is tap s of pixel p
                if (d < 0 || d % SW != 0 || p >= PW) continue;
                for (int c = 0; c < kGroup; ++c)
                    acc[p] = fmadd(V::load(wr + (s * kGroup + c) * K), xc[c], acc[p]);
            }
        }
    }
    const V b = bias ? V::load(bias + c0) : V::zero();
#pragma GCC unroll 16
    for (int p = 0; p < PW; ++p) {
        if (p == count) break;
        activate_vec(acc[p] + b, g.act).store(y + (oh * g.OW + ow + p) * K + c0);
    }
}

// Row oh, pixels [ow_begin, ow_end) in runs of kQuadRun (the last run ends
// at ow_end, overlapping the one before, when the block has a full run),
// every vector of output channels (K a multiple of the lanes), requesting
// the next row's lines on the way when `fetch`.
template <int SW>
void quads_row(const ConvGeometry& g, const float* x, const float* w, const float* bias,
               float* y, int64_t oh, int64_t ow_begin, int64_t ow_end, bool fetch) {
    constexpr int64_t N = Vec<float>::N, PW = kQuadRun;
    const int64_t runs = (ow_end - ow_begin + PW - 1) / PW;
    NextRowFetch<float> next(g, x, y, oh, ow_begin, ow_end, runs * (g.K / N), fetch);
    for (int64_t ow = ow_begin; ow < ow_end; ow += PW) {
        const int64_t start = ow + PW > ow_end && ow_end - ow_begin >= PW ? ow_end - PW : ow;
        const int count = static_cast<int>(ow_end - start < PW ? ow_end - start : PW);
        for (int64_t c0 = 0; c0 < g.K; c0 += N) {
            if (fetch) next.step();
            quads_run<SW, PW>(g, x, w, bias, y, oh, start, count, c0);
        }
    }
}

void grouped_quads_nhwc(const ConvGeometry& g, const float* x, const float* w,
                        const float* bias, float* y, int64_t oh, int64_t ow_begin,
                        int64_t ow_end, bool fetch) {
    if (g.sw == 2)
        quads_row<2>(g, x, w, bias, y, oh, ow_begin, ow_end, fetch);
    else
        quads_row<1>(g, x, w, bias, y, oh, ow_begin, ow_end, fetch);
}

#endif

}  // namespace

void fill_grouped_quads_nhwc(KernelTable& table) {
#if GCONV_ISA_LEVEL >= 1 && !defined(GCONV_GENERIC_VECTORS)
    table.f32.grouped_quads_nhwc = grouped_quads_nhwc;
#else
    table.f32.grouped_quads_nhwc = nullptr;
#endif
    table.f64.grouped_quads_nhwc = nullptr;
}

}  // namespace GCONV_ISA
}  // namespace gconv
