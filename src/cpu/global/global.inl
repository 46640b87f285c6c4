// Global depthwise convolution (kernel == padded input, one output pixel)
// and global average pooling: reductions whose speed is memory bandwidth.
#if defined(__SSE2__)
#include <immintrin.h>
#endif

#include <type_traits>

#include "cpu/kernel_table.hpp"

namespace gconv {
namespace GCONV_ISA {

#include "cpu/common/kernel_common.inl"
#include "cpu/common/simd.inl"
#include "cpu/common/transpose.inl"

namespace {

// Sum of a[i] * b[i], four vector accumulators wide (independent FMA
// chains), reduced in a fixed order so results do not depend on alignment.
template <typename T>
T dot(const T* a, const T* b, int64_t n) {
    using V = Vec<T>;
    constexpr int64_t kStep = 4 * V::N;
    V acc[4] = {V::zero(), V::zero(), V::zero(), V::zero()};
    int64_t i = 0;
    for (; i + kStep <= n; i += kStep)
        for (int v = 0; v < 4; ++v)
            acc[v] = fmadd(V::load(a + i + v * V::N), V::load(b + i + v * V::N), acc[v]);
    for (; i + V::N <= n; i += V::N) acc[0] = fmadd(V::load(a + i), V::load(b + i), acc[0]);
    alignas(64) T lanes[V::N];
    ((acc[0] + acc[1]) + (acc[2] + acc[3])).store(lanes);
    T sum = T(0);
    for (int l = 0; l < V::N; ++l) sum += lanes[l];
    for (; i < n; ++i) sum += a[i] * b[i];
    return sum;
}

// Eight unpadded planes' dot products with their weights (channels c..c+7
// of a depth-multiplier-1 layer), y[0..8): one vector accumulator per
// channel, then an 8 x 8 transpose adds the lanes of all eight at once
// (MobileFaceNet's 7x7 planes spent most of their time in the horizontal
// sum of each single dot product). Returns false where not compiled.
template <typename T>
bool dot8_planes(const T*, const T*, int64_t, T*) {
    return false;
}

#if defined(__AVX2__) && !defined(GCONV_GENERIC_VECTORS)
template <>
bool dot8_planes<float>(const float* x, const float* w, int64_t plane, float* y) {
    // Planes under one vector take the single dot products (here GCC zeroed
    // the accumulators through memory, with rep stosq, on every call).
    if (plane < 8) return false;
    __m256 acc[8];
    for (int c = 0; c < 8; ++c) acc[c] = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= plane; i += 8)
        for (int c = 0; c < 8; ++c)
            acc[c] = _mm256_fmadd_ps(_mm256_loadu_ps(w + c * plane + i),
                                     _mm256_loadu_ps(x + c * plane + i), acc[c]);
    transpose8x8(acc);  // acc[l] lane c: lane l of channel c's accumulator
    const __m256 sum = _mm256_add_ps(
        _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])),
        _mm256_add_ps(_mm256_add_ps(acc[4], acc[5]), _mm256_add_ps(acc[6], acc[7])));
    _mm256_storeu_ps(y, sum);
    for (int c = 0; c < 8; ++c)
        for (int64_t t = i; t < plane; ++t) y[c] += w[c * plane + t] * x[c * plane + t];
    return true;
}
#endif

// Sixteen unpadded planes' dot products with their weights (channels
// c..c+15 of a depth-multiplier-1 layer), y[0..16), AVX-512: the sixteen
// planes and their weights are two contiguous runs of 16 * plane values,
// read as whole vectors (planes of more than 16 values: a vector holds at
// most two planes' values), each multiplied into the accumulator of its
// plane's lanes (masked FMAs), then a tree of shuffles adds each
// accumulator's lanes. Against dot8_planes (plane by plane, each plane's
// last values in scalar code), MobileFaceNet's GDC (7x7 planes) at N=16
// ran 1.2-1.46x faster, at N=1 1.15-1.25x; 5x5, 6x6, 8x8 and 14x14 1.0-1.35x.
template <typename T>
bool dot16_planes(const T*, const T*, int64_t, T*) {
    return false;
}

// The same for `images` images, 2, 4 or 8 (image i at x + i * x_step,
// y + i * y_step), each weight vector loaded once for all of them; false
// where not compiled.
template <typename T>
bool dot16_planes_images(const T*, int64_t, const T*, int64_t, T*, int64_t, int64_t) {
    return false;
}

