#include "core/descriptor.hpp"

#include <cinttypes>
#include <initializer_list>

#include "core/error.hpp"

namespace gconv {

#if defined(__GNUC__) || defined(__clang__)
bool checked_mul(int64_t a, int64_t b, int64_t& result) {
    return a >= 0 && b >= 0 && !__builtin_mul_overflow(a, b, &result);
}

bool checked_add(int64_t a, int64_t b, int64_t& result) {
    return a >= 0 && b >= 0 && !__builtin_add_overflow(a, b, &result);
}
#else  // MSVC has no overflow builtins; both operands are known non-negative
bool checked_mul(int64_t a, int64_t b, int64_t& result) {
    if (a < 0 || b < 0 || (b != 0 && a > INT64_MAX / b)) return false;
    result = a * b;
    return true;
}

bool checked_add(int64_t a, int64_t b, int64_t& result) {
    if (a < 0 || b < 0 || a > INT64_MAX - b) return false;
    result = a + b;
    return true;
}
#endif

namespace {

gconv_status require_at_least(int64_t value, int64_t minimum, const char* name) {
    if (value < minimum)
        return fail(GCONV_INVALID_PARAMETER, "%s must be >= %" PRId64 ", got %" PRId64, name,
                    minimum, value);
    return GCONV_SUCCESS;
}

// Output size along one axis, as torch computes it.
gconv_status output_extent(int64_t in, int64_t kernel, int64_t stride, int64_t pad_before,
                           int64_t pad_after, int64_t dilation, const char* axis,
                           int64_t& out) {
    int64_t padded, span, extent;
    if (!checked_add(in, pad_before, padded) || !checked_add(padded, pad_after, padded))
        return fail(GCONV_INVALID_PARAMETER, "padded input %s overflows int64", axis);
    if (!checked_mul(dilation, kernel - 1, span) || !checked_add(span, 1, extent))
        return fail(GCONV_INVALID_PARAMETER, "dilated kernel %s overflows int64", axis);
    if (padded < extent)
        return fail(GCONV_INVALID_PARAMETER,
                    "padded input %s (%" PRId64 ") is smaller than the dilated kernel (%" PRId64
                    ")",
                    axis, padded, extent);
    out = (padded - extent) / stride + 1;
    return GCONV_SUCCESS;
}

gconv_status check_elements(std::initializer_list<int64_t> dims, const char* what) {
    int64_t total = 1;
    for (int64_t d : dims)
        if (!checked_mul(total, d, total))
            return fail(GCONV_INVALID_PARAMETER, "%s has more elements than int64 holds", what);
    // Byte counts (8 bytes per double) must fit too.
    if (!checked_mul(total, 8, total))
        return fail(GCONV_INVALID_PARAMETER, "%s has more bytes than int64 holds", what);
    return GCONV_SUCCESS;
}

}  // namespace

gconv_status validate_conv2d(const gconv_conv2d_desc& d, ConvGeometry& g) {
    gconv_status s;
    if ((s = require_at_least(d.batch, 0, "batch")) ||
        (s = require_at_least(d.in_channels, 1, "in_channels")) ||
        (s = require_at_least(d.out_channels, 0, "out_channels")) ||
        (s = require_at_least(d.groups, 1, "groups")) ||
        (s = require_at_least(d.in_h, 1, "in_h")) || (s = require_at_least(d.in_w, 1, "in_w")) ||
        (s = require_at_least(d.kernel_h, 1, "kernel_h")) ||
        (s = require_at_least(d.kernel_w, 1, "kernel_w")) ||
        (s = require_at_least(d.stride_h, 1, "stride_h")) ||
        (s = require_at_least(d.stride_w, 1, "stride_w")) ||
        (s = require_at_least(d.dilation_h, 1, "dilation_h")) ||
        (s = require_at_least(d.dilation_w, 1, "dilation_w")) ||
        (s = require_at_least(d.pad_top, 0, "pad_top")) ||
        (s = require_at_least(d.pad_bottom, 0, "pad_bottom")) ||
        (s = require_at_least(d.pad_left, 0, "pad_left")) ||
        (s = require_at_least(d.pad_right, 0, "pad_right")))
        return s;
    if (d.in_channels % d.groups != 0)
        return fail(GCONV_INVALID_PARAMETER,
                    "in_channels (%" PRId64 ") must be divisible by groups (%" PRId64 ")",
                    d.in_channels, d.groups);
    if (d.out_channels % d.groups != 0)
        return fail(GCONV_INVALID_PARAMETER,
                    "out_channels (%" PRId64 ") must be divisible by groups (%" PRId64 ")",
                    d.out_channels, d.groups);
    if (d.layout != GCONV_LAYOUT_NCHW && d.layout != GCONV_LAYOUT_NHWC)
        return fail(GCONV_INVALID_PARAMETER, "layout (%d) is not a gconv_layout", d.layout);
    if (d.dtype != GCONV_FLOAT32 && d.dtype != GCONV_FLOAT64)
        return fail(GCONV_INVALID_PARAMETER, "dtype (%d) is not a gconv_dtype", d.dtype);
    if (d.activation < GCONV_ACTIVATION_NONE || d.activation > GCONV_ACTIVATION_RELU6)
        return fail(GCONV_INVALID_PARAMETER, "activation (%d) is not a gconv_activation",
                    d.activation);
    if (d.has_bias != 0 && d.has_bias != 1)
        return fail(GCONV_INVALID_PARAMETER, "has_bias must be 0 or 1, got %d", d.has_bias);

    g.C = d.in_channels;
    g.K = d.out_channels;
    g.G = d.groups;
    g.Cg = d.in_channels / d.groups;
    g.Kg = d.out_channels / d.groups;
    g.H = d.in_h;
    g.W = d.in_w;
    g.R = d.kernel_h;
    g.S = d.kernel_w;
    g.sh = d.stride_h;
    g.sw = d.stride_w;
    g.pt = d.pad_top;
    g.pb = d.pad_bottom;
    g.pl = d.pad_left;
    g.pr = d.pad_right;
    g.dh = d.dilation_h;
    g.dw = d.dilation_w;
    g.act = d.activation;
    g.has_bias = d.has_bias != 0;
    g.layout = static_cast<gconv_layout>(d.layout);
    g.dtype = static_cast<gconv_dtype>(d.dtype);
    if ((s = output_extent(g.H, g.R, g.sh, g.pt, g.pb, g.dh, "height", g.OH)) ||
        (s = output_extent(g.W, g.S, g.sw, g.pl, g.pr, g.dw, "width", g.OW)))
        return s;
    if ((s = check_elements({d.batch, g.C, g.H, g.W}, "input")) ||
        (s = check_elements({d.batch, g.K, g.OH, g.OW}, "output")) ||
        (s = check_elements({g.K, g.Cg, g.R, g.S}, "weight")) ||
        // Packed weights round rows up to the micro-kernel tile (at most 16 more rows).
        (s = check_elements({g.G, g.Kg + 16, g.Cg, g.R, g.S}, "packed weight")))
        return s;
    return GCONV_SUCCESS;
}

}  // namespace gconv
