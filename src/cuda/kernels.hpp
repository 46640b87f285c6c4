// The CUDA algorithm families, one launcher each (src/cuda/<family>.cu).
// Launchers take a validated shape and only enqueue work on `stream`.
#pragma once

#include "cuda/common.cuh"

namespace gconv {
namespace cuda {

struct ConvLaunch {
    ConvShape s;
    int dtype;   // gconv_dtype
    int layout;  // gconv_layout
    const void* x;
    const void* w;
    const void* bias;  // nullptr without bias
    void* y;
    cudaStream_t stream;
};

gconv_status implicit_gemm(const ConvLaunch& launch);

// Whether a grouped_narrow block can hold one slot of its weights in shared memory.
bool grouped_narrow_fits(const ConvShape& s, int dtype);
gconv_status grouped_narrow(const ConvLaunch& launch);

gconv_status depthwise(const ConvLaunch& launch);
gconv_status global_depthwise(const ConvLaunch& launch);
gconv_status direct(const ConvLaunch& launch);

gconv_status global_avg_pool(int dtype, int layout, int64_t batch, int channels, int height,
                             int width, const void* x, void* y, cudaStream_t stream);

}  // namespace cuda
}  // namespace gconv
