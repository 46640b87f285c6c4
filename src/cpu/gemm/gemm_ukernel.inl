// GEMM micro-kernels in two orientations, compiled once per ISA family.
//
// rows: vector lanes along NR (columns). For NCHW, where a row of C is an
//       output channel's contiguous pixels (cs == 1).
// cols: vector lanes along MR (rows). For NHWC, where a column of C is a
//       pixel's contiguous output channels (rs == 1).
// Both keep the whole MR x NR accumulator in registers over the kc steps and
// fuse the epilogue (accumulate, bias, activation) into the store. A tile
// that is partial in the vector direction, or strided the other way, goes
// through a small buffer and the scalar store, which applies the same
// operations in the same order.
#if defined(__SSE2__)
#include <immintrin.h>
#endif

#include "cpu/kernel_table.hpp"

namespace gconv {
namespace GCONV_ISA {

#include "cpu/common/kernel_common.inl"
#include "cpu/common/simd.inl"

namespace {

template <typename T>
void store_scalar(const T* acc, int ld_i, int ld_j, const GemmTile<T>& t) {
    for (int i = 0; i < t.m; ++i) {
        const T bias = (t.last && t.bias) ? t.bias[i] : T(0);
        for (int j = 0; j < t.n; ++j) {
            T* dst = t.c + i * t.rs + j * t.cs;
            T v = t.accumulate ? *dst + acc[i * ld_i + j * ld_j] : acc[i * ld_i + j * ld_j];
            if (t.last) v = activate(v + bias, t.act);
            *dst = v;
        }
    }
}

template <typename T>
inline Vec<T> epilogue(Vec<T> v, const T* dst, bool accumulate, bool last, Vec<T> bias,
                       int act) {
    if (accumulate) v = Vec<T>::load(dst) + v;
    if (last) v = activate_vec(v + bias, act);
    return v;
}

// B's step p at b + p * ldb: packed (ldb = NR, gemm_ukernel_rows) or in place.
template <typename T, int MR, int NV>
void gemm_ukernel_rows_strided(int64_t kc, const T* __restrict a, const T* __restrict b,
                               int64_t ldb, const GemmTile<T>& t) {
    using V = Vec<T>;
    constexpr int NR = NV * V::N;
    V acc[MR][NV];
    for (int i = 0; i < MR; ++i)
        for (int v = 0; v < NV; ++v) acc[i][v] = V::zero();
    int64_t p = 0;
    do {  // kc >= 1: no path skips the loop, so acc[][] never needs a home in memory
        V bv[NV];
        for (int v = 0; v < NV; ++v) bv[v] = V::load(b + p * ldb + v * V::N);
        for (int i = 0; i < MR; ++i) {
            const V ai = V::set1(a[p * MR + i]);
            for (int v = 0; v < NV; ++v) acc[i][v] = fmadd(ai, bv[v], acc[i][v]);
        }
    } while (++p < kc);
    if (t.n == NR && t.cs == 1) {
        // To MR, not t.m: unrolled, so acc[][] stays in registers (with the
        // runtime bound GCC kept a copy on the stack, zeroed every call).
        for (int i = 0; i < MR; ++i) {
            if (i == t.m) break;
            T* crow = t.c + i * t.rs;
            const V bias = V::set1((t.last && t.bias) ? t.bias[i] : T(0));
            for (int v = 0; v < NV; ++v)
                epilogue(acc[i][v], crow + v * V::N, t.accumulate, t.last, bias, t.act)
                    .store(crow + v * V::N);
        }
        return;
    }
    alignas(64) T buffer[MR * NR];
    for (int i = 0; i < MR; ++i)
        for (int v = 0; v < NV; ++v) acc[i][v].store(buffer + i * NR + v * V::N);
    store_scalar(buffer, NR, 1, t);
}

template <typename T, int MR, int NV>
void gemm_ukernel_rows(int64_t kc, const T* __restrict a, const T* __restrict b,
                       const GemmTile<T>& t) {
    gemm_ukernel_rows_strided<T, MR, NV>(kc, a, b, NV * Vec<T>::N, t);
}

// The epilogue of the cols kernels: acc[j][v] is rows [v * lanes, + lanes)
// of column j of the tile. Always inlined: called, it took acc[][] by
// reference, through memory, after every micro-kernel.
template <typename T, int MV, int NR>
GCONV_ALWAYS_INLINE void store_cols(const Vec<T> (&acc)[NR][MV], const GemmTile<T>& t) {
    using V = Vec<T>;
    constexpr int MR = MV * V::N;
    if (t.m == MR && t.rs == 1) {
        V bias[MV];
        for (int v = 0; v < MV; ++v)
            bias[v] = (t.last && t.bias) ? V::load(t.bias + v * V::N) : V::zero();
        for (int j = 0; j < NR; ++j) {  // to NR, not t.n: as in gemm_ukernel_rows
            if (j == t.n) break;
            T* ccol = t.c + j * t.cs;
            for (int v = 0; v < MV; ++v)
                epilogue(acc[j][v], ccol + v * V::N, t.accumulate, t.last, bias[v], t.act)
                    .store(ccol + v * V::N);
        }
        return;
    }
    alignas(64) T buffer[MR * NR];
    for (int j = 0; j < NR; ++j)
        for (int v = 0; v < MV; ++v) acc[j][v].store(buffer + j * MR + v * V::N);
    store_scalar(buffer, 1, MR, t);
}

template <typename T, int MV, int NR>
void gemm_ukernel_cols(int64_t kc, const T* __restrict a, const T* __restrict b,
                       const GemmTile<T>& t) {
    using V = Vec<T>;
    constexpr int MR = MV * V::N;
    V acc[NR][MV];
    for (int j = 0; j < NR; ++j)
        for (int v = 0; v < MV; ++v) acc[j][v] = V::zero();
    int64_t p = 0;
    do {  // kc >= 1, as in gemm_ukernel_rows
        V av[MV];
        for (int v = 0; v < MV; ++v) av[v] = V::load(a + p * MR + v * V::N);
        for (int j = 0; j < NR; ++j) {
            const V bj = V::set1(b[p * NR + j]);
            for (int v = 0; v < MV; ++v) acc[j][v] = fmadd(av[v], bj, acc[j][v]);
        }
    } while (++p < kc);
    store_cols<T, MV, NR>(acc, t);
}

// A reduction block's panel of A beyond this many bytes comes from L2 (the
// L1 holds the micro-panel's B rows): its lines are requested kFetchSteps
// steps ahead. Sapphire Rapids, both layouts, N=1 and 16: dense 3x3 over
// 256 channels (590 KB per panel) 1.04-1.17x, over 64 (147 KB) 1.02-1.04x,
// AlexNet conv4 1.02-1.06x; ResNeXt s5's 36 KB panels, in L1, ran 1-2%
// slower with them.
constexpr int64_t kFetchedPanelBytes = 64 * 1024;
constexpr int kFetchSteps = 16;

template <typename T, int MV, int NR, int kPanelRows, int kTableColumns, bool kFetchA>
GCONV_ALWAYS_INLINE void accumulate_indirect(int64_t taps, int64_t c0, int64_t channels,
                                             const T* __restrict a, const T* const* rows,
                                             Vec<T> (&acc)[NR][MV]) {
    using V = Vec<T>;
    int64_t tap = 0;
    do {  // taps >= 1 and channels >= 1, as in gemm_ukernel_rows
        const T* column[NR];
        for (int j = 0; j < NR; ++j) column[j] = rows[tap * kTableColumns + j] + c0;
        int64_t c = 0;
        do {
            if (kFetchA)  // past the panel's end on its last steps: harmless hints
                for (int v = 0; v < MV; ++v)
                    __builtin_prefetch(a + kFetchSteps * kPanelRows + v * V::N);
            V av[MV];
            for (int v = 0; v < MV; ++v) av[v] = V::load(a + v * V::N);
            for (int j = 0; j < NR; ++j) {
                const V bj = V::set1(column[j][c]);
                for (int v = 0; v < MV; ++v) acc[j][v] = fmadd(av[v], bj, acc[j][v]);
            }
            a += kPanelRows;
        } while (++c < channels);
    } while (++tap < taps);
}

// Columns past t.n point at valid data (the caller repeats the last column);
// their results are not stored. A is packed in panels of kPanelRows rows,
// of which the kernel computes the first MV vectors; the table has
// kTableColumns entries per tap, of which the kernel reads the first NR.
template <typename T, int MV, int NR, int kPanelRows = MV * Vec<T>::N, int kTableColumns = NR>
void gemm_ukernel_cols_indirect(int64_t taps, int64_t c0, int64_t channels,
                                const T* __restrict a, const T* const* rows,
                                const GemmTile<T>& t) {
    using V = Vec<T>;
    V acc[NR][MV];
    for (int j = 0; j < NR; ++j)
        for (int v = 0; v < MV; ++v) acc[j][v] = V::zero();
    const int64_t panel_bytes = taps * channels * kPanelRows * static_cast<int64_t>(sizeof(T));
    if (panel_bytes > kFetchedPanelBytes)
        accumulate_indirect<T, MV, NR, kPanelRows, kTableColumns, true>(taps, c0, channels, a,
                                                                          rows, acc);
    else
        accumulate_indirect<T, MV, NR, kPanelRows, kTableColumns, false>(taps, c0, channels, a,
                                                                           rows, acc);
    store_cols<T, MV, NR>(acc, t);
}

// Register budget: accumulators + one vector row of B (or column of A) + a
// broadcast must fit the family's vector registers (32 zmm, 16 ymm/xmm).
// kNarrow: the columns of a last micro-panel's kernel. Where a map's pixels
// leave a few columns for the last panel, the full kernel computed the rest
// on repeats of the last pixel (AlexNet conv4 and conv5 at N=1, NHWC:
// 1.06-1.07x).
#if GCONV_ISA_LEVEL == 2
constexpr int kRows = 12, kVecs = 2, kNarrow = 4;
#elif GCONV_ISA_LEVEL == 1
constexpr int kRows = 6, kVecs = 2, kNarrow = 2;
#else
constexpr int kRows = 4, kVecs = 2, kNarrow = 2;
#endif

template <typename T>
void fill(KernelFamily<T>& f) {
    constexpr int lanes = Vec<T>::N;
    f.gemm_rows = {gemm_ukernel_rows<T, kRows, kVecs>, kRows, kVecs * lanes};
    f.gemm_rows.fn_strided = gemm_ukernel_rows_strided<T, kRows, kVecs>;
    f.gemm_cols = {gemm_ukernel_cols<T, kVecs, kRows>, kVecs * lanes, kRows,
                   gemm_ukernel_cols_indirect<T, kVecs, kRows>,
                   gemm_ukernel_cols_indirect<T, kVecs / 2, kRows, kVecs * lanes>,
                   gemm_ukernel_cols_indirect<T, kVecs, kNarrow, kVecs * lanes, kRows>,
                   kNarrow};
#if GCONV_ISA_LEVEL == 2
    f.gemm_rows_tall = {gemm_ukernel_rows<T, 8, 3>, 8, 3 * lanes};
    f.gemm_rows_tall.fn_strided = gemm_ukernel_rows_strided<T, 8, 3>;
    // 48 x 8 (24 accumulators, 8 column pointers): AlexNet conv2's input
    // gradient has 48 channels per group, which 32-row panels computed as
    // 64.
    f.gemm_cols_tall = {gemm_ukernel_cols<T, 3, 8>, 3 * lanes, 8,
                        gemm_ukernel_cols_indirect<T, 3, 8>};
    // 64 x 6: N=16, dense 3x3 1.03-1.07x (float64 1.05-1.09x), AlexNet conv4
    // 1.02-1.04x.
    f.gemm_cols_wide = {gemm_ukernel_cols<T, 4, 6>, 4 * lanes, 6,
                        gemm_ukernel_cols_indirect<T, 4, 6>, nullptr,
                        gemm_ukernel_cols_indirect<T, 4, 2, 4 * lanes, 6>, 2};
    // 80 x 5: ShuffleNet's grouped 1x1 (80 output channels per group), NHWC,
    // 1.07-1.10x with its input in the caches, 0.98-1.06x flushed; a 3x3
    // with 80 per group 1.04-1.10x. Its loads per FMA are gemm_cols' (the
    // pattern alone, bench/micro: 89-92% of peak from L1, against 85-88%).
    // Where M is a multiple of 32 it lost to gemm_cols (160 channels:
    // 0.94x), and it is unmeasured for float64.
    if constexpr (sizeof(T) == 4)
        f.gemm_cols_five = {gemm_ukernel_cols<T, 5, 5>, 5 * lanes, 5,
                            gemm_ukernel_cols_indirect<T, 5, 5>};
    else
        f.gemm_cols_five = {nullptr, 0, 0};
#else
    f.gemm_rows_tall = {nullptr, 0, 0};
    f.gemm_cols_tall = {nullptr, 0, 0};
    f.gemm_cols_wide = {nullptr, 0, 0};
    f.gemm_cols_five = {nullptr, 0, 0};
#endif
}

}  // namespace

void fill_gemm(KernelTable& table) {
    fill(table.f32);
    fill(table.f64);
}

}  // namespace GCONV_ISA
}  // namespace gconv
