// grouped_direct: narrow groups (few channels per group), where a GEMM per
// group would be mostly packing overhead. One direct kernel serves both
// layouts: its rows of input are copied (transposed, for NHWC) into padded
// scratch, and the output channels of a group are computed together.
#include "cpu/common/direct_driver.hpp"

namespace gconv {
namespace {

gconv_status execute(const gconv_plan& plan, int64_t batch, const void* x, void* y, int threads,
                     void* scratch) {
    return with_element_type(plan.geom.dtype, [&](auto zero) {
        using T = decltype(zero);
        run_planes(plan, batch, static_cast<const T*>(x), static_cast<T*>(y), threads,
                   static_cast<T*>(scratch), family<T>(*plan.kernels).grouped_direct);
        return GCONV_SUCCESS;
    });
}

bool accepts_any(const ConvGeometry&) { return true; }

}  // namespace

const Algorithm kGroupedDirect = {GCONV_ALGO_GROUPED_DIRECT, "grouped_direct", accepts_any,
                                  accepts_any, prepare_plane_kernel, execute};

}  // namespace gconv
