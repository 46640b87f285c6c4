// The C++ wrapper against the naive definition: every algorithm, both
// layouts and dtypes, bias and activations, run() with and without a workspace.
#include <string>
#include <utility>
#include <vector>

#include "check.hpp"
#include "gconv/gconv.hpp"

namespace {

template <typename T>
void check_against_naive(gconv::Conv2dParams p, gconv::Algorithm algorithm, int64_t batch) {
    const std::vector<float> wf = test::random_values(static_cast<size_t>(p.weight_elements()), 7);
    const std::vector<float> bf = test::random_values(static_cast<size_t>(p.out_channels), 8);
    const std::vector<T> w(wf.begin(), wf.end()), b(bf.begin(), bf.end());
    p.dtype = gconv::dtype_of<T>();
    const gconv::Conv2d conv(p, gconv::Span<const T>(w), gconv::Span<const T>(b), algorithm);
    CHECK(conv.params().has_bias);
    if (algorithm != gconv::Algorithm::automatic) CHECK(conv.algorithm() == algorithm);

    const gconv::Shape4 out = conv.output_shape(batch);
    const gconv::Size2 size = gconv::output_size(p);
    CHECK(out.n == batch && out.c == p.out_channels && out.h == size.h && out.w == size.w);
    const std::vector<float> xf =
        test::random_values(static_cast<size_t>(p.input_shape(batch).elements()), 9);
    const std::vector<T> x(xf.begin(), xf.end());
    std::vector<T> y(static_cast<size_t>(out.elements())), y2(y.size());
    conv.run(gconv::Span<const T>(x), gconv::Span<T>(y), batch);

    std::vector<unsigned char> workspace(conv.workspace_size(2));
    conv.run(batch, x.data(), y2.data(), workspace.data(), workspace.size(), 2);

    const gconv_conv2d_desc d = p.desc(batch);
    const std::vector<T> ref = test::naive_conv2d(d, batch, x.data(), w.data(), b.data());
    const double diff = test::max_abs_diff(ref, y), diff2 = test::max_abs_diff(ref, y2);
    const double tolerance = sizeof(T) == 4 ? 1e-4 : 1e-10;
    if (!(diff <= tolerance && diff2 <= tolerance)) {
        std::fprintf(stderr, "%s %s %s: max |diff| %g / %g\n", conv.algorithm_name(),
                     p.layout == gconv::Layout::nhwc ? "NHWC" : "NCHW",
                     sizeof(T) == 4 ? "float32" : "float64", diff, diff2);
        std::exit(1);
    }
    std::printf("%-16s %s %s %s: max |diff| %.2g\n", conv.algorithm_name(), conv.isa_name(),
                p.layout == gconv::Layout::nhwc ? "NHWC" : "NCHW",
                sizeof(T) == 4 ? "float32" : "float64", diff);
}

gconv::Conv2dParams params(int64_t C, int64_t K, int64_t G, int64_t H, int64_t R, int64_t stride,
                           int64_t pad) {
    gconv::Conv2dParams p;
    p.in_channels = C;
    p.out_channels = K;
    p.groups = G;
    p.input = {H, H + 1};
    p.kernel = {R, R};
    p.stride = {stride, stride};
    p.padding = gconv::Padding::same(pad);
    p.activation = gconv::Activation::relu6;
    return p;
}

}  // namespace

int main() {
    using A = gconv::Algorithm;
    const std::pair<gconv::Conv2dParams, A> cases[] = {
        {params(8, 12, 2, 9, 3, 1, 1), A::im2col_gemm},
        {params(8, 12, 2, 9, 1, 1, 0), A::gemm_1x1},
        {params(8, 8, 4, 9, 3, 2, 1), A::grouped_direct},
        {params(6, 12, 6, 9, 3, 1, 1), A::depthwise},
        {params(64, 64, 32, 14, 3, 1, 1), A::automatic},
    };
    for (const auto& c : cases)
        for (gconv::Layout layout : {gconv::Layout::nchw, gconv::Layout::nhwc}) {
            gconv::Conv2dParams p = c.first;
            p.layout = layout;
            check_against_naive<float>(p, c.second, 2);
            check_against_naive<double>(p, c.second, 1);
        }
    // Global depthwise: the kernel covers the whole input.
    gconv::Conv2dParams gdc = params(6, 6, 6, 7, 7, 1, 0);
    gdc.input = {7, 7};
    gdc.activation = gconv::Activation::none;
    check_against_naive<float>(gdc, A::global_depthwise, 3);

    // Moves keep the plan; the moved-from object holds none.
    gconv::Conv2dParams p = params(8, 12, 2, 9, 3, 1, 1);
    const std::vector<float> w(static_cast<size_t>(p.weight_elements()), 0.5f);
    gconv::Conv2d a(p, gconv::Span<const float>(w));
    gconv_plan* raw = a.get();
    gconv::Conv2d b(std::move(a));
    CHECK(b.get() == raw && a.get() == nullptr);
    CHECK(gconv::version() == gconv_version());
    CHECK(gconv::build_info().find("isa_active=") != std::string::npos);
    std::printf("c++ wrapper: ok\n");
    return 0;
}
