// Shared pieces of the CUDA kernels: the shape they read, the fused
// epilogue, indexing per layout and launch-error reporting.
#pragma once

#include <cstdint>

#include <cuda_runtime.h>

#include "gconv/gconv.h"

namespace gconv {
namespace cuda {

constexpr int kLayoutNCHW = GCONV_LAYOUT_NCHW;
constexpr int kLayoutNHWC = GCONV_LAYOUT_NHWC;

// Grid limits of the y and z dimensions: launches over more groups,
// channels or images are split into chunks by the host code.
constexpr int64_t kMaxGridYZ = 65535;
constexpr int64_t kMaxGridX = 2147483647;

// The validated convolution as kernels see it. Every size fits in int32
// (checked by the dispatcher); products that index memory use int64.
struct ConvShape {
    int64_t N;
    int C, K, G, Cg, Kg;
    int H, W, R, S;
    int sh, sw, pt, pl, dh, dw;
    int OH, OW;
    int act;
};

template <typename T>
__device__ __forceinline__ T activate(T v, int act) {
    // Written so that NaN survives, as in the reference (np.maximum keeps NaN).
    if (act == GCONV_ACTIVATION_RELU) return v < T(0) ? T(0) : v;
    if (act == GCONV_ACTIVATION_RELU6) return v < T(0) ? T(0) : (v > T(6) ? T(6) : v);
    return v;
}

template <typename T>
__device__ __forceinline__ T epilogue(T acc, const T* __restrict__ bias, int k, int act) {
    if (bias != nullptr) acc += bias[k];
    return activate(acc, act);
}

// Element offsets of (n, c, h, w) in an image batch of `channels` x height x width.
template <int L>
__device__ __forceinline__ int64_t offset(int64_t n, int c, int h, int w, int channels,
                                          int height, int width) {
    if (L == kLayoutNCHW) return ((n * channels + c) * height + h) * static_cast<int64_t>(width) + w;
    return ((n * height + h) * static_cast<int64_t>(width) + w) * channels + c;
}

// The status of the launches just made on this thread (launch configuration
// errors, missing kernel image for the device, earlier sticky errors).
gconv_status launch_status(const char* kernel);
gconv_status cuda_failure(cudaError_t error, const char* what);

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace cuda
}  // namespace gconv
