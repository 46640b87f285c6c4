// Work decomposition of depthwise conv3d (multiplier 1): the kernels
// (dwconv3d.inl) compute rows; this splits the batch into items, packs the
// NDHWC weights tap-major and holds each thread's padded input rows.
#include "cpu/depthwise/depthwise3d.h"

#include <cinttypes>
#include <new>
#include <vector>

#include "core/error.hpp"
#include "core/plan.hpp"
#include "core/threads.hpp"
#include "cpu/kernel_table.hpp"

namespace gconv {
namespace {

template <typename T>
gconv_status run(const KernelFamily<T>& f, bool ndhwc, int64_t N, const Dw3dGeometry& g,
                 const T* x, const T* w, const T* bias, T* y, int threads) {
    const int64_t in_image = g.C * g.D * g.H * g.W, out_image = g.C * g.OD * g.OH * g.OW;
    const int64_t taps = g.KD * g.R * g.S;
    try {
        if (ndhwc) {
            std::vector<T> packed(static_cast<size_t>(taps * g.C));  // [KD * R * S][C]
            for (int64_t c = 0; c < g.C; ++c)
                for (int64_t t = 0; t < taps; ++t) packed[t * g.C + c] = w[c * taps + t];
            const std::vector<T> zeros(static_cast<size_t>(g.W * g.C), T(0));
            const int64_t rows = g.OD * g.OH;
            parallel_for(N * rows, threads, [&](int64_t item, int) {
                const int64_t n = item / rows, od = item % rows / g.OH, oh = item % g.OH;
                f.dwconv3d_ndhwc(g, x + n * in_image, packed.data(), bias, zeros.data(),
                                 y + n * out_image, od, oh);
            });
            return GCONV_SUCCESS;
        }
        const int64_t planes = N * g.C * g.OD;  // one output slice of one channel
        const int64_t rows = split_size(g.OH, (4 * threads + planes - 1) / planes, 4);
        const int64_t blocks = (g.OH + rows - 1) / rows;
        const int64_t row_values =
            g.KD * dw3d_copied_rows(g, rows) * dw3d_row_width(g, f.vector_lanes);
        std::vector<T> scratch(static_cast<size_t>(threads * row_values));
        parallel_for(planes * blocks, threads, [&](int64_t item, int tid) {
            const int64_t plane = item / blocks, od = plane % g.OD, nc = plane / g.OD;
            const int64_t c = nc % g.C;
            const int64_t oh0 = item % blocks * rows, oh1 = oh0 + rows < g.OH ? oh0 + rows : g.OH;
            f.dwconv3d_ncdhw(g, x + nc * g.D * g.H * g.W, w + c * taps, bias ? bias[c] : T(0),
                             y + nc * g.OD * g.OH * g.OW, od, oh0, oh1,
                             scratch.data() + tid * row_values);
        });
        return GCONV_SUCCESS;
    } catch (const std::bad_alloc&) {
        return fail(GCONV_OUT_OF_MEMORY, "depthwise_conv3d: cannot allocate scratch");
    }
}

}  // namespace
}  // namespace gconv

extern "C" gconv_status gconv_depthwise_conv3d(int32_t dtype, int32_t layout, int64_t batch,
                                               int64_t channels, const int64_t in_size[3],
                                               const int64_t out_size[3], const int64_t kernel[3],
                                               const int64_t stride[3],
                                               const int64_t pad_before[3],
                                               const int64_t dilation[3], int32_t activation,
                                               const void* x, const void* weight,
                                               const void* bias, void* y, int num_threads) {
    using namespace gconv;
    bool sizes_ok = batch >= 0 && channels >= 1;
    for (int d = 0; d < 3; ++d)
        sizes_ok = sizes_ok && in_size[d] >= 1 && out_size[d] >= 1 && kernel[d] >= 1 &&
                   stride[d] >= 1 && dilation[d] >= 1 && pad_before[d] >= 0;
    if (!sizes_ok)
        return fail(GCONV_INVALID_PARAMETER,
                    "depthwise_conv3d: inconsistent sizes (batch %" PRId64 ", channels %" PRId64
                    ", in %" PRId64 "x%" PRId64 "x%" PRId64 ")",
                    batch, channels, in_size[0], in_size[1], in_size[2]);
    const bool ndhwc = layout == GCONV_LAYOUT_NHWC;
    if (kernel[0] * kernel[1] > kDw3dMostRowTaps || (!ndhwc && stride[2] != 1))
        return GCONV_UNSUPPORTED;
    if (batch == 0) return GCONV_SUCCESS;
    const Dw3dGeometry g{channels,      in_size[0],    in_size[1],    in_size[2],
                         out_size[0],  out_size[1],   out_size[2],   kernel[0],
                         kernel[1],    kernel[2],     stride[0],     stride[1],
                         stride[2],    pad_before[0], pad_before[1], pad_before[2],
                         dilation[0],  dilation[1],   dilation[2],   activation};
    const int64_t elements = batch * channels * out_size[0] * out_size[1] * out_size[2];
    const int threads = threads_for_work(num_threads, elements);
    const KernelTable& table = active_kernel_table();
    if (dtype == GCONV_FLOAT64)
        return run(table.f64, ndhwc, batch, g, static_cast<const double*>(x),
                   static_cast<const double*>(weight), static_cast<const double*>(bias),
                   static_cast<double*>(y), threads);
    return run(table.f32, ndhwc, batch, g, static_cast<const float*>(x),
               static_cast<const float*>(weight), static_cast<const float*>(bias),
               static_cast<float*>(y), threads);
}
