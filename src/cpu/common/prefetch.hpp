// Cache hints for the loops whose data stream from beyond L2 in patterns
// the hardware prefetchers miss (rows a plane apart, pixels C values
// apart). They never fault, so a hint past the data is harmless. Internal
// linkage: the per-ISA sources include this under different compiler flags.
#pragma once

#include <cstdint>

#include "core/geometry.hpp"

#if !defined(__GNUC__) && !defined(__clang__) && (defined(_M_X64) || defined(_M_IX86))
#include <xmmintrin.h>
#endif

// Inlined always: GCC treats a call to a function that only prefetches as
// free of effects and deleted it where its inlining budget ran out (the
// depthwise wide-rows kernels' requests vanished so, objdump showed).
#if defined(__GNUC__) || defined(__clang__)
#define GCONV_PREFETCH_INLINE __attribute__((always_inline)) inline
#else
#define GCONV_PREFETCH_INLINE inline
#endif

namespace gconv {

// Brings the cache line holding p towards L1.
static GCONV_PREFETCH_INLINE void prefetch(const void* p) {
#if defined(__GNUC__) || defined(__clang__)
    __builtin_prefetch(p);
#elif defined(_M_X64) || defined(_M_IX86)
    _mm_prefetch(static_cast<const char*>(p), _MM_HINT_T0);
#else
    (void)p;
#endif
}

// Brings the cache line holding p into L2, not L1 (prefetcht1): for lines
// wanted a while later, which requests into L1 made wait on L1's few
// outstanding misses (and evicted the lines in use).
static GCONV_PREFETCH_INLINE void prefetch_l2(const void* p) {
#if defined(__GNUC__) || defined(__clang__)
    __builtin_prefetch(p, 0, 2);
#elif defined(_M_X64) || defined(_M_IX86)
    _mm_prefetch(static_cast<const char*>(p), _MM_HINT_T1);
#else
    (void)p;
#endif
}

// Requests every line of [p, p + bytes).
static GCONV_PREFETCH_INLINE void prefetch_range(const void* p, int64_t bytes) {
    const char* c = static_cast<const char*>(p);
    for (int64_t b = 0; b < bytes; b += 64) prefetch(c + b);
}

// As prefetch_range, into L2 only (see prefetch_l2).
static GCONV_PREFETCH_INLINE void prefetch_range_l2(const void* p, int64_t bytes) {
    const char* c = static_cast<const char*>(p);
    for (int64_t b = 0; b < bytes; b += 64) prefetch_l2(c + b);
}

// Share k of `shares` of those lines, so that a range can be requested a
// part at a time while other work runs (consecutive shares cover it).
static GCONV_PREFETCH_INLINE void prefetch_share(const void* p, int64_t bytes, int64_t k,
                                                  int64_t shares) {
    const char* c = static_cast<const char*>(p);
    for (int64_t b = bytes * k / shares / 64 * 64; b < bytes * (k + 1) / shares; b += 64)
        prefetch(c + b);
}

// As prefetch_share, into L2 only (see prefetch_l2).
static GCONV_PREFETCH_INLINE void prefetch_share_l2(const void* p, int64_t bytes, int64_t k,
                                                     int64_t shares) {
    const char* c = static_cast<const char*>(p);
    for (int64_t b = bytes * k / shares / 64 * 64; b < bytes * (k + 1) / shares; b += 64)
        prefetch_l2(c + b);
}

// As prefetch(), for a line about to be written.
static GCONV_PREFETCH_INLINE void prefetch_write(const void* p) {
#if defined(__GNUC__) || defined(__clang__)
    __builtin_prefetch(p, 1);
#else
    prefetch(p);
#endif
}

// As prefetch_share, for lines about to be written.
static GCONV_PREFETCH_INLINE void prefetch_write_share(const void* p, int64_t bytes,
                                                        int64_t k, int64_t shares) {
    const char* c = static_cast<const char*>(p);
    for (int64_t b = bytes * k / shares / 64 * 64; b < bytes * (k + 1) / shares; b += 64)
        prefetch_write(c + b);
}

// As prefetch_range, for lines about to be written.
static GCONV_PREFETCH_INLINE void prefetch_write_range(const void* p, int64_t bytes) {
    const char* c = static_cast<const char*>(p);
    for (int64_t b = 0; b < bytes; b += 64) prefetch_write(c + b);
}

namespace {  // internal linkage, as the functions above

// Cache lines of rows [row, row_end) (`span` bytes from base + row * pitch
// each), requested a few at a time over `steps` steps of other work.
class RowFetch {
  public:
    RowFetch(const void* base, int64_t pitch, int64_t span, int64_t row, int64_t row_end,
             int64_t steps, bool write, bool into_l2 = false)
        : base_(static_cast<const char*>(base)), pitch_(pitch), span_(span), row_(row),
          row_end_(span > 0 && row < row_end ? row_end : row), write_(write),
          into_l2_(into_l2) {
        const int64_t lines = (row_end_ - row_) * ((span_ + kLine - 1) / kLine);
        per_step_ = steps > 0 ? (lines + steps - 1) / steps : lines;
    }
    void step() {
        for (int64_t i = 0; i < per_step_ && row_ < row_end_; ++i) {
            const char* p = base_ + row_ * pitch_ + offset_;
            if (write_)
                prefetch_write(p);
            else if (into_l2_)
                prefetch_l2(p);
            else
                prefetch(p);
            offset_ += kLine;
            if (offset_ >= span_) {
                offset_ = 0;
                ++row_;
            }
        }
    }

