#include "cpu/transposed/transpose_weights.h"

#include <cinttypes>
#include <new>
#include <vector>

#include "core/error.hpp"
#include "core/threads.hpp"
#include "cpu/common/prefetch.hpp"

namespace gconv {
namespace {

// One output channel's taps: out[t] = from[tap[t]], t < count (a
// compile-time count where it is a common kernel's, so that the loop
// unrolls into plain moves).
template <typename T, int kCount>
inline void copy_taps(const T* from, const int64_t* tap, int64_t count, T* out) {
    if constexpr (kCount > 0) count = kCount;
    for (int64_t t = 0; t < count; ++t) out[t] = from[tap[t]];
}

// Output order: each (group, input channel) reads the same short run of
// every output channel's weights, so the Kg runs a channel reads stay in L1
// for the next channel's (their neighbours). The Kg rows are so many
// streams Cg * R * S apart, which the prefetchers did not follow (ResNeXt
// s5's 1024 x 32 x 3 x 3 from memory took 0.5 ms): each row's line four
// ahead is requested as it is read. The (group, channel) pairs are split
// into one contiguous range per thread: one thread took 8% of ResNeXt s5's
// input gradient (0.14 ms) while the other waited for the convolution.
template <typename T, int kCount>
void transpose_taps(int64_t groups, int64_t Kg, int64_t Cg, int64_t run, const int64_t* tap,
                    int64_t count, const T* w, T* out) {
    constexpr int64_t kAhead = 4 * 64 / static_cast<int64_t>(sizeof(T));
    const int64_t pairs = groups * Cg;
    const int threads = threads_for_work(0, pairs * Kg * count);
    parallel_for(pairs, threads, [&](int64_t pair, int) {
        const int64_t g = pair / Cg, c = pair % Cg;
        T* to = out + pair * Kg * count;
        for (int64_t k = 0; k < Kg; ++k, to += count) {
            const T* from = w + ((g * Kg + k) * Cg + c) * run;
            prefetch(from + kAhead);
            copy_taps<T, kCount>(from, tap, count, to);
        }
    });
}

// The taps' offsets within a run of R * S come from a table.
template <typename T>
void transpose(int64_t groups, int64_t Kg, int64_t Cg, int64_t R, int64_t S, int64_t r0,
               int64_t r_step, int64_t rows, int64_t s0, int64_t s_step, int64_t cols,
               const T* w, T* out) {
    std::vector<int64_t> taps(static_cast<size_t>(rows * cols));
    for (int64_t i = 0; i < rows; ++i)
        for (int64_t j = 0; j < cols; ++j)
            taps[static_cast<size_t>(i * cols + j)] = (r0 - i * r_step) * S + s0 - j * s_step;
    const int64_t count = rows * cols, run = R * S;
    const int64_t* tap = taps.data();
    switch (count) {
        case 1: return transpose_taps<T, 1>(groups, Kg, Cg, run, tap, count, w, out);
        case 9: return transpose_taps<T, 9>(groups, Kg, Cg, run, tap, count, w, out);
        case 25: return transpose_taps<T, 25>(groups, Kg, Cg, run, tap, count, w, out);
        case 49: return transpose_taps<T, 49>(groups, Kg, Cg, run, tap, count, w, out);
        default: return transpose_taps<T, 0>(groups, Kg, Cg, run, tap, count, w, out);
    }
}

}  // namespace
}  // namespace gconv

extern "C" gconv_status gconv_transpose_weights(int32_t dtype, int64_t groups, int64_t K,
                                                int64_t Cg, int64_t R, int64_t S, int64_t r0,
                                                int64_t r_step, int64_t rows, int64_t s0,
                                                int64_t s_step, int64_t cols, const void* w,
                                                void* out) {
    using namespace gconv;
    const bool taps_inside = rows >= 1 && cols >= 1 && r_step >= 1 && s_step >= 1 && r0 < R &&
                             s0 < S && r0 - (rows - 1) * r_step >= 0 &&
                             s0 - (cols - 1) * s_step >= 0;
    if (groups < 1 || K < 1 || K % groups != 0 || Cg < 1 || !taps_inside)
        return fail(GCONV_INVALID_PARAMETER,
                    "transpose_weights: inconsistent sizes (groups %" PRId64 ", K %" PRId64
                    ", Cg %" PRId64 ", kernel %" PRId64 "x%" PRId64 ", rows from %" PRId64
                    " by %" PRId64 " x %" PRId64 ", columns from %" PRId64 " by %" PRId64
                    " x %" PRId64 ")",
                    groups, K, Cg, R, S, r0, r_step, rows, s0, s_step, cols);
    try {
        if (dtype == GCONV_FLOAT64)
            transpose(groups, K / groups, Cg, R, S, r0, r_step, rows, s0, s_step, cols,
                      static_cast<const double*>(w), static_cast<double*>(out));
        else
            transpose(groups, K / groups, Cg, R, S, r0, r_step, rows, s0, s_step, cols,
                      static_cast<const float*>(w), static_cast<float*>(out));
    } catch (const std::bad_alloc&) {
        return fail(GCONV_OUT_OF_MEMORY, "transpose_weights: cannot allocate %" PRId64 " taps",
                    rows * cols);
    }
    return GCONV_SUCCESS;
}
