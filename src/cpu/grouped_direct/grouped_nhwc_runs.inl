// grouped_direct in NHWC for groups of G input and G output channels, G = 4
// (ResNeXt's first stage: 32 groups of 4) or 8 (its second), 3x3 at
// stride 1 or 2, undilated, on AVX2 and AVX-512, read in place.
//
// Lanes run over output channels: a vector holds the outputs of whole
// groups, and the input vector of the same channels holds those groups'
// inputs. Input channel c of every group reaches its group's G output lanes
// by one shuffle (element c of each group's lanes in all of them: an
// in-lane vpermilps for G = 4, vpermps for 8), so each output vector takes
// G FMAs per tap, each with a full vector of weights ([R * S][G][K]: input
// c's weight of every output channel). The channel-lane kernel this
// replaces broadcast one input value per FMA into G-lane vectors.
//
// Runs of PW output pixels share each input vector and its G shuffles
// between the pixels whose windows cover it, as the depthwise runs do
// (dwconv2d.inl), and request the next row's lines on the way when the
// batch streams from memory. Each output sums kernel row by kernel row,
// tap by tap, input channel by input channel; taps over the padding
// multiply zeros, as the reference.
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

#include "cpu/common/group_input.inl"

// Output pixels per run: PW accumulators, an input vector and one shuffle
// of it within the family's registers (the weights are FMA operands from
// memory).
#if GCONV_ISA_LEVEL == 2
constexpr int kGroupRun = 16;
#else
constexpr int kGroupRun = 8;
#endif

// Pixels [ow, ow + count) of row oh (count <= PW), output channels
// [c0, c0 + N), at column stride SW; stored non-temporally when `stream`.
template <typename T, int G, int SW, int PW>
GCONV_ALWAYS_INLINE void group_run(const ConvGeometry& g, const T* x, const T* w, const T* bias,
                                   T* y, int64_t oh, int64_t ow, int count, int64_t c0,
                                   bool stream) {
    using V = Vec<T>;
    constexpr int S = 3, kSpan = (PW - 1) * SW + S;
    const int64_t C = g.C, K = g.K;
    const int64_t ih0 = oh * g.sh - g.pt, iw0 = ow * SW - g.pl;
    V acc[PW];
    for (int p = 0; p < PW; ++p) acc[p] = V::zero();
    for (int r = 0; r < S; ++r) {
        const int64_t ih = ih0 + r;
        const bool row_inside = ih >= 0 && ih < g.H;
        const T* xp = row_inside ? x + (ih * g.W + iw0) * C + c0 : x;
        const T* wr = w + r * S * G * K + c0;
#pragma GCC unroll 48
        for (int q = 0; q < kSpan; ++q) {
            const bool real = row_inside && iw0 + q >= 0 && iw0 + q < g.W;
            const V xv = real ? V::load(xp + q * C) : V::zero();
#pragma GCC unroll 8
            for (int c = 0; c < G; ++c) {
                const V xc = group_input<G>(xv, c);
#pragma GCC unroll 3
                for (int s = 0; s < S; ++s) {
                    const int d = q - s, p = d / SW;  // column q is tap s of pixel p
                    if (d >= 0 && d % SW == 0 && p < PW)
                        acc[p] = fmadd(V::load(wr + (s * G + c) * K), xc, acc[p]);
                }
            }
        }
    }
    const V b = bias ? V::load(bias + c0) : V::zero();
#pragma GCC unroll 16
    for (int p = 0; p < PW; ++p) {
        if (p == count) break;
        const Vec<T> out = activate_vec(acc[p] + b, g.act);
        if (stream)
            out.stream(y + (oh * g.OW + ow + p) * K + c0);
        else
            out.store(y + (oh * g.OW + ow + p) * K + c0);
    }
}

// Row oh, pixels [ow_begin, ow_end) in runs of kGroupRun (the last run
// ends at ow_end, overlapping the one before, when the block has a full
// run), every vector of output channels (K a multiple of the lanes),
// requesting the next row's lines on the way when `fetch`, storing
// non-temporally when `stream` (see PixelKernelFn).
template <typename T, int G, int SW>
void group_row(const ConvGeometry& g, const T* x, const T* w, const T* bias, T* y, int64_t oh,
               int64_t ow_begin, int64_t ow_end, FetchAhead fetch, bool stream) {
    constexpr int64_t N = Vec<T>::N, PW = kGroupRun;
    const int64_t runs = (ow_end - ow_begin + PW - 1) / PW;
    NextRowFetch<T> next(g, x, y, oh, ow_begin, ow_end, runs * (g.K / N), fetch, stream);
    for (int64_t ow = ow_begin; ow < ow_end; ow += PW) {
        const int64_t start = ow + PW > ow_end && ow_end - ow_begin >= PW ? ow_end - PW : ow;
        const int count = static_cast<int>(ow_end - start < PW ? ow_end - start : PW);
        for (int64_t c0 = 0; c0 < g.K; c0 += N) {
            if (fetch) next.step();
            group_run<T, G, SW, PW>(g, x, w, bias, y, oh, start, count, c0, stream);
        }
    }
#if defined(__SSE2__)
    if (stream) _mm_sfence();  // the streamed stores before any later read of y
#endif
}

// The planner sends Cg == Kg = 4, or 8 for float32 (at most the lanes),
// 3x3, stride 1 or 2 both ways, undilated, K a multiple of the lanes
// (grouped_runs_fit in grouped_direct.cpp).
template <typename T>
void grouped_runs_nhwc(const ConvGeometry& g, const T* x, const T* w, const T* bias, T* y,
                       int64_t oh, int64_t ow_begin, int64_t ow_end, FetchAhead fetch,
                       bool stream) {
    if constexpr (sizeof(T) == 4) {
        if (g.Cg == 8) {
            if (g.sw == 2)
                group_row<T, 8, 2>(g, x, w, bias, y, oh, ow_begin, ow_end, fetch, stream);
            else
                group_row<T, 8, 1>(g, x, w, bias, y, oh, ow_begin, ow_end, fetch, stream);
            return;
        }
    }
    if (g.sw == 2) {
        group_row<T, 4, 2>(g, x, w, bias, y, oh, ow_begin, ow_end, fetch, stream);
    } else {
        group_row<T, 4, 1>(g, x, w, bias, y, oh, ow_begin, ow_end, fetch, stream);
    }
}

#endif

}  // namespace

void fill_grouped_runs_nhwc(KernelTable& table) {
#if GCONV_ISA_LEVEL >= 1 && !defined(GCONV_GENERIC_VECTORS)
    table.f32.grouped_runs_nhwc = grouped_runs_nhwc<float>;
    table.f64.grouped_runs_nhwc = grouped_runs_nhwc<double>;
#else
    table.f32.grouped_runs_nhwc = nullptr;
    table.f64.grouped_runs_nhwc = nullptr;
#endif
}

}  // namespace GCONV_ISA
}  // namespace gconv
