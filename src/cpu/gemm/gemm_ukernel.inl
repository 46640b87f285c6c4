// Portable MR x NR GEMM micro-kernel, compiled once per ISA family.
//
// Written so that the compiler keeps the MR x NR accumulator in vector
// registers (fully unrolled i, vectorised j); MR and NR are chosen per family
// so that the accumulators use about 12-16 of the family's vector registers.
#include "cpu/kernel_table.hpp"

namespace gconv {
namespace GCONV_ISA {

#include "cpu/common/kernel_common.inl"

namespace {

template <typename T, int MR, int NR>
void gemm_ukernel(int64_t kc, const T* __restrict a, const T* __restrict b,
                  const GemmTile<T>& t) {
    T acc[MR][NR];
    for (int i = 0; i < MR; ++i)
        for (int j = 0; j < NR; ++j) acc[i][j] = T(0);
    for (int64_t p = 0; p < kc; ++p) {
        const T* ap = a + p * MR;
        const T* bp = b + p * NR;
#pragma GCC unroll 16
        for (int i = 0; i < MR; ++i) {
            const T ai = ap[i];
#pragma GCC unroll 32
            for (int j = 0; j < NR; ++j) acc[i][j] += ai * bp[j];
        }
    }
    for (int i = 0; i < t.m; ++i) {
        T* crow = t.c + i * t.rs;
        const T bias = (t.last && t.bias) ? t.bias[i] : T(0);
        for (int j = 0; j < t.n; ++j) {
            T* dst = crow + j * t.cs;
            T v = t.accumulate ? *dst + acc[i][j] : acc[i][j];
            if (t.last) v = activate(v + bias, t.act);
            *dst = v;
        }
    }
}

// Register budget per family: (vector registers, floats per vector).
#if GCONV_ISA_LEVEL == 2
constexpr int kMrF32 = 8, kNrF32 = 32, kMrF64 = 8, kNrF64 = 16;
#elif GCONV_ISA_LEVEL == 1
constexpr int kMrF32 = 6, kNrF32 = 16, kMrF64 = 6, kNrF64 = 8;
#else
constexpr int kMrF32 = 4, kNrF32 = 8, kMrF64 = 4, kNrF64 = 4;
#endif

}  // namespace

void fill_gemm(KernelTable& table) {
    table.f32.gemm = {gemm_ukernel<float, kMrF32, kNrF32>, kMrF32, kNrF32};
    table.f64.gemm = {gemm_ukernel<double, kMrF64, kNrF64>, kMrF64, kNrF64};
}

}  // namespace GCONV_ISA
}  // namespace gconv
