// Work decomposition of the in-place strided transposed grouped
// convolution: the kernels (transposed_grouped.inl) compute rows; this
// decides whether they are the better route, packs the weights tap-major,
// splits the batch into items and holds each thread's phase rows.
#include "cpu/transposed/transposed_grouped.h"

#include <cinttypes>
#include <new>
#include <vector>

#include "core/error.hpp"
#include "core/plan.hpp"
#include "core/threads.hpp"
#include "cpu/common/prefetch.hpp"
#include "cpu/kernel_table.hpp"
#include "cpu/transposed/transposed_common.hpp"

namespace gconv {
namespace {

// Groups up to this many weights per tap (out_per_group x dy_per_group)
// take the in-place kernels. Wider groups' phase convolutions are GEMMs
// near the machine's peak, which the broadcast-bound kernels do not reach:
// at 64 x 64 the phases were 10-25% faster, at 32 x 32 3-12% slower (3x3,
// stride 2, 14x14 to 56x56 outputs, AVX2, 2 threads).
constexpr int64_t kMostTapWeights = 1024;

// Whether family f's run kernel (transposed_grouped_runs.inl) takes an
// NHWC layer: whole groups of 4 (or 8 floats) in its lanes, 3x3 stride 2.
template <typename T>
bool runs_fit(const KernelFamily<T>& f, const TransposedGeometry& g) {
    return f.transposed_grouped_runs_nhwc != nullptr && g.Cg == g.Kg &&
           (g.Cg == 4 || (sizeof(T) == 4 && g.Cg == 8)) && f.vector_lanes % g.Cg == 0 &&
           g.C % f.vector_lanes == 0 && transposed_3x3s2_fits(g);
}

// The run kernel over every output row of the batch: weights packed
// [R * S][Kg][C] from the convolution's [G * Kg][Cg][R][S].
template <typename T>
gconv_status run_group_runs(const KernelFamily<T>& f, int64_t N, const TransposedGeometry& g,
                            const T* dy, const T* w, const T* bias, T* y, int threads) {
    const int64_t taps = g.R * g.S;
    const int64_t in_image = g.G * g.Kg * g.H * g.W, out_image = g.C * g.OH * g.OW;
    try {
        std::vector<T> packed(static_cast<size_t>(taps * g.Kg * g.C));
        for (int64_t grp = 0; grp < g.G; ++grp)
            for (int64_t kk = 0; kk < g.Kg; ++kk)
                for (int64_t c = 0; c < g.Cg; ++c)
                    for (int64_t t = 0; t < taps; ++t)
                        packed[(t * g.Kg + kk) * g.C + grp * g.Cg + c] =
                            w[((grp * g.Kg + kk) * g.Cg + c) * taps + t];
        // As the forward runs: pixel by pixel.
        const int64_t size = static_cast<int64_t>(sizeof(T));
        const bool stream = streams_whole_lines(N * out_image * size, y, g.C * size);
        parallel_for(N * g.OH, threads, [&](int64_t item, int) {
            const int64_t n = item / g.OH, i = item % g.OH;
            f.transposed_grouped_runs_nhwc(g, dy + n * in_image, packed.data(), bias,
                                           y + n * out_image, i, stream);
        });
        return GCONV_SUCCESS;
    } catch (const std::bad_alloc&) {
        return fail(GCONV_OUT_OF_MEMORY, "transposed_grouped: cannot allocate packed weights");
    }
}

template <typename T>
gconv_status run(const KernelFamily<T>& f, bool nhwc, int64_t N, const TransposedGeometry& g,
                 const T* dy, const T* w, const T* bias, T* y, int threads) {
    if (nhwc && runs_fit(f, g)) return run_group_runs(f, N, g, dy, w, bias, y, threads);
    const int64_t taps = g.R * g.S, K = g.G * g.Kg;
    const int64_t in_image = K * g.H * g.W, out_image = g.C * g.OH * g.OW;
    try {
        const TapLists lists(g);
        const TransposedTaps k = lists.view();
        // [G][R * S][Kg][Cg] from the convolution's [G * Kg][Cg][R][S].
        std::vector<T> packed(static_cast<size_t>(g.G * taps * g.Kg * g.Cg));
        for (int64_t grp = 0; grp < g.G; ++grp)
            for (int64_t kk = 0; kk < g.Kg; ++kk)
                for (int64_t c = 0; c < g.Cg; ++c)
                    for (int64_t t = 0; t < taps; ++t)
                        packed[((grp * taps + t) * g.Kg + kk) * g.Cg + c] =
                            w[((grp * g.Kg + kk) * g.Cg + c) * taps + t];
        if (nhwc) {
            parallel_for(N * g.OH, threads, [&](int64_t item, int) {
                const int64_t n = item / g.OH, i = item % g.OH;
                f.transposed_grouped_nhwc(g, k, dy + n * in_image, packed.data(), bias,
                                          y + n * out_image, i);
            });
            return GCONV_SUCCESS;
        }
        const bool stream = N * out_image * static_cast<int64_t>(sizeof(T)) > kStreamBytes;
        const int64_t planes = N * g.G;  // one group of one image
        const int64_t rows = split_size(g.OH, (4 * threads + planes - 1) / planes, 4);
        const int64_t blocks = (g.OH + rows - 1) / rows;
        const TransposedPadding pad = transposed_grouped_padding(g, k, f.vector_lanes);
        const int64_t row_values = g.Kg * pad.dy_rows(g, rows) * pad.width;
        const int64_t phase_values = g.Cg * g.sw * pad.phase;
        std::vector<T> scratch(static_cast<size_t>(threads * (row_values + phase_values)));
        parallel_for(planes * blocks, threads, [&](int64_t item, int tid) {
            const int64_t plane = item / blocks, grp = plane % g.G, n = plane / g.G;
            const int64_t i0 = item % blocks * rows, i1 = i0 + rows < g.OH ? i0 + rows : g.OH;
            f.transposed_grouped_nchw(
                g, k, pad, dy + n * in_image + grp * g.Kg * g.H * g.W,
                packed.data() + grp * taps * g.Kg * g.Cg, bias ? bias + grp * g.Cg : nullptr,
                y + n * out_image + grp * g.Cg * g.OH * g.OW, i0, i1,
                scratch.data() + tid * (row_values + phase_values),
                scratch.data() + tid * (row_values + phase_values) + row_values, stream);
        });
        return GCONV_SUCCESS;
    } catch (const std::bad_alloc&) {
        return fail(GCONV_OUT_OF_MEMORY, "transposed_grouped: cannot allocate scratch");
    }
}

}  // namespace
}  // namespace gconv

