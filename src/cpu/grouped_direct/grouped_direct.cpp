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
// In NCHW, small groups on rows of up to 16 AVX-512 vectors at 3x3, 5x5
// or 7x7 take the depthwise wide-rows kernel (dwconv2d_wide_rows.inl) in
// its grouped form, which reads x in place (see wide_rows_most_tap_weights).
// In NHWC, 3x3 groups of two inputs and one output (depthwise multiplier
// 2's input gradient) and of 4 or 8 inputs and as many outputs (ResNeXt's
// first stages) read x in place too, in runs of pixels that share each
// input vector, lanes over output channels (grouped_pairs_nhwc in
// dwconv2d.inl, grouped_nhwc_runs.inl; Zen 4: 3-6x and, groups of 4,
// 1.75-2.35x faster than the channel-lane kernel).
// In NCHW, 3x3 at stride 1 on rows that fit one AVX-512 vector (ResNeXt s4,
// RegNet) takes grouped_rows_nchw.inl instead, which reads x in place
// through masked loads: no copy, no transposes (Zen 4, against the
// channel-lane kernel: ResNeXt s4 1.33x at N=1 and 1.15x at N=16, RegNet
// 1.28x at both; summed in the same order, so the same bits); so do rows of
// up to four vectors for groups of four outputs or more (ResNeXt s2 and s3:
// see grouped_rows_fit).
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

// 3x3 at stride 1, undilated, output rows of up to four vectors. Rows of
// more than one vector only for groups of at least kGroupedRowsChannels
// outputs (2 x 1 groups, depthwise multiplier 2's transposed form, ran
// 0.6-0.8x of the wide-rows kernel) and, in float64, where the channel-lane
// kernel does not take the layer. Against the routes before (Zen 5,
// AVX-512; warm, then flushed):
//  - float32, N=1 and N=16: 4 x 4 groups on 56x56 (ResNeXt s2, wide rows
//    before) 1.48x, 2.1x and 2.47x, 2.5x; 8 x 8 on 28x28 (ResNeXt s3, wide
//    rows) 1.39x, 2.08x and 2.07x, 2.46x; 16 x 16 on 28x28 (channel lanes)
//    at N=16 1.42x, 1.38x. Their input gradients at N=16: s2 2.5x, s3
//    1.8-2.2x.
//  - float64: 8 x 8 on 28x28 (the plane kernel) 1.16x, 1.34x and 1.43x,
//    1.39x; 16 x 16 on 14x14 (ResNeXt s4, RegNet; channel lanes) 1.07-1.3x
//    warm but 0.86-0.89x flushed: kept on channel lanes.
template <typename T>
bool grouped_rows_fit(const gconv_plan& plan) {
    const ConvGeometry& g = plan.geom;
    const KernelFamily<T>& f = family<T>(*plan.kernels);
    if (f.grouped_rows_nchw == nullptr || g.layout != GCONV_LAYOUT_NCHW || g.sh != 1 ||
        g.sw != 1 || g.dh != 1 || g.dw != 1 || g.R != 3 || g.S != 3)
        return false;
    const int64_t lanes = f.vector_lanes;
    if (g.W <= lanes && g.OW <= lanes) return true;
    return g.W <= kGroupedRowsMostVectors * lanes && g.OW <= kGroupedRowsMostVectors * lanes &&
           g.Kg >= kGroupedRowsChannels &&
           (sizeof(T) == 4 || channel_lanes_kernel<T>(plan).fn == nullptr);
}

