// The cache-blocking loops around the micro-kernel, ISA-neutral.
#pragma once

#include <cstdint>

#include "cpu/common/prefetch.hpp"
#include "cpu/kernel_table.hpp"

namespace gconv {

// C (M x nc, element (i, j) at c[i * rs + j * cs]) = A_packed * B for one
// group and one pixel tile. BLIS's loop order: one NR-wide micro-panel of B
// stays in L1 while the MR-row panels of A stream past it from L2 (measured:
// 1.4x faster for NCHW's 16-wide B panels than the transposed order). B is produced KC rows at a time by
// pack_b(p0, kc, b_scratch); each block's partial sums accumulate in C, and
// the last block adds the bias and applies the activation, so every output
// sees the same reduction order whatever the tiling or thread count.
// The tile of C at rows [i0, i0 + mr), columns [j0, j0 + nr) of an M x nc
// block, for reduction block [p0, p0 + kc) of kd.
template <typename T>
GemmTile<T> gemm_tile(const GemmUkernel<T>& uk, int64_t M, int64_t nc, int64_t i0, int64_t j0,
                      int64_t p0, int64_t kc, int64_t kd, T* c, int64_t rs, int64_t cs,
                      const T* bias, int act) {
    GemmTile<T> tile;
    tile.c = c + i0 * rs + j0 * cs;
    tile.rs = rs;
    tile.cs = cs;
    tile.m = static_cast<int>(M - i0 < uk.mr ? M - i0 : uk.mr);
    tile.n = static_cast<int>(nc - j0 < uk.nr ? nc - j0 : uk.nr);
    tile.accumulate = p0 > 0;
    tile.last = p0 + kc == kd;
    tile.bias = bias ? bias + i0 : nullptr;
    tile.act = act;
    return tile;
}

// Lines another item will read (`rows` runs of `bytes` bytes, `stride`
// bytes apart, from `base`; rows = 0: none), requested into L2 a share per
// micro-kernel call while this item computes.
struct LinesAhead {
    const void* base = nullptr;
    int64_t stride = 0, rows = 0, bytes = 0;
};

template <typename T, typename PackB>
void gemm_macro_kernel(const GemmUkernel<T>& uk, const T* a_packed, int64_t M, int64_t kd,
                       int64_t nc, int64_t KC, T* b_scratch, const PackB& pack_b, T* c,
                       int64_t rs, int64_t cs, const T* bias, int act,
                       const LinesAhead& ahead = {}) {
    const int64_t panels = (M + uk.mr - 1) / uk.mr;
    RowFetch requests(ahead.base, ahead.stride, ahead.bytes, 0, ahead.rows,
                      (kd + KC - 1) / KC * ((nc + uk.nr - 1) / uk.nr) * panels, false, true);
    for (int64_t p0 = 0; p0 < kd; p0 += KC) {
        const int64_t kc = kd - p0 < KC ? kd - p0 : KC;
        pack_b(p0, kc, b_scratch);
        for (int64_t j0 = 0; j0 < nc; j0 += uk.nr) {
            // The first block writes C: the next micro-panel's column block
            // of every row, requested while this one computes, a share per
            // row panel (all at once, the requests stalled on the
            // outstanding-miss limit). Rows rs apart (NCHW planes) defeat
            // the hardware prefetchers, and beyond L2 each store waited for
            // its line (ShuffleNet's grouped 1x1 at N=16, 2 threads: 9.9 ->
            // 8.6 ms).
            const int64_t rows = p0 == 0 && cs == 1 && j0 + uk.nr < nc ? M : 0;
            for (int64_t i0 = 0, k = 0; i0 < M; i0 += uk.mr, ++k) {
                for (int64_t i = k * rows / panels; i < (k + 1) * rows / panels; ++i)
                    prefetch_write(c + i * rs + j0 + uk.nr);
                requests.step();
                uk.fn(kc, a_packed + i0 * kd + p0 * uk.mr, b_scratch + j0 * kc,
                      gemm_tile(uk, M, nc, i0, j0, p0, kc, kd, c, rs, cs, bias, act));
            }
        }
    }
}

// gemm_macro_kernel with B read where it lies: step p of the micro-panel
// at columns j0.. is at b + p * ldb + j0 (uk.fn_strided), so no panel is
// copied; a last micro-panel narrower than nr is packed by
// pack_tail(p0, kc, j0, width, b_scratch) and goes through uk.fn. B's rows
// ldb apart are more streams than the hardware prefetchers follow: the
// rows of the micro-panel kStridedAheadPanels ahead are requested into L2,
// a share per row panel. Without them, ShuffleNet's grouped 1x1 at N=1 ran
// 0.93x packed's speed once its input had left the caches (1.17x while it
// stayed); with them 0.97-1.05x and 1.13x. For data the caches hold: at
// N=16, from memory, it was no faster than packed.
constexpr int64_t kStridedAheadPanels = 7;

template <typename T, typename PackTail>
void gemm_macro_kernel_strided(const GemmUkernel<T>& uk, const T* a_packed, int64_t M,
                               int64_t kd, int64_t nc, int64_t KC, const T* b, int64_t ldb,
                               T* b_scratch, const PackTail& pack_tail, T* c, int64_t rs,
                               int64_t cs, const T* bias, int act) {
    constexpr int64_t line = 64 / static_cast<int64_t>(sizeof(T));
    const int64_t panels = (M + uk.mr - 1) / uk.mr;
    for (int64_t p0 = 0; p0 < kd; p0 += KC) {
        const int64_t kc = kd - p0 < KC ? kd - p0 : KC;
        for (int64_t j0 = 0; j0 < nc; j0 += uk.nr) {
            const bool whole = j0 + uk.nr <= nc;
            if (!whole) pack_tail(p0, kc, j0, nc - j0, b_scratch);
            const T* ahead = b + p0 * ldb + j0 + kStridedAheadPanels * uk.nr;  // hints only
            for (int64_t i0 = 0, k = 0; i0 < M; i0 += uk.mr, ++k) {
                for (int64_t q = k * kc / panels; q < (k + 1) * kc / panels; ++q)
                    for (int64_t l = 0; l < uk.nr; l += line) prefetch_l2(ahead + q * ldb + l);
                const GemmTile<T> tile =
                    gemm_tile(uk, M, nc, i0, j0, p0, kc, kd, c, rs, cs, bias, act);
                if (whole)
                    uk.fn_strided(kc, a_packed + i0 * kd + p0 * uk.mr, b + p0 * ldb + j0, ldb,
                                  tile);
                else
                    uk.fn(kc, a_packed + i0 * kd + p0 * uk.mr, b_scratch, tile);
            }
        }
    }
}

// Reduction blocks of the indirect GEMM, whose kd = taps * Cg steps run tap
// by tap: whole taps while a tap's Cg steps fit a block, otherwise one tap's
// channels in parts; equal blocks of at most `most` steps either way.
struct ReductionBlocks {
    int64_t taps, channels;
};

inline ReductionBlocks reduction_blocks(int64_t taps, int64_t Cg, int64_t most) {
    if (Cg <= most) {
        const int64_t per_block = Cg > 0 ? most / Cg : taps;
        const int64_t blocks = (taps + per_block - 1) / per_block;
        return {blocks > 0 ? (taps + blocks - 1) / blocks : 1, Cg};
    }
    const int64_t blocks = (Cg + most - 1) / most;
    return {1, (Cg + blocks - 1) / blocks};
}

// The same loops with B read in place through uk.fn_indirect. The reduction
// (kd = taps * Cg steps, A packed tap-major) runs in `blocks`;
// point_rows(j0, t0, kt, table) writes the table of the NR columns from j0
// for taps [t0, t0 + kt): table[t * NR + j]. It is rewritten per micro-panel
// and reused by all of M's row panels, so the pointer arithmetic costs one
// pass over the pixels and taps, however many output channels there are.
// `table` holds two micro-panels' tables.
//
// With requests.rows (the caller's data do not stay in the caches and each
// pixel's rows are a slice of a longer one, as a group's channels in NHWC):
// the next micro-panel's table is written first, and its B rows (into L1,
// or L2 with rows_into_l2) and, with requests.output, in the first block
// its columns of C are requested a share per row panel while this one
// computes. Strided slices defeat some hardware prefetchers, and
// requesting them all at once stalled on the outstanding-miss limit
// (ShuffleNet's grouped 1x1 at N=16, NHWC, 2 threads, Zen 4: 6.5-7.1 ->
// 5.1-5.5 ms).
struct IndirectRequests {
    bool rows = false;
    bool rows_into_l2 = false;
    bool output = false;
};

template <typename T, typename PointRows>
void gemm_macro_kernel_indirect(const GemmUkernel<T>& uk, const T* a_packed, int64_t M,
                                int64_t taps, int64_t Cg, ReductionBlocks blocks, int64_t nc,
                                const T** table, const PointRows& point_rows, T* c, int64_t rs,
                                int64_t cs, const T* bias, int act,
                                IndirectRequests requests = {}) {
    const bool fetch_ahead = requests.rows;
    constexpr int64_t line = 64 / static_cast<int64_t>(sizeof(T));
    const int64_t kd = taps * Cg, panels = (M + uk.mr - 1) / uk.mr;
    for (int64_t t0 = 0; t0 < taps; t0 += blocks.taps) {
        const int64_t kt = taps - t0 < blocks.taps ? taps - t0 : blocks.taps;
        for (int64_t c0 = 0; c0 < Cg; c0 += blocks.channels) {
            const int64_t channels = Cg - c0 < blocks.channels ? Cg - c0 : blocks.channels;
            const int64_t p0 = t0 * Cg + c0, kc = kt * channels;
            const T** cur = table;
            const T** next = table + uk.nr * blocks.taps;
            if (fetch_ahead) point_rows(0, t0, kt, cur);
            for (int64_t j0 = 0; j0 < nc; j0 += uk.nr) {
                const int64_t j1 = j0 + uk.nr;  // the next micro-panel
                const int64_t columns = j1 >= nc ? 0 : nc - j1 < uk.nr ? nc - j1 : uk.nr;
                const int64_t entries = columns > 0 ? kt * uk.nr : 0;
                const int64_t c_columns = requests.output && p0 == 0 && rs == 1 ? columns : 0;
                if (!fetch_ahead)
                    point_rows(j0, t0, kt, cur);
                else if (columns > 0)
                    point_rows(j1, t0, kt, next);
                for (int64_t i0 = 0, k = 0; i0 < M; i0 += uk.mr, ++k) {
                    if (fetch_ahead) {
                        for (int64_t e = k * entries / panels; e < (k + 1) * entries / panels; ++e)
                            for (int64_t ch = 0; ch < channels; ch += line) {
                                if (requests.rows_into_l2)
                                    prefetch_l2(next[e] + c0 + ch);
                                else
                                    prefetch(next[e] + c0 + ch);
                            }
                        for (int64_t j = k * c_columns / panels; j < (k + 1) * c_columns / panels;
                             ++j)
                            for (int64_t i = 0; i < M; i += line)
                                prefetch_write(c + (j1 + j) * cs + i);
                    }
                    const bool narrow = uk.fn_indirect_narrow != nullptr &&
                                        nc - j0 <= uk.narrow_nr;
                    const bool half = uk.fn_indirect_half != nullptr && M - i0 <= uk.mr / 2;
                    (narrow ? uk.fn_indirect_narrow : half ? uk.fn_indirect_half : uk.fn_indirect)(
                        kt, c0, channels, a_packed + i0 * kd + p0 * uk.mr, cur,
                        gemm_tile(uk, M, nc, i0, j0, p0, kc, kd, c, rs, cs, bias, act));
                }
                if (fetch_ahead) {
                    const T** done = cur;
                    cur = next;
                    next = done;
                }
            }
        }
    }
}

}  // namespace gconv
