// Depthwise convolution (groups == channels, depth multiplier m = K / C).
// NCHW: a block stages each of its channels' input tile (with the halo the
// kernel, stride and dilation need) and the channel's m filters in shared
// memory; each thread computes one output pixel for all m outputs of its
// channel. The tile shape follows the output (32x8 for wide maps, 8x8 with
// four channels per block for 7x7 maps) so that small maps keep threads busy.
// NHWC: threads run along output channels (coalesced loads and stores), each
// computing a strip of kStrip output pixels of a row with the filter tap in a
// register; the block's filters sit in shared memory.
// Shapes whose tiles or filters do not fit in shared memory go to `direct`.
#include "cuda/kernels.hpp"

namespace gconv {
namespace cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kMaxSharedBytes = 48 * 1024;

struct NchwTiling {
    int tile_w, tile_h, channels;  // output tile and channels per block
    int in_rows, in_cols;          // staged input tile
    int64_t shared_bytes;
};

int pow2_at_least(int v, int cap) {
    int p = 1;
    while (p < v && p < cap) p *= 2;
    return p;
}

NchwTiling nchw_tiling(const ConvShape& s, int item) {
    NchwTiling t;
    t.tile_w = pow2_at_least(s.OW, 32);
    t.tile_h = pow2_at_least(s.OH, kThreads / t.tile_w);
    t.channels = kThreads / (t.tile_w * t.tile_h);
    t.in_rows = (t.tile_h - 1) * s.sh + (s.R - 1) * s.dh + 1;
    t.in_cols = (t.tile_w - 1) * s.sw + (s.S - 1) * s.dw + 1;
    const int m = s.Kg;
    t.shared_bytes = static_cast<int64_t>(t.channels) *
                     (static_cast<int64_t>(t.in_rows) * t.in_cols + static_cast<int64_t>(m) * s.R * s.S) *
                     item;
    return t;
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    depthwise_nchw_kernel(ConvShape s, const T* __restrict__ x, const T* __restrict__ w,
                          const T* __restrict__ bias, T* __restrict__ y, NchwTiling t, int c_base,
                          int64_t n_base) {
    extern __shared__ unsigned char shared_bytes[];
    const int m = s.Kg;
    const int RS = s.R * s.S;
    const int tile_in = t.in_rows * t.in_cols;
    T* tiles = reinterpret_cast<T*>(shared_bytes);  // [channel][in_rows][in_cols]
    T* filters = tiles + t.channels * tile_in;      // [channel][m][R*S]

    const int tiles_w = (s.OW + t.tile_w - 1) / t.tile_w;
    const int oh0 = (blockIdx.x / tiles_w) * t.tile_h;
    const int ow0 = (blockIdx.x % tiles_w) * t.tile_w;
    const int c0 = c_base + blockIdx.y * t.channels;
    const int64_t n = n_base + blockIdx.z;
    const int ih0 = oh0 * s.sh - s.pt, iw0 = ow0 * s.sw - s.pl;
    const int64_t plane = static_cast<int64_t>(s.H) * s.W;

    for (int i = threadIdx.x; i < t.channels * tile_in; i += kThreads) {
        const int cl = i / tile_in;
        const int rem = i - cl * tile_in;
        const int r = rem / t.in_cols, q = rem - (rem / t.in_cols) * t.in_cols;
        const int c = c0 + cl, ih = ih0 + r, iw = iw0 + q;
        T v = T(0);
        if (c < s.C && ih >= 0 && ih < s.H && iw >= 0 && iw < s.W)
            v = x[(n * s.C + c) * plane + static_cast<int64_t>(ih) * s.W + iw];
        tiles[i] = v;
    }
    for (int i = threadIdx.x; i < t.channels * m * RS; i += kThreads) {
        const int64_t k = static_cast<int64_t>(c0) * m + i / RS;
        filters[i] = k < s.K ? w[k * RS + i % RS] : T(0);
    }
    __syncthreads();

    const int per_channel = t.tile_w * t.tile_h;
    const int cl = threadIdx.x / per_channel;
    const int rem = threadIdx.x - cl * per_channel;
    const int ty = rem / t.tile_w, tx = rem - (rem / t.tile_w) * t.tile_w;
    const int c = c0 + cl, oh = oh0 + ty, ow = ow0 + tx;
    if (cl >= t.channels || c >= s.C || oh >= s.OH || ow >= s.OW) return;
    const T* tile = tiles + cl * tile_in + ty * s.sh * t.in_cols + tx * s.sw;
    const int64_t out_plane = static_cast<int64_t>(s.OH) * s.OW;
    for (int j = 0; j < m; ++j) {
        const T* f = filters + (cl * m + j) * RS;
        T acc = T(0);
        for (int kh = 0; kh < s.R; ++kh) {
            const T* row = tile + kh * s.dh * t.in_cols;
            for (int kw = 0; kw < s.S; ++kw) acc = fma(row[kw * s.dw], f[kh * s.S + kw], acc);
        }
        const int k = c * m + j;
        y[(n * s.K + k) * out_plane + static_cast<int64_t>(oh) * s.OW + ow] =
            epilogue(acc, bias, k, s.act);
    }
}

constexpr int kLanes = 32;  // output channels per block (NHWC)
constexpr int kRows = kThreads / kLanes;
constexpr int kStrip = 4;   // output pixels per thread along a row (NHWC)

template <typename T>
__global__ void __launch_bounds__(kThreads)
    depthwise_nhwc_kernel(ConvShape s, const T* __restrict__ x, const T* __restrict__ w,
                          const T* __restrict__ bias, T* __restrict__ y, int k_base) {
    extern __shared__ unsigned char shared_bytes[];
    T* filters = reinterpret_cast<T*>(shared_bytes);  // [R*S][kLanes]
    const int RS = s.R * s.S;
    const int lane = threadIdx.x % kLanes;
    const int k0 = k_base + blockIdx.y * kLanes;
    for (int i = threadIdx.x; i < RS * kLanes; i += kThreads) {
        const int k = k0 + i % kLanes;
        filters[i] = k < s.K ? w[static_cast<int64_t>(k) * RS + i / kLanes] : T(0);
    }
    __syncthreads();

    const int k = k0 + lane;
    const int strips = (s.OW + kStrip - 1) / kStrip;
    const int64_t item = static_cast<int64_t>(blockIdx.x) * kRows + threadIdx.x / kLanes;
    if (k >= s.K || item >= s.N * s.OH * strips) return;
    const int64_t row = item / strips;  // n * OH + oh
    const int ow0 = static_cast<int>(item - row * strips) * kStrip;
    const int64_t n = row / s.OH;
    const int oh = static_cast<int>(row - n * s.OH);
    const int c = k / s.Kg;

    T acc[kStrip];
#pragma unroll
    for (int q = 0; q < kStrip; ++q) acc[q] = T(0);
    for (int kh = 0; kh < s.R; ++kh) {
        const int ih = oh * s.sh - s.pt + kh * s.dh;
        if (ih < 0 || ih >= s.H) continue;
        const T* xrow = x + (n * s.H + ih) * static_cast<int64_t>(s.W) * s.C + c;
        for (int kw = 0; kw < s.S; ++kw) {
            const T f = filters[(kh * s.S + kw) * kLanes + lane];
#pragma unroll
            for (int q = 0; q < kStrip; ++q) {
                const int iw = (ow0 + q) * s.sw - s.pl + kw * s.dw;
                if (iw >= 0 && iw < s.W) acc[q] = fma(xrow[static_cast<int64_t>(iw) * s.C], f, acc[q]);
            }
        }
    }
    T* yrow = y + (row * s.OW) * static_cast<int64_t>(s.K) + k;
#pragma unroll
    for (int q = 0; q < kStrip; ++q)
        if (ow0 + q < s.OW) yrow[static_cast<int64_t>(ow0 + q) * s.K] = epilogue(acc[q], bias, k, s.act);
}

template <typename T>
gconv_status launch_nchw(const ConvLaunch& a) {
    const ConvShape& s = a.s;
    const NchwTiling t = nchw_tiling(s, sizeof(T));
    if (t.shared_bytes > kMaxSharedBytes) return direct(a);
    const int64_t tiles = ceil_div(s.OH, t.tile_h) * ceil_div(s.OW, t.tile_w);
    const int64_t channel_blocks = ceil_div(s.C, t.channels);
    if (tiles > kMaxGridX) return direct(a);
    for (int64_t n0 = 0; n0 < s.N; n0 += kMaxGridYZ) {
        const int64_t nn = s.N - n0 < kMaxGridYZ ? s.N - n0 : kMaxGridYZ;
        for (int64_t b0 = 0; b0 < channel_blocks; b0 += kMaxGridYZ) {
            const int64_t nb = channel_blocks - b0 < kMaxGridYZ ? channel_blocks - b0 : kMaxGridYZ;
            dim3 grid(static_cast<unsigned>(tiles), static_cast<unsigned>(nb),
                      static_cast<unsigned>(nn));
            depthwise_nchw_kernel<T><<<grid, kThreads, static_cast<size_t>(t.shared_bytes), a.stream>>>(
                s, static_cast<const T*>(a.x), static_cast<const T*>(a.w),
                static_cast<const T*>(a.bias), static_cast<T*>(a.y), t,
                static_cast<int>(b0 * t.channels), n0);
        }
    }
    return launch_status("depthwise_nchw");
}

template <typename T>
gconv_status launch_nhwc(const ConvLaunch& a) {
    const ConvShape& s = a.s;
    const int64_t shared = static_cast<int64_t>(s.R) * s.S * kLanes * sizeof(T);
    if (shared > kMaxSharedBytes) return direct(a);
    const int64_t items = s.N * s.OH * ceil_div(s.OW, kStrip);
    const int64_t blocks_x = ceil_div(items, kRows);
    const int64_t channel_blocks = ceil_div(s.K, kLanes);
    if (blocks_x > kMaxGridX) return direct(a);
    for (int64_t b0 = 0; b0 < channel_blocks; b0 += kMaxGridYZ) {
        const int64_t nb = channel_blocks - b0 < kMaxGridYZ ? channel_blocks - b0 : kMaxGridYZ;
        dim3 grid(static_cast<unsigned>(blocks_x), static_cast<unsigned>(nb));
        depthwise_nhwc_kernel<T><<<grid, kThreads, static_cast<size_t>(shared), a.stream>>>(
            s, static_cast<const T*>(a.x), static_cast<const T*>(a.w),
            static_cast<const T*>(a.bias), static_cast<T*>(a.y), static_cast<int>(b0 * kLanes));
    }
    return launch_status("depthwise_nhwc");
}

}  // namespace

gconv_status depthwise(const ConvLaunch& a) {
    if (a.dtype == GCONV_FLOAT32)
        return a.layout == kLayoutNCHW ? launch_nchw<float>(a) : launch_nhwc<float>(a);
    return a.layout == kLayoutNCHW ? launch_nchw<double>(a) : launch_nhwc<double>(a);
}

}  // namespace cuda
}  // namespace gconv