#if defined(__AVX512F__) && !defined(GCONV_GENERIC_VECTORS)
// Lane i of the result: the sum of the lanes of a[i], in a fixed order.
inline __m512 sum_lanes16(const __m512 a[16]) {
    __m512 s[8];  // per 128-bit quarter: pair sums of a[2j] and a[2j + 1]
    for (int j = 0; j < 8; ++j)
        s[j] = _mm512_add_ps(_mm512_unpacklo_ps(a[2 * j], a[2 * j + 1]),
                             _mm512_unpackhi_ps(a[2 * j], a[2 * j + 1]));
    __m512 q[4];  // per quarter: the quarter's sums of a[4j .. 4j + 4)
    for (int j = 0; j < 4; ++j)
        q[j] = _mm512_add_ps(_mm512_shuffle_ps(s[2 * j], s[2 * j + 1], 0x44),
                             _mm512_shuffle_ps(s[2 * j], s[2 * j + 1], 0xEE));
    __m512 h[2];  // half sums of a[8j .. 8j + 8), quarters 0-1 and 2-3 of each
    for (int j = 0; j < 2; ++j)
        h[j] = _mm512_add_ps(_mm512_shuffle_f32x4(q[2 * j], q[2 * j + 1], 0x88),
                             _mm512_shuffle_f32x4(q[2 * j], q[2 * j + 1], 0xDD));
    return _mm512_add_ps(_mm512_shuffle_f32x4(h[0], h[1], 0x88),
                         _mm512_shuffle_f32x4(h[0], h[1], 0xDD));
}

// The vectors of the flat run that hold the values [first, end) of one
// plane: the first and last (they differ: planes of more than 16 values)
// and the plane's lanes in each.
struct PlaneVectors {
    int64_t v0, v1;
    __mmask16 head, tail;
};

GCONV_ALWAYS_INLINE PlaneVectors plane_vectors(int64_t first, int64_t end) {
    const int64_t v0 = first / 16, v1 = (end - 1) / 16;
    const uint32_t from = static_cast<uint32_t>(first - v0 * 16);
    const uint32_t to = static_cast<uint32_t>(end - v1 * 16);  // 1..16
    return {v0, v1, static_cast<__mmask16>(0xFFFFu << from),
            static_cast<__mmask16>(0xFFFFu >> (16 - to))};
}

// Plane c's vectors of the flat run into acc: its lanes of the first and
// last vectors, every lane of those between.
GCONV_ALWAYS_INLINE __m512 dot_plane16(const float* x, const float* w, int64_t first,
                                       int64_t end, __m512 acc) {
    const PlaneVectors p = plane_vectors(first, end);
    acc = _mm512_mask3_fmadd_ps(_mm512_loadu_ps(x + p.v0 * 16), _mm512_loadu_ps(w + p.v0 * 16),
                                acc, p.head);
    for (int64_t v = p.v0 + 1; v < p.v1; ++v)
        acc = _mm512_fmadd_ps(_mm512_loadu_ps(x + v * 16), _mm512_loadu_ps(w + v * 16), acc);
    return _mm512_mask3_fmadd_ps(_mm512_loadu_ps(x + p.v1 * 16), _mm512_loadu_ps(w + p.v1 * 16),
                                 acc, p.tail);
}

// kPlane: the plane size as a constant (0: at run time), which unrolls the
// vectors of each plane (7x7 planes, MobileFaceNet's GDC at N=16: 1.06-1.11x).
template <int64_t kPlane>
GCONV_ALWAYS_INLINE void dot16_planes_sized(const float* x, const float* w, int64_t plane,
                                            float* y) {
    if (kPlane > 0) plane = kPlane;
    __m512 acc[16];
    GCONV_UNROLL(16)
    for (int c = 0; c < 16; ++c)
        acc[c] = dot_plane16(x, w, c * plane, (c + 1) * plane, _mm512_setzero_ps());
    _mm512_storeu_ps(y, sum_lanes16(acc));
}

