// Weight-gradient kernels: dW(k, j) += sum over a band of output pixels of
// dy(pixel, k) * x(pixel's window position, j), on the channels-innermost
// copies made by src/cpu/wgrad/weight_grad.cpp. Each call keeps a kb x jb
// block of vector accumulators in registers for the whole band, so the
// reduction over pixels costs one FMA per product and the accumulators touch
// memory once per band.
#if defined(__SSE2__)
#include <immintrin.h>
#endif

#include <utility>

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
// live, which fits 16 registers for every block the driver asks for.
template <typename T, int KB, int JB, bool kBroadcast>
void wgrad_block(const WgradBlock<T>& b) {
    using V = Vec<T>;
    V acc[KB][JB];
    for (int k = 0; k < KB; ++k)
        for (int j = 0; j < JB; ++j) acc[k][j] = V::load(b.acc + k * b.acc_k + j * b.acc_j);
    const int64_t x_step = b.x_step, dy_k = b.dy_k;
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
            for (int64_t oh = b.oh0; oh < b.oh1; ++oh) {
                const T* xp = b.x + oh * b.sh * b.x_row;
                const T* dp = b.dy + oh * b.OW * b.dy_pixel;
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
            }
            for (int j = 0; j < JB; ++j) {
                V total = part[0][j];
                for (int p = 1; p < P; ++p) total = total + part[p][j];
                total.store(b.acc + j * b.acc_j);
            }
            return;
        }
    }
    for (int64_t oh = b.oh0; oh < b.oh1; ++oh) {
        const T* x_row = b.x + oh * b.sh * b.x_row;
        const T* dy_row = b.dy + oh * b.OW * b.dy_pixel;
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
    using Seq = std::make_integer_sequence<int, kWgradBroadcastMaxJ>;
    switch (b.kb) {
        case 1: return dispatch_j<T, 1, 2, true>(b, Seq());
        case 2: return dispatch_j<T, 2, 2, true>(b, Seq());
        case 3: return dispatch_j<T, 3, 2, true>(b, Seq());
        case 4: return dispatch_j<T, 4, 2, true>(b, Seq());
        case 5: return dispatch_j<T, 5, 2, true>(b, Seq());
        default: return dispatch_j<T, 6, 2, true>(b, Seq());
    }
}

template <typename T>
void fill(KernelFamily<T>& f) {
    f.wgrad_group_lanes = wgrad_group_lanes<T>;
    f.wgrad_channel_lanes = wgrad_channel_lanes<T>;
    f.transpose_rows = transpose_rows<T>;
    f.vector_lanes = Vec<T>::N;
}

}  // namespace

void fill_wgrad(KernelTable& table) {
    fill(table.f32);
    fill(table.f64);
}

}  // namespace GCONV_ISA
}  // namespace gconv
