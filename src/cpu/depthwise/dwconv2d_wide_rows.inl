// Depthwise NCHW on planes wider than one vector (AVX-512: 28, 56 and 112
// wide maps of MobileNet, EfficientNet and ConvNeXt), undilated, any depth
// multiplier, square 3x3, 5x5 or 7x7 kernels at stride 1 and 3x3 at stride
// 2, read in place.
//
// Output rows are cut into chunks of up to four vectors (two for 5x5 and
// 7x7); every tap of a 3x3 chunk is a masked load straight from x at the
// tap's offset, the lanes whose input column falls in the padding (or past
// the row) masked off and read as zero; at stride 2, two masked loads and
// one permute that keeps the even values. 5x5 and 7x7 load each input row
// once and shift it into place per tap column. Rows above and below the
// plane are read from a row of zeros instead. No padded copy of the input:
// the plane kernel of direct_nchw.inl copies every input row into scratch
// first (split into column phases at stride 2) and loads each of its R * S
// taps once per output vector.
//
// A block of RB output rows of a chunk keeps its RB x NB accumulators in
// registers, and each input vector it reads is loaded (3x3) or shuffled
// into place (5x5 and 7x7) once for all the output rows it reaches: a
// block of four rows loads six vectors per column of 3x3 taps where the
// plane kernel loaded twelve.
#if defined(__SSE2__)
#include <immintrin.h>
#endif

#include <numeric>

#include "cpu/common/prefetch.hpp"
#include "cpu/kernel_table.hpp"

