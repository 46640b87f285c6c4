#include "core/threads.hpp"

#include <atomic>
#include <cstdlib>
#include <thread>

#include "core/error.hpp"

namespace gconv {
namespace {

int positive_from_environment(const char* name) {
    const char* value = std::getenv(name);
    if (value == nullptr) return 0;
    // OMP_NUM_THREADS may be a list ("4,2"); its first entry is the top level.
    char* end = nullptr;
    long n = std::strtol(value, &end, 10);
    if (end == value || n < 1) return 0;
    return n > 4096 ? 4096 : static_cast<int>(n);
}

int default_threads() {
    if (int n = positive_from_environment("GCONV_NUM_THREADS")) return n;
    if (int n = positive_from_environment("OMP_NUM_THREADS")) return n;
#if defined(_OPENMP)
    return omp_get_num_procs();
#else
    unsigned n = std::thread::hardware_concurrency();
    return n ? static_cast<int>(n) : 1;
#endif
}

std::atomic<int>& thread_setting() {
    static std::atomic<int> setting(default_threads());
    return setting;
}

}  // namespace

int resolve_threads(int num_threads) {
    return num_threads > 0 ? num_threads : thread_setting().load(std::memory_order_relaxed);
}

}  // namespace gconv

extern "C" {

int gconv_get_num_threads(void) { return gconv::thread_setting().load(); }

gconv_status gconv_set_num_threads(int n) {
    if (n < 1)
        return gconv::fail(GCONV_INVALID_PARAMETER, "num_threads must be >= 1, got %d", n);
    gconv::thread_setting().store(n > 1024 ? 1024 : n);  // more is never useful, and costly
    return GCONV_SUCCESS;
}

int gconv_has_openmp(void) {
#if defined(_OPENMP)
    return 1;
#else
    return 0;
#endif
}

}  // extern "C"
