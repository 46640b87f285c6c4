// Direct convolution of NCHW output planes: the kernel of grouped_direct
// and of depthwise in NCHW.
//
// Vector lanes run over the output pixels of a row; the kernel is
// register-blocked over up to four output channels of one group, which share
// every input load: that is what makes narrow groups (ResNeXt's 4 channels
// per group) and depth multipliers > 1 fast.
//
// The input rows an item needs are first copied into scratch, zero-padded
// and split by column phase (input column = ow * stride + tap offset; tap s
// reads phase (s * dw) % sw at column ow + (s * dw) / sw), so every tap reads
// a contiguous run and every output pixel is an interior pixel: no bounds
// checks in the inner loop, and padding contributes w * 0 exactly as in the
// reference. Kernel sizes 3, 5 and 7 are compiled with their tap loops
// unrolled.
#if defined(__SSE2__)
#include <immintrin.h>
#endif

#include <type_traits>

#include "cpu/common/padded_rows.hpp"
#include "cpu/common/prefetch.hpp"
#include "cpu/kernel_table.hpp"

namespace gconv {
namespace GCONV_ISA {

#include "cpu/common/kernel_common.inl"
#include "cpu/common/simd.inl"
#include "cpu/common/transpose.inl"
#include "cpu/common/padded_rows_fill.inl"

namespace {

// Taps whose offsets are looked up in a table on the stack; wider kernels
// compute the offset per tap.
constexpr int64_t kMaxTabledTaps = 64;

// Element strides (channel, row, column) of the input and the output in
// g.layout: the kernel reads NHWC input and writes NHWC output as well, which
// is how grouped_direct serves NHWC (the copy into padded rows is a
// transpose; the arithmetic is the same).
struct PlaneStrides {
    int64_t xc, xh, xw;  // input
    int64_t yk, yp;      // output channel, output pixel (oh * OW + ow)
    explicit PlaneStrides(const ConvGeometry& g) {
        if (g.layout == GCONV_LAYOUT_NHWC) {
            xc = 1, xh = g.W * g.C, xw = g.C;
            yk = 1, yp = g.K;
        } else {
            xc = g.H * g.W, xh = g.W, xw = 1;
            yk = g.OH * g.OW, yp = 1;
        }
    }
};

// Vectors along a row computed at once: four, two, or one for small maps.
template <typename T>
int64_t row_vectors(const ConvGeometry& g) {
    const int64_t vectors = (g.OW + Vec<T>::N - 1) / Vec<T>::N;
    return vectors >= 4 ? 4 : vectors >= 2 ? 2 : 1;
}

// Elements per phase row this family reads: the output columns rounded up to
// whole blocks, plus the largest tap offset (at most padded_phase_width(g),
// which sizes the scratch for every family).
template <typename T>
int64_t phase_width_for(const ConvGeometry& g) {
    const int64_t block = row_vectors<T>(g) * Vec<T>::N;
    return (g.OW + block - 1) / block * block + (g.S - 1) * g.dw / g.sw + 1;
}

// Output channels, rows and row-vectors computed at once. Together they give
// at least four independent accumulator chains per weight (FMA latency x
// ports) while the accumulators, the weights and one row of input fit the
// family's vector registers (16 for SSE2/AVX2, 32 for AVX-512).
#if GCONV_ISA_LEVEL == 2
constexpr int kChannelsPerPass = 4;
#else
constexpr int kChannelsPerPass = 2;
#endif

// Calls f(std::integral_constant<int, s>) for s = S0 .. S1 - 1: a tap loop
// whose index is a compile-time constant (a shuffle's immediate).
template <int S0, int S1>
struct TapLoop {
    template <typename F>
    static GCONV_ALWAYS_INLINE void run(F& f) {
        if constexpr (S0 < S1) {
            f(std::integral_constant<int, S0>{});
            TapLoop<S0 + 1, S1>::run(f);
        }
    }
};

// Whether a compiled kernel width KS builds its taps' shifted input
// vectors from the block's vectors with a shuffle each (AVX-512 floats,
// stride 1, undilated) instead of loading them at a float offset, which
// splits a cache line. Measured on Zen 4: 7x7 depthwise 1.2x faster; 5x5
// the same; 3x3 depthwise 0.7-0.8x (the shuffles share the FMA pipes).
template <typename T, int NB, int KS>
constexpr bool shifts_taps() {
#if GCONV_ISA_LEVEL == 2 && !defined(GCONV_GENERIC_VECTORS)
    return std::is_same<T, float>::value && NB > 1 && KS >= 7 && KS <= Vec<T>::N;
#else
    return false;
#endif
}

// The first n < N lanes of v to out: one masked store on AVX-512 (a row
// of 56 outputs ends in half a vector), value by value elsewhere (masked
// stores are microcoded on AMD's AVX2).
template <typename T>
GCONV_ALWAYS_INLINE void store_first_lanes(Vec<T> v, T* out, int64_t n) {
#if GCONV_ISA_LEVEL == 2 && !defined(GCONV_GENERIC_VECTORS)
    if constexpr (std::is_same<T, float>::value)
        _mm512_mask_storeu_ps(out, static_cast<__mmask16>((1u << n) - 1u), v.v);
    else
        _mm512_mask_storeu_pd(out, static_cast<__mmask8>((1u << n) - 1u), v.v);
#else
    alignas(64) T lanes[Vec<T>::N];
    v.store(lanes);
    for (int64_t l = 0; l < n; ++l) out[l] = lanes[l];
#endif
}

template <typename T, int KB, int RB, int NB, int KR, int KS>
void direct_nchw_block(const ConvGeometry& g, const T* w, const T* bias, T* y,
                       int64_t oh_begin, int64_t oh_end, const T* scratch, int64_t rows,
                       bool gathered) {
    using V = Vec<T>;
    constexpr int64_t kWidth = NB * V::N;
    const int64_t R = KR ? KR : g.R, S = KS ? KS : g.S;
    const int64_t phase_width = phase_width_for<T>(g);
    const int64_t row_stride = phase_rows(g) * phase_width, channel_stride = rows * row_stride;
    // Kept rows between output rows, and between taps (see gathered_rows).
    const int64_t out_row_step = (gathered ? R : g.sh) * row_stride;
    const int64_t tap_row_step = (gathered ? 1 : g.dh) * row_stride;
    const int64_t w_stride = g.Cg * R * S;
    const PlaneStrides st(g);
    const bool tabled = S <= kMaxTabledTaps;
    const bool shift = shifts_taps<T, NB, KS>() && g.sw == 1 && g.dw == 1;
    int64_t tap_offset[kMaxTabledTaps];
    for (int64_t s = 0; s < S && s < kMaxTabledTaps; ++s)  // no division at stride 1
        tap_offset[s] = g.sw == 1 ? s * g.dw : tap_column(g, s, phase_width);
    for (int64_t oh = oh_begin; oh < oh_end; oh += RB) {
        const T* rows_base = scratch + (oh - oh_begin) * out_row_step;
        for (int64_t ow0 = 0; ow0 < g.OW; ow0 += kWidth) {
            V acc[KB][RB][NB];
            for (int kb = 0; kb < KB; ++kb)
                for (int rb = 0; rb < RB; ++rb)
                    for (int v = 0; v < NB; ++v) acc[kb][rb][v] = V::zero();
            for (int64_t c = 0; c < g.Cg; ++c)
                for (int64_t r = 0; r < R; ++r) {
                    const T* row = rows_base + c * channel_stride + r * tap_row_step + ow0;
                    const T* wr = w + (c * R + r) * S;
                    if constexpr (shifts_taps<T, NB, KS>()) {
                        if (shift) {
                            // Tap s of vector v: lanes s.. of vectors v and
                            // v + 1; the last vector's taps are loaded (its
                            // successor would read past the block's row).
                            for (int rb = 0; rb < RB; ++rb) {
                                const T* src = row + rb * out_row_step;
                                V chunk[NB];
                                for (int v = 0; v < NB; ++v) chunk[v] = V::load(src + v * V::N);
                                auto tap = [&](auto s_constant) {
                                    constexpr int s = decltype(s_constant)::value;
                                    V wv[KB];
                                    for (int kb = 0; kb < KB; ++kb)
                                        wv[kb] = V::set1(wr[kb * w_stride + s]);
                                    for (int v = 0; v < NB; ++v) {
                                        V xv;
                                        if constexpr (s == 0)
                                            xv = chunk[v];
                                        else if (v + 1 < NB)
                                            xv = V::template concat_shift<s>(chunk[v], chunk[v + 1]);
                                        else
                                            xv = V::load(src + v * V::N + s);
                                        for (int kb = 0; kb < KB; ++kb)
                                            acc[kb][rb][v] = fmadd(wv[kb], xv, acc[kb][rb][v]);
                                    }
                                };
                                TapLoop<0, KS>::run(tap);
                            }
                            continue;
                        }
                    }
#pragma GCC unroll 7
                    for (int64_t s = 0; s < S; ++s) {
                        const T* src =
                            row + (tabled ? tap_offset[s] : tap_column(g, s, phase_width));
                        V wv[KB];
                        for (int kb = 0; kb < KB; ++kb) wv[kb] = V::set1(wr[kb * w_stride + s]);
                        for (int rb = 0; rb < RB; ++rb) {
                            V xv[NB];
                            for (int v = 0; v < NB; ++v)
                                xv[v] = V::load(src + rb * out_row_step + v * V::N);
                            for (int kb = 0; kb < KB; ++kb)
                                for (int v = 0; v < NB; ++v)
                                    acc[kb][rb][v] = fmadd(wv[kb], xv[v], acc[kb][rb][v]);
                        }
                    }
                }
            const int64_t valid = g.OW - ow0;
            for (int kb = 0; kb < KB; ++kb) {
                const V b = V::set1(bias ? bias[kb] : T(0));
                for (int rb = 0; rb < RB && oh + rb < oh_end; ++rb) {
                    T* out = y + kb * st.yk + ((oh + rb) * g.OW + ow0) * st.yp;
                    for (int v = 0; v < NB; ++v) {
                        const V result = activate_vec(acc[kb][rb][v] + b, g.act);
                        const int64_t lanes_valid = valid - v * V::N;
                        if (st.yp == 1 && lanes_valid >= V::N) {
                            result.store(out + v * V::N);
                        } else if (st.yp == 1 && lanes_valid > 0) {
                            store_first_lanes(result, out + v * V::N, lanes_valid);
                        } else if (lanes_valid > 0) {
                            alignas(64) T lanes[V::N];
                            result.store(lanes);
                            const int64_t n = lanes_valid < V::N ? lanes_valid : V::N;
                            for (int64_t l = 0; l < n; ++l) out[(v * V::N + l) * st.yp] = lanes[l];
                        }
                    }
                }
            }
        }
    }
}

// Picks the row x vector blocking from the row width: four vectors of one
// row, two of two rows, or one vector of four rows for small maps.
template <typename T, int KB, int KR, int KS>
void direct_nchw_shaped(const ConvGeometry& g, const T* w, const T* bias, T* y,
                        int64_t oh_begin, int64_t oh_end, const T* scratch, int64_t rows,
                        bool gathered) {
    const int64_t vectors = row_vectors<T>(g);
    if (vectors == 4)
        direct_nchw_block<T, KB, 1, 4, KR, KS>(g, w, bias, y, oh_begin, oh_end, scratch, rows, gathered);
    else if (vectors == 2)
        direct_nchw_block<T, KB, 2, 2, KR, KS>(g, w, bias, y, oh_begin, oh_end, scratch, rows, gathered);
    else
        direct_nchw_block<T, KB, 4, 1, KR, KS>(g, w, bias, y, oh_begin, oh_end, scratch, rows, gathered);
}

template <typename T, int KR, int KS>
void direct_nchw_sized(const ConvGeometry& g, const T* w, const T* bias, T* y, int64_t oh_begin,
                       int64_t oh_end, const T* scratch, int64_t rows, bool gathered) {
    const int64_t count = g.Kg;
    const int64_t w_stride = g.Cg * g.R * g.S, y_stride = PlaneStrides(g).yk;
    for (int64_t k = 0; k < count; k += kChannelsPerPass) {
        const T* wk = w + k * w_stride;
        const T* bk = bias ? bias + k : nullptr;
        T* yk = y + k * y_stride;
        switch (count - k < kChannelsPerPass ? count - k : kChannelsPerPass) {
            case 1:
                direct_nchw_shaped<T, 1, KR, KS>(g, wk, bk, yk, oh_begin, oh_end, scratch, rows, gathered);
                break;
#if GCONV_ISA_LEVEL == 2
            case 2:
                direct_nchw_shaped<T, 2, KR, KS>(g, wk, bk, yk, oh_begin, oh_end, scratch, rows, gathered);
                break;
            case 3:
                direct_nchw_shaped<T, 3, KR, KS>(g, wk, bk, yk, oh_begin, oh_end, scratch, rows, gathered);
                break;
            default:
                direct_nchw_shaped<T, 4, KR, KS>(g, wk, bk, yk, oh_begin, oh_end, scratch, rows, gathered);
#else
            default:
                direct_nchw_shaped<T, 2, KR, KS>(g, wk, bk, yk, oh_begin, oh_end, scratch, rows, gathered);
#endif
        }
    }
}

// All output channels of `groups` groups, rows [oh_begin, oh_end): the
// padded input rows are filled once and read by every pass of channels.
template <typename T>
void direct_nchw(const ConvGeometry& g, const T* x, const T* w, const T* bias, T* y,
                 int64_t oh_begin, int64_t oh_end, int64_t groups, T* scratch, bool fetch) {
    // A block of rows_per_block output rows may run past oh_end (those
    // results are not stored): fill the input rows it reads, as zeros.
    const int64_t rows_per_block = 4 / row_vectors<T>(g);  // see direct_nchw_shaped
    const int64_t out_rows = oh_end - oh_begin;
    const int64_t kept_out = (out_rows + rows_per_block - 1) / rows_per_block * rows_per_block;
    const int64_t rows = padded_rows(g, kept_out);
    const bool gathered = gathered_rows(g, kept_out);
    fill_padded_rows(g, x, oh_begin, gathered, rows, phase_width_for<T>(g), groups, scratch,
                     fetch);
    const int64_t group_scratch = g.Cg * rows * phase_rows(g) * phase_width_for<T>(g);
    const int64_t group_weights = g.Kg * g.Cg * g.R * g.S;
    const int64_t group_outputs = g.Kg * PlaneStrides(g).yk;
    const int64_t square = g.R == g.S ? g.R : 0;
    for (int64_t gi = 0; gi < groups; ++gi) {
        const T* wg = w + gi * group_weights;
        const T* bg = bias ? bias + gi * g.Kg : nullptr;
        T* yg = y + gi * group_outputs;
        const T* sg = scratch + gi * group_scratch;
        if (square == 3)
            direct_nchw_sized<T, 3, 3>(g, wg, bg, yg, oh_begin, oh_end, sg, rows, gathered);
        else if (square == 5)
            direct_nchw_sized<T, 5, 5>(g, wg, bg, yg, oh_begin, oh_end, sg, rows, gathered);
        else if (square == 7)
            direct_nchw_sized<T, 7, 7>(g, wg, bg, yg, oh_begin, oh_end, sg, rows, gathered);
        else
            direct_nchw_sized<T, 0, 0>(g, wg, bg, yg, oh_begin, oh_end, sg, rows, gathered);
    }
}

}  // namespace

// One kernel serves both: depthwise NCHW is grouped_direct with Cg == 1, the
// channel block running over the depth multiplier.
void fill_direct_nchw(KernelTable& table) {
    table.f32.grouped_direct = table.f32.dwconv_nchw = direct_nchw<float>;
    table.f64.grouped_direct = table.f64.dwconv_nchw = direct_nchw<double>;
}

}  // namespace GCONV_ISA
}  // namespace gconv