namespace gconv {
namespace GCONV_ISA {

#include "cpu/common/kernel_common.inl"
#include "cpu/common/simd.inl"

namespace {

#if GCONV_ISA_LEVEL == 2

constexpr int kMostKernelColumns = 7;
// How a block's results are stored: as they come, as non-temporal vectors
// (rows of whole lines), or through a buffer whose whole lines stream.
constexpr int kStorePlain = 0, kStoreRows = 1, kStoreLines = 2;
constexpr int kHeldWeights = 9;  // weight vectors kept in registers (3x3)
// Vectors per chunk: four with 3x3, two with 5x5 and 7x7 (whose loop
// holds an input row's NB + 1 vectors and NB shuffled ones besides the
// accumulators; chunks of four, with fewer rows, spilled).
template <int R>
constexpr int chunk_vectors() {
    return R == 3 ? 4 : 2;
}
constexpr int kMostChunkVectors = chunk_vectors<3>();  // of any kernel
constexpr int kMostChunks = 8;
// Output rows per block, for chunks of NB vectors: at most 16
// accumulators, leaving registers for nine weights and the input (3x3),
// or for the input rows' vectors (5x5). 7x7 takes four rows of two
// vectors: measured on convnext's 56x56 (N=1 and 16), 1.13x faster than
// eight and 1.03x than six, at which GCC still spilled.
template <int NB, int R>
constexpr int block_rows() {
    return R == 7 ? 4 : NB <= 2 ? 8 : NB == 3 ? 5 : 4;
}
static_assert(kMostChunks * chunk_vectors<7>() >= kWideRowsMostVectors, "chunks too few");

static_assert(kWideRowsMostColumns <= kZeroRowValues, "rows outside the plane read zeros");

// The chunks of a row, the same for every channel and row.
struct WideRows {
    int64_t H, W, OW, pt, pl;
    int64_t chunks, chunk_vectors;  // chunks per row, vectors per chunk (the last fewer)
    int64_t block;                  // output rows per block
    // Load masks: over a vector's lanes at stride 1, over twice as many
    // input values at stride 2 (the even ones). Past the taps' masks, the
    // NB + 1 vectors from the chunk's first tap column (stride 1).
    uint32_t column[kMostChunks][kMostKernelColumns + 1][kMostChunkVectors + 1];
    uint16_t store[kMostChunks][kMostChunkVectors];  // lanes inside the row
    int64_t Cg, plane;  // input planes per output plane (grouped), values per plane
};

// Vector v's input at tap offset s: its lanes' columns, or every other one.
template <typename T, int ST>
GCONV_ALWAYS_INLINE Vec<T> load_tap(const T* row, int s, int v, uint32_t mask) {
    constexpr int L = Vec<T>::N;
    if constexpr (ST == 1)
        return Vec<T>::load_lanes(row + s + v * L, mask);
    else
        return Vec<T>::load_even_lanes(row + s + 2 * v * L, mask);
}

// Lanes s.. of lo and hi (valignd): tap column s's vector, for s below
// kMostKernelColumns (a constant once the caller's loop over s unrolls).
template <typename T>
GCONV_ALWAYS_INLINE Vec<T> shift_lanes(int s, Vec<T> lo, Vec<T> hi) {
    using V = Vec<T>;
    switch (s) {
        case 1: return V::template concat_shift<1>(lo, hi);
        case 2: return V::template concat_shift<2>(lo, hi);
        case 3: return V::template concat_shift<3>(lo, hi);
        case 4: return V::template concat_shift<4>(lo, hi);
        case 5: return V::template concat_shift<5>(lo, hi);
        case 6: return V::template concat_shift<6>(lo, hi);
        default: return lo;
    }
}
static_assert(kMostKernelColumns <= 7, "shift_lanes covers seven tap columns");

// Input rows [ST * oh0 - pt, + U) of plane x from the chunk's first input
// column (output column col0), rows outside the plane from a row of zeros.
template <typename T, int U, int ST>
GCONV_ALWAYS_INLINE void block_input_rows(const WideRows& p, const T* x, int64_t oh0,
                                          int64_t col0, const T* (&rows)[U]) {
    for (int u = 0; u < U; ++u) {
        const int64_t ih = ST * oh0 - p.pt + u;
        rows[u] = (ih >= 0 && ih < p.H ? x + ih * p.W : ZeroRow<T>::values) + ST * col0 - p.pl;
    }
}

// One input plane's taps into the block's accumulators: rows[u] is input
// row u of the block (a row of zeros outside the plane) at the chunk's
// first input column, w the plane's R * S weights.
template <typename T, int R, int S, int NB, int RB, int ST>
GCONV_ALWAYS_INLINE void wide_rows_taps(const uint32_t (*column)[kMostChunkVectors + 1],
                                        const T* const* rows, const T* w,
                                        Vec<T> (&acc)[RB][NB]) {
    using V = Vec<T>;
    constexpr int L = V::N, U = ST * (RB - 1) + R;
    if constexpr (R * S <= kHeldWeights) {
        V wv[R * S];
        for (int t = 0; t < R * S; ++t) wv[t] = V::set1(w[t]);
        GCONV_UNROLL(16)
        for (int u = 0; u < U; ++u) {
            GCONV_UNROLL(8)
            for (int s = 0; s < S; ++s) {
                GCONV_UNROLL(4)
                for (int v = 0; v < NB; ++v) {
                    const V xv = load_tap<T, ST>(rows[u], s, v, column[s][v]);
                    GCONV_UNROLL(8)
                    for (int j = 0; j < RB; ++j) {
                        const int r = u - ST * j;
                        if (r >= 0 && r < R) acc[j][v] = fmadd(wv[r * S + s], xv, acc[j][v]);
                    }
                }
            }
        }
    } else if constexpr (ST == 1) {
        // Input row by input row: its NB + 1 vectors are loaded once (zero
        // outside the plane), each tap column's vectors are built from them
        // with one shuffle (valignd) rather than loaded at a float offset
        // (tap by tap with loads, 5x5 and 7x7 ran at 0.42x), and each
        // shuffled vector serves every output row it reaches, its weight a
        // broadcast from memory. Output row j still sums kernel row by kernel
        // row: input rows come in order, and r = u - j.
        const uint32_t* chunk = column[kMostKernelColumns];
        GCONV_UNROLL(16)
        for (int u = 0; u < U; ++u) {
            V c[NB + 1];
            for (int v = 0; v <= NB; ++v) c[v] = V::load_lanes(rows[u] + v * L, chunk[v]);
            // Opaque to the compiler: otherwise it broadcasts each weight
            // once for all the input rows that use it and holds the R * S
            // vectors, spilling the accumulators.
            const T* wu = w;
#if defined(__GNUC__)
            __asm__("" : "+r"(wu));
#endif
            GCONV_UNROLL(8)
            for (int s = 0; s < S; ++s) {
                V xs[NB];
                for (int v = 0; v < NB; ++v) xs[v] = shift_lanes<T>(s, c[v], c[v + 1]);
                // Weight by weight, each used by the NB vectors at once.
                GCONV_UNROLL(8)
                for (int j = 0; j < RB; ++j) {
                    const int r = u - j;
                    if (r < 0 || r >= R) continue;
                    const V wv = V::set1(wu[r * S + s]);
                    for (int v = 0; v < NB; ++v) acc[j][v] = fmadd(wv, xs[v], acc[j][v]);
                }
            }
        }
    } else {
        static_assert(ST == 1, "stride 2 takes 3x3 only");
    }
}

// Output rows [oh0, oh0 + RB) of the chunk whose first column is col0, at
// stride ST (1 or 2, both directions), from one input plane (depthwise) or
// the group's p.Cg planes in turn (kGrouped). Input row u (counted from
// the block's first) serves output row j through kernel row r = u - ST * j.
// Every output sums its taps in the order of the other kernels (input
// plane, kernel row, kernel column) from zero, then adds the bias, so a
// result has the same bits whichever kernel the plane's size picks (a dask
// chunk's, say). With 3x3's nine weights held in registers, input vector
// by input vector: each is loaded once for every output row it reaches;
// larger kernels shift each loaded input row into place (wide_rows_taps).
template <typename T, int R, int S, int NB, int RB, int ST, bool kGrouped, int kStore>
GCONV_ALWAYS_INLINE void wide_rows_block(const WideRows& p,
                                         const uint32_t (*column)[kMostChunkVectors + 1],
                                         const uint16_t* store, const T* w, T bias, int act,
                                         const T* x, T* y, int64_t oh0, int64_t col0) {
    using V = Vec<T>;
    constexpr int L = V::N, U = ST * (RB - 1) + R;
    const T* rows[U];
    V acc[RB][NB];
    for (int j = 0; j < RB; ++j)
        for (int v = 0; v < NB; ++v) acc[j][v] = V::zero();
    // The group's planes in a separate instantiation: a loop over the
    // planes, even one known to run once, cost depthwise 5-8% on some
    // layers. A do-while, as Cg >= 1: with the first plane outside a loop
    // over the rest, GCC kept the accumulators' home on the stack (3x3 at
    // stride 1: 248 vector stores to the stack in the function, 85 now;
    // ResNeXt s2 NCHW N=16 1.06-1.12x).
    if constexpr (kGrouped) {
        int64_t c = 0;
        do {
            block_input_rows<T, U, ST>(p, x + c * p.plane, oh0, col0, rows);
            wide_rows_taps<T, R, S, NB, RB, ST>(column, rows, w + c * R * S, acc);
        } while (++c < p.Cg);
    } else {
        block_input_rows<T, U, ST>(p, x, oh0, col0, rows);
        wide_rows_taps<T, R, S, NB, RB, ST>(column, rows, w, acc);
    }
    const V bv = V::set1(bias);
    if constexpr (kStore == kStoreLines) {
        // The chunk is the whole row: the block's rows side by side as in
        // y, then streamed a vector at a time, their RB * OW values whole
        // lines from a line (see wide_rows_run).
        alignas(64) T block[RB * NB * L];
        for (int j = 0; j < RB; ++j)
            for (int v = 0; v < NB; ++v)
                activate_vec(acc[j][v] + bv, act).store_lanes(block + j * p.OW + v * L, store[v]);
        T* out = y + oh0 * p.OW;
        for (int64_t u = 0; u < RB * p.OW; u += L) V::load(block + u).stream(out + u);
        return;
    }
    for (int j = 0; j < RB; ++j) {
        T* out = y + (oh0 + j) * p.OW + col0;
        for (int v = 0; v < NB; ++v) {
            const V result = activate_vec(acc[j][v] + bv, act);
            if constexpr (kStore == kStoreRows)  // rows of whole lines: every lane stored
                result.stream(out + v * L);
            else
                result.store_lanes(out + v * L, store[v]);
        }
    }
}

// One block of rb rows of a chunk of nb vectors, both as compile-time
// constants.
template <typename T, int R, int S, int NB, int ST, bool kGrouped, int kStore>
GCONV_ALWAYS_INLINE void wide_rows_rows(int64_t rb, const WideRows& p, int64_t chunk,
                                        const T* w, T bias, int act, const T* x, T* y,
                                        int64_t oh0) {
    const int64_t col0 = chunk * p.chunk_vectors * Vec<T>::N;
    const auto* column = p.column[chunk];
    const uint16_t* store = p.store[chunk];
    switch (rb) {
#define GCONV_WIDE_ROWS_CASE(n)                                                              \
    case n:                                                                                  \
        if constexpr (n <= block_rows<NB, R>())                                                 \
            wide_rows_block<T, R, S, NB, n, ST, kGrouped, kStore>(p, column, store, w, bias,   \
                                                                  act, x, y, oh0, col0);     \
        break;
        GCONV_WIDE_ROWS_CASE(1)
        GCONV_WIDE_ROWS_CASE(2)
        GCONV_WIDE_ROWS_CASE(3)
        GCONV_WIDE_ROWS_CASE(4)
        GCONV_WIDE_ROWS_CASE(5)
        GCONV_WIDE_ROWS_CASE(6)
        GCONV_WIDE_ROWS_CASE(7)
        GCONV_WIDE_ROWS_CASE(8)
#undef GCONV_WIDE_ROWS_CASE
        default:
            break;
    }
}

// With `fetch`, depthwise 5x5 and 7x7 (stored as they come) request, a
// share per block of rows, the next channel's input plane into L2 and its
// output plane: on Zen 5 they otherwise waited on memory (ConvNeXt's 7x7
// and EfficientNet's 5x5 at N=16, float32 and float64: 1.9-2.5x). 3x3
// requests the input rows two blocks ahead into L1 instead: its taps are
// masked loads across cache lines, which on Zen 5 ran at half the speed of
// plain ones when they missed L1 (a 25 MB sweep: 14.8 against 28.1 GB/s),
// and L2 hits did not save them (MobileNetV2 at N=16, 2 threads: 112x112
// 4.0x, 112x112 stride 2 3.9x, 56x56 3.0x and in float64 3.2x; at N=1,
// with no requests, unchanged).
template <typename T, int K, int ST, bool kGrouped, int kStore>
void wide_rows_planes(const WideRows& p, const ConvGeometry& g, const T* x, const T* w,
                      const T* bias, T* y, int64_t k_begin, int64_t k_end, bool fetch) {
    constexpr int64_t L = Vec<T>::N;
    const int64_t plane = g.H * g.W, out_plane = g.OH * g.OW;
    const int64_t vectors = (g.OW + L - 1) / L;
    for (int64_t k = k_begin; k < k_end; ++k) {  // output channel k reads group k / Kg
        const int64_t planes = kGrouped ? g.Cg : 1;
        const T* wc = w + k * planes * K * K;
        const T b = bias ? bias[k] : T(0);
        const T* xc = x + k / g.Kg * planes * plane;
        T* yc = y + k * out_plane;
        const int64_t blocks = (g.OH + p.block - 1) / p.block;
        for (int64_t oh0 = 0; oh0 < g.OH; oh0 += p.block) {
            const int64_t rb = g.OH - oh0 < p.block ? g.OH - oh0 : p.block;
            if (!kGrouped && K == 3 && fetch) {
                // The input rows the block after next adds, into L1 (past
                // the plane's last row: the next plane's first, which
                // follows it in x).
                const int64_t span = ST * (p.block - 1) + K;  // input rows a block reads
                const int64_t first = ST * (oh0 + p.block) - g.pt + span;
                const int64_t size = static_cast<int64_t>(sizeof(T));
                prefetch_range(xc + first * g.W, ST * p.block * g.W * size);
            }
            if (!kGrouped && K > 3 && fetch) {
                const int64_t share = oh0 / p.block;
                const int64_t size = static_cast<int64_t>(sizeof(T));
                prefetch_share_l2(xc + plane, plane * size, share, blocks);
                prefetch_write_share(yc + out_plane, out_plane * size, share, blocks);
            }
            for (int64_t chunk = 0; chunk < p.chunks; ++chunk) {
                const int64_t first = chunk * p.chunk_vectors;
                const int64_t nb = vectors - first < p.chunk_vectors ? vectors - first
                                                                     : p.chunk_vectors;
                if (chunk_vectors<K>() == 4 && nb == 4)
                    wide_rows_rows<T, K, K, 4, ST, kGrouped, kStore>(rb, p, chunk, wc, b, g.act,
                                                                       xc, yc, oh0);
                else if (chunk_vectors<K>() == 4 && nb == 3)
                    wide_rows_rows<T, K, K, 3, ST, kGrouped, kStore>(rb, p, chunk, wc, b, g.act,
                                                                       xc, yc, oh0);
                else if (nb == 2)
                    wide_rows_rows<T, K, K, 2, ST, kGrouped, kStore>(rb, p, chunk, wc, b, g.act,
                                                                       xc, yc, oh0);
                else
                    wide_rows_rows<T, K, K, 1, ST, kGrouped, kStore>(rb, p, chunk, wc, b, g.act,
                                                                       xc, yc, oh0);
            }
        }
    }
}

// The chunks of the rows and the blocks of rows for a K x K kernel.
template <typename T, int K>
WideRows wide_rows_layout(const ConvGeometry& g) {
    constexpr int64_t L = Vec<T>::N;
    WideRows p;
    p.H = g.H, p.W = g.W, p.OW = g.OW, p.pt = g.pt, p.pl = g.pl;
    p.Cg = g.Cg, p.plane = g.H * g.W;
    const int64_t vectors = (g.OW + L - 1) / L;
    p.chunks = (vectors + chunk_vectors<K>() - 1) / chunk_vectors<K>();
    p.chunk_vectors = (vectors + p.chunks - 1) / p.chunks;  // equal chunks, the last fewer
    // Rows per block: the widest chunk's, in equal blocks.
    const int64_t most = p.chunk_vectors >= 4 ? block_rows<4, K>()
                         : p.chunk_vectors == 3 ? block_rows<3, K>()
                         : p.chunk_vectors == 2 ? block_rows<2, K>()
                                                : block_rows<1, K>();
    const int64_t blocks = (g.OH + most - 1) / most;
    p.block = (g.OH + blocks - 1) / blocks;
    for (int64_t chunk = 0; chunk < p.chunks; ++chunk)
        for (int64_t v = 0; v < p.chunk_vectors; ++v) {
            const int64_t first = (chunk * p.chunk_vectors + v) * L;  // of the vector's lanes
            p.store[chunk][v] = static_cast<uint16_t>(inside_lanes(first, L, g.OW, 1, 0, g.OW));
            for (int64_t s = 0; s < g.S; ++s)  // bit l * sw: output lane l's input value
                p.column[chunk][s][v] = inside_lanes(first, L, g.OW, g.sw, s - g.pl, g.W);
        }
    for (int64_t chunk = 0; chunk < p.chunks; ++chunk)
        for (int64_t v = 0; v <= p.chunk_vectors; ++v)  // input columns from the chunk's first
            p.column[chunk][kMostKernelColumns][v] =
                inside_lanes((chunk * p.chunk_vectors + v) * L - g.pl, L, g.W, 1, 0, g.W);
    return p;
}

template <typename T, int K, int ST, bool kGrouped>
void wide_rows_run(const ConvGeometry& g, const T* x, const T* w, const T* bias, T* y,
                   int64_t k_begin, int64_t k_end, bool stream, bool fetch) {
    const WideRows p = wide_rows_layout<T, K>(g);
    // Streamed stores for 3x3 only (MobileNetV2's 112x112 float32 and 56x56
    // float64 at N=16: 1.3-1.6x): a run-time flag in the store loop slowed
    // ConvNeXt's 7x7 1.8x, and each compiled variant lengthens the build.
    // Depthwise rows that are not whole lines stream by blocks of rows that
    // are: the chunk a whole row, and every block a multiple of the rows
    // that make whole lines (from a line, as planes start on one: `stream`).
    // MobileNetV2's 56x56 float32 at N=16 (29 MB of output): 1.1x, caches
    // flushed 1.53x; its input gradient 1.05x and 1.52x. Grouped layers sum
    // Cg planes per output, and the copy through the buffer cost more than
    // it saved (ResNeXt s2, 4 planes: 0.96x).
    if constexpr (K == 3) {
        const int64_t line = 64 / static_cast<int64_t>(sizeof(T));
        const int64_t line_rows = line / std::gcd(g.OW, line);
        const bool rows = stream && g.OW % line == 0;
        const bool lines =
            !kGrouped && stream && !rows && p.chunks == 1 && p.block % line_rows == 0;
        if (rows || lines) {
            if (rows)
                wide_rows_planes<T, K, ST, kGrouped, kStoreRows>(p, g, x, w, bias, y, k_begin,
                                                                 k_end, fetch);
            else
                wide_rows_planes<T, K, ST, kGrouped, kStoreLines>(p, g, x, w, bias, y, k_begin,
                                                                  k_end, fetch);
#if defined(__SSE2__)
            _mm_sfence();  // the streamed stores before any later read of y
#endif
            return;
        }
    }
    wide_rows_planes<T, K, ST, kGrouped, kStorePlain>(p, g, x, w, bias, y, k_begin, k_end,
                                                      fetch);
}

// The planner sends only what this takes (see wide_rows_fit in
// src/cpu/common/direct_driver.hpp): OW <= kWideRowsMostVectors vectors,
// W <= kWideRowsMostColumns, undilated, R == S in {3, 5, 7} at stride 1,
// 3x3 at stride 2 (the same both ways). kGrouped: output channel k sums the
// Cg planes of group k / Kg (with weights in PyTorch's layout, w + k * Cg *
// R * S); otherwise it reads plane k / Kg alone (depthwise).
template <typename T, bool kGrouped>
void nchw_wide_rows(const ConvGeometry& g, const T* x, const T* w, const T* bias, T* y,
                    int64_t k_begin, int64_t k_end, unsigned flags) {
    const bool stream = (flags & kRowsStream) != 0, fetch = (flags & kRowsFetch) != 0;
    if (g.sh == 2)
        wide_rows_run<T, 3, 2, kGrouped>(g, x, w, bias, y, k_begin, k_end, stream, fetch);
    else if (g.R == 3)
        wide_rows_run<T, 3, 1, kGrouped>(g, x, w, bias, y, k_begin, k_end, stream, fetch);
    else if (g.R == 5)
        wide_rows_run<T, 5, 1, kGrouped>(g, x, w, bias, y, k_begin, k_end, stream, fetch);
    else
        wide_rows_run<T, 7, 1, kGrouped>(g, x, w, bias, y, k_begin, k_end, stream, fetch);
}

#endif  // GCONV_ISA_LEVEL == 2

}  // namespace

void fill_depthwise_wide_rows(KernelTable& table) {
#if GCONV_ISA_LEVEL == 2
    table.f32.dwconv_nchw_wide_rows = nchw_wide_rows<float, false>;
    table.f64.dwconv_nchw_wide_rows = nchw_wide_rows<double, false>;
    table.f32.grouped_wide_rows_nchw = nchw_wide_rows<float, true>;
    table.f64.grouped_wide_rows_nchw = nchw_wide_rows<double, true>;
#else
    table.f32.dwconv_nchw_wide_rows = nullptr;
    table.f64.dwconv_nchw_wide_rows = nullptr;
    table.f32.grouped_wide_rows_nchw = nullptr;
    table.f64.grouped_wide_rows_nchw = nullptr;
#endif
}

}  // namespace GCONV_ISA
}  // namespace gconv
