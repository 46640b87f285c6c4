// Validation of a gconv_conv2d_desc into a ConvGeometry.
#pragma once

#include "core/geometry.hpp"

namespace gconv {

// Checks every field and every size product (int64, overflow-checked) and
// fills `geometry`. Returns GCONV_INVALID_PARAMETER with a message naming the
// field and the value on failure.
gconv_status validate_conv2d(const gconv_conv2d_desc& desc, ConvGeometry& geometry);

// a * b, or false when it overflows int64 (or either is negative).
bool checked_mul(int64_t a, int64_t b, int64_t& result);
bool checked_add(int64_t a, int64_t b, int64_t& result);

}  // namespace gconv
