// Copies of the input rows a direct kernel reads, zero-padded and split by
// column phase (see padded_rows.hpp for the sizes). Included by the per-ISA
// kernel sources inside namespace gconv::<isa>, after kernel_common.inl and
// transpose.inl.
namespace {

// Phase row columns [q, q + n) (n <= 8) of `channels` channels (channel c's
// row at dst + c * channel_stride) from n NHWC pixels `step` elements apart:
// 8 x 8 register transposes for eight pixels, the rest value by value.
template <typename T>
inline void transpose_pixels(const T* src, int64_t step, int64_t n, int64_t channels, T* dst,
                             int64_t channel_stride) {
    for (int64_t c = 0; c < channels; ++c)
        for (int64_t i = 0; i < n; ++i) dst[c * channel_stride + i] = src[i * step + c];
}

#if defined(__AVX2__) && !defined(GCONV_GENERIC_VECTORS)
template <>
inline void transpose_pixels<float>(const float* src, int64_t step, int64_t n, int64_t channels,
                                    float* dst, int64_t channel_stride) {
    int64_t c = 0;
    for (; n == 8 && c + 8 <= channels; c += 8) {
        __m256 v[8];
        for (int i = 0; i < 8; ++i) v[i] = _mm256_loadu_ps(src + i * step + c);
        transpose8x8(v);
        for (int j = 0; j < 8; ++j) _mm256_storeu_ps(dst + (c + j) * channel_stride, v[j]);
    }
    for (; c < channels; ++c)
        for (int64_t i = 0; i < n; ++i) dst[c * channel_stride + i] = src[i * step + c];
}
#endif

// NHWC input: a pixel's channels are contiguous, so each phase row is filled
// eight pixels at a time through register transposes, each channel to its
// own row; only the columns that fall in the padding are zeroed.
template <typename T>
void fill_padded_rows_nhwc(const ConvGeometry& g, const T* x, int64_t oh_begin, bool gathered,
                           int64_t rows, int64_t phase_width, int64_t channels, T* scratch) {
    const int64_t row_stride = phase_rows(g) * phase_width, channel_stride = rows * row_stride;
    for (int64_t row = 0; row < rows; ++row) {
        const int64_t ih = kept_row_input(g, oh_begin, gathered, row);
        const bool inside = ih >= 0 && ih < g.H;
        for (int64_t j = 0; j < phase_rows(g); ++j) {
            // Phase row j, column q, reads input column q * sw + offset - pl.
            const int64_t offset = phase_offset(g, j) - g.pl;
            int64_t lo = 0, hi = 0;
            if (inside) valid_output_range(g.W, phase_width, g.sw, offset, &lo, &hi);
            T* dst = scratch + row * row_stride + j * phase_width;
            for (int64_t c = 0; c < channels; ++c) {
                T* d = dst + c * channel_stride;
                for (int64_t q = 0; q < lo; ++q) d[q] = T(0);
                for (int64_t q = hi; q < phase_width; ++q) d[q] = T(0);
            }
            if (lo == hi) continue;
            const T* pixels = x + (ih * g.W + offset) * g.C;  // column q at q * sw * C
            for (int64_t q = lo; q < hi; q += 8)
                transpose_pixels(pixels + q * g.sw * g.C, g.sw * g.C, hi - q < 8 ? hi - q : 8,
                                 channels, dst + q, channel_stride);
        }
    }
}

// NCHW input, one phase at a time: each phase row is a strided slice of an
// input row, zeros where it falls in the padding.
template <typename T>
void fill_padded_rows_nchw(const ConvGeometry& g, const T* x, int64_t oh_begin, bool gathered,
                           int64_t rows,
                           int64_t phase_width, T* scratch) {
    const int64_t row_stride = phase_rows(g) * phase_width, plane = g.H * g.W;
    for (int64_t phase = 0; phase < phase_rows(g); ++phase) {
        // Phase row column q reads input column q * sw + offset - pl: columns
        // [lo, hi) are inside the input (the same for every row).
        const int64_t offset = phase_offset(g, phase);
        int64_t lo, hi;
        valid_output_range(g.W, phase_width, g.sw, offset - g.pl, &lo, &hi);
        for (int64_t c = 0; c < g.Cg; ++c) {
            for (int64_t row = 0; row < rows; ++row) {
                T* dst = scratch + (c * rows + row) * row_stride + phase * phase_width;
                const int64_t ih = kept_row_input(g, oh_begin, gathered, row);
                const int64_t end = ih >= 0 && ih < g.H ? hi : lo;  // outside rows: all zero
                for (int64_t q = 0; q < lo; ++q) dst[q] = T(0);
                if (end > lo) {
                    const T* src = x + c * plane + ih * g.W + lo * g.sw + offset - g.pl;
                    if (g.sw == 1) {
                        for (int64_t q = lo; q < end; ++q) dst[q] = src[q - lo];
                    } else {
                        for (int64_t q = lo; q < end; ++q) dst[q] = src[(q - lo) * g.sw];
                    }
                }
                for (int64_t q = end; q < phase_width; ++q) dst[q] = T(0);
            }
        }
    }
}

// even[q] = src[2q], odd[q] = src[2q + 1] for q < n.
template <typename T>
inline void deinterleave_pairs(const T* src, int64_t n, T* even, T* odd) {
    for (int64_t q = 0; q < n; ++q) {
        even[q] = src[2 * q];
        odd[q] = src[2 * q + 1];
    }
}

#if defined(__AVX2__) && !defined(GCONV_GENERIC_VECTORS)
// Eight pairs at a time: shuffles pick the even and odd elements of each
// 128-bit half, a cross-lane permute puts the halves in order (GCC left the
// scalar loop scalar: the copy took 7x the kernel's time at 112x112).
template <>
inline void deinterleave_pairs<float>(const float* src, int64_t n, float* even, float* odd) {
    int64_t q = 0;
    for (; q + 8 <= n; q += 8) {
        const __m256 a = _mm256_loadu_ps(src + 2 * q), b = _mm256_loadu_ps(src + 2 * q + 8);
        const __m256d e = _mm256_castps_pd(_mm256_shuffle_ps(a, b, 0x88));  // a0 a2 b0 b2 | a4 ..
        const __m256d o = _mm256_castps_pd(_mm256_shuffle_ps(a, b, 0xDD));  // a1 a3 b1 b3 | a5 ..
        _mm256_storeu_ps(even + q, _mm256_castpd_ps(_mm256_permute4x64_pd(e, 0xD8)));
        _mm256_storeu_ps(odd + q, _mm256_castpd_ps(_mm256_permute4x64_pd(o, 0xD8)));
    }
    for (; q < n; ++q) {
        even[q] = src[2 * q];
        odd[q] = src[2 * q + 1];
    }
}
#endif

// Rows a copy requests ahead of the one it copies (`fetch`: the batch's
// data beyond the caches), into L2: the copies of ResNeXt's s3_down (N=16,
// NCHW, 51 MB of input) waited on every row's loads, the hardware
// prefetchers barely started on each plane's 12 KB before the next
// (1.07-1.12x; 4 rows into L1: 1.07x).
constexpr int64_t kFetchAheadRows = 8;

// NCHW at stride 2: both phase rows of an input row in one sequential pass
// (even columns to phase 0, odd to phase 1), which vectorises as a
// deinterleave; the few columns only one phase holds are copied singly.
template <typename T>
void fill_padded_rows_nchw_s2(const ConvGeometry& g, const T* x, int64_t oh_begin,
                              bool gathered, int64_t rows,
                              int64_t phase_width, T* scratch, bool fetch) {
    const int64_t row_stride = 2 * phase_width, plane = g.H * g.W;
    int64_t lo0, hi0, lo1, hi1;
    valid_output_range(g.W, phase_width, 2, -g.pl, &lo0, &hi0);
    valid_output_range(g.W, phase_width, 2, 1 - g.pl, &lo1, &hi1);
    const int64_t both_lo = lo0 > lo1 ? lo0 : lo1;
    const int64_t both_hi = hi0 < hi1 ? hi0 : hi1;
    for (int64_t c = 0; c < g.Cg; ++c) {
        for (int64_t row = 0; row < rows; ++row) {
            if (fetch) {  // the row kFetchAheadRows on, in this channel or the next
                const int64_t later = row + kFetchAheadRows, cf = c + later / rows;
                const int64_t ihf = kept_row_input(g, oh_begin, gathered, later % rows);
                if (cf < g.Cg && ihf >= 0 && ihf < g.H)
                    prefetch_range_l2(x + cf * plane + ihf * g.W,
                                      g.W * static_cast<int64_t>(sizeof(T)));
            }
            T* d0 = scratch + (c * rows + row) * row_stride;
            T* d1 = d0 + phase_width;
            const int64_t ih = kept_row_input(g, oh_begin, gathered, row);
            if (ih < 0 || ih >= g.H) {
                for (int64_t q = 0; q < row_stride; ++q) d0[q] = T(0);
                continue;
            }
            const T* src = x + c * plane + ih * g.W - g.pl;  // src[2q + phase]
            auto one = [&](int64_t q) {
                d0[q] = q >= lo0 && q < hi0 ? src[2 * q] : T(0);
                d1[q] = q >= lo1 && q < hi1 ? src[2 * q + 1] : T(0);
            };
            int64_t q = 0;
            if (both_hi > both_lo) {
                for (; q < both_lo; ++q) one(q);
                deinterleave_pairs(src + 2 * q, both_hi - q, d0 + q, d1 + q);
                q = both_hi;
            }
            // Past both ranges only zeros: filled a vector at a time.
            const int64_t valid_end = hi0 > hi1 ? hi0 : hi1;
            for (; q < valid_end; ++q) one(q);
            for (int64_t z = q; z < phase_width; ++z) d0[z] = T(0);
            for (int64_t z = q; z < phase_width; ++z) d1[z] = T(0);
        }
    }
}

// Copies `groups` groups' input rows (NHWC) or one group's (NCHW),
// requesting rows ahead when `fetch` (NCHW at stride 2).
template <typename T>
void fill_padded_rows(const ConvGeometry& g, const T* x, int64_t oh_begin, bool gathered,
                      int64_t rows, int64_t phase_width, int64_t groups, T* scratch,
                      bool fetch) {
    if (g.layout == GCONV_LAYOUT_NHWC)
        fill_padded_rows_nhwc(g, x, oh_begin, gathered, rows, phase_width, groups * g.Cg, scratch);
    else if (g.sw == 2 && !phase_per_tap(g))
        fill_padded_rows_nchw_s2(g, x, oh_begin, gathered, rows, phase_width, scratch, fetch);
    else
        fill_padded_rows_nchw(g, x, oh_begin, gathered, rows, phase_width, scratch);
}

}  // namespace
