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

// out[j * 8 + i] = rows[i][j] for i < 8, j < cols: eight rows side by side,
// one per lane (channels innermost). 8 x 8 register transposes where AVX2 is
// available, the leftover columns value by value.
template <typename T>
inline void interleave_rows8(const T* const* rows, int64_t cols, T* out, int64_t j = 0) {
    for (; j < cols; ++j)
        for (int i = 0; i < 8; ++i) out[j * 8 + i] = rows[i][j];
}

// rows[i][j] = in[j * 8 + i]: the inverse.
template <typename T>
inline void deinterleave_rows8(const T* in, int64_t cols, T* const* rows, int64_t j = 0) {
    for (; j < cols; ++j)
        for (int i = 0; i < 8; ++i) rows[i][j] = in[j * 8 + i];
}

#if defined(__AVX2__) && !defined(GCONV_GENERIC_VECTORS)
template <>
inline void interleave_rows8<float>(const float* const* rows, int64_t cols, float* out,
                                    int64_t j) {
    for (; j + 8 <= cols; j += 8) {
        __m256 v[8];
        for (int i = 0; i < 8; ++i) v[i] = _mm256_loadu_ps(rows[i] + j);
        transpose8x8(v);
        for (int c = 0; c < 8; ++c) _mm256_storeu_ps(out + (j + c) * 8, v[c]);
    }
    for (; j < cols; ++j)
        for (int i = 0; i < 8; ++i) out[j * 8 + i] = rows[i][j];
}

template <>
inline void deinterleave_rows8<float>(const float* in, int64_t cols, float* const* rows,
                                      int64_t j) {
    for (; j + 8 <= cols; j += 8) {
        __m256 v[8];
        for (int c = 0; c < 8; ++c) v[c] = _mm256_loadu_ps(in + (j + c) * 8);
        transpose8x8(v);
        for (int i = 0; i < 8; ++i) _mm256_storeu_ps(rows[i] + j, v[i]);
    }
    for (; j < cols; ++j)
        for (int i = 0; i < 8; ++i) rows[i][j] = in[j * 8 + i];
}
#endif

}  // namespace
