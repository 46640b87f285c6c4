// Depthwise NHWC kernel (groups == in_channels, depth multiplier m >= 1):
// vector lanes over channels, which are contiguous in NHWC. (NCHW depthwise
// uses the direct plane kernel, src/cpu/direct/direct_nchw.inl.)
//
// Weights are packed [R * S][m][C]: output channel k = c * m + j of tap t is
// at w[(t * m + j) * C + c], so for each multiplier index j the weights, the
// input channels and the accumulators all run over c in step. Taps in the
// padding multiply zeros, as in the reference.
#if defined(__SSE2__)
#include <immintrin.h>
#endif

#include "cpu/kernel_table.hpp"

namespace gconv {
namespace GCONV_ISA {

#include "cpu/common/kernel_common.inl"
#include "cpu/common/simd.inl"

namespace {

// Vectors of channels accumulated at once per pixel.
constexpr int kChannelVectors = 4;

template <typename T>
void dwconv2d_nhwc(const ConvGeometry& g, const T* x, const T* w, const T* bias, T* y,
                   int64_t oh, int64_t ow_begin, int64_t ow_end) {
    using V = Vec<T>;
    constexpr int64_t kBlock = kChannelVectors * V::N;
    const int64_t C = g.C, m = g.Kg, K = g.K;
    const int64_t ih0 = oh * g.sh - g.pt;
    const int64_t full = C / kBlock * kBlock;
    for (int64_t ow = ow_begin; ow < ow_end; ++ow) {
        T* yp = y + (oh * g.OW + ow) * K;
        const int64_t iw0 = ow * g.sw - g.pl;
        for (int64_t j = 0; j < m; ++j) {
            for (int64_t c0 = 0; c0 < full; c0 += kBlock) {
                V acc[kChannelVectors];
                for (int v = 0; v < kChannelVectors; ++v) acc[v] = V::zero();
                for (int64_t r = 0; r < g.R; ++r) {
                    const int64_t ih = ih0 + r * g.dh;
                    const bool row_inside = ih >= 0 && ih < g.H;
                    for (int64_t s = 0; s < g.S; ++s) {
                        const int64_t iw = iw0 + s * g.dw;
                        const T* wp = w + ((r * g.S + s) * m + j) * C + c0;
                        if (row_inside && iw >= 0 && iw < g.W) {
                            const T* xp = x + (ih * g.W + iw) * C + c0;
                            for (int v = 0; v < kChannelVectors; ++v)
                                acc[v] = fmadd(V::load(wp + v * V::N), V::load(xp + v * V::N),
                                               acc[v]);
                        } else {
                            for (int v = 0; v < kChannelVectors; ++v)
                                acc[v] = fmadd(V::load(wp + v * V::N), V::zero(), acc[v]);
                        }
                    }
                }
                alignas(64) T lanes[kBlock];
                for (int v = 0; v < kChannelVectors; ++v) acc[v].store(lanes + v * V::N);
                for (int64_t l = 0; l < kBlock; ++l) {
                    const int64_t k = (c0 + l) * m + j;
                    yp[k] = activate(lanes[l] + (bias ? bias[k] : T(0)), g.act);
                }
            }
            for (int64_t c = full; c < C; ++c) {
                T acc = T(0);
                for (int64_t r = 0; r < g.R; ++r) {
                    const int64_t ih = ih0 + r * g.dh;
                    for (int64_t s = 0; s < g.S; ++s) {
                        const int64_t iw = iw0 + s * g.dw;
                        const bool inside = ih >= 0 && ih < g.H && iw >= 0 && iw < g.W;
                        acc += w[((r * g.S + s) * m + j) * C + c] *
                               (inside ? x[(ih * g.W + iw) * C + c] : T(0));
                    }
                }
                const int64_t k = c * m + j;
                yp[k] = activate(acc + (bias ? bias[k] : T(0)), g.act);
            }
        }
    }
}

}  // namespace

void fill_depthwise(KernelTable& table) {
    table.f32.dwconv_nhwc = dwconv2d_nhwc<float>;
    table.f64.dwconv_nhwc = dwconv2d_nhwc<double>;
}

}  // namespace GCONV_ISA
}  // namespace gconv
