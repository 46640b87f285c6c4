// One plan executed from several threads at once (each call with its own
// OpenMP team, some with their own workspace) gives each caller exactly the
// result a lone call gives.
#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

#include "check.hpp"

namespace {

struct Case {
    const char* name;
    gconv_conv2d_desc desc;
};

std::vector<Case> cases() {
    std::vector<Case> list;
    auto base = [] {
        gconv_conv2d_desc d;
        gconv_conv2d_desc_init(&d);
        d.in_h = d.in_w = 20;
        d.kernel_h = d.kernel_w = 3;
        d.pad_top = d.pad_bottom = d.pad_left = d.pad_right = 1;
        return d;
    };
    gconv_conv2d_desc d = base();
    d.in_channels = 32, d.out_channels = 64, d.groups = 1;  // dense: im2col_gemm
    list.push_back({"dense", d});
    d = base();
    d.in_channels = d.out_channels = 32, d.groups = 8, d.layout = GCONV_LAYOUT_NHWC;
    list.push_back({"grouped nhwc", d});
    d = base();
    d.in_channels = d.out_channels = 24, d.groups = 24;
    list.push_back({"depthwise", d});
    return list;
}

void run_case(const Case& c) {
    const gconv_conv2d_desc& d = c.desc;
    const int64_t batch = 2, K = d.out_channels;
    const std::vector<float> w =
        test::random_values(static_cast<size_t>(K * d.in_channels / d.groups * 9), 1);
    gconv_plan* plan = nullptr;
    CHECK_STATUS(gconv_plan_create(&d, w.data(), nullptr, GCONV_ALGO_AUTO, &plan), GCONV_SUCCESS);
    int64_t shape[4];
    CHECK_STATUS(gconv_plan_output_shape(plan, batch, shape), GCONV_SUCCESS);
    const size_t in_count = static_cast<size_t>(batch * d.in_channels * d.in_h * d.in_w);
    const size_t out_count = static_cast<size_t>(shape[0] * shape[1] * shape[2] * shape[3]);

    constexpr int kCallers = 6, kRounds = 15;
    std::vector<std::vector<float>> inputs, expected;
    for (int t = 0; t < kCallers; ++t) {
        inputs.push_back(test::random_values(in_count, 100 + t));
        expected.emplace_back(out_count);
        // The thread count a caller uses below, so results must match bitwise.
        CHECK_STATUS(gconv_plan_execute(plan, batch, inputs[t].data(), expected[t].data(),
                                        1 + t % 2),
                     GCONV_SUCCESS);
        const std::vector<float> ref =
            test::naive_conv2d(d, batch, inputs[t].data(), w.data(), static_cast<float*>(nullptr));
        CHECK(test::max_abs_diff(ref, expected[t]) < 1e-4);
    }

    std::atomic<int> failures(0);
    std::vector<std::thread> callers;
    for (int t = 0; t < kCallers; ++t)
        callers.emplace_back([&, t] {
            const int threads = 1 + t % 2;
            std::vector<float> y(out_count);
            size_t bytes = 0;
            gconv_plan_workspace_size(plan, threads, &bytes);
            std::vector<unsigned char> workspace(bytes);
            for (int round = 0; round < kRounds; ++round) {
                std::fill(y.begin(), y.end(), -1.0f);
                const gconv_status s =
                    t < kCallers / 2
                        ? gconv_plan_execute(plan, batch, inputs[t].data(), y.data(), threads)
                        : gconv_plan_execute_with_workspace(plan, batch, inputs[t].data(),
                                                            y.data(), workspace.data(), bytes,
                                                            threads);
                if (s != GCONV_SUCCESS || y != expected[t]) failures.fetch_add(1);
            }
        });
    for (std::thread& t : callers) t.join();
    const char* algorithm = gconv_algorithm_name(gconv_plan_algorithm(plan));
    gconv_plan_destroy(plan);
    if (failures.load() != 0) {
        std::fprintf(stderr, "%s: %d concurrent calls differ from a lone call\n", c.name,
                     failures.load());
        std::exit(1);
    }
    std::printf("%s (%s): %d threads x %d rounds agree\n", c.name, algorithm, kCallers,
                kRounds);
}

}  // namespace

int main() {
    for (const Case& c : cases()) run_case(c);
    std::printf("concurrent execute: ok\n");
    return 0;
}
