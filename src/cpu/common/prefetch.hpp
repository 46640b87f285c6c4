// Cache hints for the loops whose data stream from beyond L2 in patterns
// the hardware prefetchers miss (rows a plane apart, pixels C values
// apart). They never fault, so a hint past the data is harmless. Internal
// linkage: the per-ISA sources include this under different compiler flags.
#pragma once

#if !defined(__GNUC__) && !defined(__clang__) && (defined(_M_X64) || defined(_M_IX86))
#include <xmmintrin.h>
#endif

namespace gconv {

// Brings the cache line holding p towards L1.
static inline void prefetch(const void* p) {
#if defined(__GNUC__) || defined(__clang__)
    __builtin_prefetch(p);
#elif defined(_M_X64) || defined(_M_IX86)
    _mm_prefetch(static_cast<const char*>(p), _MM_HINT_T0);
#else
    (void)p;
#endif
}

// As prefetch(), for a line about to be written.
static inline void prefetch_write(const void* p) {
#if defined(__GNUC__) || defined(__clang__)
    __builtin_prefetch(p, 1);
#else
    prefetch(p);
#endif
}

}  // namespace gconv
