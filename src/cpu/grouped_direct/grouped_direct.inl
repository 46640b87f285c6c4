// grouped_direct kernels: narrow groups (few channels per group), where a
// GEMM per group would be mostly packing overhead.
#include "cpu/kernel_table.hpp"

namespace gconv {
namespace GCONV_ISA {

#include "cpu/common/kernel_common.inl"
#include "cpu/common/direct_rows.inl"

namespace {

// NCHW: one output plane from the group's Cg input planes.
template <typename T>
void grouped_direct_nchw(const ConvGeometry& g, const T* x, const T* w, const T* bias, T* y,
                         int64_t oh_begin, int64_t oh_end) {
    if (g.sw == 1)
        direct_rows<T, 0, 0, 1>(g, x, w, bias, y, oh_begin, oh_end, g.Cg);
    else
        direct_rows<T, 0, 0, 0>(g, x, w, bias, y, oh_begin, oh_end, g.Cg);
}

// NHWC: all K outputs of a pixel, accumulated over taps and channels; the
// weights are packed [R][S][Cg][K] so each (tap, channel) reads one
// contiguous row of K weights.
template <typename T>
void grouped_direct_nhwc(const ConvGeometry& g, const T* x, const T* w, const T* bias, T* y,
                         int64_t oh, int64_t ow_begin, int64_t ow_end) {
    const int64_t K = g.K, C = g.C, Cg = g.Cg, Kg = g.Kg;
    const int64_t ih0 = oh * g.sh - g.pt;
    int64_t r_lo, r_hi;
    valid_output_range(g.H, g.R, g.dh, ih0, &r_lo, &r_hi);
    for (int64_t ow = ow_begin; ow < ow_end; ++ow) {
        T* yp = y + (oh * g.OW + ow) * K;
        for (int64_t k = 0; k < K; ++k) yp[k] = T(0);
        const int64_t iw0 = ow * g.sw - g.pl;
        int64_t s_lo, s_hi;
        valid_output_range(g.W, g.S, g.dw, iw0, &s_lo, &s_hi);
        for (int64_t r = r_lo; r < r_hi; ++r)
            for (int64_t s = s_lo; s < s_hi; ++s) {
                const T* xp = x + ((ih0 + r * g.dh) * g.W + iw0 + s * g.dw) * C;
                const T* wrs = w + (r * g.S + s) * Cg * K;
                for (int64_t gi = 0; gi < g.G; ++gi) {
                    T* yg = yp + gi * Kg;
                    for (int64_t c = 0; c < Cg; ++c) {
                        const T xv = xp[gi * Cg + c];
                        const T* wv = wrs + c * K + gi * Kg;
                        for (int64_t kk = 0; kk < Kg; ++kk) yg[kk] += wv[kk] * xv;
                    }
                }
            }
        for (int64_t k = 0; k < K; ++k) yp[k] = activate(yp[k] + (bias ? bias[k] : T(0)), g.act);
    }
}

}  // namespace

void fill_grouped_direct(KernelTable& table) {
    table.f32.grouped_direct_nchw = grouped_direct_nchw<float>;
    table.f32.grouped_direct_nhwc = grouped_direct_nhwc<float>;
    table.f64.grouped_direct_nchw = grouped_direct_nchw<double>;
    table.f64.grouped_direct_nhwc = grouped_direct_nhwc<double>;
}

}  // namespace GCONV_ISA
}  // namespace gconv
