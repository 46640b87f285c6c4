// grouped_direct: narrow groups, computed directly (no packing of the input).
#include "cpu/common/direct_driver.hpp"

namespace gconv {
namespace {

gconv_status execute(const gconv_plan& plan, int64_t batch, const void* x, void* y, int threads,
                     void*) {
    const ConvGeometry& g = plan.geom;
    return with_element_type(g.dtype, [&](auto zero) {
        using T = decltype(zero);
        const KernelFamily<T>& f = family<T>(*plan.kernels);
        const T* in = static_cast<const T*>(x);
        T* out = static_cast<T*>(y);
        if (g.layout == GCONV_LAYOUT_NHWC)
            run_pixels(plan, batch, in, out, threads, f.grouped_direct_nhwc);
        else
            run_planes(plan, batch, in, out, threads, f.grouped_direct_nchw, g.Cg * g.R * g.S);
        return GCONV_SUCCESS;
    });
}

bool accepts_any(const ConvGeometry&) { return true; }

}  // namespace

const Algorithm kGroupedDirect = {GCONV_ALGO_GROUPED_DIRECT, "grouped_direct", accepts_any,
                                  accepts_any, prepare_direct_weights, execute};

}  // namespace gconv
