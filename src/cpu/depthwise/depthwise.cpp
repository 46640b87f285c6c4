// depthwise: groups == in_channels, any depth multiplier. NCHW runs, in
// order of preference, a kernel reading x in place (AVX-512, multiplier 1,
// stride 1), the small-plane kernel (channels in the lanes) or the direct
// plane kernel (its channel block covers the multiplier's outputs of one
// input plane); NHWC its own kernel with lanes over channels.
#include "cpu/common/direct_driver.hpp"

namespace gconv {
namespace {

// [R * S][m][C]: see dwconv2d.inl. In blocks of channels, as
// pack_weights_tap_major (direct_driver.hpp).
template <typename T>
void pack_nhwc_weights(const ConvGeometry& g, const T* weight, T* packed) {
    const int64_t m = g.Kg, taps = g.R * g.S;
    for (int64_t c0 = 0; c0 < g.C; c0 += kPackBlock) {
        const int64_t c1 = c0 + kPackBlock < g.C ? c0 + kPackBlock : g.C;
        for (int64_t t = 0; t < taps; ++t)
            for (int64_t j = 0; j < m; ++j)
                for (int64_t c = c0; c < c1; ++c)
                    packed[(t * m + j) * g.C + c] = weight[(c * m + j) * taps + t];
    }
}

// NCHW planes narrower than two vectors of floats leave most lanes of the
// row-vector kernel idle; the small-plane kernel puts channels in the lanes
// instead, when its tile fits in about half an L2 cache (kAlways). Wider
// planes take it too while its tile fits in L2 and the batch's data stay
// in the caches (kCached; the plan sizes the scratch for both kernels):
// on Zen 4 at N=1, 3x3 at 56x56 1.56x, 5x5 at 28x28 1.64x and 7x7 at 56x56
// 1.25x faster than the row-vector kernel; at N=16, streaming from memory,
// the same speed, and 0.75x at 112x112 (a 1.6 MB tile).
enum class SmallPlanes { kNever, kAlways, kCached };

SmallPlanes small_planes_use(const ConvGeometry& g) {
    constexpr int64_t kNarrowBudgetBytes = 256 * 1024, kCachedBudgetBytes = 512 * 1024;
    // The tile spans the padded region the outputs read: only dense small
    // planes qualify (a huge stride or padding would make it mostly unread).
    if (g.layout != GCONV_LAYOUT_NCHW || g.Kg != 1 || g.R * g.S > 64 ||
        small_plane_height(g) > 128 || small_plane_width(g) > 128)
        return SmallPlanes::kNever;
    const int64_t elements = small_plane_scratch(g);
    if (g.OW < 16 && elements * 8 <= kNarrowBudgetBytes) return SmallPlanes::kAlways;
    const int64_t element_bytes = g.dtype == GCONV_FLOAT64 ? 8 : 4;
    return elements * element_bytes <= kCachedBudgetBytes ? SmallPlanes::kCached
                                                          : SmallPlanes::kNever;
}

// The NCHW kernels that read x in place through masked loads (AVX-512, null
// elsewhere): undilated, square 3x3, 5x5 or 7x7, any depth multiplier (each
// output plane from its input plane; dw_mult2 at 56x56 ran 1.9x (N=1) and
// 2.1x (N=16) faster so than through the plane kernel). At stride 1,
// rows that fit one vector take the packed-rows kernel (at most
// kPackedRowsMostRows rows); output rows of up to kWideRowsMostVectors
// vectors the wide-rows kernel, at stride 1 or 2. Against the kernels that copy first, on Zen 4 (N=1,
// then N=16):
//  - packed rows vs the small-plane kernel (8 x 8 transposes into a tile):
//    3x3 at 14x14 1.5x, 2.1x; 5x5 at 14x14 1.3x, 2.0x; 3x3 at 7x7 (two rows
//    per vector) 1.14x, 1.4x;
//  - wide rows vs the plane kernel (padded row copies): 3x3 at 56x56 2.0x,
//    2.0x; 3x3 at 112x112 2.3x (N=1); 5x5 at 28x28 1.3x, 1.4x; 7x7 at 56x56
//    1.07x, 1.2x (their taps built by shuffles, to keep the plane kernel's
//    order of summation: in tap-column order, 1.3x faster again); stride 2,
//    3x3 from 112x112 1.7x, 2.25x, from 56x56 1.5x (N=1).
// Each sums in the order of the kernels it replaces (see the kernels), so
// the bits do not depend on which one a plane's size picks.
enum class InPlace { kNone, kPackedRows, kWideRows };

InPlace in_place_kernel(const gconv_plan& plan) {
    const ConvGeometry& g = plan.geom;
    const bool f64 = g.dtype == GCONV_FLOAT64;
    const int64_t lanes = f64 ? plan.kernels->f64.vector_lanes : plan.kernels->f32.vector_lanes;
    const bool packed = f64 ? plan.kernels->f64.dwconv_nchw_packed_rows != nullptr
                            : plan.kernels->f32.dwconv_nchw_packed_rows != nullptr;
    const bool wide = f64 ? plan.kernels->f64.dwconv_nchw_wide_rows != nullptr
                          : plan.kernels->f32.dwconv_nchw_wide_rows != nullptr;
    if (!in_place_shape(g)) return InPlace::kNone;
    if (packed && g.sh == 1 && g.W <= lanes && g.OW <= lanes && g.OH <= kPackedRowsMostRows)
        return InPlace::kPackedRows;
    return wide && wide_rows_fit(g, lanes) ? InPlace::kWideRows : InPlace::kNone;
}

gconv_status prepare(gconv_plan& plan, const void* weight) {
    const ConvGeometry& g = plan.geom;
    const InPlace in_place = in_place_kernel(plan);
    if (in_place != InPlace::kNone) {
        plan.packed_rows = in_place == InPlace::kPackedRows;
        plan.wide_rows = in_place == InPlace::kWideRows;
        return prepare_plane_weights(plan, weight);
    }
    const SmallPlanes small = small_planes_use(g);
    const int64_t small_bytes = small_plane_scratch(g) * (g.dtype == GCONV_FLOAT64 ? 8 : 4);
    if (small == SmallPlanes::kAlways) {
        plan.small_planes = true;
        plan.scratch_bytes = small_bytes;
        return prepare_plane_weights(plan, weight);
    }
    if (g.layout == GCONV_LAYOUT_NCHW) {
        if (gconv_status s = prepare_plane_kernel(plan, weight)) return s;
        if (small == SmallPlanes::kCached) {
            plan.small_planes = true;
            if (plan.scratch_bytes < small_bytes) plan.scratch_bytes = small_bytes;
        }
        return GCONV_SUCCESS;
    }
    return store_weights(plan, weight,
                         [&](const auto* src, auto* dst) { pack_nhwc_weights(g, src, dst); });
}

// Items are (image, run of blocks of kSmallPlaneChannels channels). The
// kernel zeroes its tile once per call, which costs where the tile has
// many pixels for its arithmetic (3x3 on 7x7, 960 channels at N=16: an
// eighth of the time in memset, block by block): there, runs of up to four
// blocks while every thread keeps eight items (Zen 4: 3x3 on 7x7 1.1x, on
// 14x14 1.04x; 5x5 on 14x14 measured 0.92x so, and keeps single blocks).
template <typename T>
void run_small_planes(const gconv_plan& plan, int64_t batch, const T* x, T* y, int threads,
                      T* scratch, SmallPlaneFn<T> kernel) {
    const ConvGeometry& g = plan.geom;
    const int64_t blocks = (g.C + kSmallPlaneChannels - 1) / kSmallPlaneChannels;
    const int64_t tile = small_plane_height(g) * small_plane_width(g);
    int64_t run = batch * blocks / (8 * static_cast<int64_t>(threads));
    run = g.R * g.S * g.OH * g.OW >= 8 * tile || run < 1 ? 1 : run > 4 ? 4 : run;
    const int64_t runs = (blocks + run - 1) / run, run_channels = run * kSmallPlaneChannels;
    const T* w = plan.weight.as<T>();
    const T* bias = static_cast<const T*>(plan.bias_or_null());
    const bool fetch = fetches_ahead<T>(g, batch);
    parallel_for(batch * runs, threads, [&](int64_t item, int tid) {
        const int64_t n = item / runs, c0 = item % runs * run_channels;
        const int64_t c1 = c0 + run_channels < g.C ? c0 + run_channels : g.C;
        kernel(g, x + n * g.in_image(), w, bias, y + n * g.out_image(), c0, c1,
               scratch + tid * plan.scratch_bytes / static_cast<int64_t>(sizeof(T)), fetch);
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
        else if (plan.packed_rows)
            run_in_place_planes(plan, batch, in, out, threads, f.dwconv_nchw_packed_rows);
        else if (plan.wide_rows)
            run_in_place_planes(plan, batch, in, out, threads, f.dwconv_nchw_wide_rows);
        else if (plan.small_planes && (small_planes_use(g) == SmallPlanes::kAlways ||
                                       !fetches_ahead<T>(g, batch)))
            run_small_planes(plan, batch, in, out, threads, static_cast<T*>(scratch),
                             f.dwconv_nchw_small);
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
