// A loop of independent vector FMAs: what one core of this family can do at
// best. The benchmark divides kernel speeds by it ("fraction of peak").
#if defined(__SSE2__)
#include <immintrin.h>
#endif

#include "cpu/kernel_table.hpp"

namespace gconv {
namespace GCONV_ISA {

#include "cpu/common/simd.inl"

namespace {

constexpr int kChains = 12;  // enough independent FMAs to cover latency x ports

// Returns a value depending on every chain so the loop cannot be removed;
// each iteration is kChains * N FMAs (2 FLOPs each).
float fma_peak_loop(int64_t iterations, float seed) {
    using V = Vec<float>;
    const V a = V::set1(1.0f + seed * 1e-7f), b = V::set1(1e-7f * seed);
    V acc[kChains];
    for (int c = 0; c < kChains; ++c) acc[c] = V::set1(1e-3f * static_cast<float>(c));
    for (int64_t i = 0; i < iterations; ++i)
        for (int c = 0; c < kChains; ++c) acc[c] = fmadd(acc[c], a, b);
    alignas(64) float lanes[V::N];
    float sum = 0;
    for (int c = 0; c < kChains; ++c) {
        acc[c].store(lanes);
        for (int l = 0; l < V::N; ++l) sum += lanes[l];
    }
    return sum;
}

}  // namespace

void fill_peak(KernelTable& table) {
    table.fma_peak_loop = fma_peak_loop;
    table.fma_peak_flops_per_iteration = 2 * kChains * Vec<float>::N;
}

}  // namespace GCONV_ISA
}  // namespace gconv
