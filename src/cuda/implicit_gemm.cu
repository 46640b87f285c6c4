// Implicit GEMM per group, for wide groups (and any convolution):
//   Y_g (Kg x P) = W_g (Kg x Cg*R*S) * im2col(X_g) (Cg*R*S x P),  P = N*OH*OW,
// with im2col never materialised: each block gathers its B tile straight
// from the input while loading it into shared memory (zeros for padding).
// The reduction runs in (c, kh, kw) order for NCHW and (kh, kw, c) for NHWC,
// so that consecutive threads of a B load read consecutive addresses.
#include <climits>

#include "cuda/kernels.hpp"

namespace gconv {
namespace cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kBK = 16;

template <int L>
__device__ __forceinline__ void decode_reduction(int kk, int Cg, int S, int RS, int& c, int& kh,
                                                 int& kw) {
    int rs;
    if (L == kLayoutNCHW) {
        c = kk / RS;
        rs = kk - c * RS;
    } else {
        rs = kk / Cg;
        c = kk - rs * Cg;
    }
    kh = rs / S;
    kw = rs - kh * S;
}

// One output column (pixel p of the batch) as the B loads see it.
struct Column {
    int64_t base;  // offset of (n, first channel of the group, 0, 0)
    int ih0, iw0;  // top-left input coordinate of the window; ih0 = INT_MIN: p out of range
};

template <typename T, int L, int BM, int BN, int TM, int TN>
__global__ void __launch_bounds__(kThreads)
    implicit_gemm_kernel(ConvShape s, const T* __restrict__ x, const T* __restrict__ w,
                         const T* __restrict__ bias, T* __restrict__ y, int g0) {
    static_assert((BM / TM) * (BN / TN) == kThreads, "one thread per TMxTN sub-tile");
    constexpr int kAPer = BM * kBK / kThreads;
    constexpr int kBPer = BN * kBK / kThreads;
    constexpr int kColumns = L == kLayoutNCHW ? 1 : kBPer;
    __shared__ T As[kBK][BM + 1];
    __shared__ T Bs[kBK][BN + 1];

    const int tid = threadIdx.x;
    const int g = g0 + blockIdx.z;
    const int m0 = blockIdx.y * BM;
    const int64_t p0 = static_cast<int64_t>(blockIdx.x) * BN;
    const int RS = s.R * s.S;
    const int red = s.Cg * RS;
    const int64_t ohw = static_cast<int64_t>(s.OH) * s.OW;
    const int64_t P = s.N * ohw;
    const int64_t hw = static_cast<int64_t>(s.H) * s.W;

    // B loads: NCHW threads run along pixels (one column each), NHWC threads
    // run along the reduction (channels) and hold kBPer columns.
    Column col[kColumns];
#pragma unroll
    for (int i = 0; i < kColumns; ++i) {
        const int pl = L == kLayoutNCHW ? tid % BN : tid / kBK + (kThreads / kBK) * i;
        const int64_t p = p0 + pl;
        if (p < P) {
            const int64_t n = p / ohw;
            const int pix = static_cast<int>(p - n * ohw);
            const int oh = pix / s.OW, ow = pix - (pix / s.OW) * s.OW;
            col[i].ih0 = oh * s.sh - s.pt;
            col[i].iw0 = ow * s.sw - s.pl;
            col[i].base = L == kLayoutNCHW ? (n * s.C + static_cast<int64_t>(g) * s.Cg) * hw
                                           : n * hw * s.C + static_cast<int64_t>(g) * s.Cg;
        } else {
            col[i].ih0 = INT_MIN;
            col[i].iw0 = 0;
            col[i].base = 0;
        }
    }
    const T* wg = w + static_cast<int64_t>(g) * s.Kg * red;

    T a_next[kAPer], b_next[kBPer];
    auto load_tiles = [&](int k0) {
#pragma unroll
        for (int i = 0; i < kAPer; ++i) {
            const int kk = k0 + tid % kBK;
            const int m = m0 + tid / kBK + (kThreads / kBK) * i;
            T v = T(0);
            if (kk < red && m < s.Kg) {
                int widx = kk;
                if (L == kLayoutNHWC) {
                    int c, kh, kw;
                    decode_reduction<L>(kk, s.Cg, s.S, RS, c, kh, kw);
                    widx = c * RS + kh * s.S + kw;
                }
                v = wg[static_cast<int64_t>(m) * red + widx];
            }
            a_next[i] = v;
        }
#pragma unroll
        for (int i = 0; i < kBPer; ++i) {
            const int kk = k0 + (L == kLayoutNCHW ? tid / BN + (kThreads / BN) * i : tid % kBK);
            const Column& cc = col[L == kLayoutNCHW ? 0 : i];
            T v = T(0);
            if (kk < red && cc.ih0 != INT_MIN) {
                int c, kh, kw;
                decode_reduction<L>(kk, s.Cg, s.S, RS, c, kh, kw);
                const int ih = cc.ih0 + kh * s.dh;
                const int iw = cc.iw0 + kw * s.dw;
                if (ih >= 0 && ih < s.H && iw >= 0 && iw < s.W) {
                    const int64_t at = L == kLayoutNCHW
                                           ? cc.base + c * hw + static_cast<int64_t>(ih) * s.W + iw
                                           : cc.base + (static_cast<int64_t>(ih) * s.W + iw) * s.C + c;
                    v = x[at];
                }
            }
            b_next[i] = v;
        }
    };

    T acc[TM][TN];
#pragma unroll
    for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] = T(0);

