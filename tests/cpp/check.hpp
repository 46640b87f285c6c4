// A tiny check macro and a naive convolution for the C/C++ tests (no test
// framework: each test is one executable that ctest runs).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "gconv/gconv.h"

#define CHECK(condition)                                                              \
    do {                                                                              \
        if (!(condition)) {                                                           \
            std::fprintf(stderr, "%s:%d: CHECK(%s) failed (last error: %s)\n", __FILE__, \
                         __LINE__, #condition, gconv_last_error());                   \
            std::exit(1);                                                             \
        }                                                                             \
    } while (0)

#define CHECK_STATUS(call, expected)                                                        \
    do {                                                                                    \
        const gconv_status status_ = (call);                                                \
        if (status_ != (expected)) {                                                        \
            std::fprintf(stderr, "%s:%d: %s returned %s, expected %s (last error: %s)\n",     \
                         __FILE__, __LINE__, #call, gconv_status_name(status_),             \
                         gconv_status_name(expected), gconv_last_error());                  \
            std::exit(1);                                                                   \
        }                                                                                   \
    } while (0)

namespace test {

inline std::vector<float> random_values(size_t n, unsigned seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    std::vector<float> v(n);
    for (float& x : v) x = dist(rng);
    return v;
}

inline int64_t out_extent(int64_t in, int64_t k, int64_t s, int64_t p0, int64_t p1, int64_t d) {
    return (in + p0 + p1 - d * (k - 1) - 1) / s + 1;
}

// The definition, in double: x (N images, d's layout), weight (K, C/G, R, S).
template <typename T>
std::vector<T> naive_conv2d(const gconv_conv2d_desc& d, int64_t n, const T* x, const T* w,
                            const T* bias) {
    const int64_t C = d.in_channels, K = d.out_channels, G = d.groups, H = d.in_h, W = d.in_w;
    const int64_t R = d.kernel_h, S = d.kernel_w, Cg = C / G, Kg = K / G;
    const int64_t OH = out_extent(H, R, d.stride_h, d.pad_top, d.pad_bottom, d.dilation_h);
    const int64_t OW = out_extent(W, S, d.stride_w, d.pad_left, d.pad_right, d.dilation_w);
    const bool nhwc = d.layout == GCONV_LAYOUT_NHWC;
    auto xi = [&](int64_t b, int64_t c, int64_t h, int64_t w_) {
        return nhwc ? ((b * H + h) * W + w_) * C + c : ((b * C + c) * H + h) * W + w_;
    };
    auto yi = [&](int64_t b, int64_t k, int64_t h, int64_t w_) {
        return nhwc ? ((b * OH + h) * OW + w_) * K + k : ((b * K + k) * OH + h) * OW + w_;
    };
    std::vector<T> y(static_cast<size_t>(n * K * OH * OW));
    for (int64_t b = 0; b < n; ++b)
        for (int64_t k = 0; k < K; ++k)
            for (int64_t oh = 0; oh < OH; ++oh)
                for (int64_t ow = 0; ow < OW; ++ow) {
                    double acc = bias ? bias[k] : 0.0;
                    const int64_t g = k / Kg;
                    for (int64_t c = 0; c < Cg; ++c)
                        for (int64_t r = 0; r < R; ++r)
                            for (int64_t s = 0; s < S; ++s) {
                                const int64_t ih = oh * d.stride_h - d.pad_top + r * d.dilation_h;
                                const int64_t iw = ow * d.stride_w - d.pad_left + s * d.dilation_w;
                                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                                acc += double(x[xi(b, g * Cg + c, ih, iw)]) *
                                       double(w[((k * Cg + c) * R + r) * S + s]);
                            }
                    if (d.activation == GCONV_ACTIVATION_RELU) acc = acc > 0 ? acc : 0;
                    if (d.activation == GCONV_ACTIVATION_RELU6)
                        acc = acc < 0 ? 0 : (acc > 6 ? 6 : acc);
                    y[static_cast<size_t>(yi(b, k, oh, ow))] = static_cast<T>(acc);
                }
    return y;
}

template <typename T>
double max_abs_diff(const std::vector<T>& a, const std::vector<T>& b) {
    double m = 0;
    for (size_t i = 0; i < a.size(); ++i) m = std::fmax(m, std::fabs(double(a[i]) - double(b[i])));
    return m;
}

}  // namespace test