// NI (2, 4 or 8) images' dot16_planes, each weight vector loaded once for
// all of them: 16 / NI planes at a time, counted as in dot16_planes, so
// every plane sums the same vectors under the same masks in the same order
// (an image has the same bits alone or in any run). MobileFaceNet's GDC at
// N=16 (1.6 MB of input, 100 KB of weights that pass through L2 once per
// run): two images 1.10x against one, four 1.16x against two, eight
// 1.04-1.07x more.
template <int NI, int64_t kPlane>
GCONV_ALWAYS_INLINE void dot16_planes_images_sized(const float* x, int64_t x_step,
                                                   const float* w, int64_t plane, float* y,
                                                   int64_t y_step) {
    constexpr int PP = 16 / NI;  // planes per pass
    if (kPlane > 0) plane = kPlane;
    for (int pass = 0; pass < NI; ++pass) {
        __m512 acc[16];  // [image * PP + plane]
        GCONV_UNROLL(8)  // fully: indexed at run time, acc[] went to the stack (2 images: 0.85x)
        for (int c = 0; c < PP; ++c) {
            const int64_t first = (pass * PP + c) * plane;
            const PlaneVectors p = plane_vectors(first, first + plane);
            const __m512 zero = _mm512_setzero_ps();  // as dot_plane16 starts
            __m512 wv = _mm512_loadu_ps(w + p.v0 * 16);
            for (int i = 0; i < NI; ++i)
                acc[i * PP + c] = _mm512_mask3_fmadd_ps(
                    _mm512_loadu_ps(x + i * x_step + p.v0 * 16), wv, zero, p.head);
            for (int64_t v = p.v0 + 1; v < p.v1; ++v) {
                wv = _mm512_loadu_ps(w + v * 16);
                for (int i = 0; i < NI; ++i)
                    acc[i * PP + c] = _mm512_fmadd_ps(_mm512_loadu_ps(x + i * x_step + v * 16),
                                                      wv, acc[i * PP + c]);
            }
            wv = _mm512_loadu_ps(w + p.v1 * 16);
            for (int i = 0; i < NI; ++i)
                acc[i * PP + c] = _mm512_mask3_fmadd_ps(
                    _mm512_loadu_ps(x + i * x_step + p.v1 * 16), wv, acc[i * PP + c], p.tail);
        }
        alignas(64) float sums[16];  // lane i * PP + c: image i's plane pass * PP + c
        _mm512_store_ps(sums, sum_lanes16(acc));
        for (int i = 0; i < NI; ++i)
            for (int c = 0; c < PP; ++c) y[i * y_step + pass * PP + c] = sums[i * PP + c];
    }
}

template <>
bool dot16_planes_images<float>(const float* x, int64_t x_step, const float* w, int64_t plane,
                                float* y, int64_t y_step, int64_t images) {
    if (plane <= 16) return false;
    const auto run = [&](auto images_constant) {
        constexpr int NI = decltype(images_constant)::value;
        if (plane == 49)
            dot16_planes_images_sized<NI, 49>(x, x_step, w, plane, y, y_step);
        else
            dot16_planes_images_sized<NI, 0>(x, x_step, w, plane, y, y_step);
        return true;
    };
    switch (images) {
        case 2: return run(std::integral_constant<int, 2>());
        case 4: return run(std::integral_constant<int, 4>());
        case 8: return run(std::integral_constant<int, 8>());
        default: return false;
    }
}

template <>
bool dot16_planes<float>(const float* x, const float* w, int64_t plane, float* y) {
    if (plane <= 16) return false;  // 4x4 planes: the eight-plane kernel, 1.3x faster
    if (plane == 49)
        dot16_planes_sized<49>(x, w, plane, y);
    else
        dot16_planes_sized<0>(x, w, plane, y);
    return true;
}
#endif

// Output channel k = c * m + j is the dot product of input plane c with the
// weights of k, shifted by the padding; weights over the padding multiply
// zeros, as in the reference (it matters only for non-finite weights).
// One image (x and y at it).
template <typename T>
void global_dwconv_nchw_image(const ConvGeometry& g, const T* x, const T* w, const T* bias,
                              T* y, int64_t k_begin, int64_t k_end) {
    const int64_t H = g.H, W = g.W, S = g.S, m = g.Kg;
    const bool padded = g.pt || g.pb || g.pl || g.pr;
    int64_t k = k_begin;
    if (!padded && m == 1) {
        for (; k + 16 <= k_end && dot16_planes(x + k * H * W, w + k * H * W, H * W, y + k);
             k += 16)
            for (int64_t l = k; l < k + 16; ++l)
                y[l] = activate(y[l] + (bias ? bias[l] : T(0)), g.act);
        for (; k + 8 <= k_end && dot8_planes(x + k * H * W, w + k * H * W, H * W, y + k); k += 8)
            for (int64_t l = k; l < k + 8; ++l)
                y[l] = activate(y[l] + (bias ? bias[l] : T(0)), g.act);
    }
    for (; k < k_end; ++k) {
        const T* xp = x + (k / m) * H * W;
        const T* wk = w + k * g.R * S;
        T acc;
        if (!padded) {
            acc = dot(wk, xp, H * W);  // the kernel is the plane: one contiguous dot
        } else {
            acc = T(0);
            for (int64_t h = 0; h < H; ++h) acc += dot(wk + (h + g.pt) * S + g.pl, xp + h * W, W);
            T pad_terms = T(0);
            for (int64_t r = 0; r < g.R; ++r)
                for (int64_t s = 0; s < S; ++s)
                    if (r < g.pt || r >= g.pt + H || s < g.pl || s >= g.pl + W)
                        pad_terms += wk[r * S + s] * T(0);
            acc += pad_terms;
        }
        y[k] = activate(acc + (bias ? bias[k] : T(0)), g.act);
    }
}

