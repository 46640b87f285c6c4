#include "cpu/transposed/scale_planes.h"

#include <cinttypes>
#include <memory>
#include <new>

#include "core/descriptor.hpp"
#include "core/error.hpp"
#include "core/threads.hpp"

namespace gconv {
namespace {

// Rows of output, each a contiguous run the compiler vectorises: NCHW, a
// plane times one input value; NHWC, a pixel's channels times its window
// row, gathered from the planes by the item that uses it.
template <typename T>
gconv_status scale(bool nhwc, int64_t N, int64_t C, int64_t P, const T* x, const T* planes,
                   const T* bias, T* y, int threads) {
    if (nhwc) {
        // Not zeroed (each item writes its own row before reading it).
        std::unique_ptr<T[]> rows(new (std::nothrow) T[static_cast<size_t>(C * P)]);
        if (!rows)
            return fail(GCONV_OUT_OF_MEMORY, "scale_planes: cannot allocate %" PRId64 " values",
                        C * P);
        // Item p: window position p of every channel, gathered into a row
        // (the planes stay in L2), then that pixel of every image. Each
        // item's own row: one parallel region, no serial transpose first
        // (MobileFaceNet's 512 x 49 at N=16: that transpose, zero-filled,
        // had put the transposed convolution at 1.25-1.5x its forward's
        // time; now 1.0x).
        parallel_for(P, threads, [&](int64_t p, int) {
            T* __restrict w = rows.get() + p * C;
            for (int64_t c = 0; c < C; ++c) w[c] = planes[c * P + p];
            for (int64_t n = 0; n < N; ++n) {
                const T* __restrict in = x + n * C;
                T* __restrict out = y + (n * P + p) * C;
                if (bias)
                    for (int64_t c = 0; c < C; ++c) out[c] = in[c] * w[c] + bias[c];
                else
                    for (int64_t c = 0; c < C; ++c) out[c] = in[c] * w[c];
            }
        });
        return GCONV_SUCCESS;
    }
    // Items of kChannelsPerItem planes of one image: with a plane per item,
    // a 64-bit division and the loop's setup per 49 values (MobileFaceNet's
    // 7x7) took about as long as the products.
    constexpr int64_t kChannelsPerItem = 64;
    const int64_t blocks = (C + kChannelsPerItem - 1) / kChannelsPerItem;
    parallel_for(N * blocks, threads, [&](int64_t item, int) {
        const int64_t n = item / blocks, c0 = item % blocks * kChannelsPerItem;
        const int64_t c1 = c0 + kChannelsPerItem < C ? c0 + kChannelsPerItem : C;
        for (int64_t c = c0; c < c1; ++c) {
            const T value = x[n * C + c], b = bias ? bias[c] : T(0);
            const T* __restrict w = planes + c * P;
            T* __restrict out = y + (n * C + c) * P;
            if (bias)
                for (int64_t p = 0; p < P; ++p) out[p] = value * w[p] + b;
            else
                for (int64_t p = 0; p < P; ++p) out[p] = value * w[p];
        }
    });
    return GCONV_SUCCESS;
}

}  // namespace
}  // namespace gconv

extern "C" gconv_status gconv_scale_planes(int32_t dtype, int32_t layout, int64_t batch,
                                           int64_t channels, int64_t pixels, const void* x,
                                           const void* planes, const void* bias, void* y,
                                           int num_threads) {
    using namespace gconv;
    if (batch < 0 || channels < 1 || pixels < 1)
        return fail(GCONV_INVALID_PARAMETER,
                    "scale_planes: inconsistent sizes (batch %" PRId64 ", channels %" PRId64
                    ", pixels %" PRId64 ")",
                    batch, channels, pixels);
    if (batch == 0) return GCONV_SUCCESS;
    const int64_t elements = batch * channels * pixels;
    const int threads = threads_for_work(num_threads, elements);
    const bool nhwc = layout == GCONV_LAYOUT_NHWC;
    if (dtype == GCONV_FLOAT64)
        return scale(nhwc, batch, channels, pixels, static_cast<const double*>(x),
                     static_cast<const double*>(planes), static_cast<const double*>(bias),
                     static_cast<double*>(y), threads);
    return scale(nhwc, batch, channels, pixels, static_cast<const float*>(x),
                 static_cast<const float*>(planes), static_cast<const float*>(bias),
                 static_cast<float*>(y), threads);
}
