// Depthwise (any multiplier) NCHW weight gradient, undilated, 3x3 at stride
// 1 or 2 with output rows of up to kWgradDwRowsMostVectors vectors, 5x5 at
// stride 1 with rows of one
// (AVX-512: MobileNet's layers from 7x7 to 112x112, EfficientNet's 5x5 at
// 14x14 and 7x7): x and dy read
// in place through masked loads, as the forward's in-place kernels read x,
// where the bands copy 16 channels' planes through 8 x 8 transposes first.
//
// A channel's R x S accumulators (lanes over the columns of a vector of an
// output row) stay in registers over an image's rows. A block of RB output rows
// holds its dy rows, and each input vector (a row at one tap column) is
// loaded once and multiplied into every accumulator it reaches (rows of up
// to half a vector go two to a vector: dw_pairs_block). A position
// outside x reads zero (0 * dy: NaN for a non-finite dy, as the zero-padded
// definition). Each accumulator lane sums images, then rows, in order; the
// lanes are added in order at the end, and every channel is one thread's:
// the same bits at any thread count.
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

#if GCONV_ISA_LEVEL == 2

#include "cpu/common/lane_moves.inl"

constexpr int kMostColumns = 5;
static_assert(2 * kWgradDwRowsMostVectors * 16 <= kZeroRowValues,
              "rows outside the plane read zeros, at stride 2 too");

// The plane's masks, the same for every channel, image and row.
struct DwRows {
    int64_t H, W, OH, OW, pt, pl;
    int64_t vectors;  // per output row
    bool pairs;       // two rows a vector (dw_pairs_block)
    // One vector a row, 3x3, one column of padding each side: side taps
    // by lane moves (dw_rows_block).
    bool shifted;
    uint32_t pair_column[kMostColumns];  // its lanes whose tap-s column is inside the row
    // Per vector of an output row: lanes whose tap-s input column is
    // inside the row, and lanes inside the output row.
    uint32_t column[kWgradDwRowsMostVectors][kMostColumns];
    uint32_t out_row[kWgradDwRowsMostVectors];
};

// Output rows [oh0, oh0 + RB) of one image's plane, the columns of output
// vector v, at stride ST (1 or 2, both directions). Input row u (counted
// from the block's first) meets dy row j through kernel row r = u - ST * j;
// at stride 2 an input vector is the even values of two masked loads.
template <typename T, int K, int RB, int ST>
GCONV_ALWAYS_INLINE void dw_rows_block(const DwRows& p, int64_t v, const T* x, const T* dy,
                                       Vec<T>* acc, int64_t oh0) {
    using V = Vec<T>;
    constexpr int U = ST * (RB - 1) + K;
    const int64_t col0 = v * V::N;
    V d[RB];
    for (int j = 0; j < RB; ++j) d[j] = V::load_lanes(dy + (oh0 + j) * p.OW + col0, p.out_row[v]);
    if constexpr (ST == 1 && K == 3) {
        if (p.shifted) {
            // Each input row loaded once, its side taps moved by a lane:
            // the values of the masked loads, a third of the loads
            // (MobileNetV2's 384 channels at 14x14, N=16: 1.27x).
            GCONV_UNROLL(16)
            for (int u = 0; u < U; ++u) {
                const int64_t ih = oh0 - p.pt + u;
                const T* row = ih >= 0 && ih < p.H ? x + ih * p.W : ZeroRow<T>::values;
                const V mid = V::load_lanes(row, p.column[0][1]);
                const V xv[3] = {moved<-1>(mid, p.column[0][0]), mid,
                                 moved<1>(mid, p.column[0][2])};
                GCONV_UNROLL(8)
                for (int s = 0; s < K; ++s)
                    GCONV_UNROLL(8)
                    for (int j = 0; j < RB; ++j) {
                        const int r = u - j;
                        if (r >= 0 && r < K) acc[r * K + s] = fmadd(d[j], xv[s], acc[r * K + s]);
                    }
            }
            return;
        }
    }
    GCONV_UNROLL(16)
    for (int u = 0; u < U; ++u) {
        const int64_t ih = ST * oh0 - p.pt + u;
        const T* row =
            (ih >= 0 && ih < p.H ? x + ih * p.W : ZeroRow<T>::values) + ST * col0 - p.pl;
        GCONV_UNROLL(8)
        for (int s = 0; s < K; ++s) {
            const V xv = ST == 1 ? V::load_lanes(row + s, p.column[v][s])
                                 : V::load_even_lanes(row + s, p.column[v][s]);
            GCONV_UNROLL(8)
            for (int j = 0; j < RB; ++j) {
                const int r = u - ST * j;
                if (r >= 0 && r < K) acc[r * K + s] = fmadd(d[j], xv, acc[r * K + s]);
            }
        }
    }
}