// `images` (1 to 8) consecutive images: eight, four or two share each
// weight vector in blocks of 16 planes where dot16_planes_images is
// compiled, with the same bits as one at a time; a run of another size
// splits into those, and the rest goes one image at a time.
template <typename T>
void global_dwconv_nchw(const ConvGeometry& g, const T* x, const T* w, const T* bias, T* y,
                        int64_t k_begin, int64_t k_end, int64_t images) {
    const int64_t plane = g.H * g.W, in_image = g.in_image();
    const bool padded = g.pt || g.pb || g.pl || g.pr;
    if (images != 1 && images != 2 && images != 4 && images != 8) {
        const int64_t first = images > 4 ? 4 : 2;
        global_dwconv_nchw(g, x, w, bias, y, k_begin, k_end, first);
        global_dwconv_nchw(g, x + first * in_image, w, bias, y + first * g.K, k_begin, k_end,
                           images - first);
        return;
    }
    int64_t k = k_begin;
    if (images > 1 && !padded && g.Kg == 1) {
        for (; k + 16 <= k_end && dot16_planes_images(x + k * plane, in_image, w + k * plane,
                                                      plane, y + k, g.K, images);
             k += 16)
            for (int64_t i = 0; i < images; ++i)
                for (int64_t l = k; l < k + 16; ++l)
                    y[i * g.K + l] = activate(y[i * g.K + l] + (bias ? bias[l] : T(0)), g.act);
    }
    for (int64_t i = 0; i < images; ++i)
        global_dwconv_nchw_image(g, x + i * in_image, w, bias, y + i * g.K, k, k_end);
}

// Images per block and vectors of channels per block of the NHWC kernel:
// NI x NB accumulators, NB weight vectors and an input vector within the
// family's registers.
#if GCONV_ISA_LEVEL == 2
constexpr int kGdcImages = 4, kGdcVectors = 4;
#else
constexpr int kGdcImages = 2, kGdcVectors = 4;
#endif

// NB vectors of channels [k0, k0 + NB * N) of NI images (in_image values
// apart in x, K in y) of a depth-multiplier-1 layer, their sums kept in
// registers over every tap in order; taps over the padding multiply zeros,
// as the reference does (it matters only for non-finite weights). Each
// weight vector serves the NI images: weights and input stream from L2 at
// the same rate, so one image at a time spent half its bandwidth on the
// weights (MobileFaceNet's GDC at N=16).
template <typename T, int NB, int NI>
GCONV_ALWAYS_INLINE void global_nhwc_vectors(const ConvGeometry& g, const T* x, const T* w,
                                             const T* bias, T* y, int64_t k0) {
    using V = Vec<T>;
    const int64_t in_image = g.in_image();
    V acc[NI][NB];
    for (int i = 0; i < NI; ++i)
        for (int b = 0; b < NB; ++b) acc[i][b] = V::zero();
    for (int64_t r = 0; r < g.R; ++r) {
        const int64_t ih = r - g.pt;
        for (int64_t s = 0; s < g.S; ++s) {
            const int64_t iw = s - g.pl;
            const T* wp = w + (r * g.S + s) * g.K + k0;
            V wv[NB];
            for (int b = 0; b < NB; ++b) wv[b] = V::load(wp + b * V::N);
            if (ih >= 0 && ih < g.H && iw >= 0 && iw < g.W) {
                const T* xp = x + (ih * g.W + iw) * g.C + k0;
                for (int i = 0; i < NI; ++i)
                    for (int b = 0; b < NB; ++b)
                        acc[i][b] = fmadd(wv[b], V::load(xp + i * in_image + b * V::N), acc[i][b]);
            } else {
                for (int i = 0; i < NI; ++i)
                    for (int b = 0; b < NB; ++b) acc[i][b] = fmadd(wv[b], V::zero(), acc[i][b]);
            }
        }
    }
    for (int b = 0; b < NB; ++b) {
        const V bv = bias ? V::load(bias + k0 + b * V::N) : V::zero();
        for (int i = 0; i < NI; ++i)
            activate_vec(acc[i][b] + bv, g.act).store(y + i * g.K + k0 + b * V::N);
    }
}

