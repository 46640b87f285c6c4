// Depthwise NHWC kernel (groups == in_channels, depth multiplier m >= 1):
// vector lanes over channels, which are contiguous in NHWC. (NCHW depthwise
// uses the direct plane kernel, src/cpu/direct/direct_nchw.inl.)
//
// Weights are packed [R * S][m][C]: output channel k = c * m + j of tap t is
// at w[(t * m + j) * C + c], so for each multiplier index j the weights, the
// input channels and the accumulators all run over c in step. Taps in the
// padding multiply zeros, as in the reference.
#if defined(__SSE2__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <type_traits>

#include "cpu/common/padded_rows.hpp"
#include "cpu/common/prefetch.hpp"
#include "cpu/kernel_table.hpp"

namespace gconv {
namespace GCONV_ISA {

#include "cpu/common/kernel_common.inl"
#include "cpu/common/simd.inl"
#include "cpu/common/transpose.inl"

namespace {

#include "cpu/common/row_fetch.inl"

// Channels [c0, c0 + NV * N) of multiplier index j at PW consecutive output
// pixels (ow, ow + 1, ...): each weight vector is loaded once per tap and
// used for all PW pixels.
template <typename T, int NV, int PW>
void dw_nhwc_vectors(const ConvGeometry& g, const T* x, const T* w, const T* bias, T* y,
                     int64_t oh, int64_t ow, int64_t j, int64_t c0) {
    using V = Vec<T>;
    const int64_t C = g.C, m = g.Kg;
    const int64_t ih0 = oh * g.sh - g.pt, iw0 = ow * g.sw - g.pl;
    V acc[PW][NV];
    for (int p = 0; p < PW; ++p)
        for (int v = 0; v < NV; ++v) acc[p][v] = V::zero();
    for (int64_t r = 0; r < g.R; ++r) {
        const int64_t ih = ih0 + r * g.dh;
        const bool row_inside = ih >= 0 && ih < g.H;
        for (int64_t s = 0; s < g.S; ++s) {
            const T* wp = w + ((r * g.S + s) * m + j) * C + c0;
            V wv[NV];
            for (int v = 0; v < NV; ++v) wv[v] = V::load(wp + v * V::N);
            for (int p = 0; p < PW; ++p) {
                const int64_t iw = iw0 + p * g.sw + s * g.dw;
                if (row_inside && iw >= 0 && iw < g.W) {
                    const T* xp = x + (ih * g.W + iw) * C + c0;
                    for (int v = 0; v < NV; ++v)
                        acc[p][v] = fmadd(wv[v], V::load(xp + v * V::N), acc[p][v]);
                } else {
                    for (int v = 0; v < NV; ++v) acc[p][v] = fmadd(wv[v], V::zero(), acc[p][v]);
                }
            }
        }
    }
    for (int p = 0; p < PW; ++p) {
        T* yp = y + (oh * g.OW + ow + p) * g.K;
        if (m == 1) {
            for (int v = 0; v < NV; ++v) {
                const V b = bias ? V::load(bias + c0 + v * V::N) : V::zero();
                activate_vec(acc[p][v] + b, g.act).store(yp + c0 + v * V::N);
            }
            continue;
        }
        alignas(64) T lanes[NV * V::N];
        for (int v = 0; v < NV; ++v) acc[p][v].store(lanes + v * V::N);
        for (int64_t l = 0; l < NV * V::N; ++l) {
            const int64_t k = (c0 + l) * m + j;
            yp[k] = activate(lanes[l] + (bias ? bias[k] : T(0)), g.act);
        }
    }
}

// Depth multiplier 2: channel c's two outputs are neighbours (k = 2c, 2c + 1)
// in NHWC, so both are computed at once (each input vector loaded once for
// both) and stored interleaved, two whole vectors per input vector where
// the one-multiplier-at-a-time kernel above stored value by value.
// out[2l + j] = activate((j ? b : a)[l] + bias[2l + j]) for the N lanes.
template <typename T>
inline void store_pairs(Vec<T> a, Vec<T> b, const T* bias, int act, T* out) {
    using V = Vec<T>;
    V first{}, second{};  // outputs [0, N) and [N, 2N)
    bool interleaved = false;
#if defined(__AVX512F__) && !defined(GCONV_GENERIC_VECTORS)
    // Two two-source permutes (through memory, value by value, dw_mult2
    // NHWC ran 1.33x slower on Zen 4).
    if constexpr (std::is_same<T, float>::value && V::N == 16) {
        const __m512i lo = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1,
                                            16, 0);
        const __m512i hi = _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25,
                                            9, 24, 8);
        first.v = _mm512_permutex2var_ps(a.v, lo, b.v);
        second.v = _mm512_permutex2var_ps(a.v, hi, b.v);
        interleaved = true;
    }
    if constexpr (std::is_same<T, double>::value && V::N == 8) {
        const __m512i lo = _mm512_set_epi64(11, 3, 10, 2, 9, 1, 8, 0);
        const __m512i hi = _mm512_set_epi64(15, 7, 14, 6, 13, 5, 12, 4);
        first.v = _mm512_permutex2var_pd(a.v, lo, b.v);
        second.v = _mm512_permutex2var_pd(a.v, hi, b.v);
        interleaved = true;
    }
#endif
#if defined(__AVX2__) && !defined(GCONV_GENERIC_VECTORS)
    if constexpr (std::is_same<T, float>::value && V::N == 8) {
        const __m256 lo = _mm256_unpacklo_ps(a.v, b.v), hi = _mm256_unpackhi_ps(a.v, b.v);
        first.v = _mm256_permute2f128_ps(lo, hi, 0x20);
        second.v = _mm256_permute2f128_ps(lo, hi, 0x31);
        interleaved = true;
    }
    if constexpr (std::is_same<T, double>::value && V::N == 4) {
        const __m256d lo = _mm256_unpacklo_pd(a.v, b.v), hi = _mm256_unpackhi_pd(a.v, b.v);
        first.v = _mm256_permute2f128_pd(lo, hi, 0x20);
        second.v = _mm256_permute2f128_pd(lo, hi, 0x31);
        interleaved = true;
    }
#endif
    if (!interleaved) {
        alignas(64) T la[V::N], lb[V::N], both[2 * V::N];
        a.store(la);
        b.store(lb);
        for (int l = 0; l < V::N; ++l) {
            both[2 * l] = la[l];
            both[2 * l + 1] = lb[l];
        }
        first = V::load(both);
        second = V::load(both + V::N);
    }
    if (bias) {
        first = first + V::load(bias);
        second = second + V::load(bias + V::N);
    }
    activate_vec(first, act).store(out);
    activate_vec(second, act).store(out + V::N);
}

template <typename T, int NV, int PW>
void dw_nhwc_pair_vectors(const ConvGeometry& g, const T* x, const T* w, const T* bias, T* y,
                          int64_t oh, int64_t ow, int64_t c0) {
    using V = Vec<T>;
    const int64_t C = g.C;
    const int64_t ih0 = oh * g.sh - g.pt, iw0 = ow * g.sw - g.pl;
    V acc[2][PW][NV];
    for (int j = 0; j < 2; ++j)
        for (int p = 0; p < PW; ++p)
            for (int v = 0; v < NV; ++v) acc[j][p][v] = V::zero();
    for (int64_t r = 0; r < g.R; ++r) {
        const int64_t ih = ih0 + r * g.dh;
        const bool row_inside = ih >= 0 && ih < g.H;
        for (int64_t s = 0; s < g.S; ++s) {
            V wv[2][NV];
            for (int j = 0; j < 2; ++j)
                for (int v = 0; v < NV; ++v)
                    wv[j][v] = V::load(w + ((r * g.S + s) * 2 + j) * C + c0 + v * V::N);
            for (int p = 0; p < PW; ++p) {
                const int64_t iw = iw0 + p * g.sw + s * g.dw;
                const bool inside = row_inside && iw >= 0 && iw < g.W;
                const T* xp = inside ? x + (ih * g.W + iw) * C + c0 : nullptr;
                for (int v = 0; v < NV; ++v) {
                    const V xv = inside ? V::load(xp + v * V::N) : V::zero();
                    for (int j = 0; j < 2; ++j) acc[j][p][v] = fmadd(wv[j][v], xv, acc[j][p][v]);
                }
            }
        }
    }
    for (int p = 0; p < PW; ++p) {
        T* yp = y + (oh * g.OW + ow + p) * g.K;
        for (int v = 0; v < NV; ++v) {
            const int64_t k = 2 * (c0 + v * V::N);
            store_pairs(acc[0][p][v], acc[1][p][v], bias ? bias + k : nullptr, g.act, yp + k);
        }
    }
}

// The last C % N channels: one independent chain per channel.
template <typename T>
void dw_nhwc_tail(const ConvGeometry& g, const T* x, const T* w, const T* bias, T* yp,
                  int64_t ih0, int64_t iw0, int64_t j, int64_t c0) {
    const int64_t C = g.C, m = g.Kg, n = C - c0;
    T acc[Vec<T>::N] = {};
    for (int64_t r = 0; r < g.R; ++r) {
        const int64_t ih = ih0 + r * g.dh;
        for (int64_t s = 0; s < g.S; ++s) {
            const int64_t iw = iw0 + s * g.dw;
            const bool inside = ih >= 0 && ih < g.H && iw >= 0 && iw < g.W;
            const T* wp = w + ((r * g.S + s) * m + j) * C + c0;
            const T* xp = inside ? x + (ih * g.W + iw) * C + c0 : nullptr;
            for (int64_t l = 0; l < n; ++l) acc[l] += wp[l] * (inside ? xp[l] : T(0));
        }
    }
    for (int64_t l = 0; l < n; ++l) {
        const int64_t k = (c0 + l) * m + j;
        yp[k] = activate(acc[l] + (bias ? bias[k] : T(0)), g.act);
    }
}

// The run's channel loop (see dw_nhwc_run). rows[r]: kernel row r's first
// input column, or null outside the image. kLead >= 0: every row is inside,
// and the columns outside are the run's first kLead and last kTrail (the
// loop over kernel rows then unrolls and holds no branch); kLead < 0: rows
// and columns (column[]) checked at run time. kM, what a vector of
// channels c0.. computes:
//  -  1: output c * m + j of each input channel c (one multiplier index j);
//  -  2: both outputs of each channel (multiplier 2), stored interleaved;
//  - -2: output c from input channels 2c and 2c + 1 (grouped, Cg = 2 and
//        Kg = 1: see grouped_pairs_nhwc), c0 counting outputs.
template <typename T, int S, int SW, int PW, int kLead, int kTrail, int kM>
GCONV_ALWAYS_INLINE void dw_nhwc_run_channels(const ConvGeometry& g, const T* const* rows,
                                              const bool* column, const T* wj, const T* bias,
                                              T* out, int count, int64_t j, int64_t c_end,
                                              bool fetch, NextRowFetch<T>& next) {
    using V = Vec<T>;
    constexpr int kSpan = (PW - 1) * SW + S;  // input columns the run reads
    constexpr bool kAllRows = kLead >= 0;
    const int64_t C = g.C, m = g.Kg, w_tap = m * C, K = g.K;
    const int act = g.act;
    // kM == -2: two input vectors per output vector, each with its own
    // accumulators, their neighbouring lanes added at the end.
    constexpr int kSets = kM == -2 ? 2 : kM;  // accumulator (and weight) sets
    constexpr int kIn = kM == -2 ? 2 : 1;     // input vectors per column
    const int64_t w_step = kM == -2 ? 2 * K : w_tap;
    const bool stream = kM == 1 && next.streams();  // read once: next.step() writes next
    for (int64_t c0 = 0; c0 < c_end; c0 += V::N) {
        if (fetch) next.step();
        V acc[kSets][PW];
        for (int i = 0; i < kSets; ++i)
            for (int p = 0; p < PW; ++p) acc[i][p] = V::zero();
#if !defined(GCONV_GENERIC_VECTORS)  // (there: see run_for)
#pragma GCC unroll 7
#endif
        for (int r = 0; r < S; ++r) {
            V wv[kSets][S];
            for (int i = 0; i < kSets; ++i)
                for (int s = 0; s < S; ++s)
                    wv[i][s] = V::load(wj + (r * S + s) * w_step +
                                       (kM == -2 ? 2 * c0 + i * V::N : i * C + c0));
            if (!kAllRows && rows[r] == nullptr) {
                for (int i = 0; i < kSets; ++i)
                    for (int s = 0; s < S; ++s)
                        for (int p = 0; p < PW; ++p)
                            acc[i][p] = fmadd(wv[i][s], V::zero(), acc[i][p]);
                continue;
            }
            const T* xp = rows[r] + kIn * c0;
#pragma GCC unroll 32
            for (int q = 0; q < kSpan; ++q) {
                const bool real = kLead < 0 ? column[q] : q >= kLead && q < kSpan - kTrail;
                V xv[kIn];
                for (int i = 0; i < kIn; ++i)
                    xv[i] = real ? V::load(xp + q * C + i * V::N) : V::zero();
#pragma GCC unroll 7
                for (int s = 0; s < S; ++s) {
                    const int d = q - s, p = d / SW;  // column q is tap s of pixel p
                    if (d >= 0 && d % SW == 0 && p < PW)
                        for (int i = 0; i < kSets; ++i)
                            acc[i][p] = fmadd(wv[i][s], xv[kIn == 1 ? 0 : i], acc[i][p]);
                }
            }
        }
        if constexpr (kM == -2) {  // output c0 + l: lanes 2l, 2l + 1 of the pair
            const V b = bias ? V::load(bias + c0) : V::zero();
#pragma GCC unroll 16
            for (int p = 0; p < PW; ++p) {
                if (p == count) break;
                activate_vec(pair_sums(acc[0][p], acc[1][p]) + b, act).store(out + p * K + c0);
            }
            continue;
        }
        if constexpr (kM == 2) {  // both outputs of each channel, interleaved
#pragma GCC unroll 16
            for (int p = 0; p < PW; ++p) {
                if (p == count) break;
                store_pairs(acc[0][p], acc[1][p], bias ? bias + 2 * c0 : nullptr, act,
                            out + p * K + 2 * c0);
            }
            continue;
        }
        // p runs to the compile-time PW (unrolled): a loop to the run-time
        // count indexed acc[] at run time, which kept the accumulators on
        // the stack (AVX2, N=16, NHWC: 7x7 to 56x56 maps 6-14% slower).
        if (m == 1) {
            const V b = bias ? V::load(bias + c0) : V::zero();
            if (stream) {
#pragma GCC unroll 16
                for (int p = 0; p < PW; ++p) {
                    if (p == count) break;
                    activate_vec(acc[0][p] + b, act).stream(out + p * K + c0);
                }
                continue;
            }
#pragma GCC unroll 16
            for (int p = 0; p < PW; ++p) {
                if (p == count) break;
                activate_vec(acc[0][p] + b, act).store(out + p * K + c0);
            }
            continue;
        }
#pragma GCC unroll 16
        for (int p = 0; p < PW; ++p) {
            if (p == count) break;
            alignas(64) T lanes[V::N];
            acc[0][p].store(lanes);
            for (int64_t l = 0; l < V::N; ++l) {
                const int64_t k = (c0 + l) * m + j;
                out[p * K + k] = activate(lanes[l] + (bias ? bias[k] : T(0)), act);
            }
        }
    }
}

// Column stride SW (1 or 2), dilation 1: a run of PW output pixels (the
// first `count` of them stored) for channels [0, c_end), a vector at a time,
// with a step of `next` per vector when `fetch`.
// Each input vector of a kernel row is loaded once and used by every pixel
// whose window covers it ((PW - 1) * SW + S loads for PW * S FMAs, instead
// of PW * S).
template <typename T, int S, int SW, int PW, int kLead, int kTrail, int kM>
void dw_nhwc_run(const ConvGeometry& g, const T* x, const T* w, const T* bias, T* y, int64_t oh,
                 int64_t ow, int count, int64_t j, int64_t c_end, bool fetch,
                 NextRowFetch<T>& next) {
    constexpr int kSpan = (PW - 1) * SW + S;  // input columns the run reads
    const int64_t C = g.C;
    const int64_t ih0 = oh * g.sh - g.pt, iw0 = ow * SW - g.pl;
    // Rows outside the image are null: their taps multiply zeros, as the
    // reference's padding does (a NaN weight gives NaN), and so do columns.
    const T* rows[S];
    for (int r = 0; r < S; ++r) {
        const int64_t ih = ih0 + r;
        rows[r] = ih >= 0 && ih < g.H ? x + (ih * g.W + iw0) * C : nullptr;
    }
    bool column[kSpan];
    for (int q = 0; q < kSpan; ++q) column[q] = iw0 + q >= 0 && iw0 + q < g.W;
    dw_nhwc_run_channels<T, S, SW, PW, kLead, kTrail, kM>(
        g, rows, column, w + j * g.C, bias, y + (oh * g.OW + ow) * g.K, count, j, c_end, fetch,
        next);
}

template <typename T, int S, int SW, int PW>
using RunFn = void (*)(const ConvGeometry&, const T*, const T*, const T*, T*, int64_t, int64_t,
                       int, int64_t, int64_t, bool, NextRowFetch<T>&);

// The run for a row whose kernel rows are all inside the image (all_rows)
// with `lead` and `trail` columns outside: compiled for none and for S / 2
// at one end (a "same" padding's edges; both ends for the single run of a
// 7- or 14-wide map), checked at run time otherwise. Checking each column cost
// 7x7 and 14x14 maps, all of whose runs touch an edge, 1.15-1.5x; the
// compiled edges are float, and double with AVX-512 only (each variant is a
// large unrolled loop, and the build time grows with their number: the
// AVX-512 file's 70 s became 83 s; EfficientNet's 5x5 over 14x14 in float64
// ran 1.04x at N=1, 1.07-1.09x at N=16), and not in the test-only build
// on portable wide vectors, whose loops over lanes made this file take 197 s
// to compile instead of 86.
template <typename T, int S, int SW, int PW, int kM>
RunFn<T, S, SW, PW> run_for(bool all_rows, int64_t lead, int64_t trail) {
    constexpr int E = S / 2;
#if defined(GCONV_GENERIC_VECTORS)
    constexpr bool kEdges = false;
#else
    constexpr bool kEdges = (sizeof(T) == 4 || GCONV_ISA_LEVEL == 2) && kM == 1;
#endif
    if (!all_rows) return dw_nhwc_run<T, S, SW, PW, -1, -1, kM>;
    if (lead == 0 && trail == 0) return dw_nhwc_run<T, S, SW, PW, 0, 0, kM>;
    if constexpr (kEdges) {
        if (lead == E && trail == 0) return dw_nhwc_run<T, S, SW, PW, E, 0, kM>;
        if (lead == 0 && trail == E) return dw_nhwc_run<T, S, SW, PW, 0, E, kM>;
    }
    if constexpr (kEdges && (PW == 7 || PW == 14)) {
        if (lead == E && trail == E) return dw_nhwc_run<T, S, SW, PW, E, E, kM>;
    }
    return dw_nhwc_run<T, S, SW, PW, -1, -1, kM>;
}

// Row oh, pixels [ow_begin, ow_end) in runs of PW, each over every full
// vector of channels [0, c_end) (neighbouring vectors share cache lines:
// sweeping the channels inside a run keeps the run's input rows in L1),
// fetching the next row's lines on the way. (Blocks of 128 channels, so
// that a 960-channel run's rows would stay in L1, measured the same.)
// The last run ends at ow_end, overlapping the one before (its pixels are
// computed twice, identically), so that its columns past the image are the
// padding's and the run stays compiled for them.
template <typename T, int S, int SW, int PW, int kM = 1>
void dw_nhwc_row_runs(const ConvGeometry& g, const T* x, const T* w, const T* bias, T* y,
                      int64_t oh, int64_t ow_begin, int64_t ow_end, int64_t j, int64_t c_end,
                      FetchAhead fetch, bool stream = false) {
    constexpr int64_t kSpan = (PW - 1) * SW + S;
    const int64_t runs = (ow_end - ow_begin + PW - 1) / PW;
    NextRowFetch<T> next(g, x, y, oh, ow_begin, ow_end, runs * (c_end / Vec<T>::N), fetch,
                         stream);
    const int64_t ih0 = oh * g.sh - g.pt;
    const bool all_rows = ih0 >= 0 && ih0 + S <= g.H;
    for (int64_t ow = ow_begin; ow < ow_end; ow += PW) {
        const int64_t start = ow + PW > ow_end && ow_end - ow_begin >= PW ? ow_end - PW : ow;
        const int count = static_cast<int>(ow_end - start < PW ? ow_end - start : PW);
        const int64_t iw0 = start * SW - g.pl;
        const int64_t lead = iw0 < 0 ? -iw0 : 0;
        const int64_t trail = iw0 + kSpan > g.W ? iw0 + kSpan - g.W : 0;
        run_for<T, S, SW, PW, kM>(all_rows, lead, trail)(g, x, w, bias, y, oh, start, count, j,
                                                         c_end, fetch.on, next);
    }
#if defined(__SSE2__)
    if (stream) _mm_sfence();  // the streamed stores before any later read of y
#endif
}

// Runs of the 5x5 and 7x7 kernels: kWideRun pixels where that computes no
// more pixels than kRun would (every row's last run overlaps the one before),
// else kRun. Wider runs load each input vector for more pixels: kSpan + S
// loads per PW * S FMAs, and the loads, not the FMAs, bound these loops.
// Measured on Zen 4 (2 threads, N=1 and 16, 5x5 on 14x14 and 28x28, 7x7 on
// 56x56): AVX2, 7 against 4, 1.25-1.5x; AVX-512, 7 against 4, 1.18-1.32x,
// and 14 against 7, 1.09-1.22x. (3x3: 14 against 8 measured the same on
// 56x56 and 112x112 maps, which wait on memory; on 14- and 28-wide maps,
// against 7, 1.08-1.11x at N=16 and 1.07-1.22x at N=1.) Portable vectors
// keep 4 (the scalar family has 16 registers of 4 lanes; the emulated wide
// build compiles every variant).
#if GCONV_ISA_LEVEL == 2 && !defined(GCONV_GENERIC_VECTORS)
constexpr int kRun = 7, kWideRun = 14;
#elif GCONV_ISA_LEVEL == 1
constexpr int kRun = 7, kWideRun = 7;
#else
constexpr int kRun = 4, kWideRun = 4;
#endif

// Runs of multiplier 2's 3x3 kernel, both outputs at once: 2 * PW
// accumulators and 2 * S weights within the family's registers.
#if GCONV_ISA_LEVEL == 2 && !defined(GCONV_GENERIC_VECTORS)
constexpr int kPairRun = 8;
#else
constexpr int kPairRun = 4;
#endif

template <typename T, int S>
void dw_nhwc_row_runs_wide_kernel(const ConvGeometry& g, const T* x, const T* w, const T* bias,
                                  T* y, int64_t oh, int64_t ow_begin, int64_t ow_end, int64_t j,
                                  int64_t c_end, FetchAhead fetch, bool stream) {
    if constexpr (kWideRun != kRun) {
        const int64_t width = ow_end - ow_begin;
        const auto computed = [width](int64_t run) { return (width + run - 1) / run * run; };
        if (width >= kWideRun && computed(kWideRun) == computed(kRun))
            return dw_nhwc_row_runs<T, S, 1, kWideRun>(g, x, w, bias, y, oh, ow_begin, ow_end, j,
                                                        c_end, fetch, stream);
    }
    dw_nhwc_row_runs<T, S, 1, kRun>(g, x, w, bias, y, oh, ow_begin, ow_end, j, c_end, fetch,
                                    stream);
}

// Grouped NHWC with two input channels per group and one output channel
// (Cg = 2, Kg = 1: the transposed form of depthwise multiplier 2), 3x3 at
// stride 1 or 2, undilated: the depthwise runs with two input vectors per
// output vector, weights packed [R * S][K][2] (output k's pair at 2k, in
// the input's channel order). Each output sums its first input channel's
// taps, then its second's, and adds the two (kernel row by kernel row
// within each). The outputs past the last full vector: one at a time.
template <typename T>
void grouped_pairs_nhwc(const ConvGeometry& g, const T* x, const T* w, const T* bias, T* y,
                        int64_t oh, int64_t ow_begin, int64_t ow_end, FetchAhead fetch, bool) {
    constexpr int64_t N = Vec<T>::N;
    const int64_t K = g.K, c_end = K / N * N;
    if (c_end > 0) {
        if (g.sw == 2)
            dw_nhwc_row_runs<T, 3, 2, kPairRun, -2>(g, x, w, bias, y, oh, ow_begin, ow_end, 0,
                                                    c_end, fetch);
        else
            dw_nhwc_row_runs<T, 3, 1, kPairRun, -2>(g, x, w, bias, y, oh, ow_begin, ow_end, 0,
                                                    c_end, fetch);
    }
    for (int64_t ow = ow_begin; ow < ow_end; ++ow)
        for (int64_t k = c_end; k < K; ++k) {
            T sums[2] = {T(0), T(0)};
            for (int j = 0; j < 2; ++j)
                for (int64_t r = 0; r < 3; ++r)
                    for (int64_t s = 0; s < 3; ++s) {
                        const int64_t ih = oh * g.sh - g.pt + r, iw = ow * g.sw - g.pl + s;
                        const bool inside = ih >= 0 && ih < g.H && iw >= 0 && iw < g.W;
                        const T xv = inside ? x[(ih * g.W + iw) * g.C + 2 * k + j] : T(0);
                        sums[j] += w[(r * 3 + s) * 2 * K + 2 * k + j] * xv;
                    }
            y[(oh * g.OW + ow) * K + k] = activate(sums[0] + sums[1] + (bias ? bias[k] : T(0)),
                                                   g.act);
        }
}

// Pixels two at a time (weights loaded once for both), channels four
// vectors at a time (independent FMA chains), then the channel tail.
template <typename T>
void dwconv2d_nhwc(const ConvGeometry& g, const T* x, const T* w, const T* bias, T* y,
                   int64_t oh, int64_t ow_begin, int64_t ow_end, FetchAhead fetch,
                   bool stream) {
    constexpr int64_t N = Vec<T>::N, kWide = 4;
    const int64_t C = g.C, m = g.Kg;
    const int64_t ih0 = oh * g.sh - g.pt;
    // Stride 1, undilated 3x3/5x5/7x7 with a vector of channels or more:
    // input vectors shared by neighbouring pixels (PW pixels per run: 8 for
    // 3x3, or 7 or 14 where they fit the row exactly, see kRun). Measured (AVX2, 1
    // thread, N=16): 1.2-1.8x faster from 96 to 240 channels, 1.4-3.6x on
    // 14x14 and 7x7 maps with 384-960; on Zen 4 (2 threads), against the
    // pixel pairs below, 1.6-3.4x with 32 channels (AVX2 and AVX-512) and
    // 2-2.6x with 16, 2.1-2.2x with 96 (AVX-512, which left them to the
    // pairs below 128). Stride 2 (3x3, MobileNet's downsampling layers) the
    // same way. A multiplier of 2 at 3x3 runs both outputs of each channel
    // at once (each input vector loaded once for both) from one vector of
    // channels: against the pixel pairs below (up to 127 channels) and the
    // one-output runs with their value-by-value stores, on Zen 4 (AVX-512),
    // dw_mult2 (32 channels, 56x56) 2.4x at N=1 and 1.7x at N=16 (1.6x and
    // 1.9x on AVX2), 144 channels 1.9-2.9x, 960 on 7x7 1.9-2.3x, stride 2
    // 1.0-2.3x; the one loss measured, 96 channels from 112x112 at stride
    // 2, N=16 (77 MB streamed), 0.85x. 5x5 and 7x7 with a multiplier of 2
    // with few channels keep the pixel pairs.
    const bool unit = g.sh == g.sw && (g.sw == 1 || (g.sw == 2 && g.S == 3)) && g.dh == 1 &&
                      g.dw == 1 && g.R == g.S;
    if (m == 2 && unit && g.S == 3 && C >= N) {
        const int64_t c0 = C / N * N;  // the full vectors; the tail below
        if (g.sw == 2)
            dw_nhwc_row_runs<T, 3, 2, kPairRun, 2>(g, x, w, bias, y, oh, ow_begin, ow_end, 0, c0,
                                                   fetch);
        else
            dw_nhwc_row_runs<T, 3, 1, kPairRun, 2>(g, x, w, bias, y, oh, ow_begin, ow_end, 0, c0,
                                                   fetch);
        if (c0 < C)
            for (int64_t j = 0; j < m; ++j)
                for (int64_t ow = ow_begin; ow < ow_end; ++ow) {
                    T* yp = y + (oh * g.OW + ow) * g.K;
                    dw_nhwc_tail(g, x, w, bias, yp, ih0, ow * g.sw - g.pl, j, c0);
                }
        return;
    }
    const bool enough = m == 2 ? C >= 2 * kWide * N : C >= N;
    if (unit && (g.S == 3 || g.S == 5 || g.S == 7) && enough) {
        for (int64_t j = 0; j < m; ++j) {
            const int64_t c0 = C / N * N;  // the full vectors; the tail below
            if (g.S == 3 && g.sw == 2)
                dw_nhwc_row_runs<T, 3, 2, 8>(g, x, w, bias, y, oh, ow_begin, ow_end, j, c0, fetch,
                                             m == 1 && stream);
            else if (g.S == 3 && sizeof(T) == 4 && kWideRun == 14 &&  // 14-wide, as 7 below
                     (ow_end - ow_begin) % 14 == 0 && (ow_end - ow_begin) % 8 != 0)
                dw_nhwc_row_runs<T, 3, 1, kWideRun>(g, x, w, bias, y, oh, ow_begin, ow_end, j, c0,
                                                    fetch, m == 1 && stream);
            else if (g.S == 3 && sizeof(T) == 4 &&  // 7-wide runs where they fit exactly
                     (g.OW < 8 || ((ow_end - ow_begin) % 7 == 0 && (ow_end - ow_begin) % 8 != 0)))
                dw_nhwc_row_runs<T, 3, 1, 7>(g, x, w, bias, y, oh, ow_begin, ow_end, j, c0, fetch,
                                             m == 1 && stream);
            else if (g.S == 3)
                dw_nhwc_row_runs<T, 3, 1, 8>(g, x, w, bias, y, oh, ow_begin, ow_end, j, c0, fetch,
                                             m == 1 && stream);
            else if (g.S == 5)
                dw_nhwc_row_runs_wide_kernel<T, 5>(g, x, w, bias, y, oh, ow_begin, ow_end, j, c0,
                                                   fetch, m == 1 && stream);
            else
                dw_nhwc_row_runs_wide_kernel<T, 7>(g, x, w, bias, y, oh, ow_begin, ow_end, j, c0,
                                                   fetch, m == 1 && stream);
            if (c0 < C)
                for (int64_t ow = ow_begin; ow < ow_end; ++ow) {
                    T* yp = y + (oh * g.OW + ow) * g.K;
                    dw_nhwc_tail(g, x, w, bias, yp, ih0, ow * g.sw - g.pl, j, c0);
                }
        }
        return;
    }
    if (m == 2) {
        // The next row's lines requested over this row's pixel pairs, as
        // the runs above do (beyond the caches, N=16: 32 -> 64 channels at
        // 56x56 ran at 55-65% of its N=1 speed).
        NextRowFetch<T> next(g, x, y, oh, ow_begin, ow_end,
                             C / (2 * N) * ((ow_end - ow_begin) / 2), fetch);
        int64_t c0 = 0;
        for (; c0 + 2 * N <= C; c0 += 2 * N) {
            int64_t ow = ow_begin;
            for (; ow + 2 <= ow_end; ow += 2) {
                if (fetch) next.step();
                dw_nhwc_pair_vectors<T, 2, 2>(g, x, w, bias, y, oh, ow, c0);
            }
            if (ow < ow_end) dw_nhwc_pair_vectors<T, 2, 1>(g, x, w, bias, y, oh, ow, c0);
        }
        for (; c0 + N <= C; c0 += N)
            for (int64_t ow = ow_begin; ow < ow_end; ++ow)
                dw_nhwc_pair_vectors<T, 1, 1>(g, x, w, bias, y, oh, ow, c0);
        if (c0 < C)
            for (int64_t j = 0; j < m; ++j)
                for (int64_t ow = ow_begin; ow < ow_end; ++ow) {
                    T* yp = y + (oh * g.OW + ow) * g.K;
                    dw_nhwc_tail(g, x, w, bias, yp, ih0, ow * g.sw - g.pl, j, c0);
                }
        return;
    }
    for (int64_t j = 0; j < m; ++j) {
        int64_t c0 = 0;
        for (; c0 + kWide * N <= C; c0 += kWide * N) {
            int64_t ow = ow_begin;
            for (; ow + 2 <= ow_end; ow += 2)
                dw_nhwc_vectors<T, kWide, 2>(g, x, w, bias, y, oh, ow, j, c0);
            if (ow < ow_end) dw_nhwc_vectors<T, kWide, 1>(g, x, w, bias, y, oh, ow, j, c0);
        }
        for (; c0 + 2 * N <= C; c0 += 2 * N) {
            int64_t ow = ow_begin;
            for (; ow + 2 <= ow_end; ow += 2)
                dw_nhwc_vectors<T, 2, 2>(g, x, w, bias, y, oh, ow, j, c0);
            if (ow < ow_end) dw_nhwc_vectors<T, 2, 1>(g, x, w, bias, y, oh, ow, j, c0);
        }
        for (; c0 + N <= C; c0 += N)
            for (int64_t ow = ow_begin; ow < ow_end; ++ow)
                dw_nhwc_vectors<T, 1, 1>(g, x, w, bias, y, oh, ow, j, c0);
        if (c0 < C)
            for (int64_t ow = ow_begin; ow < ow_end; ++ow) {
                T* yp = y + (oh * g.OW + ow) * g.K;
                dw_nhwc_tail(g, x, w, bias, yp, ih0, ow * g.sw - g.pl, j, c0);
            }
    }
}

// P output pixels of one block of L channels, from the padded tile
// ([Hp][Wp][L]) at the given offsets into out (pixel after pixel, [.][L]).
// KR, KS: the kernel size when compiled in (3x3 keeps its nine weight
// vectors in registers), 0 for any.
template <typename T, int KR, int KS, int P>
inline void small_plane_pixels(const ConvGeometry& g, const T* tile, int64_t Wp,
                               const T* weights, Vec<T> b, int act, const int64_t* base,
                               T* out) {
    using V = Vec<T>;
    constexpr int64_t L = V::N;
    const int64_t R = KR ? KR : g.R, S = KS ? KS : g.S;
    V acc[P];
    for (int i = 0; i < P; ++i) acc[i] = V::zero();
    for (int64_t r = 0; r < R; ++r)
        for (int64_t s = 0; s < S; ++s) {
            const V wv = V::load(weights + (r * S + s) * L);
            const int64_t offset = (r * g.dh * Wp + s * g.dw) * L;
            for (int i = 0; i < P; ++i) acc[i] = fmadd(wv, V::load(tile + base[i] + offset), acc[i]);
        }
    for (int i = 0; i < P; ++i) activate_vec(acc[i] + b, act).store(out + i * L);
}

// Every output pixel of one block of L channels, eight at a time for
// independent FMA chains (the last few one by one: with a runtime count
// inside the group, GCC computed them lazily through the stack).
template <typename T, int KR, int KS>
void small_plane_block(const ConvGeometry& g, const T* tile, int64_t Wp, const T* weights,
                       Vec<T> b, T* out) {
    constexpr int64_t L = Vec<T>::N, kPixels = 8;
    const int64_t out_plane = g.OH * g.OW;
    const int act = g.act;
    int64_t oh = 0, ow = 0;  // of the next pixel, stepped without divisions
    auto next_base = [&]() {
        const int64_t base = (oh * g.sh * Wp + ow * g.sw) * L;
        if (++ow == g.OW) {
            ow = 0;
            ++oh;
        }
        return base;
    };
    int64_t p = 0;
    for (; p + kPixels <= out_plane; p += kPixels) {
        int64_t base[kPixels];
        for (int64_t i = 0; i < kPixels; ++i) base[i] = next_base();
        small_plane_pixels<T, KR, KS, kPixels>(g, tile, Wp, weights, b, act, base, out + p * L);
    }
    for (; p < out_plane; ++p) {
        const int64_t base = next_base();
        small_plane_pixels<T, KR, KS, 1>(g, tile, Wp, weights, b, act, &base, out + p * L);
    }
}

// NCHW depthwise on small planes (7x7, 14x14), where a row is narrower than
// a few vectors: V channels at a time are copied into a zero-padded
// [rows][cols][V] tile (channels innermost), convolved with lanes over
// channels (every tap inside the tile, no bounds checks), and copied back to
// planes. A full block of a multiple of eight lanes (AVX2 and AVX-512
// floats) is copied eight channels at a time through 8 x 8 register
// transposes, row by row on the way in (straight into the tile) and of
// whole planes on the way out: value by value the copies took about as long
// as the arithmetic of a 3x3 layer with eight lanes, and 2-3x as long with
// sixteen.
template <typename T>
void dwconv2d_nchw_small(const ConvGeometry& g, const T* x, const T* w, const T* bias, T* y,
                         int64_t c_begin, int64_t c_end, T* scratch, bool fetch) {
    using V = Vec<T>;
    constexpr int64_t L = V::N;
    const int64_t Hp = small_plane_height(g), Wp = small_plane_width(g);
    const int64_t taps = g.R * g.S, plane = g.H * g.W, out_plane = g.OH * g.OW;
    T* tile = scratch;
    T* out = scratch + Hp * Wp * L;
    alignas(64) T weights[64 * L];  // taps <= 64, checked by the planner
    alignas(64) T biases[L];
    const int64_t rows = g.H < Hp - g.pt ? g.H : Hp - g.pt;
    const int64_t cols = g.W < Wp - g.pl ? g.W : Wp - g.pl;
    // The padding is zeroed once: each block writes only the input pixels'
    // lanes. A last block of n < L channels leaves stale values in lanes
    // [n, L), whose outputs (their weights are zero) are never stored.
    for (int64_t i = 0; i < Hp * Wp; ++i) V::zero().store(tile + i * L);
    for (int64_t c0 = c_begin; c0 < c_end; c0 += L) {
        const int64_t n = c_end - c0 < L ? c_end - c0 : L;
        const bool transposed = L % 8 == 0 && n == L;
        // The planes of the block after next (the next item's, past c_end),
        // contiguous in NCHW, requested before this block's arithmetic when
        // `fetch` (see fetches_ahead): beyond L2 the 8-plane transposes
        // waited on their loads (960 channels at 7x7, N=16: 2.4x the time).
        const int64_t fetch_begin = c0 == c_begin ? c0 + L : c0 + 2 * L;
        const int64_t fetch_end = !fetch ? 0 : c0 + 3 * L < g.C ? c0 + 3 * L : g.C;
        const int64_t bytes = static_cast<int64_t>(sizeof(T));
        for (int64_t b = fetch_begin * plane * bytes; b < fetch_end * plane * bytes; b += 64)
            prefetch(reinterpret_cast<const char*>(x) + b);
        for (int64_t b = fetch_begin * out_plane * bytes; b < fetch_end * out_plane * bytes; b += 64)
            prefetch_write(reinterpret_cast<const char*>(y) + b);
        if (transposed) {
            const T* src[8];
            for (int64_t ih = 0; ih < rows; ++ih)
                for (int64_t l0 = 0; l0 < L; l0 += 8) {
                    for (int l = 0; l < 8; ++l) src[l] = x + (c0 + l0 + l) * plane + ih * g.W;
                    transpose_rows(src, 8, cols, tile + ((ih + g.pt) * Wp + g.pl) * L + l0, L);
                }
        } else {
            for (int64_t l = 0; l < n; ++l) {
                const T* src = x + (c0 + l) * plane;
                for (int64_t ih = 0; ih < rows; ++ih) {
                    T* dst = tile + ((ih + g.pt) * Wp + g.pl) * L + l;
                    for (int64_t iw = 0; iw < cols; ++iw) dst[iw * L] = src[ih * g.W + iw];
                }
            }
        }
        for (int64_t l = 0; l < L; ++l) {
            const bool real = l < n;
            for (int64_t t = 0; t < taps; ++t) weights[t * L + l] = real ? w[(c0 + l) * taps + t] : T(0);
            biases[l] = real && bias ? bias[c0 + l] : T(0);
        }
        const V b = V::load(biases);
        if (g.R == 3 && g.S == 3)
            small_plane_block<T, 3, 3>(g, tile, Wp, weights, b, out);
        else
            small_plane_block<T, 0, 0>(g, tile, Wp, weights, b, out);
        if (transposed) {
            T* dst[8];
            for (int64_t l0 = 0; l0 < L; l0 += 8) {
                for (int l = 0; l < 8; ++l) dst[l] = y + (c0 + l0 + l) * out_plane;
                deinterleave_rows8(out + l0, L, out_plane, dst);
            }
        } else {
            for (int64_t l = 0; l < n; ++l) {
                T* dst = y + (c0 + l) * out_plane;
                for (int64_t p = 0; p < out_plane; ++p) dst[p] = out[p * L + l];
            }
        }
    }
}

}  // namespace

void fill_depthwise(KernelTable& table) {
    table.f32.dwconv_nhwc = dwconv2d_nhwc<float>;
    table.f64.dwconv_nhwc = dwconv2d_nhwc<double>;
    table.f32.grouped_pairs_nhwc = grouped_pairs_nhwc<float>;
    table.f64.grouped_pairs_nhwc = grouped_pairs_nhwc<double>;
    table.f32.dwconv_nchw_small = dwconv2d_nchw_small<float>;
    table.f64.dwconv_nchw_small = dwconv2d_nchw_small<double>;
}

}  // namespace GCONV_ISA
}  // namespace gconv