    const int tx = tid % (BN / TN), ty = tid / (BN / TN);
    load_tiles(0);
    for (int k0 = 0; k0 < red; k0 += kBK) {
#pragma unroll
        for (int i = 0; i < kAPer; ++i) As[tid % kBK][tid / kBK + (kThreads / kBK) * i] = a_next[i];
#pragma unroll
        for (int i = 0; i < kBPer; ++i) {
            if (L == kLayoutNCHW)
                Bs[tid / BN + (kThreads / BN) * i][tid % BN] = b_next[i];
            else
                Bs[tid % kBK][tid / kBK + (kThreads / kBK) * i] = b_next[i];
        }
        __syncthreads();
        // The next tiles' global loads are in flight during this tile's FMAs.
        if (k0 + kBK < red) load_tiles(k0 + kBK);
#pragma unroll
        for (int kk = 0; kk < kBK; ++kk) {
            T a[TM], b[TN];
#pragma unroll
            for (int i = 0; i < TM; ++i) a[i] = As[kk][ty + (BM / TM) * i];
#pragma unroll
            for (int j = 0; j < TN; ++j) b[j] = Bs[kk][tx + (BN / TN) * j];
#pragma unroll
            for (int i = 0; i < TM; ++i)
#pragma unroll
                for (int j = 0; j < TN; ++j) acc[i][j] = fma(a[i], b[j], acc[i][j]);
        }
        __syncthreads();
    }

#pragma unroll
    for (int j = 0; j < TN; ++j) {
        const int64_t p = p0 + tx + (BN / TN) * j;
        if (p >= P) continue;
        const int64_t n = p / ohw;
        const int64_t pix = p - n * ohw;
#pragma unroll
        for (int i = 0; i < TM; ++i) {
            const int m = m0 + ty + (BM / TM) * i;
            if (m >= s.Kg) continue;
            const int k = g * s.Kg + m;
            const int64_t at = L == kLayoutNCHW ? (n * s.K + k) * ohw + pix : p * s.K + k;
            y[at] = epilogue(acc[i][j], bias, k, s.act);
        }
    }
}

template <typename T, int L, int BM, int BN, int TM, int TN>
gconv_status launch(const ConvLaunch& a) {
    const ConvShape& s = a.s;
    const int64_t P = s.N * s.OH * s.OW;
    const int64_t blocks_x = ceil_div(P, BN);
    const int64_t blocks_y = ceil_div(s.Kg, BM);
    if (blocks_x > kMaxGridX || blocks_y > kMaxGridYZ)
        return cuda_failure(cudaErrorInvalidConfiguration, "implicit_gemm: grid too large");
    for (int64_t g0 = 0; g0 < s.G; g0 += kMaxGridYZ) {
        const int64_t groups = s.G - g0 < kMaxGridYZ ? s.G - g0 : kMaxGridYZ;
        dim3 grid(static_cast<unsigned>(blocks_x), static_cast<unsigned>(blocks_y),
                  static_cast<unsigned>(groups));
        implicit_gemm_kernel<T, L, BM, BN, TM, TN><<<grid, kThreads, 0, a.stream>>>(
            s, static_cast<const T*>(a.x), static_cast<const T*>(a.w),
            static_cast<const T*>(a.bias), static_cast<T*>(a.y), static_cast<int>(g0));
    }
    return launch_status("implicit_gemm");
}

template <typename T, int L>
gconv_status launch_tiles(const ConvLaunch& a) {
    const ConvShape& s = a.s;
    const int64_t P = s.N * s.OH * s.OW;
    // 128x128 tiles (8x8 per thread) where the problem fills the GPU with
    // them; 64x64 (4x4) for the narrower "wide" groups (RegNet's 16 per group).
    // float64 keeps the small tile: 64 double accumulators would spill.
    if constexpr (sizeof(T) == 4) {
        if (s.Kg >= 96 && ceil_div(P, 128) * ceil_div(s.Kg, 128) * s.G >= 512)
            return launch<T, L, 128, 128, 8, 8>(a);
    }
    return launch<T, L, 64, 64, 4, 4>(a);
}

}  // namespace

gconv_status implicit_gemm(const ConvLaunch& a) {
    if (a.dtype == GCONV_FLOAT32)
        return a.layout == kLayoutNCHW ? launch_tiles<float, kLayoutNCHW>(a)
                                       : launch_tiles<float, kLayoutNHWC>(a);
    return a.layout == kLayoutNCHW ? launch_tiles<double, kLayoutNCHW>(a)
                                   : launch_tiles<double, kLayoutNHWC>(a);
}

}  // namespace cuda
}  // namespace gconv
