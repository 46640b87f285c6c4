// Depthwise NCHW on planes no wider than one vector (AVX-512: 16 floats or
// 8 doubles; MobileNet's and EfficientNet's 14x14 and 7x7 layers), stride 1,
// undilated, any depth multiplier, square 3x3, 5x5 or 7x7 kernels.
//
// P = lanes / W rows of a plane share a vector as they lie in memory (7x7
// floats: two rows in 14 lanes; at most two), so every tap is one masked
// load straight from x at the tap's offset: lanes whose input column falls
// in the padding, or whose row lies outside the plane, are masked off and
// read as zero. No copy, no transpose, no scratch: the small-plane kernel,
// which copies 16 planes into a channels-innermost tile through 8 x 8
// transposes, spends more time in its copies than in its arithmetic.
//
// A block of up to eight output vectors (8 * P rows) keeps its accumulators
// in registers; with a 3x3 kernel each input vector it reads is loaded
// once for all the output rows it reaches (three of them at P = 1), and
// with the usual padding of one column its left and right taps are that
// vector moved by a lane (PackedRows::shifted).
#if defined(__SSE2__)
#include <immintrin.h>
#endif

#include "cpu/common/prefetch.hpp"
#include "cpu/kernel_table.hpp"

namespace gconv {
namespace GCONV_ISA {

#include "cpu/common/kernel_common.inl"
#include "cpu/common/simd.inl"

namespace {

#if GCONV_ISA_LEVEL == 2

#include "cpu/common/lane_moves.inl"

constexpr int kMostRowsPerVector = 2;
constexpr int kHeldWeights = 9;  // weight vectors kept in registers (3x3)
constexpr int kMostKernelColumns = 7;
// Output vectors per block: RB accumulators, nine weight vectors and an
// input vector within 32 registers.
constexpr int kBlockVectors = 8;
constexpr int kMostInputVectors = (kBlockVectors - 1) * kMostRowsPerVector + 7;
constexpr int kMostBlocks = (kPackedRowsMostRows + kBlockVectors - 1) / kBlockVectors;

// A plane's blocks, the same for every channel: each block's load masks
// (lanes whose input row and column lie inside the plane), looked up as
// one k-register load per input vector, where computing them took more
// instructions than the arithmetic.
struct PackedRows {
    int64_t W, OW, pt, pl;
    int64_t vectors, block;  // output vectors per plane, per block (the last fewer)
    uint16_t mask[kMostBlocks][kMostKernelColumns][kMostInputVectors];
    uint16_t store[kMostBlocks][kBlockVectors];  // lanes of each output vector inside the plane
    // 3x3 with one column of padding on the left (shifted): each input
    // vector is loaded once, at its rows' first column (lanes of rows
    // inside the plane), and its left and right taps are that vector moved
    // by a lane, with the lanes whose tap column lies outside the row zeroed.
    bool shifted;
    uint16_t rows[kMostBlocks][kMostInputVectors];
    uint16_t left, right;
};

// Lanes of the P packed rows from row `first` whose row lies in [0, rows).
inline uint32_t rows_inside(int P, int64_t first, int64_t rows, int64_t width, uint32_t one_row) {
    uint32_t lanes = 0;
    for (int i = 0; i < P; ++i)
        if (first + i >= 0 && first + i < rows) lanes |= one_row << (i * width);
    return lanes;
}

// Output vectors [v0, v0 + RB) (rows v0 * P ...), block `b`, of CH channels:
// input plane x[c], weights w[c] and output plane y[c] for channel c.
// Input vector u = j * P + r (counted from the block's first row) serves
// output vector j through kernel row r. Every output sums its taps in the
// order of the other kernels, kernel row by kernel row from zero, then adds
// the bias, so a result has the same bits whichever kernel the plane's
// size picks (a dask chunk's, say). With 3x3's nine weights held in
// registers, input vector by input vector: each is loaded once for every
// output it reaches. Larger kernels go tap by tap, loading an input vector
// per output (their weights and accumulators would not fit the registers).
// Rows in the padding load nothing and add zeros: a branch per row cost
// more than its FMAs.
template <typename T, int R, int S, int P, int RB, int CH>
GCONV_ALWAYS_INLINE void packed_rows_block(const PackedRows& p, int64_t b, const T* const* w,
                                           const T* bias, int act, const T* const* x,
                                           T* const* y) {
    using V = Vec<T>;
    constexpr int U = (RB - 1) * P + R;
    const int64_t oh0 = b * p.block * P;
    const int64_t offset = (oh0 - p.pt) * p.W - p.pl;
    V acc[CH][RB];
    for (int c = 0; c < CH; ++c)
        for (int j = 0; j < RB; ++j) acc[c][j] = V::zero();
    if constexpr (R * S <= kHeldWeights) {
        V wv[CH][R * S];
        for (int c = 0; c < CH; ++c)
            for (int t = 0; t < R * S; ++t) wv[c][t] = V::set1(w[c][t]);
        // One pointer stepped a row at a time, the taps and the other
        // channel at fixed distances from it: each load is a single
        // instruction (recomputing u * W + s per load was a third of the
        // loop's instructions).
        const T* xu = x[0] + offset;
        const int64_t next_channel = CH > 1 ? x[CH - 1] - x[0] : 0;
        if (R == 3 && S == 3 && p.shifted) {
            // A third of the loads (which, split across cache lines,
            // bounded this loop) for two lane moves; each tap's vector
            // holds the same values as its masked load: the same sums.
            // MobileNetV2's 960 channels at 7x7: 1.22x (N=1 and N=16);
            // 6x6 and 8x8 planes 1.2x; 12x12 and 14x14 (one row a vector,
            // the loads fewer already) 1.0-1.04x.
            const T* row = xu + 1;  // column 0 of the vector's first row
            GCONV_UNROLL(32)
            for (int u = 0; u < U; ++u, row += p.W) {
                const uint32_t inside = p.rows[b][u];
                GCONV_UNROLL(2)
                for (int c = 0; c < CH; ++c) {
                    const V mid = V::load_lanes(row + c * next_channel, inside);
                    const V xv[3] = {moved<-1>(mid, p.left), mid, moved<1>(mid, p.right)};
                    GCONV_UNROLL(8)
                    for (int s = 0; s < S; ++s)
                        GCONV_UNROLL(8)
                        for (int j = 0; j < RB; ++j) {
                            const int r = u - j * P;
                            if (r >= 0 && r < R)
                                acc[c][j] = fmadd(wv[c][r * S + s], xv[s], acc[c][j]);
                        }
                }
            }
        } else {
            GCONV_UNROLL(32)
            for (int u = 0; u < U; ++u, xu += p.W) {
                GCONV_UNROLL(8)
                for (int s = 0; s < S; ++s) {
                    const uint32_t mask = p.mask[b][s][u];
                    GCONV_UNROLL(2)
                    for (int c = 0; c < CH; ++c) {
                        const V xv = V::load_lanes(xu + c * next_channel + s, mask);
                        GCONV_UNROLL(8)
                        for (int j = 0; j < RB; ++j) {
                            const int r = u - j * P;
                            if (r >= 0 && r < R) acc[c][j] = fmadd(wv[c][r * S + s], xv, acc[c][j]);
                        }
                    }
                }
            }
        }
    } else {
        static_assert(CH == 1, "larger kernels take one channel at a time");
        const T* base = x[0] + offset;
        GCONV_UNROLL(8)
        for (int r = 0; r < R; ++r) {
            GCONV_UNROLL(8)
            for (int s = 0; s < S; ++s) {
                const V wv = V::set1(w[0][r * S + s]);
                GCONV_UNROLL(8)
                for (int j = 0; j < RB; ++j) {
                    const int u = j * P + r;
                    acc[0][j] = fmadd(wv, V::load_lanes(base + u * p.W + s, p.mask[b][s][u]),
                                      acc[0][j]);
                }
            }
        }
    }
    for (int c = 0; c < CH; ++c) {
        const V bv = V::set1(bias ? bias[c] : T(0));
        T* out = y[c] + oh0 * p.OW;
        for (int j = 0; j < RB; ++j, out += P * p.OW)
            activate_vec(acc[c][j] + bv, act).store_lanes(out, p.store[b][j]);
    }
}

// Channels [k, k + CH) through every block of their planes.
template <typename T, int R, int S, int P, int CH>
GCONV_ALWAYS_INLINE void packed_rows_channels(const PackedRows& p, const ConvGeometry& g,
                                              const T* x, const T* w, const T* bias, T* y,
                                              int64_t k) {
    const int64_t plane = g.H * g.W, out_plane = g.OH * g.OW;
    const T* wc[CH];
    const T* xc[CH];
    T* yc[CH];
    for (int c = 0; c < CH; ++c) {  // output channel k reads plane k / Kg
        wc[c] = w + (k + c) * R * S;
        xc[c] = x + (k + c) / g.Kg * plane;
        yc[c] = y + (k + c) * out_plane;
    }
    const T* bc = bias ? bias + k : nullptr;
    for (int64_t blk = 0, v0 = 0; v0 < p.vectors; ++blk, v0 += p.block) {
        const int64_t n = p.vectors - v0 < p.block ? p.vectors - v0 : p.block;
        switch (n) {  // the block size as a compile-time constant
#define GCONV_PACKED_ROWS_CASE(rb)                                             \
    case rb:                                                                   \
        packed_rows_block<T, R, S, P, rb, CH>(p, blk, wc, bc, g.act, xc, yc);  \
        break;
            GCONV_PACKED_ROWS_CASE(1)
            GCONV_PACKED_ROWS_CASE(2)
            GCONV_PACKED_ROWS_CASE(3)
            GCONV_PACKED_ROWS_CASE(4)
            GCONV_PACKED_ROWS_CASE(5)
            GCONV_PACKED_ROWS_CASE(6)
            GCONV_PACKED_ROWS_CASE(7)
            GCONV_PACKED_ROWS_CASE(8)
#undef GCONV_PACKED_ROWS_CASE
            default:
                break;
        }
    }
}

// Channels requested ahead (see packed_rows_planes): about the time the
// memory takes to answer, at a 5x5 plane of 14x14 per channel.
constexpr int64_t kRequestedChannelsAhead = 4;

// Channels [k, k + n) kRequestedChannelsAhead on: their input planes (one
// per Kg outputs) into L1, and their output planes. Inlined always, as the
// helpers of prefetch.hpp: GCC deleted calls it did not inline to a
// function that only prefetches.
template <typename T>
GCONV_ALWAYS_INLINE void request_planes_ahead(const ConvGeometry& g, const T* x, T* y,
                                              int64_t k, int64_t n) {
    const int64_t plane = g.H * g.W, out_plane = g.OH * g.OW;
    const int64_t size = static_cast<int64_t>(sizeof(T));
    const int64_t first = k + kRequestedChannelsAhead;
    const int64_t planes = (first + n - 1) / g.Kg - first / g.Kg + 1;
    prefetch_range(x + first / g.Kg * plane, planes * plane * size);
    prefetch_write_range(y + first * out_plane, n * out_plane * size);
}

// 3x3 with two rows per vector (7x7 planes: 4 vectors a plane) takes two
// channels at a time: one plane's four dependent chains of taps left the
// FMA units waiting, and the two planes share each load mask (MobileNetV2's
// 960 channels at 7x7: 1.08-1.12x). The rest keep one channel: with 7
// vectors a block (one row per vector) two channels' accumulators and
// weights spilled (14x14: 0.9x, 5x5 on 14x14: 0.65x), and 5x5 and 7x7,
// unrolled over two channels, ran 0.94x and 0.66x on 7x7 planes.
//
// With `fetch`, 5x5 and 7x7 request the input and output planes of the
// channels kRequestedChannelsAhead on into L1: their taps are masked loads
// across cache lines, which on Zen 5 ran at half speed when they missed L1
// (see dwconv2d_wide_rows.inl). EfficientNet's 5x5 on 14x14 at N=16, 2
// threads: 2.05x called back to back, 1.5x with the caches flushed; the
// input alone 1.52x and 1.25x. 3x3 (MobileNetV2's 14x14 and 7x7 at N=16)
// gained 1.14-1.46x flushed but ran 0.9-1.0x back to back, its 10 MB kept
// in L3 between calls: no requests.
template <typename T, int R, int S, int P>
void packed_rows_planes(const PackedRows& p, const ConvGeometry& g, const T* x, const T* w,
                        const T* bias, T* y, int64_t k_begin, int64_t k_end, bool fetch) {
    fetch = fetch && R > 3;
    int64_t k = k_begin;
    if constexpr (P == 2 && R * S <= kHeldWeights)
        for (; k + 2 <= k_end; k += 2) {
            if (fetch) request_planes_ahead(g, x, y, k, 2);
            packed_rows_channels<T, R, S, P, 2>(p, g, x, w, bias, y, k);
        }
    for (; k < k_end; ++k) {
        if (fetch) request_planes_ahead(g, x, y, k, 1);
        packed_rows_channels<T, R, S, P, 1>(p, g, x, w, bias, y, k);
    }
}

template <typename T, int K>
void packed_rows_sized(const PackedRows& p, int P, const ConvGeometry& g, const T* x,
                       const T* w, const T* bias, T* y, int64_t k_begin, int64_t k_end,
                       bool fetch) {
    if (P == 2)
        packed_rows_planes<T, K, K, 2>(p, g, x, w, bias, y, k_begin, k_end, fetch);
    else
        packed_rows_planes<T, K, K, 1>(p, g, x, w, bias, y, k_begin, k_end, fetch);
}

// The planner sends only what this takes (see packed_rows_fit in
// src/cpu/depthwise/depthwise.cpp): W and OW <= lanes, stride 1,
// undilated, R == S in {3, 5, 7}.
template <typename T>
void dwconv2d_nchw_packed_rows(const ConvGeometry& g, const T* x, const T* w, const T* bias,
                               T* y, int64_t k_begin, int64_t k_end,
                               unsigned flags) {
    constexpr int64_t L = Vec<T>::N;
    const bool fetch = (flags & kRowsFetch) != 0;
    // Rows share a vector only where input and output rows have the same
    // width, so both pack alike.
    int P = g.OW == g.W ? static_cast<int>(L / g.W) : 1;
    if (P > kMostRowsPerVector) P = kMostRowsPerVector;
    PackedRows p;
    p.W = g.W, p.OW = g.OW, p.pt = g.pt, p.pl = g.pl;
    p.vectors = (g.OH + P - 1) / P;
    const int64_t blocks = (p.vectors + kBlockVectors - 1) / kBlockVectors;
    p.block = (p.vectors + blocks - 1) / blocks;  // equal blocks, the last shorter
    const uint32_t in_row = P == 1 ? (L == 16 ? 0xFFFFu : (1u << L) - 1u) : (1u << g.W) - 1u;
    const uint32_t out_row = (1u << g.OW) - 1u;
    const int U = static_cast<int>((p.block - 1) * P + g.R);
    for (int64_t b = 0; b < blocks; ++b) {
        const int64_t oh0 = b * p.block * P;
        for (int64_t s = 0; s < g.S; ++s) {
            uint32_t column = 0;
            for (int64_t l = 0; l < P * g.OW; ++l) {
                const int64_t col = l % g.OW + s - g.pl;
                if (col >= 0 && col < g.W) column |= 1u << l;
            }
            for (int u = 0; u < U; ++u)
                p.mask[b][s][u] = static_cast<uint16_t>(
                    column & rows_inside(P, oh0 - g.pt + u, g.H, g.W, in_row));
            if (s == 0) p.left = static_cast<uint16_t>(column);
            if (s == 2) p.right = static_cast<uint16_t>(column);
        }
        for (int u = 0; u < U; ++u)  // each row's W values, rows inside the plane
            p.rows[b][u] = static_cast<uint16_t>(
                rows_inside(P, oh0 - g.pt + u, g.H, g.W, (1u << g.W) - 1u));
        for (int64_t j = 0; j < p.block; ++j)
            p.store[b][j] =
                static_cast<uint16_t>(rows_inside(P, oh0 + j * P, g.OH, g.OW, out_row));
    }
    p.shifted = g.R == 3 && g.S == 3 && g.pl == 1;
    if (g.R == 3)
        packed_rows_sized<T, 3>(p, P, g, x, w, bias, y, k_begin, k_end, fetch);
    else if (g.R == 5)
        packed_rows_sized<T, 5>(p, P, g, x, w, bias, y, k_begin, k_end, fetch);
    else
        packed_rows_sized<T, 7>(p, P, g, x, w, bias, y, k_begin, k_end, fetch);
}

#endif  // GCONV_ISA_LEVEL == 2

}  // namespace

void fill_depthwise_packed_rows(KernelTable& table) {
#if GCONV_ISA_LEVEL == 2
    table.f32.dwconv_nchw_packed_rows = dwconv2d_nchw_packed_rows<float>;
    table.f64.dwconv_nchw_packed_rows = dwconv2d_nchw_packed_rows<double>;
#else
    table.f32.dwconv_nchw_packed_rows = nullptr;
    table.f64.dwconv_nchw_packed_rows = nullptr;
#endif
}

}  // namespace GCONV_ISA
}  // namespace gconv
