// depthwise: groups == in_channels, any depth multiplier. NCHW runs the
// direct plane kernel (its channel block covers the multiplier's outputs of
// one input plane); NHWC its own kernel with lanes over channels.
#include "cpu/common/direct_driver.hpp"

namespace gconv {
namespace {

// [R * S][m][C]: see dwconv2d.inl.
template <typename T>
void pack_nhwc_weights(const ConvGeometry& g, const T* weight, T* packed) {
    const int64_t m = g.Kg, taps = g.R * g.S;
    for (int64_t c = 0; c < g.C; ++c)
        for (int64_t j = 0; j < m; ++j)
            for (int64_t t = 0; t < taps; ++t)
                packed[(t * m + j) * g.C + c] = weight[(c * m + j) * taps + t];
}

gconv_status prepare(gconv_plan& plan, const void* weight) {
    const ConvGeometry& g = plan.geom;
    if (g.layout == GCONV_LAYOUT_NCHW) return prepare_plane_kernel(plan, weight);
    return with_element_type(g.dtype, [&](auto zero) {
        using T = decltype(zero);
        const int64_t count = g.K * g.R * g.S;
        if (!plan.weight.allocate(static_cast<size_t>(count) * sizeof(T)))
            return fail(GCONV_OUT_OF_MEMORY, "cannot allocate %" PRId64 " weights", count);
        if (count > 0) pack_nhwc_weights(g, static_cast<const T*>(weight), plan.weight.as<T>());
        return GCONV_SUCCESS;
    });
}

gconv_status execute(const gconv_plan& plan, int64_t batch, const void* x, void* y, int threads,
                     void* scratch) {
    const ConvGeometry& g = plan.geom;
    return with_element_type(g.dtype, [&](auto zero) {
        using T = decltype(zero);
        const KernelFamily<T>& f = family<T>(*plan.kernels);
        const T* in = static_cast<const T*>(x);
        T* out = static_cast<T*>(y);
        if (g.layout == GCONV_LAYOUT_NHWC)
            run_pixels(plan, batch, in, out, threads, f.dwconv_nhwc);
        else
            run_planes(plan, batch, in, out, threads, static_cast<T*>(scratch), f.dwconv_nchw);
        return GCONV_SUCCESS;
    });
}

bool accepts(const ConvGeometry& g) { return g.G == g.C; }

}  // namespace

const Algorithm kDepthwise = {GCONV_ALGO_DEPTHWISE, "depthwise", accepts, accepts, prepare,
                              execute};

}  // namespace gconv
