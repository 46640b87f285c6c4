// Work decomposition of the in-place transposed depthwise convolution: the
// kernels (transposed_dw.inl) compute rows; this splits the batch into
// items, packs the NHWC weights tap-major and holds each thread's phase rows.
#include "cpu/transposed/transposed_depthwise.h"

#include <cinttypes>
#include <cstdint>
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

// NCHW takes the one pass where it beats the phase split: the AVX-512
// float32 row kernel of 3x3 stride 2 (MobileNetV2's 112x112 layer at N=16:
// 2.0x), or kernels of up to nine taps on phase rows of two vectors or more
// (3x3 from 56x56 on AVX2: 1.3-1.5x). On narrower rows the general kernel
// spends its time on each row's tap lists and edges (3x3 from 14x14 on
// AVX2: 0.23x), and with 5x5 the phases' convolutions are faster at every
// size (0.22-0.83x). NHWC takes it always (1.1-2.5x).
template <typename T>
bool nchw_one_pass_pays(const KernelFamily<T>& f, const TransposedGeometry& g) {
    if (f.transposed_dw_nchw_3x3s2 && transposed_3x3s2_fits(g)) return true;
    const int64_t phase_row = (g.OW + g.sw - 1) / g.sw;
    return g.R * g.S <= 9 && phase_row >= 2 * f.vector_lanes;
}

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
            // Streamed as NCHW's rows are, where each pixel is whole lines
            // (MobileNetV2's 112x112 stride-2 input gradient at N=16: 77 MB
            // of output, each line otherwise read before being written).
            const bool stream = N * out_image * static_cast<int64_t>(sizeof(T)) > kStreamBytes &&
                                reinterpret_cast<uintptr_t>(y) % 64 == 0 &&
                                g.C * static_cast<int64_t>(sizeof(T)) % 64 == 0;
            parallel_for(N * g.OH, threads, [&](int64_t item, int) {
                const int64_t n = item / g.OH, i = item % g.OH;
                f.transposed_dw_nhwc(g, k, dy + n * in_image, packed.data(), bias,
                                     y + n * out_image, i, stream);
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
    // Depthwise: a group per output channel, `multiplier` dy channels each.
    const TransposedGeometry g{channels, in_h,     in_w,     out_h,      out_w,      kernel_h,
                               kernel_w, stride_h, stride_w, pad_top,    pad_left,   dilation_h,
                               dilation_w, channels, 1,      multiplier};
    const KernelTable& table = active_kernel_table();
    if (!nhwc && !(dtype == GCONV_FLOAT64 ? nchw_one_pass_pays(table.f64, g)
                                          : nchw_one_pass_pays(table.f32, g)))
        return GCONV_UNSUPPORTED;
    if (batch == 0) return GCONV_SUCCESS;
    const int64_t elements = batch * channels * out_h * out_w;
    const int threads = threads_for_work(num_threads, elements);
    if (dtype == GCONV_FLOAT64)
        return run(table.f64, nhwc, batch, g, static_cast<const double*>(dy),
                   static_cast<const double*>(weight), static_cast<const double*>(bias),
                   static_cast<double*>(y), threads);
    return run(table.f32, nhwc, batch, g, static_cast<const float*>(dy),
               static_cast<const float*>(weight), static_cast<const float*>(bias),
               static_cast<float*>(y), threads);
}
