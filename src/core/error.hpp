// Status codes with a per-thread message, so the C ABI can report what failed
// and the value it saw without throwing across the boundary.
#pragma once

#include "gconv/gconv.h"

namespace gconv {

// Records printf-style message for this thread and returns `status`.
gconv_status fail(gconv_status status, const char* format, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

void clear_error();

}  // namespace gconv
