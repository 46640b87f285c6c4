// The transposed grouped convolution in NHWC for groups of G dy channels
// and G output channels, G = 4 or 8 (float32) or 4 (float64), 3x3, stride
// 2, padding 1, undilated (transposed_3x3s2_fits): the input gradient of
// ResNeXt's downsampling layers, on AVX2 and AVX-512 native vectors.
//
// The lanes hold whole groups of output channels, as the forward runs
// (grouped_nhwc_runs.inl) do: a dy vector of the same channels holds those
// groups' dy values, and dy channel c of every group reaches its group's
// lanes by one shuffle (group_input). Output column j = 2v - 1 + s takes
// dy column v through kernel column s, so each shuffled dy vector feeds
// the three output pixels 2v - 1, 2v and 2v + 1 of a run, each with a
// full vector of weights. The kernel this replaces for these layers
// (transposed_grouped.inl, NHWC) broadcast one dy value per multiply-add
// into a group's 8 lanes, per column phase and per group: 59 GFLOP/s on
// ResNeXt s3_down at N=16, 1.7x the time of its forward convolution.
#if defined(__SSE2__)
#include <immintrin.h>
#endif

#include "cpu/kernel_table.hpp"

namespace gconv {
namespace GCONV_ISA {

#include "cpu/common/kernel_common.inl"
#include "cpu/common/simd.inl"

namespace {

#if GCONV_ISA_LEVEL >= 1 && !defined(GCONV_GENERIC_VECTORS)

#include "cpu/common/group_input.inl"

// Output pixels per run: PW accumulators, a dy vector and its shuffle
// within the family's registers (the weights are operands from memory).
#if GCONV_ISA_LEVEL == 2
constexpr int kTransposedRun = 16;
#else
constexpr int kTransposedRun = 8;
#endif

// Output pixels [j0, j0 + count) of row i (j0 even, count <= PW), output
// channels [c0, c0 + N) of `row` (output row i). The run's dy columns are
// j0 / 2 to j0 / 2 + PW / 2; columns past dy's width read zeros.
template <typename T, int G, int PW>
GCONV_ALWAYS_INLINE void transposed_group_run(const TransposedGeometry& g, const T* dy,
                                              const T* w, const T* bias, T* row, int64_t i,
                                              int64_t j0, int count, int64_t c0, bool stream) {
    using V = Vec<T>;
    constexpr int S = 3, kSpan = PW / 2 + 1;
    const int64_t C = g.C, v0 = j0 / 2;
    const V b = bias ? V::load(bias + c0) : V::zero();
    V acc[PW];
    for (int p = 0; p < PW; ++p) acc[p] = b;
    // Output row i = 2 * oi - 1 + r: kernel row 1 for even rows, 0 and 2
    // for odd ones.
    for (int64_t r = (i & 1) ? 0 : 1; r < S; r += 2) {
        const int64_t oi = (i + 1 - r) / 2;
        if (oi >= g.H) continue;
        const T* xp = dy + (oi * g.W + v0) * C + c0;
        const T* wr = w + r * S * G * C + c0;
        const int64_t inside = g.W - v0;  // the run's dy columns inside dy
        // Channel by channel, the three kernel columns' weights in
        // registers over the run: with the channel loop inside (each
        // weight used by every dy column) GCC kept all 3 * G weights in
        // registers and spilled accumulators.
#pragma GCC unroll 8
        for (int c = 0; c < G; ++c) {
            const V w0 = V::load(wr + c * C), w1 = V::load(wr + (G + c) * C),
                    w2 = V::load(wr + (2 * G + c) * C);
#pragma GCC unroll 16
            for (int q = 0; q < kSpan; ++q) {
                const V xc = group_input<G>(q < inside ? V::load(xp + q * C) : V::zero(), c);
                // dy column q is kernel column s of pixel 2q - 1 + s
                if (q > 0) acc[2 * q - 1] = fmadd(w0, xc, acc[2 * q - 1]);
                if (2 * q < PW) acc[2 * q] = fmadd(w1, xc, acc[2 * q]);
                if (2 * q + 1 < PW) acc[2 * q + 1] = fmadd(w2, xc, acc[2 * q + 1]);
            }
        }
    }
#pragma GCC unroll 16
    for (int p = 0; p < PW; ++p) {
        if (p == count) break;
        if (stream)
            acc[p].stream(row + (j0 + p) * C + c0);
        else
            acc[p].store(row + (j0 + p) * C + c0);
    }
}

// Output row i in runs of kTransposedRun pixels, every vector of channels.
// The last run ends at the row's end, overlapping the one before, from an
// even pixel (the dy columns of a run start at its first pixel / 2).
template <typename T, int G>
void transposed_group_row(const TransposedGeometry& g, const T* dy, const T* w, const T* bias,
                          T* y, int64_t i, bool stream) {
    constexpr int64_t N = Vec<T>::N, PW = kTransposedRun;
    T* row = y + i * g.OW * g.C;
    for (int64_t j = 0; j < g.OW; j += PW) {
        const int64_t start = j + PW > g.OW && g.OW >= PW ? (g.OW - PW + 1) & ~int64_t(1) : j;
        const int count = static_cast<int>(g.OW - start < PW ? g.OW - start : PW);
        for (int64_t c0 = 0; c0 < g.C; c0 += N)
            transposed_group_run<T, G, PW>(g, dy, w, bias, row, i, start, count, c0, stream);
    }
#if defined(__SSE2__)
    if (stream) _mm_sfence();  // the streamed stores before any later read of y
#endif
}

template <typename T>
void transposed_grouped_runs_nhwc(const TransposedGeometry& g, const T* dy, const T* w,
                                  const T* bias, T* y, int64_t i, bool stream) {
    if constexpr (sizeof(T) == 4) {
        if (g.Cg == 8) return transposed_group_row<T, 8>(g, dy, w, bias, y, i, stream);
    }
    transposed_group_row<T, 4>(g, dy, w, bias, y, i, stream);
}

#endif

}  // namespace

void fill_transposed_grouped_runs(KernelTable& table) {
#if GCONV_ISA_LEVEL >= 1 && !defined(GCONV_GENERIC_VECTORS)
    table.f32.transposed_grouped_runs_nhwc = transposed_grouped_runs_nhwc<float>;
    table.f64.transposed_grouped_runs_nhwc = transposed_grouped_runs_nhwc<double>;
#else
    table.f32.transposed_grouped_runs_nhwc = nullptr;
    table.f64.transposed_grouped_runs_nhwc = nullptr;
#endif
}

}  // namespace GCONV_ISA
}  // namespace gconv
