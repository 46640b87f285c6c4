// The plain definition: one thread per output element (in memory order, so
// stores are coalesced), summing over its group's Cg x R x S window. It
// accepts every convolution; the dispatcher uses it where a faster kernel's
// tiles do not fit in shared memory, and the tests run it on the whole grid.
#include "cuda/kernels.hpp"

namespace gconv {
namespace cuda {
namespace {

constexpr int kThreads = 256;

template <typename T, int L>
__global__ void __launch_bounds__(kThreads)
    direct_kernel(ConvShape s, const T* __restrict__ x, const T* __restrict__ w,
                  const T* __restrict__ bias, T* __restrict__ y, int64_t total) {
    const int64_t stride = static_cast<int64_t>(gridDim.x) * kThreads;
    for (int64_t o = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x; o < total;
         o += stride) {
        int64_t rest = o;
        int k, oh, ow;
        if (L == kLayoutNCHW) {
            ow = static_cast<int>(rest % s.OW); rest /= s.OW;
            oh = static_cast<int>(rest % s.OH); rest /= s.OH;
            k = static_cast<int>(rest % s.K); rest /= s.K;
        } else {
            k = static_cast<int>(rest % s.K); rest /= s.K;
            ow = static_cast<int>(rest % s.OW); rest /= s.OW;
            oh = static_cast<int>(rest % s.OH); rest /= s.OH;
        }
        const int64_t n = rest;
        const int g = k / s.Kg;
        const T* wk = w + static_cast<int64_t>(k) * s.Cg * s.R * s.S;
        T acc = T(0);
        for (int c = 0; c < s.Cg; ++c) {
            for (int kh = 0; kh < s.R; ++kh) {
                const int ih = oh * s.sh - s.pt + kh * s.dh;
                if (ih < 0 || ih >= s.H) continue;
                for (int kw = 0; kw < s.S; ++kw) {
                    const int iw = ow * s.sw - s.pl + kw * s.dw;
                    if (iw < 0 || iw >= s.W) continue;
                    acc = fma(x[offset<L>(n, g * s.Cg + c, ih, iw, s.C, s.H, s.W)],
                              wk[(c * s.R + kh) * s.S + kw], acc);
                }
            }
        }
        y[o] = epilogue(acc, bias, k, s.act);
    }
}

template <typename T, int L>
gconv_status launch(const ConvLaunch& a) {
    const ConvShape& s = a.s;
    const int64_t total = s.N * s.K * s.OH * s.OW;
    int64_t blocks = ceil_div(total, kThreads);
    if (blocks > kMaxGridX) blocks = kMaxGridX;
    direct_kernel<T, L><<<static_cast<unsigned>(blocks), kThreads, 0, a.stream>>>(
        s, static_cast<const T*>(a.x), static_cast<const T*>(a.w), static_cast<const T*>(a.bias),
        static_cast<T*>(a.y), total);
    return launch_status("direct");
}

}  // namespace

gconv_status direct(const ConvLaunch& a) {
    if (a.dtype == GCONV_FLOAT32)
        return a.layout == kLayoutNCHW ? launch<float, kLayoutNCHW>(a) : launch<float, kLayoutNHWC>(a);
    return a.layout == kLayoutNCHW ? launch<double, kLayoutNCHW>(a) : launch<double, kLayoutNHWC>(a);
}

}  // namespace cuda
}  // namespace gconv