extern "C" gconv_status gconv_transposed_grouped(
    int32_t dtype, int32_t layout, int64_t batch, int64_t groups, int64_t dy_per_group,
    int64_t out_per_group, int64_t in_h, int64_t in_w, int64_t out_h, int64_t out_w,
    int64_t kernel_h, int64_t kernel_w, int64_t stride_h, int64_t stride_w, int64_t pad_top,
    int64_t pad_left, int64_t dilation_h, int64_t dilation_w, const void* dy, const void* weight,
    const void* bias, void* y, int num_threads) {
    using namespace gconv;
    if (batch < 0 || groups < 1 || dy_per_group < 1 || out_per_group < 1 || in_h < 1 ||
        in_w < 1 || out_h < 1 || out_w < 1 || kernel_h < 1 || kernel_w < 1 || stride_h < 1 ||
        stride_w < 1 || dilation_h < 1 || dilation_w < 1 || pad_top < 0 || pad_left < 0)
        return fail(GCONV_INVALID_PARAMETER,
                    "transposed_grouped: inconsistent sizes (batch %" PRId64 ", groups %" PRId64
                    ", channels per group %" PRId64 " -> %" PRId64 ", in %" PRId64 "x%" PRId64
                    ", out %" PRId64 "x%" PRId64 ")",
                    batch, groups, dy_per_group, out_per_group, in_h, in_w, out_h, out_w);
    const KernelTable& table = active_kernel_table();
    const bool nhwc = layout == GCONV_LAYOUT_NHWC;
    const TransposedGeometry g{groups * out_per_group, in_h, in_w, out_h, out_w, kernel_h,
                               kernel_w, stride_h, stride_w, pad_top, pad_left, dilation_h,
                               dilation_w, groups, out_per_group, dy_per_group};
    // NHWC lanes run over whole groups (the run kernel, this family's or
    // else the narrower one's) or over a group's outputs: the family whose
    // vectors they fill, AVX2's with AVX-512 for 8 channels per group
    // (ResNeXt s3_down's input gradient, which the phase-split route ran at
    // half the speed).
    const auto family_for = [&](const auto& f) -> decltype(&f) {
        if (!nhwc) return &f;
        if (runs_fit(f, g)) return &f;
        if (f.narrow != nullptr && runs_fit(*f.narrow, g)) return f.narrow;
        return out_per_group % f.vector_lanes == 0 ? &f : narrow_family_for(f, out_per_group);
    };
    const KernelFamily<float>* f32 = family_for(table.f32);
    const KernelFamily<double>* f64 = family_for(table.f64);
    if (out_per_group * dy_per_group > kMostTapWeights ||
        (dtype == GCONV_FLOAT64 ? f64 == nullptr : f32 == nullptr))
        return GCONV_UNSUPPORTED;
    if (batch == 0) return GCONV_SUCCESS;
    const int64_t elements = batch * g.C * out_h * out_w;
    const int threads = threads_for_work(num_threads, elements);
    if (dtype == GCONV_FLOAT64)
        return run(*f64, nhwc, batch, g, static_cast<const double*>(dy),
                   static_cast<const double*>(weight), static_cast<const double*>(bias),
                   static_cast<double*>(y), threads);
    return run(*f32, nhwc, batch, g, static_cast<const float*>(dy),
               static_cast<const float*>(weight), static_cast<const float*>(bias),
               static_cast<float*>(y), threads);
}