// Output rows per block: K * K accumulators, the block's dy rows and an
// input vector within 32 registers.
template <int K>
constexpr int block_rows() {
    return K == 3 ? 8 : 4;
}

// Output rows [oh0, oh0 + rb) of one image's plane, the columns of output
// vector v, rb as a compile-time constant.
template <typename T, int K, int ST>
GCONV_ALWAYS_INLINE void dw_rows_rows(int64_t rb, const DwRows& p, int64_t v, const T* x,
                                      const T* dy, Vec<T>* acc, int64_t oh0) {
    constexpr int kMost = block_rows<K>();
    switch (rb) {
#define GCONV_DW_ROWS_CASE(n)                                                           \
    case n:                                                                             \
        if constexpr (n <= kMost) dw_rows_block<T, K, n, ST>(p, v, x, dy, acc, oh0);    \
        break;
        GCONV_DW_ROWS_CASE(1)
        GCONV_DW_ROWS_CASE(2)
        GCONV_DW_ROWS_CASE(3)
        GCONV_DW_ROWS_CASE(4)
        GCONV_DW_ROWS_CASE(5)
        GCONV_DW_ROWS_CASE(6)
        GCONV_DW_ROWS_CASE(7)
        GCONV_DW_ROWS_CASE(8)
#undef GCONV_DW_ROWS_CASE
        default:
            break;
    }
}

// Planes whose rows fit twice in a vector (stride 1, W == OW <= 8 floats:
// 7x7 maps), two rows a vector as they lie in memory: 14 of 16 lanes busy
// where one row a vector used 7 (MobileNetV2's 960 channels at 7x7, N=16:
// 1.06-1.09x; the loads, not the FMAs, bound it, hence the lane moves).
// Output rows [oh0, oh0 + 2 * RB) of one plane: input vector u holds input
// rows oh0 - pt + u and the next, and meets dy pair j (rows oh0 + 2j and
// the next) through kernel row r = u - 2j. Lanes of rows outside the
// plane, and of columns outside a row, read zero.
template <typename T, int K, int RB>
GCONV_ALWAYS_INLINE void dw_pairs_block(const DwRows& p, const T* x, const T* dy, Vec<T>* acc,
                                        int64_t oh0) {
    using V = Vec<T>;
    constexpr int U = 2 * (RB - 1) + K;
    const uint32_t in_row = (1u << p.W) - 1u, out_row = (1u << p.OW) - 1u;
    const auto inside = [](int64_t row, int64_t rows, uint32_t lanes, int64_t width) {
        return (row >= 0 && row < rows ? lanes : 0u) |
               (row + 1 >= 0 && row + 1 < rows ? lanes << width : 0u);
    };
    V d[RB];
    for (int j = 0; j < RB; ++j)
        d[j] = V::load_lanes(dy + (oh0 + 2 * j) * p.OW,
                             inside(oh0 + 2 * j, p.OH, out_row, p.OW));
    const T* row = x + (oh0 - p.pt) * p.W - p.pl;
    if (K == 3 && p.pl == 1) {
        // Each input vector loaded once at its rows' first column, its left
        // and right taps that vector moved by a lane (the same values).
        GCONV_UNROLL(16)
        for (int u = 0; u < U; ++u, row += p.W) {
            const V mid = V::load_lanes(row + 1, inside(oh0 - p.pt + u, p.H, in_row, p.W));
            const V xv[3] = {moved<-1>(mid, p.pair_column[0]), mid,
                             moved<1>(mid, p.pair_column[2])};
            GCONV_UNROLL(8)
            for (int s = 0; s < K; ++s)
                GCONV_UNROLL(8)
                for (int j = 0; j < RB; ++j) {
                    const int r = u - 2 * j;
                    if (r >= 0 && r < K) acc[r * K + s] = fmadd(d[j], xv[s], acc[r * K + s]);
                }
        }
        return;
    }
    GCONV_UNROLL(16)
    for (int u = 0; u < U; ++u, row += p.W) {
        const uint32_t rows = inside(oh0 - p.pt + u, p.H, in_row, p.W);
        GCONV_UNROLL(8)
        for (int s = 0; s < K; ++s) {
            const V xv = V::load_lanes(row + s, rows & p.pair_column[s]);
            GCONV_UNROLL(8)
            for (int j = 0; j < RB; ++j) {
                const int r = u - 2 * j;
                if (r >= 0 && r < K) acc[r * K + s] = fmadd(d[j], xv, acc[r * K + s]);
            }
        }
    }
}

