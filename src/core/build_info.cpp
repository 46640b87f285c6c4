// Version and build-information queries of the C ABI.
#include <cstdio>
#include <string>

#include "core/error.hpp"
#include "gconv/gconv.h"

extern "C" {

void gconv_version_numbers(int* major, int* minor, int* patch) {
    if (major) *major = GCONV_VERSION_MAJOR;
    if (minor) *minor = GCONV_VERSION_MINOR;
    if (patch) *patch = GCONV_VERSION_PATCH;
}

int gconv_abi_version(void) { return GCONV_ABI_VERSION; }

const char* gconv_build_info(void) {
    static thread_local char text[512];
    try {
        std::string compiled;
        for (int isa = GCONV_ISA_SCALAR; isa <= GCONV_ISA_AVX512; ++isa)
            if (gconv_isa_compiled(static_cast<gconv_isa>(isa))) {
                if (!compiled.empty()) compiled += ',';
                compiled += gconv_isa_name(static_cast<gconv_isa>(isa));
            }
        std::snprintf(text, sizeof text,
                      "gconv %s; %s; %s; openmp=%d; isa_compiled=%s; isa_active=%s; threads=%d",
                      gconv_version(), gconv_compiler(), gconv_build_type(), gconv_has_openmp(),
                      compiled.c_str(), gconv_isa_name(gconv_isa_active()),
                      gconv_get_num_threads());
    } catch (...) {
        std::snprintf(text, sizeof text, "gconv %s", gconv_version());
    }
    return text;
}

const char* gconv_status_name(gconv_status status) {
    switch (status) {
        case GCONV_SUCCESS:
            return "success";
        case GCONV_INVALID_PARAMETER:
            return "invalid_parameter";
        case GCONV_UNSUPPORTED:
            return "unsupported";
        case GCONV_OUT_OF_MEMORY:
            return "out_of_memory";
        case GCONV_INTERNAL_ERROR:
            return "internal_error";
    }
    return "unknown";
}

}  // extern "C"
