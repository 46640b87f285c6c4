// The instruction patterns of gconv's AVX-512 float32 micro-kernels, alone
// in a loop: how close to the FMA peak this CPU runs each one, with its
// streamed operand in L1 and in L2. gconv's kernels cannot beat these, so
// they say how much of a layer's gap to the peak is the kernel's pattern
// and how much everything around it.
//
// A pattern "MxN" keeps M/16 vectors of A and N broadcast values of B per
// reduction step: M/16 vector loads, N broadcasts and M/16 * N FMAs, with
// M/16 * N accumulators in registers (gemm_ukernel_cols: 64x6, 32x12, 48x8;
// grouped_channel_lanes: 16x7). "L1": A cycles through 128 steps (at most
// 40 KiB); "L2": through 4096 (1.3 MB at 80 rows), as a GEMM's packed
// panel streams from L2.
//
// Build and run (one thread; compare with `measure_fma_peak` on one thread):
//   g++ -O3 -march=native -o /tmp/ukernel_patterns bench/micro/ukernel_patterns.cpp
//   /tmp/ukernel_patterns
//   python -c "from gconv import _core; print(_core.measure_fma_peak(100_000_000, 1))"
#include <immintrin.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>

namespace {

template <int MV, int NR>
__attribute__((noinline)) void pattern(long steps, const float* a, long a_mask,
                                       const float* const* b, float* out) {
    __m512 acc[NR][MV];
    for (int j = 0; j < NR; ++j)
        for (int v = 0; v < MV; ++v) acc[j][v] = _mm512_setzero_ps();
    for (long p = 0; p < steps; ++p) {
        const float* ap = a + (p & a_mask) * MV * 16;
        __m512 av[MV];
        for (int v = 0; v < MV; ++v) av[v] = _mm512_loadu_ps(ap + v * 16);
        for (int j = 0; j < NR; ++j) {
            const __m512 bj = _mm512_set1_ps(b[j][p & 1023]);
            for (int v = 0; v < MV; ++v) acc[j][v] = _mm512_fmadd_ps(av[v], bj, acc[j][v]);
        }
    }
    for (int j = 0; j < NR; ++j)
        for (int v = 0; v < MV; ++v) _mm512_storeu_ps(out + (j * MV + v) * 16, acc[j][v]);
}

template <int MV, int NR>
void time_pattern(const float* a, const float* const* b, float* out) {
    const long steps = 50'000'000;
    for (long mask : {127L, 4095L}) {
        pattern<MV, NR>(steps / 10, a, mask, b, out);  // warm-up
        const auto t0 = std::chrono::steady_clock::now();
        pattern<MV, NR>(steps, a, mask, b, out);
        const double s =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        const double gflops = 32.0 * MV * NR * static_cast<double>(steps) / s / 1e9;
        std::printf("%3dx%-2d (%d loads + %2d broadcasts, %2d FMAs) %s: %6.1f GFLOP/s\n", 16 * MV,
                    NR, MV, NR, MV * NR, mask == 127 ? "L1" : "L2", gflops);
    }
}

}  // namespace

int main() {
    const long a_values = 4096L * 80;
    float* a = static_cast<float*>(std::aligned_alloc(64, a_values * sizeof(float)));
    float* bb = static_cast<float*>(std::aligned_alloc(64, 16 * 1024 * sizeof(float)));
    for (long i = 0; i < a_values; ++i) a[i] = 1e-3f * static_cast<float>(i % 7);
    for (long i = 0; i < 16 * 1024; ++i) bb[i] = 1e-3f * static_cast<float>(i % 5);
    const float* b[16];
    for (int j = 0; j < 16; ++j) b[j] = bb + j * 1024;
    alignas(64) float out[16 * 64];
    time_pattern<4, 6>(a, b, out);
    time_pattern<2, 12>(a, b, out);
    time_pattern<3, 8>(a, b, out);
    time_pattern<3, 9>(a, b, out);
    time_pattern<5, 5>(a, b, out);
    time_pattern<1, 7>(a, b, out);
    time_pattern<1, 14>(a, b, out);
    std::printf("(checksum %g)\n", static_cast<double>(out[5]));
    std::free(a);
    std::free(bb);
}
