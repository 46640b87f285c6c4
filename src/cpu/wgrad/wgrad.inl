// Weight-gradient kernels: dW(k, j) += sum over a band of output pixels of
// dy(pixel, k) * x(pixel's window position, j), on the channels-innermost
// copies made by src/cpu/wgrad/weight_grad.cpp. Each call keeps a kb x jb
// block of vector accumulators in registers for the whole band, so the
// reduction over pixels costs one FMA per product and the accumulators touch
// memory once per band.
#if defined(__SSE2__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <utility>

#include "cpu/common/prefetch.hpp"
#include "cpu/kernel_table.hpp"

namespace gconv {
namespace GCONV_ISA {

#include "cpu/common/kernel_common.inl"
#include "cpu/common/simd.inl"
#include "cpu/common/transpose.inl"

namespace {

// Widest block of neighbouring taps kept in a sliding window (JB
// accumulators and JB window vectors within 16 registers), and the
// independent FMA chains wanted (2 FMA units x 4 cycles of latency).
constexpr int kSlidingMaxJ = 7;
constexpr int kSlidingChains = 9;

// kBroadcast: lanes over input channels, dy(k) one scalar broadcast to all
// lanes (wide groups). Otherwise lanes over groups: dy(k) and x(j) are both
// vectors, lane l belonging to group l of the block (narrow groups,
// depthwise). The two loop orders keep min(KB, JB) + 1 + KB * JB vectors
// live, which fits the family's registers (16, 32 with AVX-512) for every
// block the driver asks for.
template <typename T, int KB, int JB, bool kBroadcast>
void wgrad_block(const WgradBlock<T>& b) {
    using V = Vec<T>;
    V acc[KB][JB];
    for (int k = 0; k < KB; ++k)
        for (int j = 0; j < JB; ++j)
            acc[k][j] = b.fresh ? V::zero() : V::load(b.acc + k * b.acc_k + j * b.acc_j);
    const int64_t x_step = b.x_step, dy_k = b.dy_k;
    // Rows of every image in one loop, an image's last row stepping to the
    // next image's first (a loop per image kept more values live than the
    // registers hold: 4-9% of ResNeXt s5's gradient, in NHWC a pass per
    // image too).
    const int64_t rows = b.oh1 - b.oh0;
    const int64_t x_next = b.sh * b.x_row, dy_next = b.OW * b.dy_pixel;
    const int64_t x_jump = b.x_image - (rows - 1) * x_next;
    const int64_t dy_jump = b.dy_image - (rows - 1) * dy_next;
    const T* x_row = b.x + b.oh0 * x_next;
    const T* dy_row = b.dy + b.oh0 * dy_next;
    if constexpr (!kBroadcast && KB == 1 && JB > 1 && JB <= kSlidingMaxJ) {
        if (b.sw == 1 && x_step == b.x_pixel) {
            // The block's taps are neighbouring columns (depthwise, one
            // kernel row, stride 1): pixel ow + 1's window is pixel ow's
            // moved by one, so each x vector is loaded once and kept in
            // registers for the JB pixels that use it. Three accumulators
            // alone made one chain of dependent FMAs per tap (4 cycles per
            // pixel); P interleaved partial sums (pixel ow into sum ow % P)
            // keep both FMA units busy. Fixed order: partial sums over a
            // row's pixels, added together at the end of the band.
            constexpr int P = kSlidingChains / JB > 0 ? kSlidingChains / JB : 1;
            V part[P][JB];
            for (int j = 0; j < JB; ++j) part[0][j] = acc[0][j];
            for (int p = 1; p < P; ++p)
                for (int j = 0; j < JB; ++j) part[p][j] = V::zero();
            for (int64_t i = 0, oh = 1; i < b.images * rows; ++i, ++oh) {
                const T* xp = x_row;
                const T* dp = dy_row;
                V window[JB];
                for (int j = 0; j + 1 < JB; ++j) window[j] = V::load(xp + j * x_step);
                auto pixel = [&](int64_t ow, V* sum) {
                    window[JB - 1] = V::load(xp + (ow + JB - 1) * x_step);
                    const V d = V::load(dp + ow * b.dy_pixel);
                    for (int j = 0; j < JB; ++j) sum[j] = fmadd(d, window[j], sum[j]);
                    for (int j = 0; j + 1 < JB; ++j) window[j] = window[j + 1];
                };
                int64_t ow = 0;
                for (; ow + P <= b.OW; ow += P)
                    for (int p = 0; p < P; ++p) pixel(ow + p, part[p]);
                for (int p = 0; ow < b.OW; ++ow, ++p) pixel(ow, part[p]);
                const bool last_row = oh == rows;
                x_row += last_row ? x_jump : x_next;
                dy_row += last_row ? dy_jump : dy_next;
                if (last_row) oh = 0;
            }
            for (int j = 0; j < JB; ++j) {
                V total = part[0][j];
                for (int p = 1; p < P; ++p) total = total + part[p][j];
                total.store(b.acc + j * b.acc_j);
            }
            return;
        }
    }
    for (int64_t i = 0, oh = 1; i < b.images * rows; ++i, ++oh) {
        for (int64_t ow = 0; ow < b.OW; ++ow) {
            const T* xp = x_row + ow * b.sw * b.x_pixel;
            const T* dp = dy_row + ow * b.dy_pixel;
            if constexpr (kBroadcast || KB > JB) {
                V xv[JB];
                for (int j = 0; j < JB; ++j) xv[j] = V::load(xp + j * x_step);
                for (int k = 0; k < KB; ++k) {
                    const V d = kBroadcast ? V::set1(dp[k * dy_k]) : V::load(dp + k * dy_k);
                    for (int j = 0; j < JB; ++j) acc[k][j] = fmadd(d, xv[j], acc[k][j]);
                }
            } else {
                V d[KB];
                for (int k = 0; k < KB; ++k) d[k] = V::load(dp + k * dy_k);
                for (int j = 0; j < JB; ++j) {
                    const V xv = V::load(xp + j * x_step);
                    for (int k = 0; k < KB; ++k) acc[k][j] = fmadd(d[k], xv, acc[k][j]);
                }
            }
        }
        const bool last_row = oh == rows;
        x_row += last_row ? x_jump : x_next;
        dy_row += last_row ? dy_jump : dy_next;
        if (last_row) oh = 0;
    }
    for (int k = 0; k < KB; ++k)
        for (int j = 0; j < JB; ++j) acc[k][j].store(b.acc + k * b.acc_k + j * b.acc_j);
}

// Run-time (kb, jb) to the compile-time block: a table per KB over JB.
template <typename T, int KB, int MaxJ, bool kBroadcast, int... J>
void dispatch_j(const WgradBlock<T>& b, std::integer_sequence<int, J...>) {
    using Fn = void (*)(const WgradBlock<T>&);
    static constexpr Fn table[] = {&wgrad_block<T, KB, J + 1, kBroadcast>...};
    table[b.jb - 1](b);
}

template <typename T>
void wgrad_group_lanes(const WgradBlock<T>& b) {
    switch (b.kb) {
        case 1: return dispatch_j<T, 1, 12, false>(b, std::make_integer_sequence<int, 12>());
        case 2: return dispatch_j<T, 2, 6, false>(b, std::make_integer_sequence<int, 6>());
        case 3: return dispatch_j<T, 3, 4, false>(b, std::make_integer_sequence<int, 4>());
        default: return dispatch_j<T, 4, 3, false>(b, std::make_integer_sequence<int, 3>());
    }
}

template <typename T>
void wgrad_channel_lanes(const WgradBlock<T>& b) {
    constexpr int J = kWgradBroadcastMaxJ;
    using Seq = std::make_integer_sequence<int, J>;
    switch (b.kb) {
        case 1: return dispatch_j<T, 1, J, true>(b, Seq());
        case 2: return dispatch_j<T, 2, J, true>(b, Seq());
        case 3: return dispatch_j<T, 3, J, true>(b, Seq());
        case 4: return dispatch_j<T, 4, J, true>(b, Seq());
        case 5: return dispatch_j<T, 5, J, true>(b, Seq());
        case 6: return dispatch_j<T, 6, J, true>(b, Seq());
        case 7: return dispatch_j<T, 7, J, true>(b, Seq());
        default: return dispatch_j<T, 8, J, true>(b, Seq());
    }
}

// Depthwise NHWC in place (see WgradDwNhwc in kernel_table.hpp): R x S
// accumulators, one dependent FMA per tap and pixel (9 chains for 3x3, enough
// for both FMA units), each x vector loaded where it is used. Output rows
// whose kernel rows are all inside x run their interior columns without a
// test; border columns, and rows reaching into the padding, test each tap
// and multiply dy by zero where it falls outside x.
template <typename T, int R, int S>
void wgrad_dw_nhwc_block(const WgradDwNhwc<T>& b) {
    using V = Vec<T>;
    // The sliding window's registers: R * S accumulators, as many window
    // vectors and dy.
    constexpr bool kSlide = 2 * R * S + 1 <= (GCONV_ISA_LEVEL == 2 ? 32 : 16);
    V acc[R][S];
    for (int r = 0; r < R; ++r)
        for (int s = 0; s < S; ++s) acc[r][s] = V::load(b.acc + (r * S + s) * V::N);
    const int64_t C = b.C, W = b.W, OW = b.OW;
    const int64_t pixel = b.sw * C, tap = b.dw * C, ahead = b.ahead;
    const int64_t first_col = -b.pl;  // input column of (ow = 0, s = 0)
    const int64_t last_col = first_col + (S - 1) * b.dw;
    // Interior columns [lo, hi): every tap inside x.
    const auto floor_div = [](int64_t a, int64_t d) { return a >= 0 ? a / d : -((-a + d - 1) / d); };
    const int64_t lo = std::min(OW, std::max<int64_t>(0, -floor_div(first_col, b.sw)));
    const int64_t hi = std::max(lo, std::min(OW, floor_div(W - 1 - last_col, b.sw) + 1));
    for (int64_t oh = b.oh0; oh < b.oh1; ++oh) {
        const T* d = b.dy + oh * OW * C;
        int64_t row[R];  // input row of each kernel row, -1 outside x
        bool inside = true;
        for (int r = 0; r < R; ++r) {
            const int64_t ih = oh * b.sh + r * b.dh - b.pt;
            row[r] = ih >= 0 && ih < b.H ? ih : -1;
            inside = inside && row[r] >= 0;
        }
        const auto edge = [&](int64_t ow) {
            const V dv = V::load(d + ow * C);
            prefetch(d + ow * C + ahead);
            for (int r = 0; r < R; ++r)
                for (int s = 0; s < S; ++s) {
                    const int64_t iw = ow * b.sw + first_col + s * b.dw;
                    V xv = V::zero();
                    if (row[r] >= 0 && iw >= 0 && iw < W) {
                        const T* p = b.x + (row[r] * W + iw) * C;
                        xv = V::load(p);
                        prefetch(p + ahead);
                    }
                    acc[r][s] = fmadd(dv, xv, acc[r][s]);
                }
        };
        if (!inside) {
            for (int64_t ow = 0; ow < OW; ++ow) edge(ow);
            continue;
        }
        for (int64_t ow = 0; ow < lo; ++ow) edge(ow);
        const T* xr[R];
        for (int r = 0; r < R; ++r) xr[r] = b.x + (row[r] * W + lo * b.sw + first_col) * C;
        if (kSlide && b.slide && pixel == tap && lo < hi) {
            // Stride equal to dilation (1 and 1 among them): pixel ow + 1's
            // taps are pixel ow's moved by one tap, so each row's window keeps its S vectors in
            // registers and loads one new column per pixel (R + 1 loads for
            // R * S FMAs, where each tap loaded its own: MobileNetV2 7x7,
            // N=16, loads bound the loop). Every accumulator still adds
            // its pixels in order: the same sums.
            V window[R][S];
            for (int r = 0; r < R; ++r)
                for (int s = 0; s + 1 < S; ++s) window[r][s] = V::load(xr[r] + s * tap);
            for (int64_t ow = lo; ow < hi; ++ow) {
                const V dv = V::load(d + ow * C);
                prefetch(d + ow * C + ahead);
                for (int r = 0; r < R; ++r) {
                    window[r][S - 1] = V::load(xr[r] + (S - 1) * tap);
                    prefetch(xr[r] + (S - 1) * tap + ahead);
                    for (int s = 0; s < S; ++s) acc[r][s] = fmadd(dv, window[r][s], acc[r][s]);
                    for (int s = 0; s + 1 < S; ++s) window[r][s] = window[r][s + 1];
                    xr[r] += pixel;
                }
            }
            for (int64_t ow = hi; ow < OW; ++ow) edge(ow);
            continue;
        }
        for (int64_t ow = lo; ow < hi; ++ow) {
            const V dv = V::load(d + ow * C);
            prefetch(d + ow * C + ahead);
            for (int r = 0; r < R; ++r) {
                for (int s = 0; s < S; ++s)
                    acc[r][s] = fmadd(dv, V::load(xr[r] + s * tap), acc[r][s]);
                prefetch(xr[r] + (S - 1) * tap + ahead);
                xr[r] += pixel;
            }
        }
        for (int64_t ow = hi; ow < OW; ++ow) edge(ow);
    }
    for (int r = 0; r < R; ++r)
        for (int s = 0; s < S; ++s) acc[r][s].store(b.acc + (r * S + s) * V::N);
}

// The kernel with R == b.R (b.R <= the largest R for S).
template <typename T, int S, int R = (kWgradDwMaxTaps / S < kWgradDwMaxR ? kWgradDwMaxTaps / S
                                                                          : kWgradDwMaxR)>
void wgrad_dw_nhwc_rows(const WgradDwNhwc<T>& b) {
    if constexpr (R > 1) {
        if (b.R < R) return wgrad_dw_nhwc_rows<T, S, R - 1>(b);
    }
    wgrad_dw_nhwc_block<T, R, S>(b);
}

template <typename T>
void wgrad_dw_nhwc(const WgradDwNhwc<T>& b) {
    static_assert(kWgradDwMaxS == 7, "one case per column count");
    switch (b.S) {
        case 1: return wgrad_dw_nhwc_rows<T, 1>(b);
        case 2: return wgrad_dw_nhwc_rows<T, 2>(b);
        case 3: return wgrad_dw_nhwc_rows<T, 3>(b);
        case 4: return wgrad_dw_nhwc_rows<T, 4>(b);
        case 5: return wgrad_dw_nhwc_rows<T, 5>(b);
        case 6: return wgrad_dw_nhwc_rows<T, 6>(b);
        default: return wgrad_dw_nhwc_rows<T, 7>(b);
    }
}

template <typename T>
void fill(KernelFamily<T>& f) {
    f.wgrad_dw_nhwc = wgrad_dw_nhwc<T>;
    f.wgrad_group_lanes = wgrad_group_lanes<T>;
    f.wgrad_channel_lanes = wgrad_channel_lanes<T>;
    f.transpose_rows = transpose_rows<T>;
    f.transpose_lanes = kTransposeLanes<T>;
    f.split_groups = split_groups<T>;
    f.vector_lanes = Vec<T>::N;
    // Registers: 32 with AVX-512, 16 otherwise; jb + 1 + kb * jb live.
    f.wgrad_broadcast_product = GCONV_ISA_LEVEL == 2 ? 24 : 12;
    // Blocks of 8 output channels with 32 registers: the channel counts of
    // real layers are multiples of 8, which 6 left a short last block
    // (ResNeXt s5's 32 as 6 x 5 + 2: a tenth of its time in 2-row blocks).
    f.wgrad_broadcast_k = GCONV_ISA_LEVEL == 2 ? 8 : 6;
}

}  // namespace

void fill_wgrad(KernelTable& table) {
    fill(table.f32);
    fill(table.f64);
}

}  // namespace GCONV_ISA
}  // namespace gconv
