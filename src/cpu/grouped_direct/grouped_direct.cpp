// grouped_direct: narrow groups (few channels per group), where a GEMM per
// group would be mostly packing overhead. Both layouts copy the rows of
// input an item needs into padded, channel-major scratch (a transpose for
// NHWC). Two kernels read it:
// - grouped_channel_lanes.inl, lanes over a group's output channels, when
//   they fill whole vectors: always in NHWC (whole-vector stores where the
//   plane kernel scatters values K apart), in NCHW from two vectors per
//   group (measured on AVX2: ResNeXt's 16 and 32 channels per group 1.3-1.4x
//   faster than the plane kernel, its 8 channels 10% slower) or from one
//   of AVX-512's sixteen lanes (Zen 4: 16 channels per group, ResNeXt s4 and
//   RegNet, 1.04-1.12x);
// - direct_nchw.inl's plane kernel, lanes over output pixels, otherwise.
// With AVX-512, NHWC groups of 8 channels (ResNeXt s3) take the AVX2
// family's channel lanes (KernelFamily::narrow; Zen 4: 1.3-1.5x faster than
// the plane kernel).
#include "cpu/common/direct_driver.hpp"

namespace gconv {
namespace {

// The channel-lane kernel the plan runs and its vector lanes, or
// {nullptr, 0} for the plane kernel.
template <typename T>
struct LaneKernel {
    PlaneKernelFn<T> fn;
    int lanes;
};

template <typename T>
LaneKernel<T> channel_lanes_kernel(const gconv_plan& plan) {
    const ConvGeometry& g = plan.geom;
    const KernelFamily<T>& f = family<T>(*plan.kernels);
    const bool nhwc = g.layout == GCONV_LAYOUT_NHWC;
    const int lanes = f.vector_lanes;
    if (g.Kg <= 0) return {nullptr, 0};
    if (f.grouped_channel_lanes != nullptr && g.Kg % lanes == 0 &&
        (nhwc || g.Kg % (2 * lanes) == 0 || lanes >= 16))
        return {f.grouped_channel_lanes, lanes};
    const KernelFamily<T>* narrow = nhwc ? narrow_family_for(f, g.Kg) : nullptr;
    if (narrow != nullptr && narrow->grouped_channel_lanes != nullptr)
        return {narrow->grouped_channel_lanes, narrow->vector_lanes};
    return {nullptr, 0};
}

gconv_status prepare(gconv_plan& plan, const void* weight) {
    return with_element_type(plan.geom.dtype, [&](auto zero) {
        using T = decltype(zero);
        const LaneKernel<T> lanes = channel_lanes_kernel<T>(plan);
        if (lanes.fn == nullptr) return prepare_plane_kernel(plan, weight);
        const ConvGeometry& g = plan.geom;
        const int64_t width = channel_lanes_phase_width(g, lanes.lanes);
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
        const LaneKernel<T> lanes = channel_lanes_kernel<T>(plan);
        run_planes(plan, batch, static_cast<const T*>(x), static_cast<T*>(y), threads,
                   static_cast<T*>(scratch),
                   lanes.fn != nullptr ? lanes.fn : family<T>(*plan.kernels).grouped_direct);
        return GCONV_SUCCESS;
    });
}

bool accepts_any(const ConvGeometry&) { return true; }

}  // namespace

const Algorithm kGroupedDirect = {GCONV_ALGO_GROUPED_DIRECT, "grouped_direct", accepts_any,
                                  accepts_any, prepare, execute};

}  // namespace gconv
