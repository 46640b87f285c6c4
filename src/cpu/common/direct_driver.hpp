// Work decomposition shared by the direct algorithms (ISA-neutral).
#pragma once

#include <cinttypes>
#include <cstdint>
#include <cstring>

#include "core/error.hpp"
#include "core/plan.hpp"
#include "core/threads.hpp"

namespace gconv {

// NCHW: items are (image, output channel, block of output rows); the kernel
// computes one block of one output plane.
template <typename T>
void run_planes(const gconv_plan& plan, int64_t batch, const T* x, T* y, int threads,
                PlaneKernelFn<T> kernel, int64_t weights_per_channel) {
    const ConvGeometry& g = plan.geom;
    const int64_t planes = batch * g.K;
    // Enough row blocks for 4 items per thread, but never under 4 rows each.
    const int64_t rows = split_size(g.OH, (4 * threads + planes - 1) / planes, 4);
    const int64_t blocks = (g.OH + rows - 1) / rows;
    const T* w = plan.weight.as<T>();
    const T* bias = static_cast<const T*>(plan.bias_or_null());
    parallel_for(planes * blocks, threads, [&](int64_t item, int) {
        const int64_t block = item % blocks, k = item / blocks % g.K, n = item / blocks / g.K;
        const int64_t oh0 = block * rows, oh1 = oh0 + rows < g.OH ? oh0 + rows : g.OH;
        const T* group_input = x + n * g.in_image() + (k / g.Kg) * g.Cg * g.H * g.W;
        kernel(g, group_input, w + k * weights_per_channel, bias ? bias + k : nullptr,
               y + (n * g.K + k) * g.out_pixels(), oh0, oh1);
    });
}

// NHWC: items are (image, output row, block of output columns); the kernel
// computes every channel of those pixels.
template <typename T>
void run_pixels(const gconv_plan& plan, int64_t batch, const T* x, T* y, int threads,
                PixelKernelFn<T> kernel) {
    const ConvGeometry& g = plan.geom;
    const int64_t rows = batch * g.OH;
    const int64_t cols = split_size(g.OW, (4 * threads + rows - 1) / rows, 4);
    const int64_t blocks = (g.OW + cols - 1) / cols;
    const T* w = plan.weight.as<T>();
    const T* bias = static_cast<const T*>(plan.bias_or_null());
    parallel_for(rows * blocks, threads, [&](int64_t item, int) {
        const int64_t block = item % blocks, oh = item / blocks % g.OH, n = item / blocks / g.OH;
        const int64_t ow0 = block * cols, ow1 = ow0 + cols < g.OW ? ow0 + cols : g.OW;
        kernel(g, x + n * g.in_image(), w, bias, y + n * g.out_image(), oh, ow0, ow1);
    });
}

// Copies PyTorch's (K, Cg, R, S) weights into [R][S][Cg][K] for the NHWC
// kernels, so each (tap, channel) reads a contiguous row of K weights.
template <typename T>
void pack_weights_tap_major(const ConvGeometry& g, const T* weight, T* packed) {
    for (int64_t k = 0; k < g.K; ++k)
        for (int64_t c = 0; c < g.Cg; ++c)
            for (int64_t t = 0; t < g.R * g.S; ++t)
                packed[(t * g.Cg + c) * g.K + k] = weight[(k * g.Cg + c) * g.R * g.S + t];
}

// Calls fn(T()) with T the element type of `dtype`.
template <typename Fn>
gconv_status with_element_type(gconv_dtype dtype, const Fn& fn) {
    return dtype == GCONV_FLOAT64 ? fn(double()) : fn(float());
}

// The direct algorithms keep PyTorch's weight layout for NCHW and the
// tap-major one for NHWC.
inline gconv_status prepare_direct_weights(gconv_plan& plan, const void* weight) {
    const ConvGeometry& g = plan.geom;
    return with_element_type(g.dtype, [&](auto zero) {
        using T = decltype(zero);
        const int64_t count = g.K * g.Cg * g.R * g.S;
        if (!plan.weight.allocate(static_cast<size_t>(count) * sizeof(T)))
            return fail(GCONV_OUT_OF_MEMORY, "cannot allocate %" PRId64 " weights", count);
        if (count == 0) return GCONV_SUCCESS;
        if (g.layout == GCONV_LAYOUT_NHWC)
            pack_weights_tap_major(g, static_cast<const T*>(weight), plan.weight.as<T>());
        else
            std::memcpy(plan.weight.data(), weight, static_cast<size_t>(count) * sizeof(T));
        return GCONV_SUCCESS;
    });
}

}  // namespace gconv
