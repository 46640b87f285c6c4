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

// out[j * out_stride + i] = rows[i][j] for i < count, j < cols: rows side
// by side, one per lane (channels innermost), as the weight gradient's
// copies, the depthwise small-plane copies and the staged GEMM need them.
// count is at most kTransposeLanes<T> (the family's transpose_lanes).
template <typename T>
inline void transpose_rows(const T* const* rows, int count, int64_t cols, T* out,
                           int64_t out_stride) {
    for (int64_t j = 0; j < cols; ++j)
        for (int i = 0; i < count; ++i) out[j * out_stride + i] = rows[i][j];
}

#if defined(__AVX2__) && !defined(GCONV_GENERIC_VECTORS)
// Blocks of 8 columns; a last partial block goes through masked loads
// (masked lanes are never read). Each column is stored 8 wide even when
// fewer rows are given (masked stores are microcoded and slow on AMD): the
// extra values land in slots the caller never reads (the weight gradient's
// channels past the group, groups past the last) or in the next column's
// slots, which its own store then overwrites; the last columns, whose 8
// values would reach past the following columns' (out_stride < 8), are
// stored value by value.
inline void transpose_rows8(const float* const* rows, int count, int64_t cols, float* out,
                            int64_t out_stride) {
    if (count < 1) return;
    const float* r[8];
    for (int i = 0; i < 8; ++i) r[i] = rows[i < count ? i : count - 1];
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (int64_t j = 0; j < cols; j += 8) {
        const int n = static_cast<int>(cols - j < 8 ? cols - j : 8);
        __m256 v[8];
        if (n == 8) {
            for (int i = 0; i < 8; ++i) v[i] = _mm256_loadu_ps(r[i] + j);
        } else {
            const __m256i col_mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(n), lane);
            for (int i = 0; i < 8; ++i) v[i] = _mm256_maskload_ps(r[i] + j, col_mask);
        }
        transpose8x8(v);
        if (n == 8 && (count == 8 || out_stride >= 8)) {
            // Whole blocks, stored straight from the registers (looping to
            // a runtime n, GCC spilled them and copied with rep movsq: a
            // store-forwarding stall per block, 17% of a 14x14 depthwise
            // layer).
            for (int c = 0; c < 8; ++c) _mm256_storeu_ps(out + (j + c) * out_stride, v[c]);
            continue;
        }
        for (int c = 0; c < 8; ++c) {  // to 8, not n: unrolled, never a memcpy
            if (c == n) break;
            float* o = out + (j + c) * out_stride;
            // Columns after this one cover [o + out_stride, ...): stored 8
            // wide only when they (or this column's unused slots) reach o + 8.
            const int64_t after = cols - 1 - (j + c);
            if (count == 8 || out_stride >= 8 || after * out_stride + count >= 8) {
                _mm256_storeu_ps(o, v[c]);
            } else {
                alignas(32) float last[8];
                _mm256_store_ps(last, v[c]);
                for (int i = 0; i < count; ++i) o[i] = last[i];
            }
        }
    }
}
#endif

