// A MobileNetV2 inverted-residual block with gconv, checked against naive loops:
//
//   x (1, 24, 56, 56) -> 1x1 expand to 144 + ReLU6        (gemm_1x1)
//                     -> 3x3 depthwise, pad 1 + ReLU6     (depthwise, groups = 144)
//                     -> 1x1 project to 24 (linear)       (gemm_1x1)
//                     -> + x                              (the residual)
//
// Each convolution is a gconv::Conv2d: weights validated and packed once,
// then run on any number of images. Exit status 0 when every output matches.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include <gconv/gconv.hpp>

namespace {

constexpr int64_t kChannels = 24, kExpanded = 144, kSize = 56;

std::vector<float> random_vector(size_t n, std::mt19937& rng, float scale) {
    std::uniform_real_distribution<float> dist(-scale, scale);
    std::vector<float> v(n);
    for (float& x : v) x = dist(rng);
    return v;
}

gconv::Conv2dParams pointwise(int64_t in, int64_t out, gconv::Activation act) {
    gconv::Conv2dParams p;
    p.in_channels = in;
    p.out_channels = out;
    p.input = {kSize, kSize};
    p.activation = act;
    return p;
}

gconv::Conv2dParams depthwise3x3(int64_t channels) {
    gconv::Conv2dParams p;
    p.in_channels = p.out_channels = p.groups = channels;
    p.input = {kSize, kSize};
    p.kernel = {3, 3};
    p.padding = gconv::Padding::same(1);
    p.activation = gconv::Activation::relu6;
    return p;
}

float relu6(double v) { return static_cast<float>(std::min(6.0, std::max(0.0, v))); }

// NCHW, one image: y[k] = act(b[k] + sum_c w[k, c] x[c]).
std::vector<float> naive_pointwise(const std::vector<float>& x, int64_t in, int64_t out,
                                   const std::vector<float>& w, const std::vector<float>& b,
                                   bool relu) {
    const int64_t P = kSize * kSize;
    std::vector<float> y(static_cast<size_t>(out * P));
    for (int64_t k = 0; k < out; ++k)
        for (int64_t p = 0; p < P; ++p) {
            double acc = b[k];
            for (int64_t c = 0; c < in; ++c) acc += double(w[k * in + c]) * x[c * P + p];
            y[k * P + p] = relu ? relu6(acc) : static_cast<float>(acc);
        }
    return y;
}

std::vector<float> naive_depthwise3x3(const std::vector<float>& x, int64_t channels,
                                      const std::vector<float>& w, const std::vector<float>& b) {
    std::vector<float> y(x.size());
    for (int64_t c = 0; c < channels; ++c)
        for (int64_t i = 0; i < kSize; ++i)
            for (int64_t j = 0; j < kSize; ++j) {
                double acc = b[c];
                for (int64_t r = 0; r < 3; ++r)
                    for (int64_t s = 0; s < 3; ++s) {
                        const int64_t ii = i + r - 1, jj = j + s - 1;
                        if (ii < 0 || ii >= kSize || jj < 0 || jj >= kSize) continue;
                        acc += double(w[c * 9 + r * 3 + s]) * x[(c * kSize + ii) * kSize + jj];
                    }
                y[(c * kSize + i) * kSize + j] = relu6(acc);
            }
    return y;
}

double max_abs(const std::vector<float>& v) {
    double m = 0;
    for (float x : v) m = std::max(m, double(std::fabs(x)));
    return m;
}

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
    double m = 0;
    for (size_t i = 0; i < a.size(); ++i) m = std::max(m, double(std::fabs(a[i] - b[i])));
    return m;
}

}  // namespace

int main() {
    std::printf("%s\n", gconv::build_info().c_str());
    std::mt19937 rng(2018);
    const auto x = random_vector(kChannels * kSize * kSize, rng, 1.0f);
    const auto w_expand = random_vector(kExpanded * kChannels, rng, 0.3f);
    const auto b_expand = random_vector(kExpanded, rng, 0.1f);
    const auto w_dw = random_vector(kExpanded * 9, rng, 0.5f);
    const auto b_dw = random_vector(kExpanded, rng, 0.1f);
    const auto w_project = random_vector(kChannels * kExpanded, rng, 0.1f);
    const auto b_project = random_vector(kChannels, rng, 0.1f);

    using F = gconv::Span<const float>;
    const gconv::Conv2d expand(pointwise(kChannels, kExpanded, gconv::Activation::relu6),
                               F(w_expand), F(b_expand));
    const gconv::Conv2d depthwise(depthwise3x3(kExpanded), F(w_dw), F(b_dw));
    const gconv::Conv2d project(pointwise(kExpanded, kChannels, gconv::Activation::none),
                                F(w_project), F(b_project));

    std::vector<float> hidden(static_cast<size_t>(expand.output_shape(1).elements()));
    std::vector<float> hidden2(static_cast<size_t>(depthwise.output_shape(1).elements()));
    std::vector<float> y(static_cast<size_t>(project.output_shape(1).elements()));
    // One workspace, sized for the largest need, serves all three (run in turn).
    std::vector<unsigned char> workspace(std::max(
        {expand.workspace_size(), depthwise.workspace_size(), project.workspace_size()}));

    auto block = [&] {
        expand.run(1, x.data(), hidden.data(), workspace.data(), workspace.size());
        depthwise.run(1, hidden.data(), hidden2.data(), workspace.data(), workspace.size());
        project.run(F(hidden2), gconv::Span<float>(y), 1);
        for (size_t i = 0; i < y.size(); ++i) y[i] += x[i];  // the residual
    };
    block();  // the first call also starts the thread pool
    const auto start = std::chrono::steady_clock::now();
    block();
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();

    auto ref = naive_pointwise(x, kChannels, kExpanded, w_expand, b_expand, true);
    ref = naive_depthwise3x3(ref, kExpanded, w_dw, b_dw);
    ref = naive_pointwise(ref, kExpanded, kChannels, w_project, b_project, false);
    for (size_t i = 0; i < ref.size(); ++i) ref[i] += x[i];

    const double diff = max_abs_diff(y, ref), scale = max_abs(ref);
    std::printf("expand %s, depthwise %s, project %s: %.3f ms\n", expand.algorithm_name(),
                depthwise.algorithm_name(), project.algorithm_name(), ms);
    std::printf("output (1, %lld, %lld, %lld): max |gconv - naive| = %.3g (max |naive| = %.3g)\n",
                static_cast<long long>(kChannels), static_cast<long long>(kSize),
                static_cast<long long>(kSize), diff, scale);
    if (!(diff <= 1e-4 * scale)) {
        std::printf("MISMATCH\n");
        return 1;
    }
    std::printf("mobilenet block: ok\n");
    return 0;
}