  private:
    static constexpr int64_t kLine = 64;
    const char* base_;
    int64_t pitch_, span_, row_, row_end_, offset_ = 0, per_step_ = 0;
    bool write_, into_l2_;
};

}  // namespace

// What the caches keep between calls (the default bound of fetches_ahead),
// and what the last-level cache keeps (a quarter of this machine's 32 MiB
// L3, shared with other tenants) for kernels whose requests only pay once
// the data come from memory.
constexpr int64_t kCachedBytes = 4 << 20;
constexpr int64_t kL3KeptBytes = 8 << 20;
// This machine's last-level cache: data beyond it come from memory, where
// requests far ahead go to L2 only (see row_fetch.inl).
constexpr int64_t kL3Bytes = 32 << 20;

// Results from this size on do not stay in the last-level cache for the
// next layer (half of it, which the input streamed through as well), so
// kernels may store them non-temporally: then their lines are not read
// from memory before being overwritten (NHWC depthwise at N=16: 56x56 and
// 112x112 stride 2 1.3x, 112x112 1.16x, ConvNeXt 7x7 1.09x).
constexpr int64_t kStreamedOutputBytes = 16 << 20;

// Whether a result of `result_bytes` at y is stored non-temporally: large
// enough, line-aligned, and each unit the kernel stores whole (`unit_bytes`:
// a pixel, a row) whole lines, so that no line mixes streamed and ordinary
// stores (see phase_row.inl).
static inline bool streams_whole_lines(int64_t result_bytes, const void* y, int64_t unit_bytes) {
    return result_bytes >= kStreamedOutputBytes && reinterpret_cast<uintptr_t>(y) % 64 == 0 &&
           unit_bytes % 64 == 0;
}

// An NHWC result y of `batch` images, stored pixel by pixel (PixelKernelFn).
template <typename T>
static inline bool streams_output(const ConvGeometry& g, int64_t batch, const void* y) {
    const int64_t size = static_cast<int64_t>(sizeof(T));
    return streams_whole_lines(batch * g.out_image() * size, y, g.K * size);
}

// An NCHW result stored plane by plane (InPlaceRowsFn): every plane whole
// lines, so that rows of whole lines, or runs of rows that are, can stream.
template <typename T>
static inline bool streams_nchw_planes(const ConvGeometry& g, int64_t batch, const void* y) {
    const int64_t size = static_cast<int64_t>(sizeof(T));
    return streams_whole_lines(batch * g.out_image() * size, y, g.out_pixels() * size);
}

// Whether the kernels should request the next item's lines ahead: only
// when the batch's input and output exceed what the caches keep between
// calls (`cached_bytes`). Beyond that (a batch of images) their loads were
// misses the hardware prefetchers did not cover; within it (one image,
// called again and again) the requests only cost issue slots: 12-28% of
// depthwise layers at N=1.
template <typename T>
static inline bool fetches_ahead(const ConvGeometry& g, int64_t batch,
                                 int64_t cached_bytes = kCachedBytes) {
    return batch * (g.in_image() + g.out_image()) * static_cast<int64_t>(sizeof(T)) > cached_bytes;
}

}  // namespace gconv
