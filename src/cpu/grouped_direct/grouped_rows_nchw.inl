// grouped_direct in NCHW on planes whose rows fit four vectors (AVX-512
// float32: ResNeXt's 56x56, 28x28 and 14x14 maps, RegNet's 14x14), stride
// 1, undilated, 3x3. Lanes run over an output row, and the input is read in
// place through masked loads, as the depthwise packed-rows kernel does: a
// tap is one load at its offset with the lanes in the padding masked off,
// and rows above and below the plane read a row of zeros.
//
// A block of KB output channels x RB output rows of NB vectors keeps its
// accumulators in registers over the group's Cg input channels and the nine
// taps. Each input vector it loads (a row of one input channel at one tap)
// is multiplied into all KB channels: at KB = RB = 4, NB = 1, 4 vector
// loads and 4 weight broadcasts feed 16 FMAs, where the channel-lane kernel
// loaded about once per FMA, copied its input into scratch and transposed
// its output. Wider rows take fewer rows a block (RB x NB at most 4 vectors).
//
// Each block requests the input rows and the output lines of the next: the
// rows of a group's planes are short runs a plane apart, which the hardware
// prefetchers follow too late from memory (Zen 5: ResNeXt s2 at N=16 2.2x
// faster than before with the requests, 1.2x without; at N=1 with the data
// flushed 2.2x and 1.16x). With the data in the caches they cost 2-5%.
//
// At stride 2 (ResNeXt's downsampling layers: 56x56 to 28x28), rows of up
// to two vectors of outputs: a tap's input vector is the even values of
// two masked loads (one permute), and each serves the KB channels of every
// output row of the block that the input row reaches. The plane kernel
// this replaces there copied every input row into phase-split scratch
// first, a third of its time. Its blocks request the next block's rows as
// the stride-1 blocks do (ResNeXt s3_down: 1.37x at N=16, 1.53x at N=1
// flushed, 0.98x warm; requests two blocks ahead gained only 1.25x).
#if defined(__SSE2__)
#include <immintrin.h>
#endif

#include <type_traits>

#include "cpu/common/prefetch.hpp"
#include "cpu/kernel_table.hpp"