// Stride 2, 3x3, undilated, output rows of at most two vectors (AVX-512:
// ResNeXt's downsampling layers to 28x28 and below), at least a block of
// output channels per group and at most 64 weights per tap: the
// grouped-rows kernel's stride-2 form, read in place. Against the plane
// kernel and its phase-split copy, Zen 4, float32, N=1 and N=16: 8 x 8
// from 56x56 (ResNeXt s3_down) 1.26x and 1.21x; 4 x 4 from 56x56 1.39x
// at N=16; 16 x 16 from 28x28 0.94-1.16x (kept on the plane kernel).
template <typename T>
bool grouped_rows_s2_fit(const gconv_plan& plan) {
    const ConvGeometry& g = plan.geom;
    const KernelFamily<T>& f = family<T>(*plan.kernels);
    return f.grouped_rows_s2_nchw != nullptr && g.layout == GCONV_LAYOUT_NCHW && g.sh == 2 &&
           g.sw == 2 && g.dh == 1 && g.dw == 1 && g.R == 3 && g.S == 3 &&
           g.OW <= 2 * f.vector_lanes && g.Kg >= kGroupedRowsChannels && g.Cg * g.Kg <= 64;
}

// Groups of at most this many weights per tap (Cg x Kg) take the wide-rows
// kernel where it fits: each output plane sums its group's Cg input planes,
// read in place, so each input plane is read Kg times, from the caches.
// Against the plane kernel (and the channel-lane kernel at Kg = 16), 3x3 on
// 56x56 and 28x28, Zen 4, N=1 then N=16:
//  - float32: Cg x Kg = 2 x 1 (dw_mult2's transposed form) 1.9-2.1x, 1.9x;
//    4 x 4 (ResNeXt s2) 1.13x, 1.08x; 8 x 8 (ResNeXt s3) 1.16x, 1.05x;
//    4 x 16 1.3x; 16 x 16 0.97x; 5x5 and 7x7 at 8 x 8 1.0-1.1x. At stride
//    2, whose taps cost two loads and a permute: 2 x 4 1.33x, 1.13x; 4 x 4
//    0.67x, 0.77x.
//  - float64 (half the lanes, twice the bytes): 2 x 1 1.8x; 4 x 2 1.7x,
//    1.4x; 4 x 4 and 8 x 8 1.0-1.17x, 0.92x. Stride 2: 2 x 1 1.67x, 1.24x;
//    2 x 4 1.09x, 0.95x.
template <typename T>
int64_t wide_rows_most_tap_weights(int64_t stride) {
    if (sizeof(T) == 8) return stride == 1 ? 8 : 2;
    return stride == 1 ? 64 : 8;
}

// NHWC groups of two input channels and one output (the transposed form of
// depthwise multiplier 2), 3x3 at stride 1 or 2, undilated, a vector of
// outputs or more: the depthwise runs in their two-input form
// (grouped_pairs_nhwc in dwconv2d.inl).
template <typename T>
bool grouped_pairs_fit(const gconv_plan& plan) {
    const ConvGeometry& g = plan.geom;
    const KernelFamily<T>& f = family<T>(*plan.kernels);
    return f.grouped_pairs_nhwc != nullptr && g.layout == GCONV_LAYOUT_NHWC && g.Cg == 2 &&
           g.Kg == 1 && g.R == 3 && g.S == 3 && g.sh == g.sw && g.sh <= 2 && g.dh == 1 &&
           g.dw == 1 && g.K >= f.vector_lanes;
}

// NHWC groups of G input and G output channels, G = 4 or (float32) 8
// (ResNeXt's first two stages), 3x3 at stride 1 or 2, undilated, whole
// vectors of outputs: lanes over output channels, each input channel
// shuffled to its group's lanes (grouped_nhwc_runs.inl; float64 groups of
// 4 on Zen 4: 1.33x at N=1, 1.65-1.99x at N=16).
template <typename T>
bool grouped_runs_fit(const gconv_plan& plan) {
    const ConvGeometry& g = plan.geom;
    const KernelFamily<T>& f = family<T>(*plan.kernels);
    return f.grouped_runs_nhwc != nullptr && g.layout == GCONV_LAYOUT_NHWC && g.Cg == g.Kg &&
           (g.Cg == 4 || (g.Cg == 8 && sizeof(T) == 4)) && g.Cg <= f.vector_lanes &&
           g.R == 3 && g.S == 3 && g.sh == g.sw && g.sh <= 2 && g.dh == 1 && g.dw == 1 &&
           g.K % f.vector_lanes == 0;
}

