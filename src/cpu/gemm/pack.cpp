#include "cpu/gemm/pack.hpp"

#include "core/threads.hpp"

namespace gconv {
namespace {

#include "cpu/common/kernel_common.inl"

// (c, r, s) of a channel-major reduction index.
struct ReductionIndex {
    int64_t c, r, s;
    int64_t R, S;
    ReductionIndex(const ConvGeometry& g, int64_t p) : R(g.R), S(g.S) {
        s = p % S;
        r = (p / S) % R;
        c = p / S / R;
    }
    void next() {
        if (++s < S) return;
        s = 0;
        if (++r < R) return;
        r = 0;
        ++c;
    }
};

}  // namespace

// Panel by panel, in parallel: a plan's packing is part of every
// functional call (and of every input gradient), and one thread packed
// ResNeXt's 1024 x 32 x 3 x 3 weights in 0.4 ms while the other waited.
template <typename T>
void pack_a_weights(const ConvGeometry& g, ReductionOrder order, int mr, const T* weight,
                    T* packed) {
    const int64_t kd = g.reduction(), taps = g.R * g.S;
    const bool tap_major = order == ReductionOrder::kTapMajor;
    const int64_t panels = (g.Kg + mr - 1) / mr;
    const int threads = threads_for_work(0, g.G * panels * mr * kd);
    parallel_for(g.G * panels, threads, [&](int64_t item, int) {
        const int64_t group = item / panels, i0 = item % panels * mr;
        T* dst = packed + group * packed_a_group_size(g, mr) + i0 * kd;
        for (int64_t p = 0; p < kd; ++p) {
            // PyTorch stores (k, c, r, s); tap-major packing reads it transposed.
            const int64_t src = tap_major ? (p % g.Cg) * taps + p / g.Cg : p;
            for (int i = 0; i < mr; ++i) {
                const int64_t k = i0 + i;
                dst[p * mr + i] = k < g.Kg ? weight[(group * g.Kg + k) * kd + src] : T(0);
            }
        }
    });
}

// Writes one row of B (reduction step q) pixel by pixel in runs: `count`
// values that are either zeros or src[0], src[stride], ...; runs are split
// where they cross from one NR-column panel into the next.
template <typename T>
struct RowWriter {
    T* dst;                // element (q, 0) of the first panel
    int64_t panel_stride;  // kc * nr
    int nr;
    int64_t panel = 0;
    int lane = 0;
    void put(int64_t count, const T* src, int64_t stride) {
        while (count > 0) {
            const int64_t chunk = count < nr - lane ? count : nr - lane;
            T* out = dst + panel * panel_stride + lane;
            if (src == nullptr) {
                for (int64_t i = 0; i < chunk; ++i) out[i] = T(0);
            } else if (stride == 1) {
                for (int64_t i = 0; i < chunk; ++i) out[i] = src[i];
                src += chunk;
            } else {
                for (int64_t i = 0; i < chunk; ++i) out[i] = src[i * stride];
                src += chunk * stride;
            }
            count -= chunk;
            lane += static_cast<int>(chunk);
            if (lane == nr) {
                lane = 0;
                ++panel;
            }
        }
    }
};

// NCHW: each reduction row (c, r, s) is, for every output row the tile
// touches, a strided slice of one input row with zeros where the tap falls
// in the padding: copied as runs, never element by element with checks.
template <typename T>
void pack_im2col_nchw(const ConvGeometry& g, const T* x, int64_t group, int64_t p0,
                      int64_t kc, int64_t j0, int64_t nc, int nr, T* dst) {
    const int64_t padded_width = (nc + nr - 1) / nr * nr;
    ReductionIndex idx(g, p0);
    for (int64_t q = 0; q < kc; ++q, idx.next()) {
        const T* plane = x + (group * g.Cg + idx.c) * g.H * g.W;
        const int64_t col_offset = idx.s * g.dw - g.pl;
        int64_t ow_lo, ow_hi;  // outputs whose tap s reads inside the row
        valid_output_range(g.W, g.OW, g.sw, col_offset, &ow_lo, &ow_hi);
        RowWriter<T> out{dst + q * nr, kc * nr, nr};
        int64_t oh = j0 / g.OW, ow = j0 % g.OW;
        for (int64_t j = 0; j < nc;) {
            const int64_t run = g.OW - ow < nc - j ? g.OW - ow : nc - j, end = ow + run;
            const int64_t ih = oh * g.sh + idx.r * g.dh - g.pt;
            int64_t a = end, b = end;  // [a, b): the outputs of this run that read the input
            if (ih >= 0 && ih < g.H) {
                a = ow_lo < ow ? ow : (ow_lo < end ? ow_lo : end);
                b = ow_hi < a ? a : (ow_hi < end ? ow_hi : end);
            }
            out.put(a - ow, nullptr, 0);
            out.put(b - a, b > a ? plane + ih * g.W + col_offset + a * g.sw : nullptr, g.sw);
            out.put(end - b, nullptr, 0);
            j += run;
            ow = 0;
            ++oh;
        }
        out.put(padded_width - nc, nullptr, 0);
    }
}

template <typename T>
void pack_b_im2col(const ConvGeometry& g, const T* x, int64_t group, int64_t p0, int64_t kc,
                   int64_t j0, int64_t nc, int nr, T* dst) {
    pack_im2col_nchw(g, x, group, p0, kc, j0, nc, nr, dst);
}

// NCHW walks each input row once from left to right, dealing its pixels out
// to the panels: walking panel by panel instead reads kc rows a plane apart
// for every 16 pixels, which the prefetchers do not follow (measured: the
// packing took 30% of a 1200 x 128 x 729 GEMM that way).
template <typename T>
void pack_b_direct(const ConvGeometry& g, const T* x, int64_t group, int64_t p0, int64_t kc,
                   int64_t j0, int64_t nc, int nr, T* dst) {
    const int64_t P = g.H * g.W, panels = (nc + nr - 1) / nr;
    for (int64_t q = 0; q < kc; ++q) {
        const T* row = x + (group * g.Cg + p0 + q) * P + j0;
        for (int64_t jp = 0; jp < panels; ++jp) {
            T* out = dst + jp * kc * nr + q * nr;
            const int64_t width = nc - jp * nr < nr ? nc - jp * nr : nr;
            for (int64_t jj = 0; jj < width; ++jj) out[jj] = row[jp * nr + jj];
            for (int64_t jj = width; jj < nr; ++jj) out[jj] = T(0);
        }
    }
}

#define GCONV_INSTANTIATE_PACK(T)                                                             \
    template void pack_a_weights<T>(const ConvGeometry&, ReductionOrder, int, const T*, T*);  \
    template void pack_b_im2col<T>(const ConvGeometry&, const T*, int64_t, int64_t, int64_t, \
                                   int64_t, int64_t, int, T*);                                \
    template void pack_b_direct<T>(const ConvGeometry&, const T*, int64_t, int64_t, int64_t, \
                                   int64_t, int64_t, int, T*);
GCONV_INSTANTIATE_PACK(float)
GCONV_INSTANTIATE_PACK(double)

}  // namespace gconv
