#include "cpu/nd/stack_depth_taps.h"

#include <cinttypes>
#include <cstring>

#include "core/descriptor.hpp"
#include "core/error.hpp"
#include "core/threads.hpp"

namespace gconv {
namespace {

struct DepthTaps {
    int64_t C, G, D, plane, taps, stride, dilation, pad_front, first, count;

    // The input slice output slice o's tap reads, or -1 in the padding.
    int64_t source(int64_t o, int64_t tap) const {
        const int64_t s = (first + o) * stride + tap * dilation - pad_front;
        return s >= 0 && s < D ? s : -1;
    }
};

template <typename T>
void stack(const DepthTaps& d, bool ndhwc, int64_t batch, const T* x, T* out, int threads) {
    const int64_t Cg = d.C / d.G, image = d.C * d.D * d.plane;
    const int64_t slice = d.plane * d.taps * d.C;  // one stacked output slice
    parallel_for(batch * d.count, threads, [&](int64_t item, int) {
        const int64_t n = item / d.count, o = item % d.count;
        T* dst = out + item * slice;
        for (int64_t tap = 0; tap < d.taps; ++tap) {
            const int64_t s = d.source(o, tap);
            if (ndhwc) {
                // Each pixel's groups: Cg values of this tap after the
                // previous taps' Cg of the same group.
                const T* src = s < 0 ? nullptr : x + n * image + s * d.plane * d.C;
                for (int64_t p = 0; p < d.plane; ++p)
                    for (int64_t g = 0; g < d.G; ++g) {
                        T* to = dst + ((p * d.G + g) * d.taps + tap) * Cg;
                        if (src)
                            std::memcpy(to, src + p * d.C + g * Cg, sizeof(T) * Cg);
                        else
                            std::memset(to, 0, sizeof(T) * Cg);
                    }
                continue;
            }
            // NCDHW: whole planes, channel c of group g after the group's
            // earlier taps.
            for (int64_t g = 0; g < d.G; ++g)
                for (int64_t c = 0; c < Cg; ++c) {
                    T* to = dst + ((g * d.taps + tap) * Cg + c) * d.plane;
                    if (s < 0)
                        std::memset(to, 0, sizeof(T) * d.plane);
                    else
                        std::memcpy(to, x + n * image + ((g * Cg + c) * d.D + s) * d.plane,
                                    sizeof(T) * d.plane);
                }
        }
    });
}

}  // namespace
}  // namespace gconv

extern "C" gconv_status gconv_stack_depth_taps(int32_t dtype, int32_t layout, int64_t batch,
                                               int64_t channels, int64_t groups, int64_t depth,
                                               int64_t plane, int64_t taps, int64_t stride,
                                               int64_t dilation, int64_t pad_front,
                                               int64_t first, int64_t count, const void* x,
                                               void* stacked, int num_threads) {
    using namespace gconv;
    if (batch < 0 || channels < 1 || groups < 1 || channels % groups != 0 || depth < 1 ||
        plane < 0 || taps < 1 || stride < 1 || dilation < 1 || first < 0 || count < 0)
        return fail(GCONV_INVALID_PARAMETER,
                    "stack_depth_taps: inconsistent sizes (batch %" PRId64 ", channels %" PRId64
                    ", groups %" PRId64 ", depth %" PRId64 ", plane %" PRId64 ", taps %" PRId64
                    ", stride %" PRId64 ", dilation %" PRId64 ", slices %" PRId64 "+%" PRId64
                    ")",
                    batch, channels, groups, depth, plane, taps, stride, dilation, first, count);
    if (batch == 0 || count == 0 || plane == 0) return GCONV_SUCCESS;
    const DepthTaps d{channels, groups, depth, plane, taps, stride, dilation, pad_front,
                      first, count};
    const int threads = threads_for_work(num_threads, batch * count * taps * channels * plane);
    const bool ndhwc = layout == GCONV_LAYOUT_NHWC;
    if (dtype == GCONV_FLOAT64)
        stack(d, ndhwc, batch, static_cast<const double*>(x), static_cast<double*>(stacked),
              threads);
    else
        stack(d, ndhwc, batch, static_cast<const float*>(x), static_cast<float*>(stacked),
              threads);
    return GCONV_SUCCESS;
}
