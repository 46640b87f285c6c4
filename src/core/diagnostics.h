/* Measurements of the machine for the benchmark suite; not part of the
 * stable C ABI. */
#ifndef GCONV_DIAGNOSTICS_H
#define GCONV_DIAGNOSTICS_H

#include <stdint.h>

#include "gconv/gconv.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Runs `iterations` of the active family's independent-FMA loop on each of
 * `num_threads` threads at once and returns the float32 GFLOP/s achieved
 * (the machine's practical FMA peak when iterations is large enough). */
GCONV_API double gconv_measure_fma_peak(int64_t iterations, int num_threads);

#ifdef __cplusplus
}
#endif

#endif
