// Thread-count policy and the one parallel loop every driver uses.
#pragma once

#include <cstdint>

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace gconv {

// num_threads <= 0 means the library default (gconv_get_num_threads()).
int resolve_threads(int num_threads);

// resolve_threads(num_threads), capped at one thread per 64K units of work
// (multiply-adds, or elements written): below that, waking another thread
// costs more than it saves (and a parked thread on a busy machine far more).
inline int threads_for_work(int num_threads, int64_t work) {
    const int threads = resolve_threads(num_threads);
    const int64_t useful = work / 65536 + 1;
    return threads > useful ? static_cast<int>(useful) : threads;
}

// Runs body(item, thread_index) for item in [0, items) inside one OpenMP
// region with a static schedule: each item is computed by exactly one
// thread, in an order that does not depend on the thread count, so results
// are bitwise identical for any number of threads.
template <typename Body>
void parallel_for(int64_t items, int threads, const Body& body) {
    if (items <= 0) return;
    if (threads > items) threads = static_cast<int>(items);
#if defined(_OPENMP)
    if (threads > 1) {
#pragma omp parallel num_threads(threads)
        {
            const int tid = omp_get_thread_num();
#pragma omp for schedule(static)
            for (int64_t item = 0; item < items; ++item) body(item, tid);
        }
        return;
    }
#endif
    for (int64_t item = 0; item < items; ++item) body(item, 0);
}

}  // namespace gconv
