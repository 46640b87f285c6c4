// A thin vector type per ISA family, so one kernel template compiles to
// AVX-512, AVX2+FMA, SSE2 or portable C++. Included inside namespace
// gconv::<isa> (after <immintrin.h> was included at file scope on x86);
// everything is in an anonymous namespace so no family's copy can be linked
// into another's code.
//
// GCONV_GENERIC_VECTORS selects the portable array type with the lane count
// of the family's level: CI builds the scalar family that way at level 2 to
// run the AVX-512 kernels' blocking logic (16 float lanes, 12-row GEMM
// tiles) on CPUs without AVX-512.
namespace {

template <typename T> struct Vec;

#if defined(GCONV_GENERIC_VECTORS) || !defined(__SSE2__)
template <typename T> struct Vec {
    static constexpr int N = (GCONV_ISA_LEVEL == 2 ? 64 : GCONV_ISA_LEVEL == 1 ? 32 : 16) /
                             static_cast<int>(sizeof(T));
    T v[N];
    static Vec load(const T* p) {
        Vec r;
        for (int i = 0; i < N; ++i) r.v[i] = p[i];
        return r;
    }
    static Vec set1(T x) {
        Vec r;
        for (int i = 0; i < N; ++i) r.v[i] = x;
        return r;
    }
    static Vec zero() { return set1(T(0)); }
    void store(T* p) const {
        for (int i = 0; i < N; ++i) p[i] = v[i];
    }
    // A store that bypasses the caches (non-temporal), p aligned to the
    // vector's size: for results too large to stay cached, whose lines
    // would otherwise be read from memory before being overwritten.
    void stream(T* p) const { store(p); }
    // Lanes whose bit is set in `mask` from p[lane], the others zero;
    // masked-off lanes are never read (AVX-512: their faults suppressed).
    static Vec load_lanes(const T* p, uint32_t mask) {
        Vec r;
        for (int i = 0; i < N; ++i) r.v[i] = (mask >> i) & 1u ? p[i] : T(0);
        return r;
    }
    void store_lanes(T* p, uint32_t mask) const {
        for (int i = 0; i < N; ++i)
            if ((mask >> i) & 1u) p[i] = v[i];
    }
    // Lane i from p[2 * i] where bit 2 * i of `mask` (over 2N values) is
    // set, else zero: a row read at stride 2.
    static Vec load_even_lanes(const T* p, uint32_t mask) {
        Vec r;
        for (int i = 0; i < N; ++i) r.v[i] = (mask >> (2 * i)) & 1u ? p[2 * i] : T(0);
        return r;
    }
    // Lanes [S, S + N) of lo's lanes followed by hi's.
    template <int S>
    static Vec concat_shift(Vec lo, Vec hi) {
        Vec r;
        for (int i = 0; i < N; ++i) r.v[i] = i + S < N ? lo.v[i + S] : hi.v[i + S - N];
        return r;
    }
    friend Vec fmadd(Vec a, Vec b, Vec c) {
        for (int i = 0; i < N; ++i) c.v[i] += a.v[i] * b.v[i];
        return c;
    }
    friend Vec operator+(Vec a, Vec b) {
        for (int i = 0; i < N; ++i) a.v[i] += b.v[i];
        return a;
    }
    // Neighbouring lanes added: a0 + a1, a2 + a3, ..., then b0 + b1, ...
    friend Vec pair_sums(Vec a, Vec b) {
        Vec r;
        for (int i = 0; i < N / 2; ++i) {
            r.v[i] = a.v[2 * i] + a.v[2 * i + 1];
            r.v[N / 2 + i] = b.v[2 * i] + b.v[2 * i + 1];
        }
        return r;
    }
    // As the x86 instructions: the second operand when either is NaN.
    friend Vec max_keep_nan(Vec lo, Vec x) {
        for (int i = 0; i < N; ++i) x.v[i] = lo.v[i] > x.v[i] ? lo.v[i] : x.v[i];
        return x;
    }
    friend Vec min_keep_nan(Vec hi, Vec x) {
        for (int i = 0; i < N; ++i) x.v[i] = hi.v[i] < x.v[i] ? hi.v[i] : x.v[i];
        return x;
    }
};
#elif GCONV_ISA_LEVEL == 2
template <> struct Vec<float> {
    static constexpr int N = 16;
    __m512 v;
    static Vec load(const float* p) { return {_mm512_loadu_ps(p)}; }
    static Vec set1(float x) { return {_mm512_set1_ps(x)}; }
    static Vec zero() { return {_mm512_setzero_ps()}; }
    void store(float* p) const { _mm512_storeu_ps(p, v); }
    void stream(float* p) const { _mm512_stream_ps(p, v); }
    static Vec load_lanes(const float* p, uint32_t mask) {
        return {_mm512_maskz_loadu_ps(static_cast<__mmask16>(mask), p)};
    }
    void store_lanes(float* p, uint32_t mask) const {
        _mm512_mask_storeu_ps(p, static_cast<__mmask16>(mask), v);
    }
    static Vec load_even_lanes(const float* p, uint32_t mask) {
        const __m512 lo = _mm512_maskz_loadu_ps(static_cast<__mmask16>(mask), p);
        const __m512 hi = _mm512_maskz_loadu_ps(static_cast<__mmask16>(mask >> 16), p + 16);
        const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24,
                                               26, 28, 30);
        return {_mm512_permutex2var_ps(lo, even, hi)};
    }
    friend Vec fmadd(Vec a, Vec b, Vec c) { return {_mm512_fmadd_ps(a.v, b.v, c.v)}; }
    friend Vec operator+(Vec a, Vec b) { return {_mm512_add_ps(a.v, b.v)}; }
    friend Vec pair_sums(Vec a, Vec b) {
        const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24,
                                               26, 28, 30);
        const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
        return {_mm512_add_ps(_mm512_permutex2var_ps(a.v, even, b.v),
                              _mm512_permutex2var_ps(a.v, odd, b.v))};
    }
    // max/min return their second operand when either is NaN: keep v second.
    friend Vec max_keep_nan(Vec lo, Vec v) { return {_mm512_max_ps(lo.v, v.v)}; }
    friend Vec min_keep_nan(Vec hi, Vec v) { return {_mm512_min_ps(hi.v, v.v)}; }
    // Lanes [S, S + 16) of lo's lanes followed by hi's: one shuffle, where
    // loading them from memory at a float offset splits a cache line.
    template <int S>
    static Vec concat_shift(Vec lo, Vec hi) {
        return {_mm512_castsi512_ps(
            _mm512_alignr_epi32(_mm512_castps_si512(hi.v), _mm512_castps_si512(lo.v), S))};
    }
};
template <> struct Vec<double> {
    static constexpr int N = 8;
    __m512d v;
    static Vec load(const double* p) { return {_mm512_loadu_pd(p)}; }
    static Vec set1(double x) { return {_mm512_set1_pd(x)}; }
    static Vec zero() { return {_mm512_setzero_pd()}; }
    void store(double* p) const { _mm512_storeu_pd(p, v); }
    void stream(double* p) const { _mm512_stream_pd(p, v); }
    static Vec load_lanes(const double* p, uint32_t mask) {
        return {_mm512_maskz_loadu_pd(static_cast<__mmask8>(mask), p)};
    }
    void store_lanes(double* p, uint32_t mask) const {
        _mm512_mask_storeu_pd(p, static_cast<__mmask8>(mask), v);
    }
    static Vec load_even_lanes(const double* p, uint32_t mask) {
        const __m512d lo = _mm512_maskz_loadu_pd(static_cast<__mmask8>(mask), p);
        const __m512d hi = _mm512_maskz_loadu_pd(static_cast<__mmask8>(mask >> 8), p + 8);
        const __m512i even = _mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14);
        return {_mm512_permutex2var_pd(lo, even, hi)};
    }
    friend Vec fmadd(Vec a, Vec b, Vec c) { return {_mm512_fmadd_pd(a.v, b.v, c.v)}; }
    friend Vec operator+(Vec a, Vec b) { return {_mm512_add_pd(a.v, b.v)}; }
    friend Vec pair_sums(Vec a, Vec b) {
        const __m512i even = _mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14);
        const __m512i odd = _mm512_add_epi64(even, _mm512_set1_epi64(1));
        return {_mm512_add_pd(_mm512_permutex2var_pd(a.v, even, b.v),
                              _mm512_permutex2var_pd(a.v, odd, b.v))};
    }
    friend Vec max_keep_nan(Vec lo, Vec v) { return {_mm512_max_pd(lo.v, v.v)}; }
    friend Vec min_keep_nan(Vec hi, Vec v) { return {_mm512_min_pd(hi.v, v.v)}; }
    template <int S>
    static Vec concat_shift(Vec lo, Vec hi) {
        return {_mm512_castsi512_pd(
            _mm512_alignr_epi64(_mm512_castpd_si512(hi.v), _mm512_castpd_si512(lo.v), S))};
    }
};
#elif GCONV_ISA_LEVEL == 1
template <> struct Vec<float> {
    static constexpr int N = 8;
    __m256 v;
    static Vec load(const float* p) { return {_mm256_loadu_ps(p)}; }
    static Vec set1(float x) { return {_mm256_set1_ps(x)}; }
    static Vec zero() { return {_mm256_setzero_ps()}; }
    void store(float* p) const { _mm256_storeu_ps(p, v); }
    void stream(float* p) const { _mm256_stream_ps(p, v); }
    friend Vec fmadd(Vec a, Vec b, Vec c) { return {_mm256_fmadd_ps(a.v, b.v, c.v)}; }
    friend Vec operator+(Vec a, Vec b) { return {_mm256_add_ps(a.v, b.v)}; }
    friend Vec pair_sums(Vec a, Vec b) {  // hadd works per 128-bit half: put them in order
        const __m256 h = _mm256_hadd_ps(a.v, b.v);  // a01 a23 b01 b23 | a45 a67 b45 b67
        return {_mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(h), 0xD8))};
    }
    friend Vec max_keep_nan(Vec lo, Vec v) { return {_mm256_max_ps(lo.v, v.v)}; }
    friend Vec min_keep_nan(Vec hi, Vec v) { return {_mm256_min_ps(hi.v, v.v)}; }
};
template <> struct Vec<double> {
    static constexpr int N = 4;
    __m256d v;
    static Vec load(const double* p) { return {_mm256_loadu_pd(p)}; }
    static Vec set1(double x) { return {_mm256_set1_pd(x)}; }
    static Vec zero() { return {_mm256_setzero_pd()}; }
    void store(double* p) const { _mm256_storeu_pd(p, v); }
    void stream(double* p) const { _mm256_stream_pd(p, v); }
    friend Vec fmadd(Vec a, Vec b, Vec c) { return {_mm256_fmadd_pd(a.v, b.v, c.v)}; }
    friend Vec operator+(Vec a, Vec b) { return {_mm256_add_pd(a.v, b.v)}; }
    friend Vec pair_sums(Vec a, Vec b) {
        const __m256d h = _mm256_hadd_pd(a.v, b.v);  // a01 b01 | a23 b23
        return {_mm256_permute4x64_pd(h, 0xD8)};
    }
    friend Vec max_keep_nan(Vec lo, Vec v) { return {_mm256_max_pd(lo.v, v.v)}; }
    friend Vec min_keep_nan(Vec hi, Vec v) { return {_mm256_min_pd(hi.v, v.v)}; }
};
#else
// Baseline x86-64: SSE2, no FMA (a multiply then an add).
template <> struct Vec<float> {
    static constexpr int N = 4;
    __m128 v;
    static Vec load(const float* p) { return {_mm_loadu_ps(p)}; }
    static Vec set1(float x) { return {_mm_set1_ps(x)}; }
    static Vec zero() { return {_mm_setzero_ps()}; }
    void store(float* p) const { _mm_storeu_ps(p, v); }
    void stream(float* p) const { _mm_stream_ps(p, v); }
    friend Vec fmadd(Vec a, Vec b, Vec c) { return {_mm_add_ps(_mm_mul_ps(a.v, b.v), c.v)}; }
    friend Vec operator+(Vec a, Vec b) { return {_mm_add_ps(a.v, b.v)}; }
    friend Vec pair_sums(Vec a, Vec b) {
        return {_mm_add_ps(_mm_shuffle_ps(a.v, b.v, _MM_SHUFFLE(2, 0, 2, 0)),
                           _mm_shuffle_ps(a.v, b.v, _MM_SHUFFLE(3, 1, 3, 1)))};
    }
    friend Vec max_keep_nan(Vec lo, Vec v) { return {_mm_max_ps(lo.v, v.v)}; }
    friend Vec min_keep_nan(Vec hi, Vec v) { return {_mm_min_ps(hi.v, v.v)}; }
};
template <> struct Vec<double> {
    static constexpr int N = 2;
    __m128d v;
    static Vec load(const double* p) { return {_mm_loadu_pd(p)}; }
    static Vec set1(double x) { return {_mm_set1_pd(x)}; }
    static Vec zero() { return {_mm_setzero_pd()}; }
    void store(double* p) const { _mm_storeu_pd(p, v); }
    void stream(double* p) const { _mm_stream_pd(p, v); }
    friend Vec fmadd(Vec a, Vec b, Vec c) { return {_mm_add_pd(_mm_mul_pd(a.v, b.v), c.v)}; }
    friend Vec operator+(Vec a, Vec b) { return {_mm_add_pd(a.v, b.v)}; }
    friend Vec pair_sums(Vec a, Vec b) {
        return {_mm_add_pd(_mm_unpacklo_pd(a.v, b.v), _mm_unpackhi_pd(a.v, b.v))};
    }
    friend Vec max_keep_nan(Vec lo, Vec v) { return {_mm_max_pd(lo.v, v.v)}; }
    friend Vec min_keep_nan(Vec hi, Vec v) { return {_mm_min_pd(hi.v, v.v)}; }
};
#endif

// The fused activation on a vector; NaN passes through as in activate().
template <typename T>
inline Vec<T> activate_vec(Vec<T> v, int act) {
    if (act == GCONV_ACTIVATION_RELU) return max_keep_nan(Vec<T>::zero(), v);
    if (act == GCONV_ACTIVATION_RELU6)
        return min_keep_nan(Vec<T>::set1(T(6)), max_keep_nan(Vec<T>::zero(), v));
    return v;
}

}  // namespace