namespace gconv {
namespace GCONV_ISA {

#include "cpu/common/kernel_common.inl"
#include "cpu/common/simd.inl"

namespace {

#if GCONV_ISA_LEVEL == 2

constexpr int kTaps = 3;          // R == S == 3
constexpr int kMostChannels = kGroupedRowsChannels;  // KB
constexpr int kPackedChannel = kTaps * kMostChannels * kTaps;  // weights per input channel

// The plane's masks per vector of a row, the same for every channel and row.
struct GroupedRows {
    int64_t H, W, OW, pt, pl, plane, out_plane;
    // The next block's input rows [fetch_row, fetch_row + fetch_rows) of
    // each channel, requested as this block starts (its output rows as it
    // ends).
    int64_t fetch_row, fetch_rows;
    uint32_t column[kGroupedRowsMostVectors][kTaps];  // lanes whose tap-s input column is in the row
    uint32_t store[kGroupedRowsMostVectors];          // lanes of an output row
};

// Stride 2: masks per vector of a row (at most two), over the twice as
// many input values each reads (bit 2l: output lane l's input column).
constexpr int kMostRowVectorsS2 = 2;
struct GroupedRowsS2 {
    int64_t H, W, OW, pt, pl, plane, out_plane;
    int64_t fetch_row, fetch_rows;  // as GroupedRows'
    uint32_t column[kMostRowVectorsS2][kTaps];
    uint32_t store[kMostRowVectorsS2];
};

// Output channels [k, k + KB) of one group, rows [oh0, oh0 + RB), NB
// vectors a row. x is the group's first input plane, w the block's packed
// weights ([Cg][r][s][4], see pack_grouped_rows_weights in
// grouped_direct.cpp). Every output sums its taps in the order of the other
// kernels (input channel, kernel row, kernel column) from zero, then adds
// the bias, so a result has the same bits whichever kernel the plane's size
// picks (a dask chunk's, say): per tap, KB weights are broadcast and RB x NB
// input vectors loaded for KB x RB x NB FMAs.
template <typename T, int KB, int RB, int NB>
GCONV_ALWAYS_INLINE void grouped_rows_block(const GroupedRows& p, int64_t Cg, const T* x,
                                            const T* w, const T* bias, int act, T* y,
                                            int64_t oh0) {
    using V = Vec<T>;
    constexpr int L = V::N, U = RB + kTaps - 1;
    int64_t offset[U];  // of input row u in a plane, or -1 outside it
    for (int u = 0; u < U; ++u) {
        const int64_t ih = oh0 - p.pt + u;
        offset[u] = ih >= 0 && ih < p.H ? ih * p.W : -1;
    }
    V acc[KB][RB][NB];
    for (int k = 0; k < KB; ++k)
        for (int j = 0; j < RB; ++j)
            for (int v = 0; v < NB; ++v) acc[k][j][v] = V::zero();
    if (p.fetch_rows > 0)
        for (int64_t c = 0; c < Cg; ++c)
            prefetch_range(x + c * p.plane + p.fetch_row * p.W,
                           p.fetch_rows * p.W * static_cast<int64_t>(sizeof(T)));
    int64_t c = 0;
    do {  // Cg >= 1: no path skips the loop, so acc[][] never needs a home in memory
        const T* xc = x + c * p.plane;
        const T* rows[U];
        for (int u = 0; u < U; ++u)
            rows[u] = (offset[u] >= 0 ? xc + offset[u] : ZeroRow<T>::values) - p.pl;
        GCONV_UNROLL(3)
        for (int r = 0; r < kTaps; ++r) {
            GCONV_UNROLL(3)
            for (int s = 0; s < kTaps; ++s) {
                const T* wt = w + (r * kTaps + s) * kMostChannels;
                V wv[KB];
                for (int k = 0; k < KB; ++k) wv[k] = V::set1(wt[k]);
                GCONV_UNROLL(4)
                for (int j = 0; j < RB; ++j) {
                    GCONV_UNROLL(4)
                    for (int v = 0; v < NB; ++v) {
                        const V xv = V::load_lanes(rows[j + r] + s + v * L, p.column[v][s]);
                        for (int k = 0; k < KB; ++k)
                            acc[k][j][v] = fmadd(wv[k], xv, acc[k][j][v]);
                    }
                }
            }
        }
        w += kPackedChannel;
    } while (++c < Cg);
    // The next block's output rows (past the plane's end: a hint, harmless).
    for (int k = 0; k < KB; ++k)
        prefetch_write_range(y + k * p.out_plane + (oh0 + RB) * p.OW,
                             RB * p.OW * static_cast<int64_t>(sizeof(T)));
    // Unrolled, as the loops above: otherwise GCC gave acc[][] a home on the
    // stack for this loop and stored all 16 accumulators to it after every
    // input channel (ResNeXt s4 and RegNet NCHW: 1.08-1.14x without).
    GCONV_UNROLL(4)
    for (int k = 0; k < KB; ++k) {
        const V b = V::set1(bias ? bias[k] : T(0));
        GCONV_UNROLL(4)
        for (int j = 0; j < RB; ++j)
            GCONV_UNROLL(4)
            for (int v = 0; v < NB; ++v)
                activate_vec(acc[k][j][v] + b, act)
                    .store_lanes(y + k * p.out_plane + (oh0 + j) * p.OW + v * L, p.store[v]);
    }
}

// The block for kb channels and rb rows (at most RB), NB vectors a row, as
// compile-time constants. Inlined whole into grouped_rows_nchw: as an
// out-of-line lambda per channel count, rows of one vector (ResNeXt s4,
// RegNet) ran 3-6% slower.
template <typename T, int NB, int RB, int KB>
GCONV_ALWAYS_INLINE void grouped_rows_rows(int64_t rb, const GroupedRows& p, int64_t Cg,
                                           const T* x, const T* w, const T* bias, int act, T* y,
                                           int64_t oh0) {
    switch (rb) {
        case 1: return grouped_rows_block<T, KB, 1, NB>(p, Cg, x, w, bias, act, y, oh0);
        case 2:
            if constexpr (RB >= 2)
                return grouped_rows_block<T, KB, 2, NB>(p, Cg, x, w, bias, act, y, oh0);
            break;
        case 3:
            if constexpr (RB >= 3)
                return grouped_rows_block<T, KB, 3, NB>(p, Cg, x, w, bias, act, y, oh0);
            break;
        default:
            if constexpr (RB >= 4)
                return grouped_rows_block<T, KB, 4, NB>(p, Cg, x, w, bias, act, y, oh0);
            break;
    }
}

template <typename T, int NB, int RB>
GCONV_ALWAYS_INLINE void grouped_rows_shaped(int64_t kb, int64_t rb, const GroupedRows& p,
                                             int64_t Cg, const T* x, const T* w, const T* bias,
                                             int act, T* y, int64_t oh0) {
    switch (kb) {
        case 1: return grouped_rows_rows<T, NB, RB, 1>(rb, p, Cg, x, w, bias, act, y, oh0);
        case 2: return grouped_rows_rows<T, NB, RB, 2>(rb, p, Cg, x, w, bias, act, y, oh0);
        case 3: return grouped_rows_rows<T, NB, RB, 3>(rb, p, Cg, x, w, bias, act, y, oh0);
        default: return grouped_rows_rows<T, NB, RB, 4>(rb, p, Cg, x, w, bias, act, y, oh0);
    }
}

// The most rows of a block of rows NB vectors wide: at most 16
// accumulators (KB = 4). With 24 (three rows of two vectors, two of three)
// ResNeXt s3 and rows of 40 and 48 ran 5-17% slower.
constexpr int grouped_rows_most_rows(int NB) { return NB == 1 ? 4 : NB == 2 ? 2 : 1; }

// Output channels [k_begin, k_end) of one image (x and y at the image),
// k_begin and k_end at multiples of four channels within a group (or its
// end). The planner sends only what this takes (see grouped_rows_fit in
// grouped_direct.cpp).
template <typename T>
void grouped_rows_nchw(const ConvGeometry& g, const T* x, const T* w, const T* bias, T* y,
                       int64_t k_begin, int64_t k_end, unsigned /*flags*/) {
    constexpr int64_t L = Vec<T>::N;
    GroupedRows p;
    p.H = g.H, p.W = g.W, p.OW = g.OW, p.pt = g.pt, p.pl = g.pl;
    p.plane = g.H * g.W, p.out_plane = g.OH * g.OW;
    const int64_t vectors = (g.OW + L - 1) / L;
    for (int64_t v = 0; v < vectors; ++v) {
        p.store[v] = inside_lanes(v * L, L, g.OW, 1, 0, g.OW);
        for (int s = 0; s < kTaps; ++s)
            p.column[v][s] = inside_lanes(v * L, L, g.OW, 1, s - g.pl, g.W);
    }
    const int64_t most_rows = grouped_rows_most_rows(static_cast<int>(vectors));
    const int64_t blocks = (g.OH + most_rows - 1) / most_rows;
    const int64_t block = (g.OH + blocks - 1) / blocks;  // equal blocks, the last shorter
    // Blocks of four channels from each group's first (the packing's).
    const int64_t blocks_per_group = (g.Kg + kMostChannels - 1) / kMostChannels;
    for (int64_t k = k_begin; k < k_end;) {
        const int64_t group = k / g.Kg, in_group = k % g.Kg;
        const int64_t group_end = (group + 1) * g.Kg;
        const int64_t end = group_end < k_end ? group_end : k_end;
        const int64_t kb = end - k < kMostChannels ? end - k : kMostChannels;
        const T* xg = x + group * g.Cg * p.plane;
        const T* wk = w + (group * blocks_per_group + in_group / kMostChannels) * g.Cg *
                              kPackedChannel;
        const T* bk = bias ? bias + k : nullptr;
        T* yk = y + k * p.out_plane;
        for (int64_t oh0 = 0; oh0 < g.OH; oh0 += block) {
            const int64_t rb = g.OH - oh0 < block ? g.OH - oh0 : block;
            // The input rows the next block reads and this one does not.
            const int64_t first = oh0 - g.pt + rb + kTaps - 1;
            const int64_t last = first + block < g.H ? first + block : g.H;
            p.fetch_row = first > 0 ? first : 0;
            p.fetch_rows = last > p.fetch_row ? last - p.fetch_row : 0;
            switch (vectors) {
                case 1:
                    grouped_rows_shaped<T, 1, grouped_rows_most_rows(1)>(kb, rb, p, g.Cg, xg, wk,
                                                                         bk, g.act, yk, oh0);
                    break;
                case 2:
                    grouped_rows_shaped<T, 2, grouped_rows_most_rows(2)>(kb, rb, p, g.Cg, xg, wk,
                                                                         bk, g.act, yk, oh0);
                    break;
                case 3:
                    grouped_rows_shaped<T, 3, grouped_rows_most_rows(3)>(kb, rb, p, g.Cg, xg, wk,
                                                                         bk, g.act, yk, oh0);
                    break;
                default:
                    grouped_rows_shaped<T, 4, grouped_rows_most_rows(4)>(kb, rb, p, g.Cg, xg, wk,
                                                                         bk, g.act, yk, oh0);
            }
        }
        k += kb;
    }
}

// Stride 2: output channels [k, k + KB) of one group, rows [oh0, oh0 +
// RB), NB vectors a row. Input row u of the block (2 * oh0 - pt + u) is
// kernel row r = u - 2j of output row j. Every output sums its taps in
// the order of the other kernels (input channel, kernel row, kernel
// column) from zero, then adds the bias: per input channel, kernel row by
// kernel row of each output row, as the loops over u and s meet them.
template <typename T, int KB, int RB, int NB>
GCONV_ALWAYS_INLINE void grouped_rows_s2_block(const GroupedRowsS2& p, int64_t Cg, const T* x,
                                               const T* w, const T* bias, int act, T* y,
                                               int64_t oh0) {
    using V = Vec<T>;
    constexpr int L = V::N, U = 2 * RB + 1;
    int64_t offset[U];  // of input row u in a plane, or -1 outside it
    for (int u = 0; u < U; ++u) {
        const int64_t ih = 2 * oh0 - p.pt + u;
        offset[u] = ih >= 0 && ih < p.H ? ih * p.W : -1;
    }
    V acc[KB][RB][NB];
    for (int k = 0; k < KB; ++k)
        for (int j = 0; j < RB; ++j)
            for (int v = 0; v < NB; ++v) acc[k][j][v] = V::zero();
    if (p.fetch_rows > 0)
        for (int64_t c = 0; c < Cg; ++c)
            prefetch_range(x + c * p.plane + p.fetch_row * p.W,
                           p.fetch_rows * p.W * static_cast<int64_t>(sizeof(T)));
    int64_t c = 0;
    do {  // Cg >= 1 (see grouped_rows_block)
        const T* xc = x + c * p.plane;
        GCONV_UNROLL(9)
        for (int u = 0; u < U; ++u) {
            const T* row = (offset[u] >= 0 ? xc + offset[u] : ZeroRow<T>::values) - p.pl;
            GCONV_UNROLL(3)
            for (int s = 0; s < kTaps; ++s) {
                V xv[NB];
                for (int v = 0; v < NB; ++v)
                    xv[v] = V::load_even_lanes(row + s + 2 * L * v, p.column[v][s]);
                GCONV_UNROLL(4)
                for (int j = 0; j < RB; ++j) {
                    const int r = u - 2 * j;
                    if (r < 0 || r >= kTaps) continue;
                    const T* wt = w + (r * kTaps + s) * kMostChannels;
                    for (int k = 0; k < KB; ++k) {
                        const V wk = V::set1(wt[k]);
                        for (int v = 0; v < NB; ++v) acc[k][j][v] = fmadd(wk, xv[v], acc[k][j][v]);
                    }
                }
            }
        }
        w += kPackedChannel;
    } while (++c < Cg);
    for (int k = 0; k < KB; ++k)
        prefetch_write_range(y + k * p.out_plane + (oh0 + RB) * p.OW,
                             RB * p.OW * static_cast<int64_t>(sizeof(T)));
    GCONV_UNROLL(4)
    for (int k = 0; k < KB; ++k) {
        const V b = V::set1(bias ? bias[k] : T(0));
        GCONV_UNROLL(4)
        for (int j = 0; j < RB; ++j)
            for (int v = 0; v < NB; ++v)
                activate_vec(acc[k][j][v] + b, act)
                    .store_lanes(y + k * p.out_plane + (oh0 + j) * p.OW + v * L, p.store[v]);
    }
}

// The block for kb channels and rb rows (at most RB), as compile-time constants.
template <typename T, int NB, int RB>
GCONV_ALWAYS_INLINE void grouped_rows_s2_shaped(int64_t kb, int64_t rb, const GroupedRowsS2& p,
                                                int64_t Cg, const T* x, const T* w,
                                                const T* bias, int act, T* y, int64_t oh0) {
    const auto rows = [&](auto kbc) {
        constexpr int KB = decltype(kbc)::value;
        switch (rb) {
            case 1: return grouped_rows_s2_block<T, KB, 1, NB>(p, Cg, x, w, bias, act, y, oh0);
            case 2:
                if constexpr (RB >= 2)
                    return grouped_rows_s2_block<T, KB, 2, NB>(p, Cg, x, w, bias, act, y, oh0);
                break;
            case 3:
                if constexpr (RB >= 3)
                    return grouped_rows_s2_block<T, KB, 3, NB>(p, Cg, x, w, bias, act, y, oh0);
                break;
            default:
                if constexpr (RB >= 4)
                    return grouped_rows_s2_block<T, KB, 4, NB>(p, Cg, x, w, bias, act, y, oh0);
                break;
        }
    };
    switch (kb) {
        case 1: return rows(std::integral_constant<int, 1>());
        case 2: return rows(std::integral_constant<int, 2>());
        case 3: return rows(std::integral_constant<int, 3>());
        default: return rows(std::integral_constant<int, 4>());
    }
}

// InPlaceRowsFn at stride 2 (grouped_rows_s2_fit in grouped_direct.cpp):
// 3x3, undilated, output rows of at most two vectors; the weights packed
// as for stride 1. Blocks of 4 channels x 4 rows of one vector, or x 2
// rows of two vectors: 16 accumulators.
template <typename T>
void grouped_rows_s2_nchw(const ConvGeometry& g, const T* x, const T* w, const T* bias, T* y,
                          int64_t k_begin, int64_t k_end, unsigned /*flags*/) {
    constexpr int64_t L = Vec<T>::N;
    GroupedRowsS2 p;
    p.H = g.H, p.W = g.W, p.OW = g.OW, p.pt = g.pt, p.pl = g.pl;
    p.plane = g.H * g.W, p.out_plane = g.OH * g.OW;
    const int64_t vectors = (g.OW + L - 1) / L;
    for (int64_t v = 0; v < vectors; ++v) {
        p.store[v] = inside_lanes(v * L, L, g.OW, 1, 0, g.OW);
        for (int s = 0; s < kTaps; ++s)
            p.column[v][s] = inside_lanes(v * L, L, g.OW, 2, s - g.pl, g.W);
    }
    const int64_t most_rows = vectors == 1 ? 4 : 2;
    const int64_t blocks = (g.OH + most_rows - 1) / most_rows;
    const int64_t block = (g.OH + blocks - 1) / blocks;  // equal blocks, the last shorter
    const int64_t blocks_per_group = (g.Kg + kMostChannels - 1) / kMostChannels;
    for (int64_t k = k_begin; k < k_end;) {
        const int64_t group = k / g.Kg, in_group = k % g.Kg;
        const int64_t group_end = (group + 1) * g.Kg;
        const int64_t end = group_end < k_end ? group_end : k_end;
        const int64_t kb = end - k < kMostChannels ? end - k : kMostChannels;
        const T* xg = x + group * g.Cg * p.plane;
        const T* wk = w + (group * blocks_per_group + in_group / kMostChannels) * g.Cg *
                              kPackedChannel;
        const T* bk = bias ? bias + k : nullptr;
        T* yk = y + k * p.out_plane;
        for (int64_t oh0 = 0; oh0 < g.OH; oh0 += block) {
            const int64_t rb = g.OH - oh0 < block ? g.OH - oh0 : block;
            // The input rows the next block reads and this one does not.
            const int64_t first = 2 * oh0 - g.pt + 2 * rb + 1;
            const int64_t last = first + 2 * block < g.H ? first + 2 * block : g.H;
            p.fetch_row = first > 0 ? first : 0;
            p.fetch_rows = last > p.fetch_row ? last - p.fetch_row : 0;
            if (vectors == 1)
                grouped_rows_s2_shaped<T, 1, 4>(kb, rb, p, g.Cg, xg, wk, bk, g.act, yk, oh0);
            else
                grouped_rows_s2_shaped<T, 2, 2>(kb, rb, p, g.Cg, xg, wk, bk, g.act, yk, oh0);
        }
        k += kb;
    }
}

#endif  // GCONV_ISA_LEVEL == 2

}  // namespace

void fill_grouped_rows_nchw(KernelTable& table) {
#if GCONV_ISA_LEVEL == 2
    table.f32.grouped_rows_nchw = grouped_rows_nchw<float>;
    table.f64.grouped_rows_nchw = grouped_rows_nchw<double>;
    table.f32.grouped_rows_s2_nchw = grouped_rows_s2_nchw<float>;
    table.f64.grouped_rows_s2_nchw = grouped_rows_s2_nchw<double>;
#else
    table.f32.grouped_rows_nchw = nullptr;
    table.f64.grouped_rows_nchw = nullptr;
    table.f32.grouped_rows_s2_nchw = nullptr;
    table.f64.grouped_rows_s2_nchw = nullptr;
#endif
}

}  // namespace GCONV_ISA
}  // namespace gconv
