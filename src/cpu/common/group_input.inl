// Element c of each group of G lanes of a vector, copied to all G of the
// group's lanes: how the NHWC run kernels whose lanes hold whole groups
// (grouped_nhwc_runs.inl, transposed_grouped_runs.inl) feed one input
// channel of every group to the group's outputs. Included inside their
// anonymous namespace, after simd.inl, for AVX2 and AVX-512 on native
// vectors only.

// Element c of each group of G lanes of x, in all G of the group's lanes
// (c a constant once the caller's loop over c unrolls).
template <int G>
GCONV_ALWAYS_INLINE Vec<float> group_input(Vec<float> x, int c) {
    if constexpr (G == 4) {
        switch (c) {
#if GCONV_ISA_LEVEL == 2
            case 0: return {_mm512_permute_ps(x.v, 0x00)};
            case 1: return {_mm512_permute_ps(x.v, 0x55)};
            case 2: return {_mm512_permute_ps(x.v, 0xAA)};
            default: return {_mm512_permute_ps(x.v, 0xFF)};
#else
            case 0: return {_mm256_permute_ps(x.v, 0x00)};
            case 1: return {_mm256_permute_ps(x.v, 0x55)};
            case 2: return {_mm256_permute_ps(x.v, 0xAA)};
            default: return {_mm256_permute_ps(x.v, 0xFF)};
#endif
        }
    } else {
        static_assert(G == 8, "groups of 4 or 8 channels");
#if GCONV_ISA_LEVEL == 2
        const __m512i index = _mm512_add_epi32(
            _mm512_set1_epi32(c), _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 8, 8, 8, 8, 8, 8,
                                                    8, 8));
        return {_mm512_permutexvar_ps(index, x.v)};
#else
        return {_mm256_permutevar8x32_ps(x.v, _mm256_set1_epi32(c))};
#endif
    }
}

// The same for doubles, groups of 4: halves of an AVX-512 vector, a whole
// AVX2 one. (Groups of 8 of doubles stay on the channel-lane kernel: with
// vpermpd per input channel they measured 0.75-0.89x of it at N=1.)
template <int G>
GCONV_ALWAYS_INLINE Vec<double> group_input(Vec<double> x, int c) {
    static_assert(G == 4, "groups of 4 doubles");
    switch (c) {
#if GCONV_ISA_LEVEL == 2
        case 0: return {_mm512_permutex_pd(x.v, 0x00)};
        case 1: return {_mm512_permutex_pd(x.v, 0x55)};
        case 2: return {_mm512_permutex_pd(x.v, 0xAA)};
        default: return {_mm512_permutex_pd(x.v, 0xFF)};
#else
        case 0: return {_mm256_permute4x64_pd(x.v, 0x00)};
        case 1: return {_mm256_permute4x64_pd(x.v, 0x55)};
        case 2: return {_mm256_permute4x64_pd(x.v, 0xAA)};
        default: return {_mm256_permute4x64_pd(x.v, 0xFF)};
#endif
    }
}
