// Work decomposition of the in-place transposed depthwise convolution: the
// kernels (transposed_dw.inl) compute rows; this splits the batch into
// items, packs the NHWC weights tap-major and holds each thread's phase rows.
#include "cpu/transposed/transposed_depthwise.h"

#include <cinttypes>
#include <new>
#include <vector>

#include "core/descriptor.hpp"
#include "core/error.hpp"
#include "core/plan.hpp"
#include "core/threads.hpp"
#include "cpu/kernel_table.hpp"
#include "cpu/transposed/transposed_common.hpp"

namespace gconv {
namespace {

template <typename T>
gconv_status run(const KernelFamily<T>& f, bool nhwc, int64_t N, const TransposedGeometry& g,
                 const T* dy, const T* w, const T* bias, T* y, int threads) {
    const int64_t dy_channels = g.C * g.Kg;
    const int64_t in_image = dy_channels * g.H * g.W, out_image = g.C * g.OH * g.OW;
    const int64_t taps = g.R * g.S;
    try {
        const TapLists lists(g);
        const TransposedTaps k = lists.view();
        if (nhwc) {
            std::vector<T> packed(static_cast<size_t>(taps * dy_channels));  // [R * S][C * Kg]
            for (int64_t c = 0; c < dy_channels; ++c)
                for (int64_t t = 0; t < taps; ++t) packed[t * dy_channels + c] = w[c * taps + t];
            parallel_for(N * g.OH, threads, [&](int64_t item, int) {
                const int64_t n = item / g.OH, i = item % g.OH;
                f.transposed_dw_nhwc(g, k, dy + n * in_image, packed.data(), bias,
                                     y + n * out_image, i);
            });
            return GCONV_SUCCESS;
        }
        const bool stream = N * out_image * static_cast<int64_t>(sizeof(T)) > kStreamBytes;
        const int64_t phase_values = (g.OW + g.sw - 1) / g.sw * g.sw;
        std::vector<T> phases(static_cast<size_t>(threads * phase_values));
        const int64_t planes = N * g.C;
        const int64_t rows = split_size(g.OH, (4 * threads + planes - 1) / planes, 4);
        const int64_t blocks = (g.OH + rows - 1) / rows;
        parallel_for(planes * blocks, threads, [&](int64_t item, int tid) {
            const int64_t plane = item / blocks, c = plane % g.C;
            const int64_t i0 = item % blocks * rows, i1 = i0 + rows < g.OH ? i0 + rows : g.OH;
            f.transposed_dw_nchw(g, k, dy + plane * g.H * g.W, w + c * taps,
                                 bias ? bias[c] : T(0), y + plane * g.OH * g.OW, i0, i1,
                                 phases.data() + tid * phase_values, stream);
        });
        return GCONV_SUCCESS;
    } catch (const std::bad_alloc&) {
        return fail(GCONV_OUT_OF_MEMORY, "transposed_depthwise: cannot allocate scratch");
    }
}

}  // namespace
}  // namespace gconv

extern "C" gconv_status gconv_transposed_depthwise(
    int32_t dtype, int32_t layout, int64_t batch, int64_t channels, int64_t multiplier,
    int64_t in_h, int64_t in_w,
    int64_t out_h, int64_t out_w, int64_t kernel_h, int64_t kernel_w, int64_t stride_h,
    int64_t stride_w, int64_t pad_top, int64_t pad_left, int64_t dilation_h, int64_t dilation_w,
    const void* dy, const void* weight, const void* bias, void* y, int num_threads) {
    using namespace gconv;
    if (batch < 0 || channels < 1 || in_h < 1 || in_w < 1 || out_h < 1 || out_w < 1 ||
        kernel_h < 1 || kernel_w < 1 || stride_h < 1 || stride_w < 1 || dilation_h < 1 ||
        dilation_w < 1 || pad_top < 0 || pad_left < 0)
        return fail(GCONV_INVALID_PARAMETER,
                    "transposed_depthwise: inconsistent sizes (batch %" PRId64
                    ", channels %" PRId64 ", in %" PRId64 "x%" PRId64 ", out %" PRId64
                    "x%" PRId64 ")",
                    batch, channels, in_h, in_w, out_h, out_w);
    const bool nhwc = layout == GCONV_LAYOUT_NHWC;
    if (multiplier != 1 && !(multiplier == 2 && nhwc))
        return fail(GCONV_INVALID_PARAMETER,
                    "transposed_depthwise: multiplier %" PRId64 " (1, or 2 in NHWC)", multiplier);
    if (batch == 0) return GCONV_SUCCESS;
    // Depthwise: a group per output channel, `multiplier` dy channels each.
    const TransposedGeometry g{channels, in_h,     in_w,     out_h,      out_w,      kernel_h,
                               kernel_w, stride_h, stride_w, pad_top,    pad_left,   dilation_h,
                               dilation_w, channels, 1,      multiplier};
    const int64_t elements = batch * channels * out_h * out_w;
    const int threads = threads_for_work(num_threads, elements);
    const KernelTable& table = active_kernel_table();
    if (dtype == GCONV_FLOAT64)
        return run(table.f64, nhwc, batch, g, static_cast<const double*>(dy),
                   static_cast<const double*>(weight), static_cast<const double*>(bias),
                   static_cast<double*>(y), threads);
    return run(table.f32, nhwc, batch, g, static_cast<const float*>(dy),
               static_cast<const float*>(weight), static_cast<const float*>(bias),
               static_cast<float*>(y), threads);
}
