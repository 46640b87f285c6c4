// A loop of independent vector FMAs: what one core of this family can do at
// best. The benchmark divides kernel speeds by it ("fraction of peak").
#include <cstdint>

#include "cpu/kernel_table.hpp"

namespace gconv {
namespace GCONV_ISA {

namespace {

#if GCONV_ISA_LEVEL == 2
constexpr int kVectorBytes = 64;
#elif GCONV_ISA_LEVEL == 1
constexpr int kVectorBytes = 32;
#else
constexpr int kVectorBytes = 16;
#endif
constexpr int kLanes = kVectorBytes / 4;
constexpr int kChains = 12;  // enough independent FMAs to cover latency x ports
typedef float VecF __attribute__((vector_size(kVectorBytes)));

// Returns a value depending on every chain so the loop cannot be removed;
// each iteration is kChains * kLanes FMAs (2 FLOPs each).
float fma_peak_loop(int64_t iterations, float seed) {
    VecF acc[kChains];
    VecF a, b;
    for (int l = 0; l < kLanes; ++l) a[l] = 1.0f + seed * 1e-7f, b[l] = 1e-7f * seed;
    for (int c = 0; c < kChains; ++c) acc[c] = a * float(c) * 1e-3f;
    for (int64_t i = 0; i < iterations; ++i) {
#pragma GCC unroll 12
        for (int c = 0; c < kChains; ++c) acc[c] = acc[c] * a + b;
    }
    float sum = 0;
    for (int c = 0; c < kChains; ++c)
        for (int l = 0; l < kLanes; ++l) sum += acc[c][l];
    return sum;
}

}  // namespace

void fill_peak(KernelTable& table) {
    table.fma_peak_loop = fma_peak_loop;
    table.fma_peak_flops_per_iteration = 2 * kChains * kLanes;
}

}  // namespace GCONV_ISA
}  // namespace gconv
