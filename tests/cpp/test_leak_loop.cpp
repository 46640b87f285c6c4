// Plans created, run and destroyed in a loop, failures included: run under
// valgrind (ctest's leak_loop_valgrind) it must leak nothing.
#include <vector>

#include "check.hpp"

int main(int argc, char** argv) {
    const int rounds = argc > 1 ? std::atoi(argv[1]) : 200;
    struct Shape {
        int64_t C, K, G, R;
        int32_t layout;
        gconv_algorithm algorithm;
    } shapes[] = {
        {8, 12, 2, 3, GCONV_LAYOUT_NCHW, GCONV_ALGO_IM2COL_GEMM},
        {8, 12, 2, 1, GCONV_LAYOUT_NHWC, GCONV_ALGO_GEMM_1X1},
        {8, 8, 4, 3, GCONV_LAYOUT_NCHW, GCONV_ALGO_GROUPED_DIRECT},
        {6, 12, 6, 3, GCONV_LAYOUT_NHWC, GCONV_ALGO_DEPTHWISE},
        {6, 6, 6, 8, GCONV_LAYOUT_NCHW, GCONV_ALGO_GLOBAL_DEPTHWISE},
    };
    const std::vector<float> w = test::random_values(12 * 8 * 64, 3);
    const std::vector<float> bias = test::random_values(12, 4);
    const std::vector<float> x = test::random_values(2 * 8 * 64, 5);
    std::vector<float> y(2 * 12 * 64);
    for (int round = 0; round < rounds; ++round) {
        const Shape& s = shapes[round % 5];
        gconv_conv2d_desc d;
        gconv_conv2d_desc_init(&d);
        d.in_channels = s.C, d.out_channels = s.K, d.groups = s.G;
        d.in_h = d.in_w = 8;
        d.kernel_h = d.kernel_w = s.R;
        d.layout = s.layout;
        d.has_bias = round % 2;
        gconv_plan* plan = nullptr;
        CHECK_STATUS(gconv_plan_create(&d, w.data(), bias.data(), s.algorithm, &plan),
                     GCONV_SUCCESS);
        CHECK_STATUS(gconv_plan_execute(plan, 2, x.data(), y.data(), 1 + round % 2),
                     GCONV_SUCCESS);
        size_t bytes = 0;
        CHECK_STATUS(gconv_plan_workspace_size(plan, 1, &bytes), GCONV_SUCCESS);
        std::vector<unsigned char> workspace(bytes);
        CHECK_STATUS(gconv_plan_execute_with_workspace(plan, 2, x.data(), y.data(),
                                                       workspace.data(), bytes, 1),
                     GCONV_SUCCESS);
        gconv_plan_destroy(plan);
        // Failures must free what they allocated on the way.
        CHECK_STATUS(gconv_plan_create(&d, w.data(), bias.data(),
                                       s.R == 1 ? GCONV_ALGO_DEPTHWISE : GCONV_ALGO_GEMM_1X1,
                                       &plan),
                     GCONV_UNSUPPORTED);
        d.groups = 5;
        CHECK_STATUS(gconv_plan_create(&d, w.data(), bias.data(), GCONV_ALGO_AUTO, &plan),
                     GCONV_INVALID_PARAMETER);
    }
    std::printf("%d rounds of create/execute/destroy: ok\n", rounds);
    return 0;
}
