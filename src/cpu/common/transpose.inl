// Register transposes shared by the kernels that turn channels-innermost
// data into channel-major rows and back. Included by the per-ISA kernel
// sources inside namespace gconv::<isa>, after <immintrin.h>.
namespace {

#if defined(__AVX2__) && !defined(GCONV_GENERIC_VECTORS)
// 8 x 8 in registers: unpack pairs, then quads, then 128-bit halves; on
// return v[c] holds column c (lane i = row i).
inline void transpose8x8(__m256 v[8]) {
    __m256 t[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(v[i], v[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(v[i], v[i + 1]);
    }
    __m256 q[8];
    for (int i = 0; i < 8; i += 4) {
        q[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
        q[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
        q[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        q[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
    for (int i = 0; i < 4; ++i) {
        v[i] = _mm256_permute2f128_ps(q[i], q[i + 4], 0x20);
        v[i + 4] = _mm256_permute2f128_ps(q[i], q[i + 4], 0x31);
    }
}
#endif

}  // namespace
