// global_depthwise (GDC): a depthwise conv whose kernel covers the padded
// input, so each output channel is one weighted sum over its whole plane;
// and global average pooling, the same reduction with uniform weights.
#include <algorithm>
#include <cinttypes>

#include "core/descriptor.hpp"
#include "core/error.hpp"
#include "cpu/common/direct_driver.hpp"

namespace gconv {
namespace {

template <typename T>
gconv_status execute_typed(const gconv_plan& plan, int64_t batch, const T* x, T* y,
                           int threads) {
    const ConvGeometry& g = plan.geom;
    const KernelFamily<T>& f = family<T>(*plan.kernels);
    const T* w = plan.weight.as<T>();
    const T* bias = static_cast<const T*>(plan.bias_or_null());
    if (g.layout == GCONV_LAYOUT_NHWC) {
        // Runs of up to four images, at least two runs per thread where the
        // batch allows: the kernel reads each weight once for several
        // images.
        const int64_t per_item = std::clamp<int64_t>(batch / (2 * threads), 1, 4);
        const int64_t items = (batch + per_item - 1) / per_item;
        parallel_for(items, threads, [&](int64_t item, int) {
            const int64_t n = item * per_item;
            const int64_t count = n + per_item < batch ? per_item : batch - n;
            f.global_dwconv_nhwc(g, x + n * g.in_image(), w, bias, y + n * g.K, count);
        });
        return GCONV_SUCCESS;
    }
    // Items are (run of up to eight images, run of channels): the images of
    // a run share each weight load (eight against two: MobileFaceNet's GDC
    // at N=16, 1.2x). Runs of whole blocks of 16 channels, so that a channel
    // takes the same kernel (16 or 8 planes at a time, or alone: different
    // sums) whatever the batch and thread count.
    constexpr int64_t kImages = 8;
    const int64_t runs = (batch + kImages - 1) / kImages;
    const int64_t per_item = (split_size(g.K, (4 * threads + runs - 1) / runs, 16) + 15) /
                             16 * 16;
    const int64_t blocks = (g.K + per_item - 1) / per_item;
    parallel_for(runs * blocks, threads, [&](int64_t item, int) {
        const int64_t n = item / blocks * kImages, k0 = item % blocks * per_item;
        const int64_t k1 = k0 + per_item < g.K ? k0 + per_item : g.K;
        f.global_dwconv_nchw(g, x + n * g.in_image(), w, bias, y + n * g.K, k0, k1,
                             batch - n < kImages ? batch - n : kImages);
    });
    return GCONV_SUCCESS;
}

gconv_status execute(const gconv_plan& plan, int64_t batch, const void* x, void* y, int threads,
                     void*) {
    return with_element_type(plan.geom.dtype, [&](auto zero) {
        using T = decltype(zero);
        return execute_typed(plan, batch, static_cast<const T*>(x), static_cast<T*>(y), threads);
    });
}

// The kernel window is exactly the padded input, so there is one output.
bool accepts(const ConvGeometry& g) {
    return g.G == g.C && g.dh == 1 && g.dw == 1 && g.R == g.pt + g.H + g.pb &&
           g.S == g.pl + g.W + g.pr;
}

template <typename T>
void avg_pool(const KernelFamily<T>& f, bool nhwc, int64_t batch, int64_t C, int64_t pixels,
              const T* x, T* y, int threads) {
    if (nhwc) {
        parallel_for(batch, threads, [&](int64_t n, int) {
            f.avg_pool_nhwc(x + n * C * pixels, y + n * C, C, pixels, C);
        });
        return;
    }
    const int64_t per_item = split_size(C, (4 * threads + batch - 1) / batch, 16);
    const int64_t blocks = (C + per_item - 1) / per_item;
    parallel_for(batch * blocks, threads, [&](int64_t item, int) {
        const int64_t n = item / blocks, c0 = item % blocks * per_item;
        const int64_t count = c0 + per_item < C ? per_item : C - c0;
        f.avg_pool_nchw(x + (n * C + c0) * pixels, y + n * C + c0, count, pixels, 0);
    });
}

}  // namespace

const Algorithm kGlobalDepthwise = {GCONV_ALGO_GLOBAL_DEPTHWISE, "global_depthwise", accepts,
                                    accepts, prepare_direct_weights, execute};

}  // namespace gconv

extern "C" gconv_status gconv_global_avg_pool2d(int32_t dtype, int32_t layout, int64_t batch,
                                                int64_t channels, int64_t in_h, int64_t in_w,
                                                const void* x, void* y, int num_threads) {
    using namespace gconv;
    if (dtype != GCONV_FLOAT32 && dtype != GCONV_FLOAT64)
        return fail(GCONV_INVALID_PARAMETER, "dtype (%d) is not a gconv_dtype", dtype);
    if (layout != GCONV_LAYOUT_NCHW && layout != GCONV_LAYOUT_NHWC)
        return fail(GCONV_INVALID_PARAMETER, "layout (%d) is not a gconv_layout", layout);
    if (batch < 0 || channels < 1 || in_h < 1 || in_w < 1)
        return fail(GCONV_INVALID_PARAMETER,
                    "global_avg_pool2d needs batch >= 0 and channels, height, width >= 1, got "
                    "%" PRId64 ", %" PRId64 ", %" PRId64 ", %" PRId64,
                    batch, channels, in_h, in_w);
    int64_t pixels, total;
    if (!checked_mul(in_h, in_w, pixels) || !checked_mul(pixels, channels, total) ||
        !checked_mul(total, batch, total) || !checked_mul(total, 8, total))
        return fail(GCONV_INVALID_PARAMETER, "global_avg_pool2d input overflows int64");
    if (batch == 0) return GCONV_SUCCESS;
    if (x == nullptr || y == nullptr)
        return fail(GCONV_INVALID_PARAMETER, "input and output pointers must not be null");
    const KernelTable& table = active_kernel_table();
    int threads = resolve_threads(num_threads);
    if (threads > total / 8 / 65536 + 1) threads = static_cast<int>(total / 8 / 65536 + 1);
    const bool nhwc = layout == GCONV_LAYOUT_NHWC;
    if (dtype == GCONV_FLOAT64)
        avg_pool(table.f64, nhwc, batch, channels, pixels, static_cast<const double*>(x),
                 static_cast<double*>(y), threads);
    else
        avg_pool(table.f32, nhwc, batch, channels, pixels, static_cast<const float*>(x),
                 static_cast<float*>(y), threads);
    return GCONV_SUCCESS;
}
