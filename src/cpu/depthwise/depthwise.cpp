// depthwise: groups == in_channels, any depth multiplier.
#include "cpu/common/direct_driver.hpp"

namespace gconv {
namespace {

// The NCHW kernel specialised for this kernel size and column stride; the
// row stride stays a run-time value, and dilation > 1 takes the generic one.
DwNchwVariant nchw_variant(const ConvGeometry& g) {
    if (g.R != g.S || g.dh != 1 || g.dw != 1 || g.sw > 2) return kDwGeneric;
    const bool s1 = g.sw == 1;
    switch (g.R) {
        case 3: return s1 ? kDw3x3s1 : kDw3x3s2;
        case 5: return s1 ? kDw5x5s1 : kDw5x5s2;
        case 7: return s1 ? kDw7x7s1 : kDw7x7s2;
        default: return kDwGeneric;
    }
}

gconv_status prepare(gconv_plan& plan, const void* weight) {
    plan.variant = nchw_variant(plan.geom);
    return prepare_direct_weights(plan, weight);
}

gconv_status execute(const gconv_plan& plan, int64_t batch, const void* x, void* y, int threads,
                     void*) {
    const ConvGeometry& g = plan.geom;
    return with_element_type(g.dtype, [&](auto zero) {
        using T = decltype(zero);
        const KernelFamily<T>& f = family<T>(*plan.kernels);
        const T* in = static_cast<const T*>(x);
        T* out = static_cast<T*>(y);
        if (g.layout == GCONV_LAYOUT_NHWC)
            run_pixels(plan, batch, in, out, threads, f.dwconv_nhwc);
        else
            run_planes(plan, batch, in, out, threads, f.dwconv_nchw[plan.variant], g.R * g.S);
        return GCONV_SUCCESS;
    });
}

bool accepts(const ConvGeometry& g) { return g.G == g.C; }

}  // namespace

const Algorithm kDepthwise = {GCONV_ALGO_DEPTHWISE, "depthwise", accepts, accepts, prepare,
                              execute};

}  // namespace gconv
