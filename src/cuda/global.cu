// Global depthwise convolution (GDC, MobileFaceNet) and global average
// pooling: one weighted sum over the whole image per output channel, a
// reduction bound by memory bandwidth.
// NCHW: each output is reduced by a warp (a whole block for large maps):
// consecutive lanes read consecutive pixels of the channel's plane.
// NHWC: 32 lanes run along channels (coalesced) and 8 slices of the block
// split the pixels; the slices are summed in shared memory.
// Without weights (average pooling) every pixel weighs 1 / (H * W).
#include "cuda/kernels.hpp"

namespace gconv {
namespace cuda {
namespace {

constexpr int kThreads = 256;

// The reduction's view of the problem. Padding never holds data, so only
// input pixels are visited; weight (kh, kw) of pixel (ih, iw) is
// (ih + pt, iw + pl) since the kernel spans the padded input.
struct GlobalShape {
    int64_t N;
    int C, K, m;  // m: depth multiplier (K = m * C)
    int H, W, R, S, pt, pl;
    int act;
    double scale;  // average pooling: 1 / (H * W)
};

template <typename T>
__device__ __forceinline__ T weight_at(const GlobalShape& s, const T* __restrict__ wk,
                                       int64_t pixel) {
    const int ih = static_cast<int>(pixel / s.W);
    const int iw = static_cast<int>(pixel - static_cast<int64_t>(ih) * s.W);
    return wk[(ih + s.pt) * s.S + iw + s.pl];
}

template <typename T, int kGroup>
__global__ void __launch_bounds__(kThreads)
    global_nchw_kernel(GlobalShape s, const T* __restrict__ x, const T* __restrict__ w,
                       const T* __restrict__ bias, T* __restrict__ y) {
    constexpr int kOutputs = kThreads / kGroup;
    __shared__ T partial[kThreads / 32];
    const int64_t o = static_cast<int64_t>(blockIdx.x) * kOutputs + threadIdx.x / kGroup;
    const int lane = threadIdx.x % kGroup;
    const int64_t hw = static_cast<int64_t>(s.H) * s.W;
    T acc = T(0);
    const bool live = o < s.N * s.K;
    if (live) {
        const int64_t n = o / s.K;
        const int k = static_cast<int>(o - n * s.K);
        const T* plane = x + (n * s.C + k / s.m) * hw;
        if (w == nullptr) {
            for (int64_t i = lane; i < hw; i += kGroup) acc += plane[i];
        } else {
            const T* wk = w + static_cast<int64_t>(k) * s.R * s.S;
            if (s.pt == 0 && s.pl == 0 && s.S == s.W) {
                for (int64_t i = lane; i < hw; i += kGroup) acc = fma(plane[i], wk[i], acc);
            } else {
                for (int64_t i = lane; i < hw; i += kGroup)
                    acc = fma(plane[i], weight_at(s, wk, i), acc);
            }
        }
    }
    for (int offset = 16; offset > 0; offset >>= 1) acc += __shfl_down_sync(0xffffffffu, acc, offset);
    if (kGroup > 32) {
        if (threadIdx.x % 32 == 0) partial[threadIdx.x / 32] = acc;
        __syncthreads();
        if (threadIdx.x == 0) {
            acc = T(0);
            for (int i = 0; i < kThreads / 32; ++i) acc += partial[i];
        }
    }
    if (live && lane == 0) {
        const int k = static_cast<int>(o % s.K);
        if (w == nullptr) acc = static_cast<T>(acc * static_cast<T>(s.scale));
        y[o] = epilogue(acc, bias, k, s.act);
    }
}

constexpr int kLanes = 32;
constexpr int kSlices = kThreads / kLanes;

template <typename T>
__global__ void __launch_bounds__(kThreads)
    global_nhwc_kernel(GlobalShape s, const T* __restrict__ x, const T* __restrict__ w,
                       const T* __restrict__ bias, T* __restrict__ y, int64_t n_base) {
    __shared__ T partial[kSlices][kLanes];
    const int lane = threadIdx.x % kLanes, slice = threadIdx.x / kLanes;
    const int k = blockIdx.x * kLanes + lane;
    const int64_t n = n_base + blockIdx.y;
    const int64_t hw = static_cast<int64_t>(s.H) * s.W;
    T acc = T(0);
    if (k < s.K) {
        const T* image = x + n * hw * s.C + k / s.m;
        if (w == nullptr) {
            for (int64_t i = slice; i < hw; i += kSlices) acc += image[i * s.C];
        } else {
            const T* wk = w + static_cast<int64_t>(k) * s.R * s.S;
            for (int64_t i = slice; i < hw; i += kSlices)
                acc = fma(image[i * s.C], weight_at(s, wk, i), acc);
        }
    }
    partial[slice][lane] = acc;
    __syncthreads();
    if (slice == 0 && k < s.K) {
        acc = T(0);
        for (int i = 0; i < kSlices; ++i) acc += partial[i][lane];
        if (w == nullptr) acc = static_cast<T>(acc * static_cast<T>(s.scale));
        y[n * s.K + k] = epilogue(acc, bias, k, s.act);
    }
}

template <typename T>
gconv_status launch(const GlobalShape& s, int layout, const void* x, const void* w,
                    const void* bias, void* y, cudaStream_t stream) {
    const T* xt = static_cast<const T*>(x);
    const T* wt = static_cast<const T*>(w);
    const T* bt = static_cast<const T*>(bias);
    T* yt = static_cast<T*>(y);
    if (layout == kLayoutNCHW) {
        const int64_t outputs = s.N * s.K;
        const bool block_per_output = static_cast<int64_t>(s.H) * s.W >= 2048;
        const int per_block = block_per_output ? 1 : kThreads / 32;
        const int64_t blocks = ceil_div(outputs, per_block);
        if (blocks > kMaxGridX) return cuda_failure(cudaErrorInvalidConfiguration, "global: grid too large");
        if (block_per_output)
            global_nchw_kernel<T, kThreads><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(s, xt, wt, bt, yt);
        else
            global_nchw_kernel<T, 32><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(s, xt, wt, bt, yt);
        return launch_status("global_nchw");
    }
    const int64_t channel_blocks = ceil_div(s.K, kLanes);
    for (int64_t n0 = 0; n0 < s.N; n0 += kMaxGridYZ) {
        const int64_t nn = s.N - n0 < kMaxGridYZ ? s.N - n0 : kMaxGridYZ;
        dim3 grid(static_cast<unsigned>(channel_blocks), static_cast<unsigned>(nn));
        global_nhwc_kernel<T><<<grid, kThreads, 0, stream>>>(s, xt, wt, bt, yt, n0);
    }
    return launch_status("global_nhwc");
}

gconv_status launch_dtype(int dtype, const GlobalShape& s, int layout, const void* x,
                          const void* w, const void* bias, void* y, cudaStream_t stream) {
    if (dtype == GCONV_FLOAT32) return launch<float>(s, layout, x, w, bias, y, stream);
    return launch<double>(s, layout, x, w, bias, y, stream);
}

}  // namespace

gconv_status global_depthwise(const ConvLaunch& a) {
    const ConvShape& c = a.s;
    GlobalShape s{c.N, c.C, c.K, c.Kg, c.H, c.W, c.R, c.S, c.pt, c.pl, c.act, 1.0};
    return launch_dtype(a.dtype, s, a.layout, a.x, a.w, a.bias, a.y, a.stream);
}

gconv_status global_avg_pool(int dtype, int layout, int64_t batch, int channels, int height,
                             int width, const void* x, void* y, cudaStream_t stream) {
    GlobalShape s{batch, channels, channels, 1, height, width, height, width, 0, 0,
                  GCONV_ACTIVATION_NONE, 1.0 / (static_cast<double>(height) * width)};
    return launch_dtype(dtype, s, layout, x, nullptr, nullptr, y, stream);
}

}  // namespace cuda
}  // namespace gconv
