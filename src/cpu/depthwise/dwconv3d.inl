// Depthwise conv3d (multiplier 1) in one pass: each output summed in a
// register over all KD x R x S taps and stored once. Run as one depthwise
// conv2d per depth tap, the taps after the first were added into the result
// by separate passes (1.6-2.1x the time of the same multiply-adds as one
// conv2d). NDHWC: vectors over channels for a block of pixels of a row
// (each weight vector feeds every pixel); NCDHW: vectors along a row, from
// zero-padded copies of the input rows the block reads (with AVX-512, at
// stride 1 with 3x3 slices, from x in place through masked loads).
#include <cstdint>
#include <type_traits>
#if defined(__SSE2__)
#include <immintrin.h>
#endif

#include "cpu/kernel_table.hpp"

namespace gconv {
namespace GCONV_ISA {

#include "cpu/common/kernel_common.inl"
#include "cpu/common/simd.inl"

namespace {

// The most (depth tap, kernel row) pairs a row takes: larger kernels are
// refused by the driver (depthwise3d.cpp) and run by depth taps.
constexpr int kMostRowTaps = kDw3dMostRowTaps;

// Input rows of the KD x R (depth tap, kernel row) pairs of output row
// (od, oh): the row of x they read, or `zeros` in the padding.
template <typename T>
void ndhwc_tap_rows(const Dw3dGeometry& g, const T* x, const T* zeros, int64_t od, int64_t oh,
                    const T** rows) {
    for (int64_t a = 0; a < g.KD; ++a) {
        const int64_t id = od * g.sd - g.pf + a * g.dd;
        for (int64_t r = 0; r < g.R; ++r) {
            const int64_t ih = oh * g.sh - g.pt + r * g.dh;
            const bool inside = id >= 0 && id < g.D && ih >= 0 && ih < g.H;
            rows[a * g.R + r] = inside ? x + (id * g.H + ih) * g.W * g.C : zeros;
        }
    }
}

// Channels [c0, c0 + NV * N) at PW pixels from ow. kChecked: some of the
// pixels' columns are in the padding (they multiply zeros).
template <typename T, int NV, int PW, bool kChecked>
void ndhwc_pixels(const Dw3dGeometry& g, const T* const* rows, const T* w, const T* bias, T* y,
                  int64_t ow, int64_t c0) {
    using V = Vec<T>;
    const int64_t C = g.C, pairs = g.KD * g.R;
    V acc[PW][NV];
    for (int p = 0; p < PW; ++p)
        for (int v = 0; v < NV; ++v) acc[p][v] = V::zero();
    for (int64_t t = 0; t < pairs; ++t) {
        const T* row = rows[t] + c0;
        const T* wt = w + t * g.S * C + c0;
        for (int64_t s = 0; s < g.S; ++s) {
            V wv[NV];
            for (int v = 0; v < NV; ++v) wv[v] = V::load(wt + s * C + v * V::N);
            for (int p = 0; p < PW; ++p) {
                const int64_t iw = (ow + p) * g.sw - g.pl + s * g.dw;
                if (kChecked && (iw < 0 || iw >= g.W)) {
                    for (int v = 0; v < NV; ++v) acc[p][v] = fmadd(wv[v], V::zero(), acc[p][v]);
                    continue;
                }
                for (int v = 0; v < NV; ++v)
                    acc[p][v] = fmadd(wv[v], V::load(row + iw * C + v * V::N), acc[p][v]);
            }
        }
    }
    for (int p = 0; p < PW; ++p)
        for (int v = 0; v < NV; ++v) {
            const V b = bias ? V::load(bias + c0 + v * V::N) : V::zero();
            activate_vec(acc[p][v] + b, g.act).store(y + (ow + p) * C + c0 + v * V::N);
        }
}

// The last C % N channels of pixel ow.
template <typename T>
void ndhwc_tail(const Dw3dGeometry& g, const T* const* rows, const T* w, const T* bias, T* y,
                int64_t ow, int64_t c0) {
    const int64_t C = g.C, pairs = g.KD * g.R;
    for (int64_t c = c0; c < C; ++c) {
        T acc = T(0);
        for (int64_t t = 0; t < pairs; ++t)
            for (int64_t s = 0; s < g.S; ++s) {
                const int64_t iw = ow * g.sw - g.pl + s * g.dw;
                const T value = iw >= 0 && iw < g.W ? rows[t][iw * C + c] : T(0);
                acc += w[(t * g.S + s) * C + c] * value;
            }
        y[ow * C + c] = activate(acc + (bias ? bias[c] : T(0)), g.act);
    }
}

// Pixels per register block (two vectors of channels each).
constexpr int kPixels = 4;

// 3-wide kernel rows, column stride and dilation 1: one vector of channels
// at PW pixels, each input vector loaded once for the (up to) three pixels
// whose windows cover it: PW + 2 loads for 3 * PW FMAs per kernel row,
// where ndhwc_pixels loads one per FMA. kLead / kTrail: the run's first /
// last input column is the padding's (a "same" padding's edge), whose taps
// multiply zeros; every other column inside the input.
template <typename T, int PW, bool kLead, bool kTrail>
void ndhwc_run3(const Dw3dGeometry& g, const T* const* rows, const T* w, const T* bias, T* y,
                int64_t ow, int64_t c0) {
    using V = Vec<T>;
    constexpr int kSpan = PW + 2;
    const int64_t C = g.C, pairs = g.KD * g.R;
    V acc[PW];
    for (int p = 0; p < PW; ++p) acc[p] = V::zero();
    for (int64_t t = 0; t < pairs; ++t) {
        const T* row = rows[t] + (ow - g.pl) * C + c0;
        const T* wt = w + t * 3 * C + c0;
        const V w0 = V::load(wt), w1 = V::load(wt + C), w2 = V::load(wt + 2 * C);
        for (int q = 0; q < kSpan; ++q) {
            const bool pad = (kLead && q == 0) || (kTrail && q == kSpan - 1);
            const V xv = pad ? V::zero() : V::load(row + q * C);
            if (q < PW) acc[q] = fmadd(w0, xv, acc[q]);
            if (q >= 1 && q - 1 < PW) acc[q - 1] = fmadd(w1, xv, acc[q - 1]);
            if (q >= 2) acc[q - 2] = fmadd(w2, xv, acc[q - 2]);
        }
    }
    const V b = bias ? V::load(bias + c0) : V::zero();
    for (int p = 0; p < PW; ++p) activate_vec(acc[p] + b, g.act).store(y + (ow + p) * C + c0);
}

constexpr int kRunPixels = 8;  // 8 accumulators + 3 weights + 1 input vector

// Output row (od, oh) of a 3-wide kernel at column stride 1, undilated, in
// runs of PW pixels from the row's first, the last run ending at the row's
// end (overlapping the one before); the edge runs take one column of the
// padding each. False, computing nothing, where a run would reach further
// into the padding. One run per edge where the pixel-by-pixel edges took
// as long per pixel as two interior runs' (each a single chain of
// multiply-adds), and runs of 7 on 28-wide rows, where 8 computed a sixth
// of the row twice: 64 channels at 16x28x28, N=2, 1.3x.
template <typename T, int PW>
bool ndhwc_row_runs3(const Dw3dGeometry& g, const T* const* rows, const T* w, const T* bias,
                     T* out) {
    using V = Vec<T>;
    if (g.OW < PW || g.pl > 1 || (g.OW - 1) - g.pl + 2 > g.W) return false;
    const int64_t c_full = g.C / V::N * V::N;
    for (int64_t ow = 0; ow < g.OW; ow += PW) {
        const int64_t start = ow + PW <= g.OW ? ow : g.OW - PW;
        const bool lead = start - g.pl < 0, trail = start + PW + 1 - g.pl >= g.W;
        for (int64_t c0 = 0; c0 < c_full; c0 += V::N) {
            if (lead && trail)
                ndhwc_run3<T, PW, true, true>(g, rows, w, bias, out, start, c0);
            else if (lead)
                ndhwc_run3<T, PW, true, false>(g, rows, w, bias, out, start, c0);
            else if (trail)
                ndhwc_run3<T, PW, false, true>(g, rows, w, bias, out, start, c0);
            else
                ndhwc_run3<T, PW, false, false>(g, rows, w, bias, out, start, c0);
        }
        if (c_full < g.C)
            for (int64_t p = 0; p < PW; ++p) ndhwc_tail(g, rows, w, bias, out, start + p, c_full);
    }
    return true;
}

template <typename T>
void dwconv3d_ndhwc_row(const Dw3dGeometry& g, const T* x, const T* w, const T* bias,
                        const T* zeros, T* y, int64_t od, int64_t oh) {
    using V = Vec<T>;
    const T* rows[kMostRowTaps];
    ndhwc_tap_rows(g, x, zeros, od, oh, rows);
    T* out = y + (od * g.OH + oh) * g.OW * g.C;
    // Pixels [lo, hi) read only columns inside the input.
    int64_t lo = 0, hi = g.OW;
    while (lo < g.OW && lo * g.sw - g.pl < 0) ++lo;
    while (hi > lo && (hi - 1) * g.sw - g.pl + (g.S - 1) * g.dw >= g.W) --hi;
    // Blocks of pixels, every channel vector inside a block: the block's
    // input columns (KD x R rows of them) stay in L1 across the sweep
    // (channel vectors outside, pixels inside, reloaded them from L2 for
    // every vector: 64 channels at 28x28, 1.3-1.5x slower).
    auto pixels = [&](int64_t ow, auto pw, auto checked) {
        constexpr int PW = decltype(pw)::value;
        constexpr bool kChecked = decltype(checked)::value;
        int64_t c0 = 0;
        for (; c0 + 2 * V::N <= g.C; c0 += 2 * V::N)
            ndhwc_pixels<T, 2, PW, kChecked>(g, rows, w, bias, out, ow, c0);
        if (c0 + V::N <= g.C) {
            ndhwc_pixels<T, 1, PW, kChecked>(g, rows, w, bias, out, ow, c0);
            c0 += V::N;
        }
        if (c0 < g.C)
            for (int p = 0; p < PW; ++p) ndhwc_tail(g, rows, w, bias, out, ow + p, c0);
    };
    const bool three = g.S == 3 && g.sw == 1 && g.dw == 1;
    if (three && (g.OW % 7 == 0 && g.OW % kRunPixels != 0
                      ? ndhwc_row_runs3<T, 7>(g, rows, w, bias, out)
                      : ndhwc_row_runs3<T, kRunPixels>(g, rows, w, bias, out)))
        return;
    auto run = [&](int64_t ow) {
        if (!three) return pixels(ow, std::integral_constant<int, kPixels>(), std::false_type());
        const int64_t c_full = g.C / V::N * V::N;
        for (int64_t c0 = 0; c0 < c_full; c0 += V::N)
            ndhwc_run3<T, kRunPixels, false, false>(g, rows, w, bias, out, ow, c0);
        if (c_full < g.C)
            for (int64_t p = 0; p < kRunPixels; ++p)
                ndhwc_tail(g, rows, w, bias, out, ow + p, c_full);
    };
    const int64_t width = three ? kRunPixels : kPixels;
    const auto one = std::integral_constant<int, 1>();
    int64_t ow = 0;
    for (; ow < lo; ++ow) pixels(ow, one, std::true_type());
    for (; ow + width <= hi; ow += width) run(ow);
    // The rest of the interior as a run overlapping the last (the same
    // values again): pixel by pixel took as long as the runs (28-wide rows:
    // 4 pixels of 28). (The 4-pixel blocks of other kernels measured slower
    // so: stride 2, 14-wide rows.)
    if (three && ow < hi && hi - lo >= width) {
        run(hi - width);
        ow = hi;
    }
    for (; ow < g.OW; ++ow) pixels(ow, one, std::true_type());
}

// NCDHW: UV vectors of output row `out` from u, over every tap: tap (a, r)
// reads padded row rows[a * R + r] at u + s * dw.
template <typename T, int UV>
void ncdhw_vectors(const Dw3dGeometry& g, const T* const* rows, const T* w, T bias, T* out,
                   int64_t u) {
    using V = Vec<T>;
    V acc[UV];
    for (int v = 0; v < UV; ++v) acc[v] = V::zero();
    const int64_t pairs = g.KD * g.R;
    for (int64_t t = 0; t < pairs; ++t) {
        const T* row = rows[t] + u;
        const T* wt = w + t * g.S;
        for (int64_t s = 0; s < g.S; ++s) {
            const V wv = V::set1(wt[s]);
            for (int v = 0; v < UV; ++v)
                acc[v] = fmadd(wv, V::load(row + s * g.dw + v * V::N), acc[v]);
        }
    }
    const V b = V::set1(bias);
    for (int v = 0; v < UV; ++v) {
        const V result = activate_vec(acc[v] + b, g.act);
        const int64_t at = u + v * V::N;
        if (at + V::N <= g.OW) {
            result.store(out + at);
        } else {
            alignas(64) T lanes[V::N];
            result.store(lanes);
            for (int64_t l = 0; at + l < g.OW; ++l) out[at + l] = lanes[l];
        }
    }
}

// Vectors along a row per register block.
constexpr int kRowVectors3d = 4;  // the remainder switch below lists 1 to 4

#if GCONV_ISA_LEVEL == 2
// NCDHW, stride 1, undilated, 3x3 in each slice (any depth), output rows of
// up to 16 vectors, with AVX-512's masked loads: x read in place, as the
// conv2d wide-rows kernel (src/cpu/depthwise/dwconv2d_wide_rows.inl) reads
// it, instead of copied into zero-padded rows. Rows are cut into chunks of
// up to four vectors; a tap's lanes outside its row are masked off and read
// as zero, rows and slices outside x read a row of zeros; a block of RB
// output rows loads each input vector once for every row it reaches. Each
// output sums depth tap by depth tap, kernel row by kernel row from zero,
// then the bias, as ncdhw_vectors: the same bits.
constexpr int kInPlaceChunk = 4;     // vectors per chunk
constexpr int kInPlaceVectors = 16;  // per output row, at most

struct InPlaceRows3d {
    int64_t chunk_vectors;  // per chunk (the last fewer)
    // [chunk][s][v]: lanes of vector v whose tap-s column is inside the row.
    uint32_t column[kInPlaceVectors / kInPlaceChunk][3][kInPlaceChunk];
    uint32_t store[kInPlaceVectors / kInPlaceChunk][kInPlaceChunk];
};

template <int NB>
constexpr int in_place_block_rows() {
    return NB <= 2 ? 8 : NB == 3 ? 5 : 4;
}

template <typename T, int NB, int RB>
GCONV_ALWAYS_INLINE void ncdhw_in_place_block(const Dw3dGeometry& g, const InPlaceRows3d& p,
                                              int64_t chunk, const T* x, const T* w, T bias,
                                              T* out, int64_t od, int64_t oh0) {
    using V = Vec<T>;
    constexpr int L = V::N, U = RB + 2;
    const int64_t col0 = chunk * p.chunk_vectors * L;
    V acc[RB][NB];
    for (int j = 0; j < RB; ++j)
        for (int v = 0; v < NB; ++v) acc[j][v] = V::zero();
    for (int64_t a = 0; a < g.KD; ++a) {
        const int64_t id = od - g.pf + a;
        const bool slice = id >= 0 && id < g.D;
        V wv[9];
        for (int t = 0; t < 9; ++t) wv[t] = V::set1(w[a * 9 + t]);
        GCONV_UNROLL(16)
        for (int u = 0; u < U; ++u) {
            const int64_t ih = oh0 - g.pt + u;
            const T* row = (slice && ih >= 0 && ih < g.H ? x + (id * g.H + ih) * g.W
                                                         : ZeroRow<T>::values) +
                           col0 - g.pl;
            GCONV_UNROLL(3)
            for (int s = 0; s < 3; ++s) {
                GCONV_UNROLL(4)
                for (int v = 0; v < NB; ++v) {
                    const V xv = V::load_lanes(row + s + v * L, p.column[chunk][s][v]);
                    GCONV_UNROLL(8)
                    for (int j = 0; j < RB; ++j) {
                        const int r = u - j;
                        if (r >= 0 && r < 3) acc[j][v] = fmadd(wv[r * 3 + s], xv, acc[j][v]);
                    }
                }
            }
        }
    }
    const V b = V::set1(bias);
    for (int j = 0; j < RB; ++j)
        for (int v = 0; v < NB; ++v)
            activate_vec(acc[j][v] + b, g.act)
                .store_lanes(out + (oh0 + j) * g.OW + col0 + v * L, p.store[chunk][v]);
}

template <typename T, int NB>
GCONV_ALWAYS_INLINE void ncdhw_in_place_rows(int64_t rb, const Dw3dGeometry& g,
                                             const InPlaceRows3d& p, int64_t chunk, const T* x,
                                             const T* w, T bias, T* out, int64_t od,
                                             int64_t oh0) {
    switch (rb) {
#define GCONV_DW3D_ROWS_CASE(n)                                                          \
    case n:                                                                              \
        if constexpr (n <= in_place_block_rows<NB>())                                    \
            ncdhw_in_place_block<T, NB, n>(g, p, chunk, x, w, bias, out, od, oh0);       \
        break;
        GCONV_DW3D_ROWS_CASE(1)
        GCONV_DW3D_ROWS_CASE(2)
        GCONV_DW3D_ROWS_CASE(3)
        GCONV_DW3D_ROWS_CASE(4)
        GCONV_DW3D_ROWS_CASE(5)
        GCONV_DW3D_ROWS_CASE(6)
        GCONV_DW3D_ROWS_CASE(7)
        GCONV_DW3D_ROWS_CASE(8)
#undef GCONV_DW3D_ROWS_CASE
        default:
            break;
    }
}

template <typename T>
bool ncdhw_in_place_fits(const Dw3dGeometry& g) {
    constexpr int64_t L = Vec<T>::N;
    return g.sd == 1 && g.sh == 1 && g.sw == 1 && g.dd == 1 && g.dh == 1 && g.dw == 1 &&
           g.R == 3 && g.S == 3 && g.OW <= kInPlaceVectors * L && g.W <= kInPlaceVectors * 16;
}

template <typename T>
void dwconv3d_ncdhw_in_place(const Dw3dGeometry& g, const T* x, const T* w, T bias, T* y,
                             int64_t od, int64_t oh0, int64_t oh1) {
    constexpr int64_t L = Vec<T>::N;
    InPlaceRows3d p;
    const int64_t vectors = (g.OW + L - 1) / L;
    const int64_t chunks = (vectors + kInPlaceChunk - 1) / kInPlaceChunk;
    p.chunk_vectors = (vectors + chunks - 1) / chunks;
    for (int64_t chunk = 0; chunk < chunks; ++chunk)
        for (int64_t v = 0; v < p.chunk_vectors; ++v) {
            const int64_t first = (chunk * p.chunk_vectors + v) * L;
            p.store[chunk][v] = inside_lanes(first, L, g.OW, 1, 0, g.OW);
            for (int64_t s = 0; s < 3; ++s)
                p.column[chunk][s][v] = inside_lanes(first, L, g.OW, 1, s - g.pl, g.W);
        }
    const int64_t most = p.chunk_vectors >= 4   ? in_place_block_rows<4>()
                         : p.chunk_vectors == 3 ? in_place_block_rows<3>()
                                                : in_place_block_rows<2>();
    T* out = y + od * g.OH * g.OW;
    for (int64_t oh = oh0; oh < oh1; oh += most) {
        const int64_t rb = oh1 - oh < most ? oh1 - oh : most;
        for (int64_t chunk = 0; chunk < chunks; ++chunk) {
            const int64_t first = chunk * p.chunk_vectors;
            const int64_t nb = vectors - first < p.chunk_vectors ? vectors - first : p.chunk_vectors;
            if (nb == 4)
                ncdhw_in_place_rows<T, 4>(rb, g, p, chunk, x, w, bias, out, od, oh);
            else if (nb == 3)
                ncdhw_in_place_rows<T, 3>(rb, g, p, chunk, x, w, bias, out, od, oh);
            else if (nb == 2)
                ncdhw_in_place_rows<T, 2>(rb, g, p, chunk, x, w, bias, out, od, oh);
            else
                ncdhw_in_place_rows<T, 1>(rb, g, p, chunk, x, w, bias, out, od, oh);
        }
    }
}
#endif

template <typename T>
void dwconv3d_ncdhw_rows(const Dw3dGeometry& g, const T* x, const T* w, T bias, T* y,
                         int64_t od, int64_t oh0, int64_t oh1, T* rows) {
    using V = Vec<T>;
#if GCONV_ISA_LEVEL == 2
    if (ncdhw_in_place_fits<T>(g)) return dwconv3d_ncdhw_in_place(g, x, w, bias, y, od, oh0, oh1);
#endif
    const int64_t width = dw3d_row_width(g, V::N);
    const int64_t copied = dw3d_copied_rows(g, oh1 - oh0), first = oh0 * g.sh - g.pt;
    const int64_t columns = g.W < width - g.pl ? g.W : width - g.pl;  // the ones ever read
    for (int64_t a = 0; a < g.KD; ++a) {
        const int64_t id = od * g.sd - g.pf + a * g.dd;
        for (int64_t r = 0; r < copied; ++r) {
            T* to = rows + (a * copied + r) * width;
            const int64_t ih = first + r;
            int64_t c = 0;
            if (id >= 0 && id < g.D && ih >= 0 && ih < g.H) {
                const T* from = x + (id * g.H + ih) * g.W;
                for (; c < g.pl && c < width; ++c) to[c] = T(0);
                for (int64_t i = 0; i < columns; ++i) to[g.pl + i] = from[i];
                c = g.pl + (columns > 0 ? columns : 0);
            }
            for (; c < width; ++c) to[c] = T(0);
        }
    }
    const T* tap_rows[kMostRowTaps];
    for (int64_t oh = oh0; oh < oh1; ++oh) {
        for (int64_t a = 0; a < g.KD; ++a)
            for (int64_t r = 0; r < g.R; ++r)
                tap_rows[a * g.R + r] = rows + (a * copied + (oh - oh0) * g.sh + r * g.dh) * width;
        T* out = y + (od * g.OH + oh) * g.OW;
        int64_t u = 0;
        for (; u + kRowVectors3d * V::N <= g.OW; u += kRowVectors3d * V::N)
            ncdhw_vectors<T, kRowVectors3d>(g, tap_rows, w, bias, out, u);
        switch ((g.OW - u + V::N - 1) / V::N) {  // the rest, the last vector partial
            case 4: ncdhw_vectors<T, 4>(g, tap_rows, w, bias, out, u); break;
            case 3: ncdhw_vectors<T, 3>(g, tap_rows, w, bias, out, u); break;
            case 2: ncdhw_vectors<T, 2>(g, tap_rows, w, bias, out, u); break;
            case 1: ncdhw_vectors<T, 1>(g, tap_rows, w, bias, out, u); break;
            default: break;
        }
    }
}

template <typename T>
void fill(KernelFamily<T>& f) {
    f.dwconv3d_ndhwc = dwconv3d_ndhwc_row<T>;
    f.dwconv3d_ncdhw = dwconv3d_ncdhw_rows<T>;
}

}  // namespace

void fill_dwconv3d(KernelTable& table) {
    fill(table.f32);
    fill(table.f64);
}

}  // namespace GCONV_ISA
}  // namespace gconv