constexpr int kMostPairs = 4;  // K * K accumulators, 4 dy vectors and x within 32 registers

// Output rows [oh0, oh0 + rows) in pairs, the pair count as a compile-time
// constant.
template <typename T, int K>
GCONV_ALWAYS_INLINE void dw_pairs_rows(int64_t rows, const DwRows& p, const T* x, const T* dy,
                                       Vec<T>* acc, int64_t oh0) {
    switch ((rows + 1) / 2) {
        case 1: return dw_pairs_block<T, K, 1>(p, x, dy, acc, oh0);
        case 2: return dw_pairs_block<T, K, 2>(p, x, dy, acc, oh0);
        case 3: return dw_pairs_block<T, K, 3>(p, x, dy, acc, oh0);
        default: return dw_pairs_block<T, K, kMostPairs>(p, x, dy, acc, oh0);
    }
}

// One image's plane (x plane xc, dy plane dyc) into acc, in blocks of
// `block` rows, or in pairs of rows (DwRows::pairs). Inlined: called, it
// kept the accumulators in memory (2x slower).
template <typename T, int K, int ST>
GCONV_ALWAYS_INLINE void dw_plane_rows(const DwRows& p, const ConvGeometry& g, int64_t block,
                                       const T* xc, const T* dyc, Vec<T>* acc) {
    if (ST == 1 && p.pairs) {
        for (int64_t oh0 = 0; oh0 < g.OH; oh0 += 2 * kMostPairs)
            dw_pairs_rows<T, K>(std::min<int64_t>(g.OH - oh0, 2 * kMostPairs), p, xc, dyc, acc,
                                oh0);
        return;
    }
    for (int64_t oh0 = 0; oh0 < g.OH; oh0 += block)
        dw_rows_rows<T, K, ST>(g.OH - oh0 < block ? g.OH - oh0 : block, p, 0, xc, dyc, acc, oh0);
}

// Rows of one vector. 3x3 channels go in chunks whose accumulators fill the
// scratch, image by image, as in dw_rows_channels_wide below (MobileNetV2's
// 7x7 and 14x14 layers, N=16: 1.07-1.10x; each channel's planes had been an
// image apart, a jump the prefetchers missed); a plane's accumulators stay
// in registers over its rows. dW adds the lanes in order.
template <typename T, int K, int ST>
void dw_rows_channels(const DwRows& p, const ConvGeometry& g, int64_t batch, const T* x,
                      const T* dy, T* dw, int64_t k_begin, int64_t k_end, Vec<T>* held) {
    using V = Vec<T>;
    constexpr int64_t L = V::N;
    constexpr int kMost = block_rows<K>();
    const int64_t blocks = (g.OH + kMost - 1) / kMost;
    const int64_t block = (g.OH + blocks - 1) / blocks;  // equal blocks, the last shorter
    const int64_t plane = g.H * g.W, out_plane = g.OH * g.OW;
    // Channel by channel, the accumulators in registers over every image,
    // for one image (nothing to gain) and for 5x5 (EfficientNet's 14x14
    // layer ran 0.85x in chunks).
    const int64_t chunk =
        batch > 1 && K == 3 ? kWgradDwRowsScratchBytes / int64_t(sizeof(V)) / (K * K) : 1;
    const auto add_lanes = [&](int64_t k, const V* acc) {
        for (int t = 0; t < K * K; ++t) {
            alignas(64) T lanes[L];
            acc[t].store(lanes);
            T sum = lanes[0];
            for (int64_t l = 1; l < L; ++l) sum += lanes[l];
            dw[k * K * K + t] = sum;
        }
    };
    for (int64_t k0 = k_begin; k0 < k_end; k0 += chunk) {
        const int64_t k1 = k_end - k0 < chunk ? k_end : k0 + chunk;
        if (chunk == 1) {
            V acc[K * K];
            for (int t = 0; t < K * K; ++t) acc[t] = V::zero();
            for (int64_t n = 0; n < batch; ++n)  // dy plane k0, x plane k0 / Kg
                dw_plane_rows<T, K, ST>(p, g, block, x + (n * g.C + k0 / g.Kg) * plane,
                                        dy + (n * g.K + k0) * out_plane, acc);
            add_lanes(k0, acc);
            continue;
        }
        for (int64_t i = 0; i < (k1 - k0) * K * K; ++i) held[i] = V::zero();
        for (int64_t n = 0; n < batch; ++n)
            for (int64_t k = k0; k < k1; ++k) {
                V* h = held + (k - k0) * K * K;
                V acc[K * K];
                for (int t = 0; t < K * K; ++t) acc[t] = h[t];
                dw_plane_rows<T, K, ST>(p, g, block, x + (n * g.C + k / g.Kg) * plane,
                                        dy + (n * g.K + k) * out_plane, acc);
                for (int t = 0; t < K * K; ++t) h[t] = acc[t];
            }
        for (int64_t k = k0; k < k1; ++k) add_lanes(k, held + (k - k0) * K * K);
    }
}

