// gconv_conv2d_weight_grad through the C ABI: the definition (a naive
// double loop) on depthwise, narrow-group and dense shapes in both layouts,
// the same bits for 1 and 3 threads, and the argument checks.
#include <cstring>

#include "check.hpp"

namespace {

gconv_conv2d_desc make(int64_t n, int64_t c, int64_t k, int64_t g, int64_t h, int64_t w,
                       int64_t r, int64_t stride, int64_t pad, int64_t dilation, int layout) {
    gconv_conv2d_desc d;
    gconv_conv2d_desc_init(&d);
    d.batch = n;
    d.in_channels = c;
    d.out_channels = k;
    d.groups = g;
    d.in_h = h;
    d.in_w = w;
    d.kernel_h = d.kernel_w = r;
    d.stride_h = d.stride_w = stride;
    d.pad_top = d.pad_left = pad;
    d.pad_bottom = d.pad_right = pad + 1;  // asymmetric on purpose
    d.dilation_h = d.dilation_w = dilation;
    d.layout = layout;
    return d;
}

// dW(k, c, r, s) = sum over images and output pixels of dy * x at the tap.
std::vector<double> naive_weight_grad(const gconv_conv2d_desc& d, const float* x, const float* dy) {
    const int64_t C = d.in_channels, K = d.out_channels, G = d.groups, H = d.in_h, W = d.in_w;
    const int64_t R = d.kernel_h, S = d.kernel_w, Cg = C / G, Kg = K / G;
    const int64_t OH = test::out_extent(H, R, d.stride_h, d.pad_top, d.pad_bottom, d.dilation_h);
    const int64_t OW = test::out_extent(W, S, d.stride_w, d.pad_left, d.pad_right, d.dilation_w);
    const bool nhwc = d.layout == GCONV_LAYOUT_NHWC;
    auto xi = [&](int64_t b, int64_t c, int64_t h, int64_t w) {
        return nhwc ? ((b * H + h) * W + w) * C + c : ((b * C + c) * H + h) * W + w;
    };
    auto yi = [&](int64_t b, int64_t k, int64_t h, int64_t w) {
        return nhwc ? ((b * OH + h) * OW + w) * K + k : ((b * K + k) * OH + h) * OW + w;
    };
    std::vector<double> dw(static_cast<size_t>(K * Cg * R * S), 0.0);
    for (int64_t b = 0; b < d.batch; ++b)
        for (int64_t k = 0; k < K; ++k)
            for (int64_t c = 0; c < Cg; ++c)
                for (int64_t r = 0; r < R; ++r)
                    for (int64_t s = 0; s < S; ++s)
                        for (int64_t oh = 0; oh < OH; ++oh)
                            for (int64_t ow = 0; ow < OW; ++ow) {
                                const int64_t ih = oh * d.stride_h - d.pad_top + r * d.dilation_h;
                                const int64_t iw = ow * d.stride_w - d.pad_left + s * d.dilation_w;
                                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                                dw[((k * Cg + c) * R + r) * S + s] +=
                                    double(dy[yi(b, k, oh, ow)]) *
                                    double(x[xi(b, k / Kg * Cg + c, ih, iw)]);
                            }
    return dw;
}

void matches_definition(const gconv_conv2d_desc& d) {
    int64_t oh = 0, ow = 0;
    CHECK_STATUS(gconv_conv2d_output_size(&d, &oh, &ow), GCONV_SUCCESS);
    const auto x = test::random_values(size_t(d.batch * d.in_channels * d.in_h * d.in_w), 1);
    const auto dy = test::random_values(size_t(d.batch * d.out_channels * oh * ow), 2);
    const size_t weights = size_t(d.out_channels * d.in_channels / d.groups * d.kernel_h * d.kernel_w);
    std::vector<float> one(weights, -1.0f), three(weights, -2.0f);
    CHECK_STATUS(gconv_conv2d_weight_grad(&d, x.data(), dy.data(), one.data(), 1), GCONV_SUCCESS);
    CHECK_STATUS(gconv_conv2d_weight_grad(&d, x.data(), dy.data(), three.data(), 3), GCONV_SUCCESS);
    CHECK(std::memcmp(one.data(), three.data(), weights * sizeof(float)) == 0);
    const auto ref = naive_weight_grad(d, x.data(), dy.data());
    for (size_t i = 0; i < weights; ++i) CHECK(std::fabs(one[i] - ref[i]) <= 1e-4 * (1 + std::fabs(ref[i])));
}

void every_shape_family_matches_the_definition() {
    for (int layout : {GCONV_LAYOUT_NCHW, GCONV_LAYOUT_NHWC}) {
        matches_definition(make(2, 12, 12, 12, 9, 8, 3, 1, 1, 1, layout));  // depthwise
        matches_definition(make(2, 10, 20, 10, 7, 9, 5, 2, 2, 1, layout));  // multiplier 2, stride 2
        matches_definition(make(3, 32, 32, 8, 6, 6, 3, 1, 1, 2, layout));   // 4-channel groups, dilated
        matches_definition(make(2, 24, 18, 1, 5, 7, 3, 1, 0, 1, layout));   // dense
        matches_definition(make(1, 6, 9, 3, 4, 4, 1, 3, 0, 1, layout));     // 1x1, stride 3
    }
}

void empty_batch_gives_zeros_and_bad_arguments_are_invalid() {
    gconv_conv2d_desc d = make(0, 4, 4, 2, 5, 5, 3, 1, 1, 1, GCONV_LAYOUT_NCHW);
    std::vector<float> dw(4 * 2 * 9, 7.0f);
    CHECK_STATUS(gconv_conv2d_weight_grad(&d, nullptr, nullptr, dw.data(), 0), GCONV_SUCCESS);
    for (float v : dw) CHECK(v == 0.0f);
    d.batch = 1;
    float one = 0;
    CHECK_STATUS(gconv_conv2d_weight_grad(&d, nullptr, &one, dw.data(), 0),
                 GCONV_INVALID_PARAMETER);
    CHECK_STATUS(gconv_conv2d_weight_grad(nullptr, &one, &one, dw.data(), 0),
                 GCONV_INVALID_PARAMETER);
    d.groups = 3;  // 4 channels are not divisible by 3 groups
    CHECK_STATUS(gconv_conv2d_weight_grad(&d, &one, &one, dw.data(), 0), GCONV_INVALID_PARAMETER);
    CHECK(std::strstr(gconv_last_error(), "groups") != nullptr);
}

}  // namespace

int main() {
    every_shape_family_matches_the_definition();
    empty_batch_gives_zeros_and_bad_arguments_are_invalid();
    std::printf("weight_grad: ok\n");
    return 0;
}
