// One output row of a strided transposed convolution from its sw phase
// rows (phase b holds columns b, b + sw, ...), shared by the NCHW kernels
// of transposed_dw.inl and transposed_grouped.inl. Included inside a
// family's namespace, after simd.inl.

namespace {

// out[2u] = even[u], out[2u + 1] = odd[u] for a whole row, with streaming
// stores (no read of each output line before its write): returns how many
// pairs it wrote, 0 where the family has no such stores or the row is not
// whole cache lines. A row that ends within a line left a partly written
// line to each streaming store's buffer and mixed ordinary stores into it:
// ResNeXt's stride-2 layer (rows of 56 values) ran 4.3x slower whenever its
// output happened to start on a line.
template <typename T>
int64_t interleave_pairs_streaming(const T*, const T*, int64_t, T*) {
    return 0;
}

#if defined(__AVX2__) && !defined(GCONV_GENERIC_VECTORS)
template <>
int64_t interleave_pairs_streaming<float>(const float* even, const float* odd, int64_t pairs,
                                          float* out) {
    if (reinterpret_cast<uintptr_t>(out) % 64 != 0 || pairs % 8 != 0) return 0;
    int64_t u = 0;
    for (; u + 8 <= pairs; u += 8) {
        const __m256 e = _mm256_loadu_ps(even + u), o = _mm256_loadu_ps(odd + u);
        const __m256 lo = _mm256_unpacklo_ps(e, o), hi = _mm256_unpackhi_ps(e, o);
        _mm256_stream_ps(out + 2 * u, _mm256_permute2f128_ps(lo, hi, 0x20));
        _mm256_stream_ps(out + 2 * u + 8, _mm256_permute2f128_ps(lo, hi, 0x31));
    }
    return u;
}
#endif

// out[2u] = even[u], out[2u + 1] = odd[u] for u < pairs with ordinary
// stores, a whole vector of pairs at a time and the last one masked: returns
// how many it wrote (0 where the family has no such kernel). Element by
// element, the last of ResNeXt s3_down's 28 pairs per row (GCC's vector loop
// took 16 at a time) were a scalar loop per channel row.
template <typename T>
int64_t interleave_pairs_vectors(const T*, const T*, int64_t, T*) {
    return 0;
}

#if GCONV_ISA_LEVEL == 2 && !defined(GCONV_GENERIC_VECTORS)
// The two permutes that put 16 even and 16 odd values side by side.
struct PairPermutes {
    __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    __m512i hi = _mm512_add_epi32(lo, _mm512_set1_epi32(8));
};

// out[2u] = even[u], out[2u + 1] = odd[u] for u < 16, the outputs set in
// `mask` (bit j: out[j]) stored. With `stream` (out on a line), a whole
// line or two of outputs goes out non-temporally.
inline void store_pairs(const PairPermutes& p, float* out, __m512 even, __m512 odd,
                        uint32_t mask, bool stream) {
    const __m512 lo = _mm512_permutex2var_ps(even, p.lo, odd);
    if (stream && (mask == 0xFFFFFFFFu || mask == 0xFFFFu)) {
        _mm512_stream_ps(out, lo);
        if (mask >> 16) _mm512_stream_ps(out + 16, _mm512_permutex2var_ps(even, p.hi, odd));
        return;
    }
    _mm512_mask_storeu_ps(out, static_cast<__mmask16>(mask), lo);
    if (mask >> 16)
        _mm512_mask_storeu_ps(out + 16, static_cast<__mmask16>(mask >> 16),
                              _mm512_permutex2var_ps(even, p.hi, odd));
}

template <>
int64_t interleave_pairs_vectors<float>(const float* even, const float* odd, int64_t pairs,
                                        float* out) {
    const PairPermutes permutes;
    for (int64_t u = 0; u < pairs; u += 16) {
        const int64_t left = pairs - u < 16 ? pairs - u : 16;
        const __mmask16 in = static_cast<__mmask16>((1u << left) - 1u);
        const uint32_t mask = left == 16 ? 0xFFFFFFFFu : (1u << (2 * left)) - 1u;
        store_pairs(permutes, out + 2 * u, _mm512_maskz_loadu_ps(in, even + u),
                    _mm512_maskz_loadu_ps(in, odd + u), mask, false);
    }
    return pairs;
}
#endif

// row[u * sw + b] = phases[b * U + u] for every column j < OW, with
// streaming stores for stride 2 if `stream` (the result is too big to stay
// in the caches: each line is then not read before it is written).
template <typename T>
void interleave_phase_row(const T* phases, int64_t U, int64_t sw, int64_t OW, T* row,
                          bool stream) {
    if (sw == 2) {  // pairs side by side: vectorises as unpacks
        const T* __restrict even = phases;
        const T* __restrict odd = phases + U;
        T* __restrict out = row;
        const int64_t pairs = OW / 2;
        int64_t done = stream ? interleave_pairs_streaming(even, odd, pairs, out) : 0;
        if (done == 0) done = interleave_pairs_vectors(even, odd, pairs, out);
        for (int64_t u = done; u < pairs; ++u) {
            out[2 * u] = even[u];
            out[2 * u + 1] = odd[u];
        }
        if (OW % 2) out[OW - 1] = even[pairs];
        return;
    }
    for (int64_t b = 0; b < sw; ++b)
        for (int64_t j = b, u = 0; j < OW; j += sw, ++u) row[j] = phases[b * U + u];
}

}  // namespace