// Wider rows (3x3 only: 5x5 measured 0.78-1.05x of the bands): one set of
// accumulators per vector of the row, in memory, loaded and stored once per
// block of rows and vector, so that each plane is read in order (vector by
// vector over the whole plane, the first pass over a 112x112 plane read a
// line of every row from memory: 0.72x). dW adds the lanes of vector 0,
// then 1, ...
//
// Channels go in chunks whose accumulators fill the scratch, image by
// image: each image's planes of the chunk are one run of memory. Channel by
// channel, every image's plane was a jump of a whole image away, whose
// first lines the hardware prefetchers had not predicted (MobileNetV2's 144
// channels at 56x56, N=16: x and dy from memory at 19 GB/s). Each
// accumulator still sums images, then rows, in order: the same bits.
template <typename T, int ST>
void dw_rows_channels_wide(const DwRows& p, const ConvGeometry& g, int64_t batch, const T* x,
                           const T* dy, T* dw, int64_t k_begin, int64_t k_end, Vec<T>* held) {
    using V = Vec<T>;
    constexpr int K = 3;
    constexpr int64_t L = V::N;
    constexpr int kMost = block_rows<K>();
    constexpr int64_t kHeld = kWgradDwRowsScratchBytes / sizeof(V);
    static_assert(kHeld >= kWgradDwRowsMostVectors * K * K, "a chunk holds a channel");
    const int64_t blocks = (g.OH + kMost - 1) / kMost;
    const int64_t block = (g.OH + blocks - 1) / blocks;
    const int64_t plane = g.H * g.W, out_plane = g.OH * g.OW;
    const int64_t per_channel = p.vectors * K * K;  // accumulators of one channel
    const int64_t chunk = batch > 1 ? kHeld / per_channel : 1;  // one image: nothing to gain
    for (int64_t k0 = k_begin; k0 < k_end; k0 += chunk) {
        const int64_t k1 = k_end - k0 < chunk ? k_end : k0 + chunk;
        for (int64_t i = 0; i < (k1 - k0) * per_channel; ++i) held[i] = V::zero();
        for (int64_t n = 0; n < batch; ++n)
            for (int64_t k = k0; k < k1; ++k) {  // output channel k: dy plane k, x plane k / Kg
                const T* xc = x + (n * g.C + k / g.Kg) * plane;
                const T* dyc = dy + (n * g.K + k) * out_plane;
                // The plane after this one, whose first block is requested
                // during this one's last.
                const int64_t n1 = k + 1 < k1 ? n : n + 1, kn = k + 1 < k1 ? k + 1 : k0;
                const T* x_next = n1 < batch ? x + (n1 * g.C + kn / g.Kg) * plane : nullptr;
                const T* dy_next = n1 < batch ? dy + (n1 * g.K + kn) * out_plane : nullptr;
                V* h = held + (k - k0) * per_channel;
                for (int64_t oh0 = 0; oh0 < g.OH; oh0 += block) {
                    // The next block's rows of x and dy, a share per vector:
                    // a block reads each row vector by vector, a pattern the
                    // prefetchers followed only within the block
                    // (MobileNetV2's 112x112 at N=16 read memory at 17 GB/s).
                    // One image stays in the caches: the requests only cost
                    // (0.94x at 56x56).
                    const bool last = oh0 + block >= g.OH;
                    const T* xf = batch == 1 ? nullptr : last ? x_next : xc;
                    const T* dyf = last ? dy_next : dyc;
                    const int64_t of = last ? 0 : oh0 + block;
                    const int64_t ih0 = std::max<int64_t>(of * ST - p.pt, 0);
                    const int64_t ih1 = std::min<int64_t>((of + block) * ST - p.pt + K - 1, g.H);
                    const int64_t x_bytes = (ih1 - ih0) * g.W * static_cast<int64_t>(sizeof(T));
                    const int64_t dy_bytes = (std::min<int64_t>(of + block, g.OH) - of) * g.OW *
                                             static_cast<int64_t>(sizeof(T));
                    for (int64_t v = 0; v < p.vectors; ++v) {
                        if (xf != nullptr) {
                            prefetch_share(xf + ih0 * g.W, x_bytes, v, p.vectors);
                            prefetch_share(dyf + of * g.OW, dy_bytes, v, p.vectors);
                        }
                        V acc[K * K];
                        for (int t = 0; t < K * K; ++t) acc[t] = h[v * K * K + t];
                        dw_rows_rows<T, K, ST>(g.OH - oh0 < block ? g.OH - oh0 : block, p, v, xc,
                                               dyc, acc, oh0);
                        for (int t = 0; t < K * K; ++t) h[v * K * K + t] = acc[t];
                    }
                }
            }
        for (int64_t k = k0; k < k1; ++k)
            for (int t = 0; t < K * K; ++t) {
                T sum = T(0);
                for (int64_t v = 0; v < p.vectors; ++v) {
                    alignas(64) T lanes[L];
                    held[(k - k0) * per_channel + v * K * K + t].store(lanes);
                    for (int64_t l = 0; l < L; ++l) sum += lanes[l];
                }
                dw[k * K * K + t] = sum;
            }
    }
}

