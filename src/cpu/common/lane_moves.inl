// One-lane moves of AVX-512 vectors, for kernels that load an input row
// once and form its left and right taps in registers (a masked load per
// tap split a cache line almost every time). Included by the AVX-512
// kernel sources inside their anonymous namespace, after simd.inl.

#if defined(GCONV_GENERIC_VECTORS)
// v moved up (kBy = -1: lane l takes lane l - 1) or down (kBy = 1: lane
// l + 1) by one lane, the lanes outside `mask` zero.
template <int kBy, typename T>
GCONV_ALWAYS_INLINE Vec<T> moved(Vec<T> v, uint32_t mask) {
    Vec<T> r;
    for (int l = 0; l < Vec<T>::N; ++l)
        r.v[l] = (mask >> l) & 1u ? v.v[(l + kBy + Vec<T>::N) % Vec<T>::N] : T(0);
    return r;
}
#else
template <int kBy>
GCONV_ALWAYS_INLINE Vec<float> moved(Vec<float> v, uint32_t mask) {
    const __m512i i = _mm512_castps_si512(v.v);
    return {_mm512_castsi512_ps(
        _mm512_maskz_alignr_epi32(static_cast<__mmask16>(mask), i, i, kBy < 0 ? 15 : 1))};
}
template <int kBy>
GCONV_ALWAYS_INLINE Vec<double> moved(Vec<double> v, uint32_t mask) {
    const __m512i i = _mm512_castpd_si512(v.v);
    return {_mm512_castsi512_pd(
        _mm512_maskz_alignr_epi64(static_cast<__mmask8>(mask), i, i, kBy < 0 ? 7 : 1))};
}
#endif