// [R * S][Cg][K]: input c's weight of every output channel of a tap.
template <typename T>
void pack_group_runs_weights(const ConvGeometry& g, const T* weight, T* packed) {
    const int64_t taps = g.R * g.S;
    for (int64_t t = 0; t < taps; ++t)
        for (int64_t c = 0; c < g.Cg; ++c)
            for (int64_t k = 0; k < g.K; ++k)
                packed[(t * g.Cg + c) * g.K + k] = weight[(k * g.Cg + c) * taps + t];
}

// [R * S][K][2]: output k's two weights of a tap side by side.
template <typename T>
void pack_pairs_weights(const ConvGeometry& g, const T* weight, T* packed) {
    const int64_t taps = g.R * g.S;
    for (int64_t t = 0; t < taps; ++t)
        for (int64_t k = 0; k < g.K; ++k)
            for (int64_t j = 0; j < 2; ++j)
                packed[(t * g.K + k) * 2 + j] = weight[(k * 2 + j) * taps + t];
}

template <typename T>
bool grouped_wide_rows_fit(const gconv_plan& plan) {
    const ConvGeometry& g = plan.geom;
    const KernelFamily<T>& f = family<T>(*plan.kernels);
    return f.grouped_wide_rows_nchw != nullptr &&
           g.Cg * g.Kg <= wide_rows_most_tap_weights<T>(g.sh) && wide_rows_fit(g, f.vector_lanes);
}

// The kernels that read x in place, in order of preference (each with its
// own weight packing), or kNone for the channel-lane and plane kernels.
enum class InPlace { kNone, kRowsNchw, kRowsS2Nchw, kWideRowsNchw, kPairsNhwc, kRunsNhwc };

template <typename T>
InPlace in_place_route(const gconv_plan& plan) {
    if (grouped_rows_fit<T>(plan)) return InPlace::kRowsNchw;
    if (grouped_wide_rows_fit<T>(plan)) return InPlace::kWideRowsNchw;
    if (grouped_rows_s2_fit<T>(plan)) return InPlace::kRowsS2Nchw;
    if (grouped_pairs_fit<T>(plan)) return InPlace::kPairsNhwc;
    if (grouped_runs_fit<T>(plan)) return InPlace::kRunsNhwc;
    return InPlace::kNone;
}

// The grouped-rows kernel's weights: per group, blocks of
// kGroupedRowsChannels output channels (the last zero-filled), each
// [Cg][R][S][channel], so a tap's weights for the block are consecutive.
template <typename T>
void pack_grouped_rows_weights(const ConvGeometry& g, const T* weight, T* packed) {
    constexpr int64_t B = kGroupedRowsChannels;
    const int64_t blocks = (g.Kg + B - 1) / B, taps = g.R * g.S;
    for (int64_t group = 0; group < g.G; ++group)
        for (int64_t b = 0; b < blocks; ++b)
            for (int64_t c = 0; c < g.Cg; ++c)
                for (int64_t t = 0; t < taps; ++t)
                    for (int64_t k = 0; k < B; ++k) {
                        const int64_t kk = b * B + k;
                        *packed++ =
                            kk < g.Kg ? weight[((group * g.Kg + kk) * g.Cg + c) * taps + t] : T(0);
                    }
}

template <typename T>
gconv_status prepare_grouped_rows(gconv_plan& plan, const void* weight) {
    const ConvGeometry& g = plan.geom;
    const int64_t blocks = (g.Kg + kGroupedRowsChannels - 1) / kGroupedRowsChannels;
    int64_t count = 0;
    if (!checked_mul(g.G * blocks * kGroupedRowsChannels, g.Cg * 9, count) ||
        !plan.weight.allocate(static_cast<size_t>(count) * sizeof(T)))
        return fail(GCONV_OUT_OF_MEMORY, "cannot allocate %" PRId64 " packed weights", count);
    pack_grouped_rows_weights(g, static_cast<const T*>(weight), plan.weight.as<T>());
    return GCONV_SUCCESS;
}

