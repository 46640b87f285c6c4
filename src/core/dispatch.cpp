// Run-time choice of the kernel family: the best one the CPU supports,
// capped by GCONV_MAX_ISA (read once) or gconv_set_max_isa().
#include <atomic>
#include <cstdlib>
#include <cstring>
#if defined(_MSC_VER) && !defined(__clang__)
#include <intrin.h>
#include <immintrin.h>
#endif

#include "core/error.hpp"
#include "cpu/kernel_table.hpp"

namespace gconv {
namespace {

// Every fill_* of one family, in the order the table is documented.
#define GCONV_FILL_FAMILY(isa_namespace, table)          \
    do {                                                 \
        isa_namespace::fill_gemm(table);                 \
        isa_namespace::fill_direct_nchw(table);          \
        isa_namespace::fill_grouped_channel_lanes(table); \
        isa_namespace::fill_depthwise(table);            \
        isa_namespace::fill_depthwise_packed_rows(table); \
        isa_namespace::fill_depthwise_wide_rows(table);   \
        isa_namespace::fill_grouped_rows_nchw(table);     \
        isa_namespace::fill_grouped_runs_nhwc(table);    \
        isa_namespace::fill_wgrad_dw_nchw_rows(table);    \
        isa_namespace::fill_global(table);               \
        isa_namespace::fill_peak(table);                 \
        isa_namespace::fill_wgrad(table);                \
        isa_namespace::fill_transposed(table);           \
        isa_namespace::fill_transposed_grouped(table);   \
        isa_namespace::fill_transposed_grouped_runs(table); \
        isa_namespace::fill_dwconv3d(table);             \
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

#if defined(_MSC_VER) && !defined(__clang__) && (defined(GCONV_HAVE_AVX2) || defined(GCONV_HAVE_AVX512))
// MSVC has no __builtin_cpu_supports: CPUID leaf 7 for the features, XGETBV
// for the OS saving the YMM (and for AVX-512 the ZMM/opmask) state.
bool msvc_cpu_has(const char* feature) {
    int leaf1[4], leaf7[4];
    __cpuid(leaf1, 1);
    __cpuidex(leaf7, 7, 0);
    const bool osxsave = (leaf1[2] >> 27) & 1;
    const unsigned long long xcr0 = osxsave ? _xgetbv(0) : 0;
    const bool ymm = (xcr0 & 0x6) == 0x6;
    const bool zmm = (xcr0 & 0xe6) == 0xe6;
    const auto is = [feature](const char* name) { return std::strcmp(feature, name) == 0; };
    if (is("fma")) return ymm && ((leaf1[2] >> 12) & 1);
    if (is("avx2")) return ymm && ((leaf7[1] >> 5) & 1);
    if (is("avx512f")) return zmm && ((leaf7[1] >> 16) & 1);
    if (is("avx512dq")) return zmm && ((leaf7[1] >> 17) & 1);
    if (is("avx512bw")) return zmm && ((leaf7[1] >> 30) & 1);
    if (is("avx512vl")) return zmm && ((leaf7[1] >> 31) & 1);
    return false;
}
#define GCONV_CPU_HAS(feature) msvc_cpu_has(feature)
#else
#define GCONV_CPU_HAS(feature) __builtin_cpu_supports(feature)
#endif

bool cpu_is_intel() {
#if defined(_MSC_VER) && !defined(__clang__)
    int leaf0[4];
    __cpuid(leaf0, 0);
    char vendor[13];
    std::memcpy(vendor, &leaf0[1], 4);  // EBX, EDX, ECX spell "GenuineIntel"
    std::memcpy(vendor + 4, &leaf0[3], 4);
    std::memcpy(vendor + 8, &leaf0[2], 4);
    vendor[12] = '\0';
    return std::strcmp(vendor, "GenuineIntel") == 0;
#elif defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    return __builtin_cpu_is("intel");
#else
    return false;
#endif
}

bool cpu_supports(gconv_isa isa) {
    switch (isa) {
        case GCONV_ISA_SCALAR:
            return true;
#if defined(GCONV_HAVE_AVX2)
        case GCONV_ISA_AVX2:
            // libgcc's detection also checks that the OS saves the YMM state.
            return GCONV_CPU_HAS("avx2") && GCONV_CPU_HAS("fma");
#endif
#if defined(GCONV_HAVE_AVX512)
        case GCONV_ISA_AVX512:
            return GCONV_CPU_HAS("avx512f") && GCONV_CPU_HAS("avx512vl") &&
                   GCONV_CPU_HAS("avx512bw") && GCONV_CPU_HAS("avx512dq") &&
                   GCONV_CPU_HAS("avx2") && GCONV_CPU_HAS("fma");
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
        const bool intel = cpu_is_intel();
        for (int isa = 0; isa < 3; ++isa) {
            if (cpu_supports(static_cast<gconv_isa>(isa)))
                by_isa[isa] = make_table(static_cast<gconv_isa>(isa));
            by_isa[isa].slices_into_l2 = intel;
        }
        // A CPU with the AVX-512 family runs AVX2 too (cpu_supports).
        if (by_isa[GCONV_ISA_AVX512].isa == GCONV_ISA_AVX512 &&
            by_isa[GCONV_ISA_AVX2].isa == GCONV_ISA_AVX2) {
            by_isa[GCONV_ISA_AVX512].f32.narrow = &by_isa[GCONV_ISA_AVX2].f32;
            by_isa[GCONV_ISA_AVX512].f64.narrow = &by_isa[GCONV_ISA_AVX2].f64;
        }
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
