// Run-time choice of the kernel family: the best one the CPU supports,
// capped by GCONV_MAX_ISA (read once) or gconv_set_max_isa().
#include <atomic>
#include <cstdlib>
#include <cstring>

#include "core/error.hpp"
#include "cpu/kernel_table.hpp"

namespace gconv {
namespace {

// Every fill_* of one family, in the order the table is documented.
#define GCONV_FILL_FAMILY(isa_namespace, table)      \
    do {                                             \
        isa_namespace::fill_gemm(table);             \
        isa_namespace::fill_direct_nchw(table);      \
        isa_namespace::fill_depthwise(table);        \
        isa_namespace::fill_global(table);           \
        isa_namespace::fill_peak(table);             \
    } while (0)

KernelTable make_table(gconv_isa isa) {
    KernelTable t{};
    t.isa = isa;
    switch (isa) {
#if defined(GCONV_HAVE_AVX512)
        case GCONV_ISA_AVX512:
            GCONV_FILL_FAMILY(avx512, t);
            break;
#endif
#if defined(GCONV_HAVE_AVX2)
        case GCONV_ISA_AVX2:
            GCONV_FILL_FAMILY(avx2, t);
            break;
#endif
        default:
            GCONV_FILL_FAMILY(scalar, t);
            break;
    }
    return t;
}

bool cpu_supports(gconv_isa isa) {
    switch (isa) {
        case GCONV_ISA_SCALAR:
            return true;
#if defined(GCONV_HAVE_AVX2)
        case GCONV_ISA_AVX2:
            // libgcc's detection also checks that the OS saves the YMM state.
            return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
#if defined(GCONV_HAVE_AVX512)
        case GCONV_ISA_AVX512:
            return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
                   __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
                   __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
        default:
            return false;
    }
}

gconv_isa best_supported(gconv_isa cap) {
    for (int isa = cap; isa > GCONV_ISA_SCALAR; --isa)
        if (cpu_supports(static_cast<gconv_isa>(isa))) return static_cast<gconv_isa>(isa);
    return GCONV_ISA_SCALAR;
}

gconv_isa cap_from_environment() {
    const char* value = std::getenv("GCONV_MAX_ISA");
    if (value == nullptr || *value == '\0') return GCONV_ISA_AVX512;
    if (std::strcmp(value, "scalar") == 0) return GCONV_ISA_SCALAR;
    if (std::strcmp(value, "avx2") == 0) return GCONV_ISA_AVX2;
    return GCONV_ISA_AVX512;  // "avx512" or unknown: no cap
}

struct Tables {
    KernelTable by_isa[3];
    std::atomic<int> active;
    Tables() {
        // A family's fill functions are compiled with its flags, so even
        // filling its table may execute its instructions: only supported ones.
        for (int isa = 0; isa < 3; ++isa)
            if (cpu_supports(static_cast<gconv_isa>(isa)))
                by_isa[isa] = make_table(static_cast<gconv_isa>(isa));
        active.store(best_supported(cap_from_environment()));
    }
};

Tables& tables() {
    static Tables instance;  // thread-safe initialisation (C++11 magic static)
    return instance;
}

}  // namespace

const KernelTable& active_kernel_table() {
    Tables& t = tables();
    return t.by_isa[t.active.load(std::memory_order_relaxed)];
}

}  // namespace gconv

extern "C" {

int gconv_isa_compiled(gconv_isa isa) {
    switch (isa) {
        case GCONV_ISA_SCALAR:
            return 1;
#if defined(GCONV_HAVE_AVX2)
        case GCONV_ISA_AVX2:
            return 1;
#endif
#if defined(GCONV_HAVE_AVX512)
        case GCONV_ISA_AVX512:
            return 1;
#endif
        default:
            return 0;
    }
}

int gconv_isa_supported(gconv_isa isa) { return gconv::cpu_supports(isa) ? 1 : 0; }

gconv_isa gconv_isa_active(void) { return gconv::active_kernel_table().isa; }

gconv_status gconv_set_max_isa(gconv_isa isa) {
    if (isa < GCONV_ISA_SCALAR || isa > GCONV_ISA_AVX512)
        return gconv::fail(GCONV_INVALID_PARAMETER, "isa (%d) is not a gconv_isa",
                           static_cast<int>(isa));
    gconv::tables().active.store(gconv::best_supported(isa));
    return GCONV_SUCCESS;
}

const char* gconv_isa_name(gconv_isa isa) {
    switch (isa) {
        case GCONV_ISA_SCALAR:
            return "scalar";
        case GCONV_ISA_AVX2:
            return "avx2";
        case GCONV_ISA_AVX512:
            return "avx512";
    }
    return "unknown";
}

}  // extern "C"
