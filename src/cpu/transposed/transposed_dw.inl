// The transposed depthwise convolution (multiplier 1) written in place:
// output element (i, j) of channel c sums w[c][r][s] * dy[c][oi][oj] over
// the taps with i + pt - r * dh == oi * sh and j + pl - s * dw == oj * sw.
// With stride > 1 only some taps reach each output (3x3, stride 2: one,
// two or four), which the phase-split route computed as sh x sw separate
// convolutions plus an interleave pass over the result; these kernels
// read dy and write each output once, each output summed in a register
// over its taps (vectors along a phase row in NCHW, along the channels in
// NHWC).
#include <algorithm>
#include <cstdint>
#if defined(__SSE2__)
#include <immintrin.h>
#endif

#include "cpu/kernel_table.hpp"
#include "cpu/transposed/transposed_common.hpp"

namespace gconv {
namespace GCONV_ISA {

#include "cpu/common/simd.inl"
#include "cpu/transposed/phase_row.inl"

namespace {

// Taps summed per pass over a row: each pass keeps one accumulator per
// output in a register and stores it once; wider kernels take several.
constexpr int kTapsPerPass = 16;

// out[u] (u < count) = first[u] (bias when `first` is null) + sum over the
// taps of w[t] * src[t][u + d[t]], a term that exists only for u + d[t] in
// [0, W). kTaps > 0: exactly that many taps, unrolled with the weights in
// registers (a 3x3 stride-2 phase has 1 to 4); 0: `taps` of them.
template <typename T, int kTaps>
void sum_taps_row(const T* const* src, const T* w, const int64_t* d, int64_t W, int taps,
                  T bias, const T* first, int64_t count, T* out) {
    using V = Vec<T>;
    constexpr int kMost = kTaps > 0 ? kTaps : kTapsPerPass;
    const int n = kTaps > 0 ? kTaps : taps;
    int64_t inner_lo = 0, inner_hi = count;  // where every tap is in range
    for (int t = 0; t < n; ++t) {
        inner_lo = -d[t] > inner_lo ? -d[t] : inner_lo;
        inner_hi = W - d[t] < inner_hi ? W - d[t] : inner_hi;
    }
    if (inner_hi < inner_lo) inner_hi = inner_lo;
    auto scalar = [&](int64_t u) {
        T acc = first ? first[u] : bias;
        for (int t = 0; t < n; ++t)
            if (u + d[t] >= 0 && u + d[t] < W) acc += w[t] * src[t][u + d[t]];
        out[u] = acc;
    };
    int64_t u = 0;
    for (; u < inner_lo; ++u) scalar(u);
    V wv[kMost];
    for (int t = 0; t < n; ++t) wv[t] = V::set1(w[t]);
    auto vector = [&](int64_t at) {
        V acc = first ? V::load(first + at) : V::set1(bias);
        for (int t = 0; t < kMost; ++t) {
            if (t == n) break;
            acc = fmadd(wv[t], V::load(src[t] + (at + d[t])), acc);
        }
        acc.store(out + at);
    };
    for (; u + V::N <= inner_hi; u += V::N) vector(u);
    // The rest of the interior as one vector overlapping the last: the
    // same values again, unless this pass adds to its own output.
    if (u < inner_hi && !first && inner_hi - inner_lo >= V::N) {
        vector(inner_hi - V::N);
        u = inner_hi;
    }
    for (; u < count; ++u) scalar(u);
}

template <typename T>
void sum_taps_row_any(const T* const* src, const T* w, const int64_t* d, int64_t W, int taps,
                      T bias, const T* first, int64_t count, T* out) {
    switch (taps) {
        case 1: return sum_taps_row<T, 1>(src, w, d, W, taps, bias, first, count, out);
        case 2: return sum_taps_row<T, 2>(src, w, d, W, taps, bias, first, count, out);
        case 3: return sum_taps_row<T, 3>(src, w, d, W, taps, bias, first, count, out);
        case 4: return sum_taps_row<T, 4>(src, w, d, W, taps, bias, first, count, out);
        default: return sum_taps_row<T, 0>(src, w, d, W, taps, bias, first, count, out);
    }
}

#if GCONV_ISA_LEVEL == 2 && !defined(GCONV_GENERIC_VECTORS)
// 3x3, stride 2, padding 1, undilated: the input gradient of MobileNet's
// downsampling layers. Output row i = 2a + q (q = 0: kernel row 1 from dy
// row a; q = 1: kernel rows 0 and 2 from dy rows a + 1 and a), columns
// 2b (kernel column 1, dy column b) and 2b + 1 (kernel columns 0 and 2, dy
// columns b + 1 and b), each summed from the bias in the order of the
// general kernel below (kernel row, then kernel column); taps past dy's
// last row or column do not exist and are skipped, as there. Vectors of 16
// columns b at a time, interleaved into 32 outputs with two permutes, the
// last one masked to the row, where the general kernel spent most of its
// time on each row's tap lists and edges (MobileNetV2's 112x112 layer at
// N=16, 2 threads: 6.1 -> 2.9 ms).
// Rows [i0, i1) of one channel. An even row 2a and the odd row 2a + 1
// after it read the same dy row a: they go together, from one load of it
// (and the constants are set once per call, not per row: per-row calls
// spent a seventh of MobileNetV2's 112x112 input gradient on their entry).
inline void transposed_3x3s2_rows(const TransposedGeometry& g, const float* dy, const float* w,
                                  float bias, float* y, int64_t i0, int64_t i1, bool stream) {
    const int64_t W = g.W, OW = g.OW;
    const PairPermutes permutes;
    const __m512 vb = _mm512_set1_ps(bias);
    __m512 k[9];  // kernel row r, column s at k[3 * r + s]
    for (int t = 0; t < 9; ++t) k[t] = _mm512_set1_ps(w[t]);
    // Rows of whole lines, streamed where asked (results beyond kStreamBytes):
    // every store then fills a line, which goes to memory without being read
    // first. MobileNetV2's 112x112 layer at N=16 (77 MB of output) ran
    // 1.83x faster, N=2 1.03-1.15x (caches flushed: 1.5x).
    stream = stream && OW % 16 == 0 && reinterpret_cast<uintptr_t>(y) % 64 == 0;
    auto store = [&](float* out, __m512 even, __m512 odd_col, uint32_t mask) {
        store_pairs(permutes, out, even, odd_col, mask, stream);
    };
    // 16 columns from b of output rows `rows` (bit 0: row 2a, bit 1: row
    // 2a + 1): dy lanes `in`, the b + 1 taps where they exist (`next`; mask3
    // passes the sum through elsewhere), outputs `out` of 32 per row. Each
    // output sums from the bias in the general kernel's order (kernel row,
    // then kernel column).
    auto columns = [&](int64_t a, int rows, int64_t b, __mmask16 in, __mmask16 next,
                       uint32_t out) {
        const float* d = dy + a * W;
        const __m512 d0 = _mm512_maskz_loadu_ps(in, d + b);
        const __m512 d1 = _mm512_maskz_loadu_ps(next, d + b + 1);
        if (rows & 1) {  // kernel row 1 from dy row a
            const __m512 even = _mm512_fmadd_ps(k[4], d0, vb);
            __m512 odd_col = _mm512_mask3_fmadd_ps(k[3], d1, vb, next);
            odd_col = _mm512_fmadd_ps(k[5], d0, odd_col);
            store(y + 2 * a * OW + 2 * b, even, odd_col, out);
        }
        if (rows & 2) {  // kernel row 0 from dy row a + 1 (where it exists), 2 from row a
            __m512 even = vb, odd_col = vb;
            if (a + 1 < g.H) {
                const float* n = d + W;
                const __m512 n0 = _mm512_maskz_loadu_ps(in, n + b);
                const __m512 n1 = _mm512_maskz_loadu_ps(next, n + b + 1);
                even = _mm512_fmadd_ps(k[1], n0, even);
                odd_col = _mm512_mask3_fmadd_ps(k[0], n1, odd_col, next);
                odd_col = _mm512_fmadd_ps(k[2], n0, odd_col);
            }
            even = _mm512_fmadd_ps(k[7], d0, even);
            odd_col = _mm512_mask3_fmadd_ps(k[6], d1, odd_col, next);
            odd_col = _mm512_fmadd_ps(k[8], d0, odd_col);
            store(y + (2 * a + 1) * OW + 2 * b, even, odd_col, out);
        }
    };
    // The last 1 to 16 columns are masked to the row; no b + 1 tap at b = W - 1.
    const int64_t last = (W - 1) / 16 * 16;
    const int64_t left = W - last;
    const int64_t count = std::min<int64_t>(2 * left, OW - 2 * last);  // outputs left in a row
    const __mmask16 last_in = static_cast<__mmask16>((1u << left) - 1u);
    const __mmask16 last_next = static_cast<__mmask16>((1u << (left - 1)) - 1u);
    const uint32_t last_out = count >= 32 ? 0xFFFFFFFFu : (1u << count) - 1u;
    for (int64_t i = i0; i < i1;) {
        const int64_t a = i / 2;
        // Row 2a alone where the range starts at 2a + 1; both where it holds them.
        const int rows = i % 2 != 0 ? 2 : i + 1 < i1 ? 3 : 1;
        for (int64_t b = 0; b < last; b += 16) columns(a, rows, b, 0xFFFF, 0xFFFF, 0xFFFFFFFFu);
        columns(a, rows, last, last_in, last_next, last_out);
        i = 2 * a + 2;
    }
}
#endif

// NCHW: output rows [i0, i1) of one channel. Row i is computed as sw
// phase rows (phase b holds outputs j = u * sw + b; each of its taps reads
// a contiguous run of a dy row) in `phases`, then interleaved, with
// streaming stores if `stream`.
template <typename T>
void transposed_dw_nchw_rows(const TransposedGeometry& g, const TransposedTaps& k,
                             const T* dy, const T* w, T bias, T* y, int64_t i0, int64_t i1,
                             T* phases, bool stream) {
#if GCONV_ISA_LEVEL == 2 && !defined(GCONV_GENERIC_VECTORS)
    if constexpr (sizeof(T) == 4) {
        if (transposed_3x3s2_fits(g)) {
            transposed_3x3s2_rows(g, dy, w, bias, y, i0, i1, stream);
            if (stream) _mm_sfence();  // streaming stores complete before the caller's barrier
            return;
        }
    }
#endif
    const int64_t U = (g.OW + g.sw - 1) / g.sw;  // phase row length
    for (int64_t i = i0; i < i1; ++i) {
        const int64_t q = (i + g.pt) % g.sh, base = (i + g.pt) / g.sh;
        for (int64_t b = 0; b < g.sw; ++b) {
            const int64_t count = (g.OW - b + g.sw - 1) / g.sw;
            T* out = phases + b * U;
            const T* src[kTapsPerPass];
            T wt[kTapsPerPass];
            int64_t offset[kTapsPerPass];
            int taps = 0;
            bool written = false;
            for (int64_t t = k.row_begin[q]; t < k.row_begin[q + 1]; ++t) {
                const int64_t oi = base - k.row_k[t];
                if (oi < 0 || oi >= g.H) continue;
                const T* row = dy + oi * g.W;
                for (int64_t e = k.col_begin[b]; e < k.col_begin[b + 1]; ++e) {
                    src[taps] = row;
                    wt[taps] = w[k.row_r[t] * g.S + k.col_s[e]];
                    offset[taps] = k.col_d[e];
                    if (++taps == kTapsPerPass) {
                        sum_taps_row_any(src, wt, offset, g.W, taps, bias, written ? out : nullptr,
                                     count, out);
                        written = true;
                        taps = 0;
                    }
                }
            }
            if (taps > 0 || !written)
                sum_taps_row_any(src, wt, offset, g.W, taps, bias, written ? out : nullptr, count,
                             out);
        }
        interleave_phase_row(phases, U, g.sw, g.OW, y + i * g.OW, stream);
    }
#if defined(__SSE2__)
    _mm_sfence();  // streaming stores complete before the caller's barrier
#endif
}

// Multiplier 2: out[c + v * N] (v < B) = start + the sums over the taps of
// their dy channel pairs; two accumulators per output vector take its 2 * N
// dy channels and their neighbouring lanes are added at the end.
template <typename T, int B>
void sum_tap_pairs(const T* const* src, const T* const* w, int taps, const Vec<T>* start,
                   int64_t c, T* out) {
    using V = Vec<T>;
    V lo[B], hi[B];
    for (int v = 0; v < B; ++v) lo[v] = hi[v] = V::zero();
    for (int t = 0; t < taps; ++t) {
        const T* wp = w[t] + 2 * c;
        const T* sp = src[t] + 2 * c;
        for (int v = 0; v < B; ++v) {
            lo[v] = fmadd(V::load(wp + 2 * v * V::N), V::load(sp + 2 * v * V::N), lo[v]);
            hi[v] = fmadd(V::load(wp + (2 * v + 1) * V::N), V::load(sp + (2 * v + 1) * V::N),
                          hi[v]);
        }
    }
    for (int v = 0; v < B; ++v) (start[v] + pair_sums(lo[v], hi[v])).store(out + c + v * V::N);
}

// out[c] (c < C) = first[c] (bias, or zero, when `first` is null) + sum over
// the taps and the M dy channels c * M + j of w[t][c * M + j] * src[t][c * M + j]
// (M, the depth multiplier of the forward convolution: 1 or 2); whole
// vectors of M = 1 stored non-temporally when `stream` (out line-aligned).
template <typename T, int M>
void sum_taps_pixel(const T* const* src, const T* const* w, int taps, const T* bias,
                    const T* first, int64_t C, T* out, bool stream = false) {
    static_assert(M == 1 || M == 2, "multipliers 1 and 2");
    using V = Vec<T>;
    const auto start = [&](int64_t c) {
        return first ? V::load(first + c) : bias ? V::load(bias + c) : V::zero();
    };
    int64_t c = 0;
    if constexpr (M == 2) {
        // Four output vectors at a time: eight independent FMA chains (two
        // alone waited on the FMA latency at every tap: a stride-1 3x3 ran
        // at ~480 cycles a pixel of 32 outputs); then two (32 channels are
        // two vectors of AVX-512 floats).
        constexpr int B = 4;
        for (; c + B * V::N <= C; c += B * V::N) {
            V starts[B];
            for (int v = 0; v < B; ++v) starts[v] = start(c + v * V::N);
            sum_tap_pairs<T, B>(src, w, taps, starts, c, out);
        }
        for (; c + 2 * V::N <= C; c += 2 * V::N) {
            const V starts[2] = {start(c), start(c + V::N)};
            sum_tap_pairs<T, 2>(src, w, taps, starts, c, out);
        }
    }
    for (; c + V::N <= C; c += V::N) {
        const V first_value = start(c);
        if constexpr (M == 1) {
            V acc = first_value;
            for (int t = 0; t < taps; ++t)
                acc = fmadd(V::load(w[t] + c), V::load(src[t] + c), acc);
            if (stream)
                acc.stream(out + c);
            else
                acc.store(out + c);
        } else {
            sum_tap_pairs<T, 1>(src, w, taps, &first_value, c, out);
        }
    }
    for (; c < C; ++c) {
        T acc = first ? first[c] : bias ? bias[c] : T(0);
        for (int t = 0; t < taps; ++t)
            for (int j = 0; j < M; ++j) acc += w[t][c * M + j] * src[t][c * M + j];
        out[c] = acc;
    }
}

// NHWC: output row i of one image, every channel; weights packed
// [R * S][C * M] (dy's channel order). Each pixel's taps are summed channel
// vector by channel vector and stored once.
template <typename T, int M>
void transposed_dw_nhwc_pixels(const TransposedGeometry& g, const TransposedTaps& k,
                               const T* dy, const T* w, const T* bias, T* y, int64_t i,
                               bool stream) {
    const int64_t C = g.C, dy_pixel = g.C * M;
    const int64_t q = (i + g.pt) % g.sh, base = (i + g.pt) / g.sh;
    // The row's taps for each column phase b, from dy's pixel u (the same
    // for every pixel of the phase whose taps all lie inside dy's row,
    // [u_lo, u_hi)): collected once per row, where collecting them per
    // pixel, with a bounds test per tap, cost as much as the arithmetic
    // (MobileNetV2's 112x112 stride-2 input gradient, NHWC: 96 channels a
    // pixel, one to four taps). Same taps in the same order as below.
    constexpr int kMostPhases = 4;
    int64_t offset[kMostPhases][kTapsPerPass];
    const T* weight[kMostPhases][kTapsPerPass];
    int count[kMostPhases] = {};
    int64_t u_lo[kMostPhases], u_hi[kMostPhases];
    const bool fast = g.sw <= kMostPhases;
    for (int64_t b = 0; fast && b < g.sw; ++b) {
        u_lo[b] = 0;
        u_hi[b] = g.W;
        for (int64_t e = k.col_begin[b]; e < k.col_begin[b + 1]; ++e) {
            u_lo[b] = std::max<int64_t>(u_lo[b], -k.col_d[e]);
            u_hi[b] = std::min<int64_t>(u_hi[b], g.W - k.col_d[e]);
        }
        for (int64_t t = k.row_begin[q]; t < k.row_begin[q + 1]; ++t) {
            const int64_t oi = base - k.row_k[t];
            if (oi < 0 || oi >= g.H) continue;
            for (int64_t e = k.col_begin[b]; e < k.col_begin[b + 1]; ++e) {
                if (count[b] == kTapsPerPass) {  // more than one pass: below
                    u_hi[b] = u_lo[b];
                    break;
                }
                offset[b][count[b]] = (oi * g.W + k.col_d[e]) * dy_pixel;
                weight[b][count[b]++] = w + (k.row_r[t] * g.S + k.col_s[e]) * dy_pixel;
            }
        }
        if (count[b] == 0) u_hi[b] = u_lo[b];  // bias only: below
    }
    for (int64_t j = 0, u = 0, b = 0; j < g.OW; ++j) {  // j = u * sw + b
        T* out = y + (i * g.OW + j) * C;
        if (fast && u >= u_lo[b] && u < u_hi[b]) {
            const T* src[kTapsPerPass];
            for (int t = 0; t < count[b]; ++t) src[t] = dy + u * dy_pixel + offset[b][t];
            sum_taps_pixel<T, M>(src, weight[b], count[b], bias, nullptr, C, out, stream);
            if (++b == g.sw) b = 0, ++u;
            continue;
        }
        const T* src[kTapsPerPass];
        const T* wt[kTapsPerPass];
        int taps = 0;
        bool written = false;
        for (int64_t t = k.row_begin[q]; t < k.row_begin[q + 1]; ++t) {
            const int64_t oi = base - k.row_k[t];
            if (oi < 0 || oi >= g.H) continue;
            for (int64_t e = k.col_begin[b]; e < k.col_begin[b + 1]; ++e) {
                const int64_t oj = u + k.col_d[e];
                if (oj < 0 || oj >= g.W) continue;
                src[taps] = dy + (oi * g.W + oj) * dy_pixel;
                wt[taps] = w + (k.row_r[t] * g.S + k.col_s[e]) * dy_pixel;
                if (++taps == kTapsPerPass) {
                    sum_taps_pixel<T, M>(src, wt, taps, bias, written ? out : nullptr, C, out);
                    written = true;
                    taps = 0;
                }
            }
        }
        if (taps > 0 || !written)  // the last pass: its stores final
            sum_taps_pixel<T, M>(src, wt, taps, bias, written ? out : nullptr, C, out, stream);
        if (++b == g.sw) b = 0, ++u;
    }
#if defined(__SSE2__)
    if (stream) _mm_sfence();  // streaming stores complete before the caller's barrier
#endif
}

// g.Kg: the forward convolution's depth multiplier (1 or 2).
template <typename T>
void transposed_dw_nhwc_row(const TransposedGeometry& g, const TransposedTaps& k,
                            const T* dy, const T* w, const T* bias, T* y, int64_t i,
                            bool stream) {
    if (g.Kg == 2) return transposed_dw_nhwc_pixels<T, 2>(g, k, dy, w, bias, y, i, false);
    transposed_dw_nhwc_pixels<T, 1>(g, k, dy, w, bias, y, i, stream);
}

template <typename T>
void fill(KernelFamily<T>& f) {
    f.transposed_dw_nchw = transposed_dw_nchw_rows<T>;
#if GCONV_ISA_LEVEL == 2 && !defined(GCONV_GENERIC_VECTORS)
    f.transposed_dw_nchw_3x3s2 = sizeof(T) == 4;
#endif
    f.transposed_dw_nhwc = transposed_dw_nhwc_row<T>;
}

}  // namespace

void fill_transposed(KernelTable& table) {
    fill(table.f32);
    fill(table.f64);
}

}  // namespace GCONV_ISA
}  // namespace gconv
