// grouped_direct: narrow groups (few channels per group), where a GEMM per
// group would be mostly packing overhead. Both layouts copy the rows of
// input an item needs into padded, channel-major scratch (a transpose for
// NHWC). Two kernels read it:
// - grouped_channel_lanes.inl, lanes over a group's output channels, when
//   they fill whole vectors: always in NHWC (whole-vector stores where the
//   plane kernel scatters values K apart), from two vectors per group in
//   NCHW (measured on AVX2: ResNeXt's 16 and 32 channels per group 1.3-1.4x
//   faster than the plane kernel, its 8 channels 10% slower);
// - direct_nchw.inl's plane kernel, lanes over output pixels, otherwise.
#include "cpu/common/direct_driver.hpp"

namespace gconv {
namespace {

template <typename T>
bool uses_channel_lanes(const gconv_plan& plan) {
    const ConvGeometry& g = plan.geom;
    const KernelFamily<T>& f = family<T>(*plan.kernels);
    if (f.grouped_channel_lanes == nullptr || g.Kg <= 0 || g.Kg % f.vector_lanes != 0) return false;
    return g.layout == GCONV_LAYOUT_NHWC || g.Kg % (2 * f.vector_lanes) == 0;
}

gconv_status prepare(gconv_plan& plan, const void* weight) {
    return with_element_type(plan.geom.dtype, [&](auto zero) {
        using T = decltype(zero);
        if (!uses_channel_lanes<T>(plan)) return prepare_plane_kernel(plan, weight);
        const ConvGeometry& g = plan.geom;
        const int64_t width = channel_lanes_phase_width(g, family<T>(*plan.kernels).vector_lanes);
        if (gconv_status s = size_direct_nchw_scratch(plan, sizeof(T), width)) return s;
        return store_weights(plan, weight, [&](const auto* src, auto* dst) {
            pack_weights_group_tap_major(g, src, dst);
        });
    });
}

gconv_status execute(const gconv_plan& plan, int64_t batch, const void* x, void* y, int threads,
                     void* scratch) {
    return with_element_type(plan.geom.dtype, [&](auto zero) {
        using T = decltype(zero);
        const KernelFamily<T>& f = family<T>(*plan.kernels);
        const bool lanes = uses_channel_lanes<T>(plan);
        run_planes(plan, batch, static_cast<const T*>(x), static_cast<T*>(y), threads,
                   static_cast<T*>(scratch), lanes ? f.grouped_channel_lanes : f.grouped_direct);
        return GCONV_SUCCESS;
    });
}

bool accepts_any(const ConvGeometry&) { return true; }

}  // namespace

const Algorithm kGroupedDirect = {GCONV_ALGO_GROUPED_DIRECT, "grouped_direct", accepts_any,
                                  accepts_any, prepare, execute};

}  // namespace gconv
