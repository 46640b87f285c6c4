#include "core/diagnostics.h"

#include <chrono>
#include <vector>

#include "core/threads.hpp"
#include "cpu/kernel_table.hpp"

extern "C" double gconv_measure_fma_peak(int64_t iterations, int num_threads) {
    const gconv::KernelTable& table = gconv::active_kernel_table();
    const int threads = gconv::resolve_threads(num_threads);
    std::vector<float> sink(static_cast<size_t>(threads));  // keeps the loops alive
    const auto start = std::chrono::steady_clock::now();
    gconv::parallel_for(threads, threads, [&](int64_t item, int) {
        sink[item] = table.fma_peak_loop(iterations, static_cast<float>(item + 1));
    });
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double flops = static_cast<double>(iterations) * table.fma_peak_flops_per_iteration *
                         threads;
    volatile float keep = sink[0];
    (void)keep;
    return seconds > 0 ? flops / seconds * 1e-9 : 0.0;
}