#if defined(__AVX512F__) && !defined(GCONV_GENERIC_VECTORS)
// 16 x 16 in registers: unpack pairs, then quads, then 128-bit blocks
// twice; on return v[c] holds column c (lane i = row i).
inline void transpose16x16(__m512 v[16]) {
    __m512 t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(v[i], v[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(v[i], v[i + 1]);
    }
    // q[4 * b + e], block L: rows 4b..4b+3 of column 4L + e.
    __m512 q[16];
    for (int i = 0; i < 16; i += 4) {
        q[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
        q[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xEE);
        q[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        q[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
    for (int e = 0; e < 4; ++e) {
        const __m512 even_lo = _mm512_shuffle_f32x4(q[e], q[4 + e], 0x88);
        const __m512 odd_lo = _mm512_shuffle_f32x4(q[e], q[4 + e], 0xDD);
        const __m512 even_hi = _mm512_shuffle_f32x4(q[8 + e], q[12 + e], 0x88);
        const __m512 odd_hi = _mm512_shuffle_f32x4(q[8 + e], q[12 + e], 0xDD);
        v[e] = _mm512_shuffle_f32x4(even_lo, even_hi, 0x88);
        v[8 + e] = _mm512_shuffle_f32x4(even_lo, even_hi, 0xDD);
        v[4 + e] = _mm512_shuffle_f32x4(odd_lo, odd_hi, 0x88);
        v[12 + e] = _mm512_shuffle_f32x4(odd_lo, odd_hi, 0xDD);
    }
}

// Up to 8 rows: 8 x 8 blocks (the weight gradient's chunks of 8 channels).
// 9 to 16: 16 x 16 blocks, half the shuffles and loads per value and whole
// 64-byte columns (the staged GEMM's NCHW transposes, 9-13% of a dense
// 3x3 through them in 8 x 8 blocks). Columns of fewer than 16 rows are
// stored under a mask: nothing is written past row count.
template <>
inline void transpose_rows<float>(const float* const* rows, int count, int64_t cols,
                                  float* out, int64_t out_stride) {
    if (count <= 8) return transpose_rows8(rows, count, cols, out, out_stride);
    const float* r[16];
    for (int i = 0; i < 16; ++i) r[i] = rows[i < count ? i : count - 1];
    const __mmask16 row_mask = static_cast<__mmask16>((1u << count) - 1);
    for (int64_t j = 0; j < cols; j += 16) {
        const int n = static_cast<int>(cols - j < 16 ? cols - j : 16);
        __m512 v[16];
        if (n == 16) {
            for (int i = 0; i < 16; ++i) v[i] = _mm512_loadu_ps(r[i] + j);
        } else {
            const __mmask16 col_mask = static_cast<__mmask16>((1u << n) - 1);
            for (int i = 0; i < 16; ++i) v[i] = _mm512_maskz_loadu_ps(col_mask, r[i] + j);
        }
        transpose16x16(v);
        float* o = out + j * out_stride;
        if (n == 16 && count == 16) {
            for (int c = 0; c < 16; ++c) _mm512_storeu_ps(o + c * out_stride, v[c]);
            continue;
        }
        for (int c = 0; c < 16; ++c) {  // to 16, not n: unrolled, v[] stays in registers
            if (c == n) break;
            _mm512_mask_storeu_ps(o + c * out_stride, row_mask, v[c]);
        }
    }
}
#elif defined(__AVX2__) && !defined(GCONV_GENERIC_VECTORS)
template <>
inline void transpose_rows<float>(const float* const* rows, int count, int64_t cols,
                                  float* out, int64_t out_stride) {
    transpose_rows8(rows, count, cols, out, out_stride);
}
#endif

// The most rows transpose_rows takes at once.
template <typename T>
constexpr int kTransposeLanes =
#if defined(__AVX512F__) && !defined(GCONV_GENERIC_VECTORS)
    sizeof(T) == 4 ? 16 : 8;
#else
    8;
#endif

// rows[i][j] = in[j * in_stride + i]: transpose_rows' inverse for eight
// rows (in_stride >= 8: eight of a wider vector's lanes).
template <typename T>
inline void deinterleave_rows8(const T* in, int64_t in_stride, int64_t cols, T* const* rows) {
    for (int64_t j = 0; j < cols; ++j)
        for (int i = 0; i < 8; ++i) rows[i][j] = in[j * in_stride + i];
}

#if defined(__AVX2__) && !defined(GCONV_GENERIC_VECTORS)
template <>
inline void deinterleave_rows8<float>(const float* in, int64_t in_stride, int64_t cols,
                                     float* const* rows) {
    int64_t j = 0;
    for (; j + 8 <= cols; j += 8) {
        __m256 v[8];
        for (int c = 0; c < 8; ++c) v[c] = _mm256_loadu_ps(in + (j + c) * in_stride);
        transpose8x8(v);
        for (int i = 0; i < 8; ++i) _mm256_storeu_ps(rows[i] + j, v[i]);
    }
    for (; j < cols; ++j)
        for (int i = 0; i < 8; ++i) rows[i][j] = in[j * in_stride + i];
}
#endif

// See SplitGroupsFn in kernel_table.hpp: value by value.
template <typename T>
inline void split_groups_values(const T* in, int64_t in_pixel, int64_t pixels, int lanes,
                                int64_t count, T* out, int64_t out_pixel, int64_t out_plane) {
    for (int64_t p = 0; p < pixels; ++p)
        for (int64_t c = 0; c < count; ++c)
            for (int l = 0; l < lanes; ++l)
                out[c * out_plane + p * out_pixel + l] = in[p * in_pixel + l * count + c];
}

// See SplitGroupsFn in kernel_table.hpp.
template <typename T>
inline void split_groups(const T* in, int64_t in_pixel, int64_t pixels, int lanes, int64_t count,
                         T* out, int64_t out_pixel, int64_t out_plane) {
    split_groups_values(in, in_pixel, pixels, lanes, count, out, out_pixel, out_plane);
}

#if defined(__AVX512F__) && !defined(GCONV_GENERIC_VECTORS)
// A pixel's 16 groups of N = 2 to 8 channels are N vectors; plane c's
// vector is lane l <- value l * N + c, gathered by one two-vector permute
// per pair of source vectors that holds some of it (the transposes, 8
// groups by N channels per call, took 60-70% of ResNeXt s2's and a depth
// multiplier 2 layer's NHWC weight gradient). N is a template argument:
// with a run-time count the vectors lived in an array on the stack, filled
// by a memcpy call per pixel.
template <int N>
inline void split_groups_16(const float* in, int64_t in_pixel, int64_t pixels, float* out,
                            int64_t out_pixel, int64_t out_plane) {
    constexpr int kPairs = (N + 1) / 2;
    __m512i index[N];
    __mmask16 pair_lanes[N][kPairs];
    for (int c = 0; c < N; ++c) {
        alignas(64) int32_t at[16];
        for (int l = 0; l < 16; ++l) at[l] = (l * N + c) & 31;
        index[c] = _mm512_load_si512(at);
        for (int q = 0; q < kPairs; ++q) {
            unsigned mask = 0;
            for (int l = 0; l < 16; ++l)
                if ((l * N + c) / 32 == q) mask |= 1u << l;
            pair_lanes[c][q] = static_cast<__mmask16>(mask);
        }
    }
    for (int64_t p = 0; p < pixels; ++p) {
        const float* src = in + p * in_pixel;
        __m512 v[2 * kPairs];
        for (int i = 0; i < N; ++i) v[i] = _mm512_loadu_ps(src + 16 * i);
        if constexpr (N % 2 == 1) v[N] = _mm512_setzero_ps();  // never selected
        for (int c = 0; c < N; ++c) {
            __m512 r = _mm512_permutex2var_ps(v[0], index[c], v[1]);
            for (int q = 1; q < kPairs; ++q)
                r = _mm512_mask_mov_ps(
                    r, pair_lanes[c][q],
                    _mm512_permutex2var_ps(v[2 * q], index[c], v[2 * q + 1]));
            _mm512_storeu_ps(out + c * out_plane + p * out_pixel, r);
        }
    }
}

template <>
inline void split_groups<float>(const float* in, int64_t in_pixel, int64_t pixels, int lanes,
                                int64_t count, float* out, int64_t out_pixel,
                                int64_t out_plane) {
    if (lanes == 16) {
        switch (count) {
            case 2: return split_groups_16<2>(in, in_pixel, pixels, out, out_pixel, out_plane);
            case 3: return split_groups_16<3>(in, in_pixel, pixels, out, out_pixel, out_plane);
            case 4: return split_groups_16<4>(in, in_pixel, pixels, out, out_pixel, out_plane);
            case 5: return split_groups_16<5>(in, in_pixel, pixels, out, out_pixel, out_plane);
            case 6: return split_groups_16<6>(in, in_pixel, pixels, out, out_pixel, out_plane);
            case 7: return split_groups_16<7>(in, in_pixel, pixels, out, out_pixel, out_plane);
            case 8: return split_groups_16<8>(in, in_pixel, pixels, out, out_pixel, out_plane);
            default: break;
        }
    }
    split_groups_values(in, in_pixel, pixels, lanes, count, out, out_pixel, out_plane);
}
#endif

}  // namespace