// The planner sends only what this takes (see depthwise_nchw_rows in
// weight_grad.cpp): undilated, R == S == 3 at stride 1 or 2 with OW up to
// kWgradDwRowsMostVectors vectors and W up to 16 times that, or 5x5 at
// stride 1 with OW and W up to one vector.
template <typename T>
void wgrad_dw_nchw_rows(const ConvGeometry& g, int64_t batch, const T* x, const T* dy, T* dw,
                        int64_t k_begin, int64_t k_end, void* scratch) {
    Vec<T>* held = static_cast<Vec<T>*>(scratch);
    constexpr int64_t L = Vec<T>::N;
    DwRows p;
    p.H = g.H, p.W = g.W, p.OH = g.OH, p.OW = g.OW, p.pt = g.pt, p.pl = g.pl;
    p.pairs = g.sh == 1 && g.sw == 1 && g.OW == g.W && 2 * g.W <= L;
    p.shifted = g.sh == 1 && g.sw == 1 && g.R == 3 && g.S == 3 && g.pl == 1 && g.OW == g.W &&
                g.W <= L;
    p.vectors = (g.OW + L - 1) / L;
    for (int64_t v = 0; v < p.vectors; ++v) {
        p.out_row[v] = inside_lanes(v * L, L, g.OW, 1, 0, g.OW);
        for (int64_t s = 0; s < g.S; ++s)  // bit l * sw: lane l's input value
            p.column[v][s] = inside_lanes(v * L, L, g.OW, g.sw, s - g.pl, g.W);
    }
    for (int64_t s = 0; s < g.S && p.pairs; ++s)  // one row's lanes, then the next row's
        p.pair_column[s] = p.column[0][s] | p.column[0][s] << g.OW;
    if (g.sw == 2 && p.vectors > 1)
        dw_rows_channels_wide<T, 2>(p, g, batch, x, dy, dw, k_begin, k_end, held);
    else if (g.sw == 2)
        dw_rows_channels<T, 3, 2>(p, g, batch, x, dy, dw, k_begin, k_end, held);
    else if (p.vectors > 1)
        dw_rows_channels_wide<T, 1>(p, g, batch, x, dy, dw, k_begin, k_end, held);
    else if (g.R == 3)
        dw_rows_channels<T, 3, 1>(p, g, batch, x, dy, dw, k_begin, k_end, held);
    else
        dw_rows_channels<T, 5, 1>(p, g, batch, x, dy, dw, k_begin, k_end, held);
}

#endif  // GCONV_ISA_LEVEL == 2

}  // namespace

void fill_wgrad_dw_nchw_rows(KernelTable& table) {
#if GCONV_ISA_LEVEL == 2
    table.f32.wgrad_dw_nchw_rows = wgrad_dw_nchw_rows<float>;
    table.f64.wgrad_dw_nchw_rows = wgrad_dw_nchw_rows<double>;
#else
    table.f32.wgrad_dw_nchw_rows = nullptr;
    table.f64.wgrad_dw_nchw_rows = nullptr;
#endif
}

}  // namespace GCONV_ISA
}  // namespace gconv
