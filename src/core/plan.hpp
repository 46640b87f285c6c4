// The plan: a validated descriptor, the chosen algorithm, its packed weights.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/geometry.hpp"
#include "cpu/kernel_table.hpp"

namespace gconv {

// 64-byte aligned storage, zero-initialised unless asked not to; empty until
// allocate() succeeds.
class AlignedBuffer {
public:
    AlignedBuffer() = default;
    AlignedBuffer(const AlignedBuffer&) = delete;
    AlignedBuffer& operator=(const AlignedBuffer&) = delete;
    ~AlignedBuffer();
    bool allocate(size_t bytes, bool zeroed = true);  // false when out of memory
    void* data() const { return data_; }
    template <typename T> T* as() const { return static_cast<T*>(data_); }

private:
    void* data_ = nullptr;
};

struct Algorithm;

}  // namespace gconv

struct gconv_plan {
    gconv_conv2d_desc desc;
    gconv::ConvGeometry geom;
    const gconv::Algorithm* algorithm;
    const gconv::KernelTable* kernels;
    gconv::AlignedBuffer weight;  // in the algorithm's packed format
    gconv::AlignedBuffer bias;    // K values, or empty
    int64_t scratch_bytes = 0;    // per thread, for execute()
    int64_t tile_depth = 0;       // GEMM: reduction block (KC)
    int64_t tile_pixels = 0;      // GEMM: largest pixel block (NC)
    int64_t tile_rows = 0;        // direct: most output rows per work item
    int64_t tile_groups = 1;      // direct: most groups per work item
    bool small_planes = false;    // depthwise NCHW: the small-plane kernel
    bool packed_rows = false;     // depthwise NCHW: the packed-rows kernel
    bool wide_rows = false;       // depthwise NCHW: the wide-rows kernel

    const void* bias_or_null() const { return geom.has_bias ? bias.data() : nullptr; }
};

namespace gconv {

// One entry of the planner's list. accepts(): can compute the descriptor;
// prefers(): the planner's automatic choice stops here.
struct Algorithm {
    gconv_algorithm id;
    const char* name;
    bool (*accepts)(const ConvGeometry& g);
    bool (*prefers)(const ConvGeometry& g);
    gconv_status (*prepare)(gconv_plan& plan, const void* weight);
    gconv_status (*execute)(const gconv_plan& plan, int64_t batch, const void* x, void* y,
                            int threads, void* scratch);
};

extern const Algorithm kGemm1x1;
extern const Algorithm kIm2colGemm;
extern const Algorithm kGroupedDirect;
extern const Algorithm kDepthwise;
extern const Algorithm kGlobalDepthwise;

// The planner's list, in order of preference.
const Algorithm* const* algorithm_list(int* count);
const Algorithm* find_algorithm(gconv_algorithm id);

// Elements per work item so that `total` splits into at least `min_items`
// items of at least `floor` elements (when there is that much work).
int64_t split_size(int64_t total, int64_t parts_wanted, int64_t floor);

}  // namespace gconv
