// What the drivers of the strided transposed kernels (transposed_depthwise.cpp,
// transposed_grouped.cpp) share: which kernel taps reach which outputs
// (TransposedTaps, worked out once per call), and when NCHW results are
// written with streaming stores.
#pragma once

#include <cstdint>
#include <vector>

#include "cpu/kernel_table.hpp"

namespace gconv {

// A result past this many bytes does not stay in the caches: its NCHW rows
// are written with streaming stores, each line not read first (MobileNetV2's
// 112x112 stride-2 layer at N=16: 18.8 -> 12.6 ms; at N=1, 4.8 MB, no gain).
constexpr int64_t kStreamBytes = 8 << 20;

// 3x3, stride 2, padding 1, undilated, output 2 x dy's size (or one less):
// the input gradient of MobileNet's downsampling layers, which the AVX-512
// float32 family computes with a row kernel of its own
// (KernelFamily::transposed_dw_nchw_3x3s2).
inline bool transposed_3x3s2_fits(const TransposedGeometry& g) {
    return g.R == 3 && g.S == 3 && g.sh == 2 && g.sw == 2 && g.dh == 1 && g.dw == 1 &&
           g.pt == 1 && g.pl == 1 && (g.OH == 2 * g.H || g.OH == 2 * g.H - 1) &&
           (g.OW == 2 * g.W || g.OW == 2 * g.W - 1);
}

// a mod b for b > 0, in [0, b).
inline int64_t floor_mod(int64_t a, int64_t b) {
    const int64_t m = a % b;
    return m < 0 ? m + b : m;
}

// The tap lists of TransposedTaps, grouped by output row residue and
// output column phase.
struct TapLists {
    std::vector<int64_t> row_r, row_k, row_begin, col_s, col_d, col_begin;

    explicit TapLists(const TransposedGeometry& g) {
        // Kernel row r reaches output rows i with i + pt - r * dh = oi * sh,
        // i.e. (i + pt) mod sh == (r * dh) mod sh, from dy row
        // (i + pt) / sh - (r * dh - q) / sh.
        for (int64_t q = 0; q < g.sh; ++q) {
            row_begin.push_back(static_cast<int64_t>(row_r.size()));
            for (int64_t r = 0; r < g.R; ++r)
                if (floor_mod(r * g.dh, g.sh) == q) {
                    row_r.push_back(r);
                    row_k.push_back((r * g.dh - q) / g.sh);
                }
        }
        row_begin.push_back(static_cast<int64_t>(row_r.size()));
        // Kernel column s reaches columns j = u * sw + b with
        // b == (s * dw - pl) mod sw, from dy column u + (b + pl - s * dw) / sw.
        for (int64_t b = 0; b < g.sw; ++b) {
            col_begin.push_back(static_cast<int64_t>(col_s.size()));
            for (int64_t s = 0; s < g.S; ++s)
                if (floor_mod(s * g.dw - g.pl, g.sw) == b) {
                    col_s.push_back(s);
                    col_d.push_back((b + g.pl - s * g.dw) / g.sw);
                }
        }
        col_begin.push_back(static_cast<int64_t>(col_s.size()));
    }

    TransposedTaps view() const {
        return {row_r.data(), row_k.data(), row_begin.data(),
                col_s.data(), col_d.data(), col_begin.data()};
    }
};

}  // namespace gconv
