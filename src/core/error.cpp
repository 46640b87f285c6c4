#include "core/error.hpp"

#include <cstdarg>
#include <cstdio>

namespace gconv {
namespace {
thread_local char last_error[512] = "";
}

gconv_status fail(gconv_status status, const char* format, ...) {
    va_list args;
    va_start(args, format);
    std::vsnprintf(last_error, sizeof last_error, format, args);
    va_end(args);
    return status;
}

void clear_error() { last_error[0] = '\0'; }

}  // namespace gconv

extern "C" const char* gconv_last_error(void) { return gconv::last_error; }