// Channels [k0, K) of one image, one at a time, taps in the same order.
template <typename T>
void global_nhwc_channels(const ConvGeometry& g, const T* x, const T* w, const T* bias, T* y,
                          int64_t k0) {
    const int64_t K = g.K, m = g.Kg;
    for (int64_t k = k0; k < K; ++k) y[k] = T(0);
    for (int64_t r = 0; r < g.R; ++r)
        for (int64_t s = 0; s < g.S; ++s) {
            const int64_t ih = r - g.pt, iw = s - g.pl;
            const T* wp = w + (r * g.S + s) * K;
            if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) {
                for (int64_t k = k0; k < K; ++k) y[k] += wp[k] * T(0);
                continue;
            }
            const T* xp = x + (ih * g.W + iw) * g.C;
            for (int64_t k = k0; k < K; ++k) y[k] += wp[k] * xp[k / m];
        }
    for (int64_t k = k0; k < K; ++k) y[k] = activate(y[k] + (bias ? bias[k] : T(0)), g.act);
}

// `images` consecutive images; weights packed [R * S][K]: each tap updates
// all K outputs at once.
template <typename T>
void global_dwconv_nhwc(const ConvGeometry& g, const T* x, const T* w, const T* bias, T* y,
                        int64_t images) {
    constexpr int64_t N = Vec<T>::N;
    const int64_t K = g.K, in_image = g.in_image();
    const int64_t k_vectors = g.Kg == 1 ? K / N * N : 0;  // channels the vector blocks take
    int64_t n = 0;
    for (; n + kGdcImages <= images; n += kGdcImages) {
        const T* xn = x + n * in_image;
        T* yn = y + n * K;
        int64_t k0 = 0;
        for (; k0 + kGdcVectors * N <= k_vectors; k0 += kGdcVectors * N)
            global_nhwc_vectors<T, kGdcVectors, kGdcImages>(g, xn, w, bias, yn, k0);
        for (; k0 < k_vectors; k0 += N)
            global_nhwc_vectors<T, 1, kGdcImages>(g, xn, w, bias, yn, k0);
    }
    for (; n < images; ++n) {
        const T* xn = x + n * in_image;
        T* yn = y + n * K;
        int64_t k0 = 0;
        for (; k0 + 2 * kGdcVectors * N <= k_vectors; k0 += 2 * kGdcVectors * N)
            global_nhwc_vectors<T, 2 * kGdcVectors, 1>(g, xn, w, bias, yn, k0);
        for (; k0 < k_vectors; k0 += N) global_nhwc_vectors<T, 1, 1>(g, xn, w, bias, yn, k0);
    }
    for (n = 0; n < images && k_vectors < K; ++n)
        global_nhwc_channels(g, x + n * in_image, w, bias, y + n * K, k_vectors);
}

template <typename T>
void avg_pool_nchw(const T* x, T* y, int64_t channels, int64_t pixels, int64_t) {
    for (int64_t c = 0; c < channels; ++c) {
        const T* xp = x + c * pixels;
        T acc = T(0);
        for (int64_t p = 0; p < pixels; ++p) acc += xp[p];
        y[c] = acc / T(pixels);
    }
}

template <typename T>
void avg_pool_nhwc(const T* x, T* y, int64_t channels, int64_t pixels, int64_t stride) {
    for (int64_t c = 0; c < channels; ++c) y[c] = T(0);
    for (int64_t p = 0; p < pixels; ++p) {
        const T* xp = x + p * stride;
        for (int64_t c = 0; c < channels; ++c) y[c] += xp[c];
    }
    for (int64_t c = 0; c < channels; ++c) y[c] = y[c] / T(pixels);
}

template <typename T>
void fill(KernelFamily<T>& f) {
    f.global_dwconv_nchw = global_dwconv_nchw<T>;
    f.global_dwconv_nhwc = global_dwconv_nhwc<T>;
    f.avg_pool_nchw = avg_pool_nchw<T>;
    f.avg_pool_nhwc = avg_pool_nhwc<T>;
}

}  // namespace

void fill_global(KernelTable& table) {
    fill(table.f32);
    fill(table.f64);
}

}  // namespace GCONV_ISA
}  // namespace gconv
