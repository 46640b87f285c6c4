// gemm_1x1 and im2col_gemm: grouped convolution as one GEMM per
// (image, group, pixel tile), C[K/G x pixels] = W_g[K/G x kd] * B[kd x pixels].
// The weights are packed once by the plan; B is packed per tile into
// per-thread scratch, straight from the input (1x1) or through im2col, so no
// full im2col matrix ever exists.
#include <cinttypes>

#include "core/error.hpp"
#include "core/plan.hpp"
#include "core/threads.hpp"
#include "cpu/gemm/macro_kernel.hpp"
#include "cpu/gemm/pack.hpp"

namespace gconv {
namespace {

// KC: the micro-kernel streams one panel of B (KC x NR) from L1 against
// panels of A (MR x KC) from L2; NC is the largest pixel tile, shrunk at run
// time when the batch and groups alone give too few work items to keep
// every thread busy. KC makes the wider of the two panels 32 KiB (512 floats
// on AVX2): measured 1.1-1.4x faster than 16 KiB on 1x1 GEMMs of 512-1200
// channels (fewer passes that re-read and re-write C, longer runs of the
// inner loop); the AlexNet im2col layers did not move.
constexpr int64_t kPanelBytes = 32 * 1024;
constexpr int64_t kMaxTilePixels = 256;

// NCHW stores rows of C (an output channel's pixels) contiguously, NHWC
// columns (a pixel's output channels): each gets the kernel whose vector
// lanes run along the contiguous direction.
template <typename T>
const GemmUkernel<T>& ukernel(const gconv_plan& plan) {
    const KernelFamily<T>& f = family<T>(*plan.kernels);
    return plan.geom.layout == GCONV_LAYOUT_NHWC ? f.gemm_cols : f.gemm_rows;
}

// NHWC 1x1: B's columns are the input pixels themselves, read in place.
template <typename T>
bool reads_b_in_place(const gconv_plan& plan, bool im2col) {
    return !im2col && plan.geom.layout == GCONV_LAYOUT_NHWC &&
           ukernel<T>(plan).fn_in_place != nullptr;
}

template <typename T>
gconv_status prepare_typed(gconv_plan& plan, const void* weight, bool im2col) {
    const ConvGeometry& g = plan.geom;
    const GemmUkernel<T>& uk = ukernel<T>(plan);
    const int64_t group_size = packed_a_group_size(g, uk.mr);
    if (!plan.weight.allocate(static_cast<size_t>(group_size * g.G) * sizeof(T)))
        return fail(GCONV_OUT_OF_MEMORY, "cannot allocate %" PRId64 " packed weights",
                    group_size * g.G);
    if (g.K > 0) pack_a_weights(g, uk.mr, static_cast<const T*>(weight), plan.weight.as<T>());
    const int64_t wider = uk.mr > uk.nr ? uk.mr : uk.nr;
    // Equal blocks no longer than that: a short last block (64 of the 576
    // steps of a dense 3x3 over 64 channels) would re-read and re-write C for
    // little work.
    const int64_t most = kPanelBytes / (wider * static_cast<int64_t>(sizeof(T)));
    const int64_t kd = g.reduction() > 0 ? g.reduction() : 1;
    const int64_t blocks = (kd + most - 1) / most;
    plan.tile_depth = (kd + blocks - 1) / blocks;
    plan.tile_pixels = (kMaxTilePixels + uk.nr - 1) / uk.nr * uk.nr;
    plan.scratch_bytes = reads_b_in_place<T>(plan, im2col)
                             ? 0
                             : plan.tile_depth * plan.tile_pixels * static_cast<int64_t>(sizeof(T));
    return GCONV_SUCCESS;
}

template <bool kIm2col>
gconv_status prepare(gconv_plan& plan, const void* weight) {
    return plan.geom.dtype == GCONV_FLOAT64 ? prepare_typed<double>(plan, weight, kIm2col)
                                            : prepare_typed<float>(plan, weight, kIm2col);
}

template <typename T, bool kIm2col>
gconv_status execute_typed(const gconv_plan& plan, int64_t batch, const T* x, T* y, int threads,
                           T* scratch) {
    const ConvGeometry& g = plan.geom;
    const GemmUkernel<T>& uk = ukernel<T>(plan);
    const int64_t P = g.out_pixels(), kd = g.reduction();
    const int64_t per_pixel_tiles = batch * g.G;
    const int64_t wanted_tiles = (4 * threads + per_pixel_tiles - 1) / per_pixel_tiles;
    int64_t nc = split_size(P, wanted_tiles, uk.nr);
    nc = (nc + uk.nr - 1) / uk.nr * uk.nr;
    if (nc > plan.tile_pixels) nc = plan.tile_pixels;
    const int64_t tiles = (P + nc - 1) / nc;
    const int64_t group_size = packed_a_group_size(g, uk.mr);
    const bool nhwc = g.layout == GCONV_LAYOUT_NHWC;
    const T* bias = static_cast<const T*>(plan.bias_or_null());
    const bool in_place = reads_b_in_place<T>(plan, kIm2col);

    parallel_for(batch * g.G * tiles, threads, [&](int64_t item, int tid) {
        const int64_t tile = item % tiles, group = item / tiles % g.G, n = item / tiles / g.G;
        const int64_t j0 = tile * nc, width = P - j0 < nc ? P - j0 : nc;
        const T* image = x + n * g.in_image();
        T* out = y + n * g.out_image();
        const T* a = plan.weight.as<T>() + group * group_size;
        const T* group_bias = bias ? bias + group * g.Kg : nullptr;
        if (in_place) {
            gemm_macro_kernel_in_place(uk, a, g.Kg, kd, width, plan.tile_depth,
                                       image + j0 * g.C + group * g.Cg, g.C,
                                       out + j0 * g.K + group * g.Kg, 1, g.K, group_bias, g.act);
            return;
        }
        T* b_scratch = scratch + static_cast<int64_t>(tid) * plan.tile_depth * plan.tile_pixels;
        auto pack_b = [&](int64_t p0, int64_t kc, T* dst) {
            if (kIm2col)
                pack_b_im2col(g, image, group, p0, kc, j0, width, uk.nr, dst);
            else
                pack_b_direct(g, image, group, p0, kc, j0, width, uk.nr, dst);
        };
        T* c = nhwc ? out + j0 * g.K + group * g.Kg : out + group * g.Kg * P + j0;
        gemm_macro_kernel(uk, a, g.Kg, kd, width, plan.tile_depth, b_scratch, pack_b, c,
                          nhwc ? 1 : P, nhwc ? g.K : 1, group_bias, g.act);
    });
    return GCONV_SUCCESS;
}

template <bool kIm2col>
gconv_status execute(const gconv_plan& plan, int64_t batch, const void* x, void* y, int threads,
                     void* scratch) {
    if (plan.geom.dtype == GCONV_FLOAT64)
        return execute_typed<double, kIm2col>(plan, batch, static_cast<const double*>(x),
                                              static_cast<double*>(y), threads,
                                              static_cast<double*>(scratch));
    return execute_typed<float, kIm2col>(plan, batch, static_cast<const float*>(x),
                                         static_cast<float*>(y), threads,
                                         static_cast<float*>(scratch));
}

bool accepts_1x1(const ConvGeometry& g) {
    return g.R == 1 && g.S == 1 && g.sh == 1 && g.sw == 1 && g.pt == 0 && g.pb == 0 &&
           g.pl == 0 && g.pr == 0;
}

bool accepts_any(const ConvGeometry&) { return true; }

// GEMM pays off when groups are wide in both directions: packing B costs
// about as much per element as Kg / (2 * lanes) FMAs, so below ~64 output
// channels per group the direct kernel (which reads its input rows once per
// group) wins. Measured on AVX2: ResNeXt/RegNet groups of 16 and 32 channels
// run 2-5x faster direct; AlexNet's 128-192 and dense 64-channel layers run
// faster as GEMM.
bool prefers_im2col(const ConvGeometry& g) { return g.Cg >= 32 && g.Kg >= 64; }

}  // namespace

const Algorithm kGemm1x1 = {GCONV_ALGO_GEMM_1X1, "gemm_1x1", accepts_1x1, accepts_1x1,
                            prepare<false>, execute<false>};
const Algorithm kIm2colGemm = {GCONV_ALGO_IM2COL_GEMM, "im2col_gemm", accepts_any,
                               prefers_im2col, prepare<true>, execute<true>};

}  // namespace gconv
