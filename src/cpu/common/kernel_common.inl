// Helpers shared by every kernel family. Included by the per-ISA kernel
// sources inside namespace gconv::<isa>; everything is `static` so that no
// copy compiled with one family's flags can be linked into another's code.

#ifndef GCONV_ALWAYS_INLINE
#if defined(__GNUC__) || defined(__clang__)
#define GCONV_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define GCONV_ALWAYS_INLINE inline
#endif
#endif

// Full unrolling for the kernels whose register blocks resolve at compile
// time. The portable vectors' build (CI's AVX-512 emulation) skips it: each
// of its "vectors" is already a loop, and unrolled blocks made one file
// take minutes to compile.
#ifndef GCONV_UNROLL
#define GCONV_UNROLL_PRAGMA(text) _Pragma(#text)
#if defined(GCONV_GENERIC_VECTORS)
#define GCONV_UNROLL(n) GCONV_UNROLL_PRAGMA(GCC unroll 1)
#else
#define GCONV_UNROLL(n) GCONV_UNROLL_PRAGMA(GCC unroll n)
#endif
#endif

// The kernels that read x in place through masked loads (AVX-512):
// rows above and below a plane read this row of zeros (only lanes of real
// columns, fewer than kZeroRowValues, are read), and a load's mask has
// bit l * stride for each lane l < lanes of the output vector starting at
// output column `first` whose column lies before `out_end` and whose
// input column, column * stride + offset, lies in [0, in_end).
namespace {
constexpr int64_t kZeroRowValues = 256;
template <typename T>
struct ZeroRow {
    alignas(64) static constexpr T values[kZeroRowValues] = {};
};
}  // namespace

static inline uint32_t inside_lanes(int64_t first, int64_t lanes, int64_t out_end, int64_t stride,
                                    int64_t offset, int64_t in_end) {
    uint32_t mask = 0;
    for (int64_t l = 0; l < lanes && first + l < out_end; ++l) {
        const int64_t col = (first + l) * stride + offset;
        if (col >= 0 && col < in_end) mask |= 1u << (l * stride);
    }
    return mask;
}

// The fused epilogue: bias is added by the caller, then this.
template <typename T>
static inline T activate(T v, int act) {
    // Written so that NaN passes through: NaN < 0 and NaN > 6 are false.
    if (act == GCONV_ACTIVATION_RELU) return v < T(0) ? T(0) : v;
    if (act == GCONV_ACTIVATION_RELU6) return v < T(0) ? T(0) : (v > T(6) ? T(6) : v);
    return v;
}

static inline int64_t min_i64(int64_t a, int64_t b) { return a < b ? a : b; }
static inline int64_t max_i64(int64_t a, int64_t b) { return a > b ? a : b; }

// Outputs o in [lo, hi) whose input index o * stride + offset lies in
// [0, in_size): the taps that read real data rather than padding.
static inline void valid_output_range(int64_t in_size, int64_t out_size, int64_t stride,
                                      int64_t offset, int64_t* lo, int64_t* hi) {
    int64_t first = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
    int64_t last_in = in_size - 1 - offset;  // largest o * stride allowed
    int64_t end = last_in < 0 ? 0 : last_in / stride + 1;
    first = min_i64(first, out_size);
    end = min_i64(end, out_size);
    *lo = first;
    *hi = end < first ? first : end;
}
