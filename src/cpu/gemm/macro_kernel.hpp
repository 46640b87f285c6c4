// The cache-blocking loops around the micro-kernel, ISA-neutral.
#pragma once

#include <cstdint>

#include "cpu/kernel_table.hpp"

namespace gconv {

// C (M x nc, element (i, j) at c[i * rs + j * cs]) = A_packed * B for one
// group and one pixel tile. BLIS's loop order: one NR-wide micro-panel of B
// stays in L1 while the MR-row panels of A stream past it from L2 (measured:
// 1.4x faster for NCHW's 16-wide B panels than the transposed order). B is produced KC rows at a time by
// pack_b(p0, kc, b_scratch); each block's partial sums accumulate in C, and
// the last block adds the bias and applies the activation, so every output
// sees the same reduction order whatever the tiling or thread count.
template <typename T, typename PackB>
void gemm_macro_kernel(const GemmUkernel<T>& uk, const T* a_packed, int64_t M, int64_t kd,
                       int64_t nc, int64_t KC, T* b_scratch, const PackB& pack_b, T* c,
                       int64_t rs, int64_t cs, const T* bias, int act) {
    for (int64_t p0 = 0; p0 < kd; p0 += KC) {
        const int64_t kc = kd - p0 < KC ? kd - p0 : KC;
        pack_b(p0, kc, b_scratch);
        const bool last = p0 + kc == kd;
        for (int64_t j0 = 0; j0 < nc; j0 += uk.nr) {
            for (int64_t i0 = 0; i0 < M; i0 += uk.mr) {
                const T* a = a_packed + i0 * kd + p0 * uk.mr;
                GemmTile<T> tile;
                tile.c = c + i0 * rs + j0 * cs;
                tile.rs = rs;
                tile.cs = cs;
                tile.m = static_cast<int>(M - i0 < uk.mr ? M - i0 : uk.mr);
                tile.n = static_cast<int>(nc - j0 < uk.nr ? nc - j0 : uk.nr);
                tile.accumulate = p0 > 0;
                tile.last = last;
                tile.bias = bias ? bias + i0 : nullptr;
                tile.act = act;
                uk.fn(kc, a, b_scratch + j0 * kc, tile);
            }
        }
    }
}

}  // namespace gconv
