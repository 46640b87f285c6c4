#include "cpu/gemm/pack.hpp"

namespace gconv {
namespace {

// (c, r, s) of a reduction index in the given order.
struct ReductionIndex {
    int64_t c, r, s;
    int64_t Cg, R, S;
    bool tap_major;
    ReductionIndex(const ConvGeometry& g, int64_t p, bool tap_major_order)
        : Cg(g.Cg), R(g.R), S(g.S), tap_major(tap_major_order) {
        if (tap_major) {
            c = p % Cg;
            s = (p / Cg) % S;
            r = p / Cg / S;
        } else {
            s = p % S;
            r = (p / S) % R;
            c = p / S / R;
        }
    }
    void next() {
        if (tap_major) {
            if (++c < Cg) return;
            c = 0;
            if (++s < S) return;
            s = 0;
            ++r;
        } else {
            if (++s < S) return;
            s = 0;
            if (++r < R) return;
            r = 0;
            ++c;
        }
    }
};

}  // namespace

template <typename T>
void pack_a_weights(const ConvGeometry& g, int mr, const T* weight, T* packed) {
    const int64_t kd = g.reduction(), taps = g.R * g.S;
    const bool tap_major = reduction_order(g) == ReductionOrder::kTapMajor;
    for (int64_t group = 0; group < g.G; ++group) {
        T* dst = packed + group * packed_a_group_size(g, mr);
        for (int64_t i0 = 0; i0 < g.Kg; i0 += mr) {
            for (int64_t p = 0; p < kd; ++p) {
                // PyTorch stores (k, c, r, s); tap-major packing reads it transposed.
                const int64_t src = tap_major ? (p % g.Cg) * taps + p / g.Cg : p;
                for (int i = 0; i < mr; ++i) {
                    const int64_t k = i0 + i;
                    dst[p * mr + i] = k < g.Kg ? weight[(group * g.Kg + k) * kd + src] : T(0);
                }
            }
            dst += mr * kd;
        }
    }
}

template <typename T>
void pack_b_im2col(const ConvGeometry& g, const T* x, int64_t group, int64_t p0, int64_t kc,
                   int64_t j0, int64_t nc, int nr, T* dst) {
    const bool nhwc = g.layout == GCONV_LAYOUT_NHWC;
    const int64_t panels = (nc + nr - 1) / nr;
    for (int64_t jp = 0; jp < panels; ++jp) {
        T* panel = dst + jp * kc * nr;
        for (int jj = 0; jj < nr; ++jj) {
            const int64_t j = jp * nr + jj;
            if (j >= nc) {
                for (int64_t q = 0; q < kc; ++q) panel[q * nr + jj] = T(0);
                continue;
            }
            const int64_t pixel = j0 + j, oh = pixel / g.OW, ow = pixel % g.OW;
            const int64_t ih0 = oh * g.sh - g.pt, iw0 = ow * g.sw - g.pl;
            ReductionIndex idx(g, p0, nhwc);
            for (int64_t q = 0; q < kc; ++q, idx.next()) {
                const int64_t ih = ih0 + idx.r * g.dh, iw = iw0 + idx.s * g.dw;
                T v = T(0);
                if (ih >= 0 && ih < g.H && iw >= 0 && iw < g.W) {
                    const int64_t c = group * g.Cg + idx.c;
                    v = nhwc ? x[(ih * g.W + iw) * g.C + c] : x[(c * g.H + ih) * g.W + iw];
                }
                panel[q * nr + jj] = v;
            }
        }
    }
}

template <typename T>
void pack_b_direct(const ConvGeometry& g, const T* x, int64_t group, int64_t p0, int64_t kc,
                   int64_t j0, int64_t nc, int nr, T* dst) {
    const int64_t P = g.H * g.W, panels = (nc + nr - 1) / nr;
    for (int64_t jp = 0; jp < panels; ++jp) {
        T* panel = dst + jp * kc * nr;
        const int64_t jbase = j0 + jp * nr, width = nc - jp * nr < nr ? nc - jp * nr : nr;
        if (g.layout == GCONV_LAYOUT_NHWC) {
            const T* src = x + jbase * g.C + group * g.Cg + p0;
            for (int64_t jj = 0; jj < nr; ++jj)
                for (int64_t q = 0; q < kc; ++q)
                    panel[q * nr + jj] = jj < width ? src[jj * g.C + q] : T(0);
        } else {
            const T* src = x + (group * g.Cg + p0) * P + jbase;
            for (int64_t q = 0; q < kc; ++q) {
                for (int64_t jj = 0; jj < width; ++jj) panel[q * nr + jj] = src[q * P + jj];
                for (int64_t jj = width; jj < nr; ++jj) panel[q * nr + jj] = T(0);
            }
        }
    }
}

#define GCONV_INSTANTIATE_PACK(T)                                                             \
    template void pack_a_weights<T>(const ConvGeometry&, int, const T*, T*);                  \
    template void pack_b_im2col<T>(const ConvGeometry&, const T*, int64_t, int64_t, int64_t, \
                                   int64_t, int64_t, int, T*);                                \
    template void pack_b_direct<T>(const ConvGeometry&, const T*, int64_t, int64_t, int64_t, \
                                   int64_t, int64_t, int, T*);
GCONV_INSTANTIATE_PACK(float)
GCONV_INSTANTIATE_PACK(double)

}  // namespace gconv