// Items are (image, group, run of the group's output channels): enough for
// eight per thread, runs in whole blocks of four channels.
template <typename T>
void run_grouped_rows(const gconv_plan& plan, int64_t batch, const T* x, T* y, int threads,
                      InPlaceRowsFn<T> kernel) {
    const ConvGeometry& g = plan.geom;
    const int64_t planes = batch * g.G;
    int64_t run = split_size(g.Kg, (8 * threads + planes - 1) / planes, 1);
    if (run < g.Kg) run = (run + kGroupedRowsChannels - 1) / kGroupedRowsChannels * kGroupedRowsChannels;
    const int64_t runs = (g.Kg + run - 1) / run;
    const T* w = plan.weight.as<T>();
    const T* bias = static_cast<const T*>(plan.bias_or_null());
    parallel_for(planes * runs, threads, [&](int64_t item, int) {
        const int64_t n = item / runs / g.G, group = item / runs % g.G;
        const int64_t k0 = group * g.Kg + item % runs * run;
        const int64_t k1 = k0 + run < (group + 1) * g.Kg ? k0 + run : (group + 1) * g.Kg;
        kernel(g, x + n * g.in_image(), w, bias, y + n * g.out_image(), k0, k1, 0);
    });
}

gconv_status prepare(gconv_plan& plan, const void* weight) {
    return with_element_type(plan.geom.dtype, [&](auto zero) {
        using T = decltype(zero);
        switch (in_place_route<T>(plan)) {
            case InPlace::kRowsNchw:
            case InPlace::kRowsS2Nchw: return prepare_grouped_rows<T>(plan, weight);
            case InPlace::kWideRowsNchw: return prepare_plane_weights(plan, weight);
            case InPlace::kPairsNhwc:
                return store_weights(plan, weight, [&](const auto* src, auto* dst) {
                    pack_pairs_weights(plan.geom, src, dst);
                });
            case InPlace::kRunsNhwc:
                return store_weights(plan, weight, [&](const auto* src, auto* dst) {
                    pack_group_runs_weights(plan.geom, src, dst);
                });
            case InPlace::kNone: break;
        }
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
        const KernelFamily<T>& f = family<T>(*plan.kernels);
        const T* in = static_cast<const T*>(x);
        T* out = static_cast<T*>(y);
        switch (in_place_route<T>(plan)) {
            case InPlace::kRowsNchw:
                run_grouped_rows(plan, batch, in, out, threads, f.grouped_rows_nchw);
                break;
            case InPlace::kRowsS2Nchw:
                run_grouped_rows(plan, batch, in, out, threads, f.grouped_rows_s2_nchw);
                break;
            case InPlace::kWideRowsNchw:
                run_in_place_planes(plan, batch, in, out, threads, f.grouped_wide_rows_nchw);
                break;
            case InPlace::kPairsNhwc:
                run_pixels(plan, batch, in, out, threads, f.grouped_pairs_nhwc);
                break;
            case InPlace::kRunsNhwc:
                run_pixels(plan, batch, in, out, threads, f.grouped_runs_nhwc);
                break;
            case InPlace::kNone: {
                const LaneKernel<T> lanes = channel_lanes_kernel<T>(plan);
                run_planes(plan, batch, in, out, threads, static_cast<T*>(scratch),
                           lanes.fn != nullptr ? lanes.fn : f.grouped_direct);
            }
        }
        return GCONV_SUCCESS;
    });
}

bool accepts_any(const ConvGeometry&) { return true; }

}  // namespace

const Algorithm kGroupedDirect = {GCONV_ALGO_GROUPED_DIRECT, "grouped_direct", accepts_any,
                                  accepts_any, prepare, execute};

}  // namespace gconv
