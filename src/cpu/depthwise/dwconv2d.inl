// Depthwise kernels (groups == in_channels, depth multiplier m >= 1).
#include "cpu/kernel_table.hpp"

namespace gconv {
namespace GCONV_ISA {

#include "cpu/common/kernel_common.inl"
#include "cpu/common/direct_rows.inl"

namespace {

// NCHW: one output plane from its single input plane, kernel size and column
// stride fixed at compile time for the common cases.
template <typename T, int KR, int KS, int SW>
void dwconv2d_nchw(const ConvGeometry& g, const T* x, const T* w, const T* bias, T* y,
                   int64_t oh_begin, int64_t oh_end) {
    direct_rows<T, KR, KS, SW>(g, x, w, bias, y, oh_begin, oh_end, 1);
}

// NHWC: the K = C * m outputs of a pixel, vector lanes over channels. The
// weights are packed [R][S][K]; output k reads input channel k / m.
template <typename T>
void dwconv2d_nhwc(const ConvGeometry& g, const T* x, const T* w, const T* bias, T* y,
                   int64_t oh, int64_t ow_begin, int64_t ow_end) {
    constexpr int64_t kBlock = 64 / sizeof(T) * 4;  // four cache lines of channels
    const int64_t K = g.K, C = g.C, m = g.Kg;
    const int64_t ih0 = oh * g.sh - g.pt;
    int64_t r_lo, r_hi;
    valid_output_range(g.H, g.R, g.dh, ih0, &r_lo, &r_hi);
    for (int64_t ow = ow_begin; ow < ow_end; ++ow) {
        T* yp = y + (oh * g.OW + ow) * K;
        const int64_t iw0 = ow * g.sw - g.pl;
        int64_t s_lo, s_hi;
        valid_output_range(g.W, g.S, g.dw, iw0, &s_lo, &s_hi);
        if (m == 1) {
            for (int64_t k0 = 0; k0 < K; k0 += kBlock) {
                const int64_t kn = min_i64(kBlock, K - k0);
                T acc[kBlock];
                for (int64_t j = 0; j < kBlock; ++j) acc[j] = T(0);
                for (int64_t r = r_lo; r < r_hi; ++r)
                    for (int64_t s = s_lo; s < s_hi; ++s) {
                        const T* xp = x + ((ih0 + r * g.dh) * g.W + iw0 + s * g.dw) * C + k0;
                        const T* wp = w + (r * g.S + s) * K + k0;
                        if (kn == kBlock) {
#pragma GCC unroll 64
                            for (int64_t j = 0; j < kBlock; ++j) acc[j] += wp[j] * xp[j];
                        } else {
                            for (int64_t j = 0; j < kn; ++j) acc[j] += wp[j] * xp[j];
                        }
                    }
                for (int64_t j = 0; j < kn; ++j)
                    yp[k0 + j] = activate(acc[j] + (bias ? bias[k0 + j] : T(0)), g.act);
            }
        } else {
            for (int64_t k = 0; k < K; ++k) yp[k] = T(0);
            for (int64_t r = r_lo; r < r_hi; ++r)
                for (int64_t s = s_lo; s < s_hi; ++s) {
                    const T* xp = x + ((ih0 + r * g.dh) * g.W + iw0 + s * g.dw) * C;
                    const T* wp = w + (r * g.S + s) * K;
                    for (int64_t c = 0; c < C; ++c) {
                        const T xv = xp[c];
                        for (int64_t j = 0; j < m; ++j) yp[c * m + j] += wp[c * m + j] * xv;
                    }
                }
            for (int64_t k = 0; k < K; ++k)
                yp[k] = activate(yp[k] + (bias ? bias[k] : T(0)), g.act);
        }
    }
}

template <typename T>
void fill(KernelFamily<T>& f) {
    f.dwconv_nchw[kDwGeneric] = dwconv2d_nchw<T, 0, 0, 0>;
    f.dwconv_nchw[kDw3x3s1] = dwconv2d_nchw<T, 3, 3, 1>;
    f.dwconv_nchw[kDw3x3s2] = dwconv2d_nchw<T, 3, 3, 2>;
    f.dwconv_nchw[kDw5x5s1] = dwconv2d_nchw<T, 5, 5, 1>;
    f.dwconv_nchw[kDw5x5s2] = dwconv2d_nchw<T, 5, 5, 2>;
    f.dwconv_nchw[kDw7x7s1] = dwconv2d_nchw<T, 7, 7, 1>;
    f.dwconv_nchw[kDw7x7s2] = dwconv2d_nchw<T, 7, 7, 2>;
    f.dwconv_nhwc = dwconv2d_nhwc<T>;
}

}  // namespace

void fill_depthwise(KernelTable& table) {
    fill(table.f32);
    fill(table.f64);
}

}  // namespace GCONV_ISA
}  // namespace gconv
