// Work decomposition shared by the direct algorithms (ISA-neutral).
#pragma once

#include <cinttypes>
#include <cstdint>
#include <cstring>

#include "core/error.hpp"
#include "core/plan.hpp"
#include "core/descriptor.hpp"
#include "core/threads.hpp"
#include "cpu/common/padded_rows.hpp"
#include "cpu/common/prefetch.hpp"

namespace gconv {

// Items are (image, block of groups, block of output rows): one group per
// item in NCHW, as many as the scratch holds in NHWC (so the copy reads
// whole runs of each pixel's channels). The kernel copies the input rows into
// padded scratch once and computes every output channel of its groups.
template <typename T>
void run_planes(const gconv_plan& plan, int64_t batch, const T* x, T* y, int threads,
                T* scratch, PlaneKernelFn<T> kernel) {
    const ConvGeometry& g = plan.geom;
    const bool nhwc = g.layout == GCONV_LAYOUT_NHWC;
    const int64_t group_size = plan.tile_groups;
    const int64_t group_blocks = (g.G + group_size - 1) / group_size;
    const int64_t planes = batch * group_blocks;
    // Enough row blocks for 4 items per thread, within the scratch the plan sized.
    int64_t rows = split_size(g.OH, (4 * threads + planes - 1) / planes, 4);
    if (rows > plan.tile_rows) rows = plan.tile_rows;
    const int64_t row_blocks = (g.OH + rows - 1) / rows;
    const T* w = plan.weight.as<T>();
    const T* bias = static_cast<const T*>(plan.bias_or_null());
    const bool fetch = fetches_ahead<T>(g, batch, kL3KeptBytes);
    parallel_for(planes * row_blocks, threads, [&](int64_t item, int tid) {
        const int64_t row_block = item % row_blocks, plane = item / row_blocks;
        const int64_t group = plane % group_blocks * group_size, n = plane / group_blocks;
        const int64_t groups = g.G - group < group_size ? g.G - group : group_size;
        const int64_t k = group * g.Kg;
        const int64_t oh0 = row_block * rows, oh1 = oh0 + rows < g.OH ? oh0 + rows : g.OH;
        const int64_t x_channel = group * g.Cg * (nhwc ? 1 : g.H * g.W);
        const int64_t y_channel = k * (nhwc ? 1 : g.out_pixels());
        kernel(g, x + n * g.in_image() + x_channel, w + k * g.Cg * g.R * g.S,
               bias ? bias + k : nullptr, y + n * g.out_image() + y_channel, oh0, oh1, groups,
               scratch + tid * plan.scratch_bytes / static_cast<int64_t>(sizeof(T)), fetch);
    });
}

// Items are (image, run of output channels), enough for eight per thread.
template <typename T>
void run_in_place_planes(const gconv_plan& plan, int64_t batch, const T* x, T* y, int threads,
                         InPlaceRowsFn<T> kernel) {
    const ConvGeometry& g = plan.geom;
    const int64_t run = split_size(g.K, (8 * threads + batch - 1) / batch, 1);
    const int64_t runs = (g.K + run - 1) / run;
    const T* w = plan.weight.as<T>();
    const T* bias = static_cast<const T*>(plan.bias_or_null());
    const unsigned flags = (streams_nchw_planes<T>(g, batch, y) ? kRowsStream : 0u) |
                           (fetches_ahead<T>(g, batch) ? kRowsFetch : 0u);
    parallel_for(batch * runs, threads, [&](int64_t item, int) {
        const int64_t n = item / runs, c0 = item % runs * run;
        const int64_t c1 = c0 + run < g.K ? c0 + run : g.K;
        kernel(g, x + n * g.in_image(), w, bias, y + n * g.out_image(), c0, c1, flags);
    });
}

// NHWC: items are (image, output row, block of output columns); the kernel
// computes every channel of those pixels. Its requests for the next row
// only pay once the batch outgrows what the L3 keeps: below that (AVX2, 2
// threads) they cost 96 channels at 112x112 stride 2, N=1 (6 MB), a
// quarter of its time and 960 at 7x7, N=16 (6 MB), a sixth, while 384 at
// 14x14, N=16 (10 MB), ran 1.05-1.2x slower without them. (The NCHW
// kernels still need them past 4 MB: 14x14 and 7x7 at N=16 ran 1.1-1.25x
// slower without.)
template <typename T>
void run_pixels(const gconv_plan& plan, int64_t batch, const T* x, T* y, int threads,
                PixelKernelFn<T> kernel) {
    const ConvGeometry& g = plan.geom;
    FetchAhead fetch;
    fetch.on = fetches_ahead<T>(g, batch, kL3KeptBytes);
    fetch.into_l2 = fetches_ahead<T>(g, batch, kL3Bytes);
    const bool stream = fetch.on && streams_output<T>(g, batch, y);
    const int64_t rows = batch * g.OH;
    const int64_t cols = split_size(g.OW, (4 * threads + rows - 1) / rows, 4);
    const int64_t blocks = (g.OW + cols - 1) / cols;
    const T* w = plan.weight.as<T>();
    const T* bias = static_cast<const T*>(plan.bias_or_null());
    parallel_for(rows * blocks, threads, [&](int64_t item, int) {
        const int64_t block = item % blocks, oh = item / blocks % g.OH, n = item / blocks / g.OH;
        const int64_t ow0 = block * cols, ow1 = ow0 + cols < g.OW ? ow0 + cols : g.OW;
        kernel(g, x + n * g.in_image(), w, bias, y + n * g.out_image(), oh, ow0, ow1, fetch,
               stream);
    });
}

// Sizes the direct kernels' per-thread scratch: as many groups (NHWC) and
// output rows per item as keep the padded input rows within about half an
// L2 cache, preferring at least four rows (a block of rows re-reads R - 1
// input rows at each edge) over more groups. `phase_width` is the widest
// phase row the kernel reads.
inline gconv_status size_direct_nchw_scratch(gconv_plan& plan, int64_t element_size,
                                             int64_t phase_width) {
    const ConvGeometry& g = plan.geom;
    constexpr int64_t kBudgetBytes = 256 * 1024;
    constexpr int64_t kPreferredRows = 4;
    // Bytes of one channel's kept input rows for `out_rows` output rows (the
    // kernel may round a block up by kDirectExtraRows rows).
    const int64_t row_bytes = phase_rows(g) * phase_width * element_size;
    const auto channel_bytes = [&](int64_t out_rows) {
        return padded_rows(g, out_rows + kDirectExtraRows) * row_bytes;
    };
    int64_t check;
    if (!checked_mul(padded_rows(g, 1 + kDirectExtraRows), row_bytes, check) ||
        !checked_mul(check, direct_scratch_channels(g), check))
        return fail(GCONV_OUT_OF_MEMORY, "the padded input rows of one output row overflow int64");
    const int64_t preferred_rows = kPreferredRows < g.OH ? kPreferredRows : g.OH;
    int64_t groups = 1;
    if (g.layout == GCONV_LAYOUT_NHWC) {
        groups = kBudgetBytes / (g.Cg * channel_bytes(preferred_rows));
        groups = groups < 1 ? 1 : (groups > g.G ? g.G : groups);
        // Blocks of equal size: items run in contiguous static chunks, so
        // 27 + 5 of ResNeXt's 32 groups left one thread 5x the other's work.
        const int64_t blocks = (g.G + groups - 1) / groups;
        groups = (g.G + blocks - 1) / blocks;
    }
    const int64_t channels = groups * g.Cg;
    int64_t rows = 1;
    while (rows < g.OH && channels * channel_bytes(rows + 1) <= kBudgetBytes) ++rows;
    plan.tile_groups = groups;
    plan.tile_rows = rows;
    plan.scratch_bytes = (channels * channel_bytes(rows) + 63) / 64 * 64;  // own cache lines
    return GCONV_SUCCESS;
}

// Output channels per block of the weight transposes below: a block's
// source rows stay in L1 while its destination runs are written a cache
// line at a time (output channel by output channel, every write went to a
// new line: packing MobileFaceNet's 512 x 7 x 7 GDC weights took as long as
// the convolution, and gconv.conv2d packs on every call).
constexpr int64_t kPackBlock = 16;

// Copies PyTorch's (K, Cg, R, S) weights into [R][S][Cg][K] for the NHWC
// kernels, so each (tap, channel) reads a contiguous row of K weights.
template <typename T>
void pack_weights_tap_major(const ConvGeometry& g, const T* weight, T* packed) {
    const int64_t taps = g.R * g.S;
    for (int64_t k0 = 0; k0 < g.K; k0 += kPackBlock) {
        const int64_t k1 = k0 + kPackBlock < g.K ? k0 + kPackBlock : g.K;
        for (int64_t t = 0; t < taps; ++t)
            for (int64_t c = 0; c < g.Cg; ++c)
                for (int64_t k = k0; k < k1; ++k)
                    packed[(t * g.Cg + c) * g.K + k] = weight[(k * g.Cg + c) * taps + t];
    }
}

inline int64_t element_size(const ConvGeometry& g) { return g.dtype == GCONV_FLOAT64 ? 8 : 4; }

// Copies PyTorch's (K, Cg, R, S) weights into [G][R][S][Cg][Kg] for the
// grouped NHWC kernel: each (tap, channel) reads a contiguous run of its
// group's Kg weights, and a group's weights are contiguous (taps Cg * K
// apart would alias to the same L1 sets).
// In blocks of a group's output channels, as pack_weights_tap_major.
template <typename T>
void pack_weights_group_tap_major(const ConvGeometry& g, const T* weight, T* packed) {
    const int64_t taps = g.R * g.S;
    for (int64_t group = 0; group < g.G; ++group)
        for (int64_t k0 = 0; k0 < g.Kg; k0 += kPackBlock) {
            const int64_t k1 = k0 + kPackBlock < g.Kg ? k0 + kPackBlock : g.Kg;
            for (int64_t t = 0; t < taps; ++t)
                for (int64_t c = 0; c < g.Cg; ++c)
                    for (int64_t kk = k0; kk < k1; ++kk)
                        packed[((group * taps + t) * g.Cg + c) * g.Kg + kk] =
                            weight[((group * g.Kg + kk) * g.Cg + c) * taps + t];
        }
}

// Calls fn(T()) with T the element type of `dtype`.
template <typename Fn>
gconv_status with_element_type(gconv_dtype dtype, const Fn& fn) {
    return dtype == GCONV_FLOAT64 ? fn(double()) : fn(float());
}

// Allocates the plan's copy of the K x Cg x R x S weights and fills it with
// pack(source, destination), called with the plan's element type.
template <typename Pack>
gconv_status store_weights(gconv_plan& plan, const void* weight, const Pack& pack) {
    const ConvGeometry& g = plan.geom;
    return with_element_type(g.dtype, [&](auto zero) {
        using T = decltype(zero);
        const int64_t count = g.K * g.Cg * g.R * g.S;
        if (!plan.weight.allocate(static_cast<size_t>(count) * sizeof(T)))
            return fail(GCONV_OUT_OF_MEMORY, "cannot allocate %" PRId64 " weights", count);
        if (count > 0) pack(static_cast<const T*>(weight), plan.weight.as<T>());
        return GCONV_SUCCESS;
    });
}

// A copy of the weights in PyTorch's layout (K, Cg, R, S).
// The geometries of the NCHW kernels that read x in place: undilated,
// square 3x3, 5x5 or 7x7, stride 1 or 2 both ways.
inline bool in_place_shape(const ConvGeometry& g) {
    return g.layout == GCONV_LAYOUT_NCHW && g.sh == g.sw && g.sh <= 2 && g.dh == 1 &&
           g.dw == 1 && g.R == g.S && (g.R == 3 || g.R == 5 || g.R == 7);
}

// What the wide-rows kernels take (dwconv2d_wide_rows.inl), for vectors of
// `lanes` values. At stride 2, 3x3 only (5x5 measured 0.97-1.17x, 7x7
// 0.57x of the plane kernel, once summed in its order), and output rows
// wider than half a vector: narrower ones leave most lanes idle, where the
// depthwise small-plane kernel fills them with channels (14x14 to 7x7:
// 1.1-1.2x faster).
inline bool wide_rows_fit(const ConvGeometry& g, int64_t lanes) {
    if (!in_place_shape(g) || (g.sh == 2 && (g.R != 3 || 2 * g.OW <= lanes))) return false;
    return g.W <= kWideRowsMostColumns && g.OW <= kWideRowsMostVectors * lanes;
}

inline gconv_status prepare_plane_weights(gconv_plan& plan, const void* weight) {
    const int64_t count = plan.geom.K * plan.geom.Cg * plan.geom.R * plan.geom.S;
    return store_weights(plan, weight, [&](const auto* src, auto* dst) {
        std::memcpy(dst, src, static_cast<size_t>(count) * sizeof(*src));
    });
}

// PyTorch's layout for NCHW, tap-major [R][S][Cg][K] for NHWC.
inline gconv_status prepare_direct_weights(gconv_plan& plan, const void* weight) {
    if (plan.geom.layout != GCONV_LAYOUT_NHWC) return prepare_plane_weights(plan, weight);
    return store_weights(plan, weight, [&](const auto* src, auto* dst) {
        pack_weights_tap_major(plan.geom, src, dst);
    });
}

// Plane kernels keep PyTorch's weight layout in either data layout, and need
// their padded-rows scratch.
inline gconv_status prepare_plane_kernel(gconv_plan& plan, const void* weight) {
    if (gconv_status s = size_direct_nchw_scratch(plan, element_size(plan.geom),
                                                  padded_phase_width(plan.geom)))
        return s;
    return prepare_plane_weights(plan, weight);
}

}  // namespace gconv
