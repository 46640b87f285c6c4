// Every status of the C ABI, each with a message naming what was wrong, and
// the C++ wrapper turning them into gconv::Error.
#include <cstring>
#include <thread>
#include <string>
#include <vector>

#include "check.hpp"
#include "gconv/gconv.hpp"

namespace {

gconv_conv2d_desc small_desc() {
    gconv_conv2d_desc d;
    gconv_conv2d_desc_init(&d);
    d.in_channels = 4;
    d.out_channels = 8;
    d.groups = 2;
    d.in_h = d.in_w = 6;
    d.kernel_h = d.kernel_w = 3;
    return d;
}

bool error_mentions(const char* text) { return std::strstr(gconv_last_error(), text) != nullptr; }

void invalid_descriptors_name_the_field() {
    const std::vector<float> w(8 * 2 * 9, 1.0f);
    gconv_plan* plan = reinterpret_cast<gconv_plan*>(&plan);  // must be reset to null
    struct Case {
        void (*edit)(gconv_conv2d_desc&);
        const char* mentions;
    } cases[] = {
        {[](gconv_conv2d_desc& d) { d.in_channels = 0; }, "in_channels"},
        {[](gconv_conv2d_desc& d) { d.groups = 3; }, "groups"},
        {[](gconv_conv2d_desc& d) { d.kernel_h = 9; }, "kernel"},
        {[](gconv_conv2d_desc& d) { d.stride_w = 0; }, "stride"},
        {[](gconv_conv2d_desc& d) { d.pad_left = -1; }, "pad"},
        {[](gconv_conv2d_desc& d) { d.dilation_h = 0; }, "dilation"},
        {[](gconv_conv2d_desc& d) { d.layout = 7; }, "layout"},
        {[](gconv_conv2d_desc& d) { d.dtype = 9; }, "dtype"},
        {[](gconv_conv2d_desc& d) { d.activation = 5; }, "activation"},
        {[](gconv_conv2d_desc& d) { d.has_bias = 2; }, "has_bias"},
        {[](gconv_conv2d_desc& d) { d.in_h = INT64_MAX; d.pad_top = 5; }, "overflow"},
    };
    for (const Case& c : cases) {
        gconv_conv2d_desc d = small_desc();
        c.edit(d);
        CHECK_STATUS(gconv_plan_create(&d, w.data(), nullptr, GCONV_ALGO_AUTO, &plan),
                     GCONV_INVALID_PARAMETER);
        CHECK(plan == nullptr);
        if (!error_mentions(c.mentions)) {
            std::fprintf(stderr, "message '%s' does not mention '%s'\n", gconv_last_error(),
                         c.mentions);
            std::exit(1);
        }
        int64_t oh, ow;
        CHECK_STATUS(gconv_conv2d_output_size(&d, &oh, &ow), GCONV_INVALID_PARAMETER);
    }
}

void null_and_out_of_range_arguments_are_invalid() {
    const gconv_conv2d_desc d = small_desc();
    const std::vector<float> w(8 * 2 * 9, 1.0f);
    gconv_plan* plan = nullptr;
    CHECK_STATUS(gconv_plan_create(nullptr, w.data(), nullptr, GCONV_ALGO_AUTO, &plan),
                 GCONV_INVALID_PARAMETER);
    CHECK_STATUS(gconv_plan_create(&d, w.data(), nullptr, GCONV_ALGO_AUTO, nullptr),
                 GCONV_INVALID_PARAMETER);
    CHECK_STATUS(gconv_plan_create(&d, nullptr, nullptr, GCONV_ALGO_AUTO, &plan),
                 GCONV_INVALID_PARAMETER);
    CHECK(error_mentions("weight"));
    gconv_conv2d_desc with_bias = d;
    with_bias.has_bias = 1;
    CHECK_STATUS(gconv_plan_create(&with_bias, w.data(), nullptr, GCONV_ALGO_AUTO, &plan),
                 GCONV_INVALID_PARAMETER);
    CHECK(error_mentions("bias"));
    CHECK_STATUS(gconv_plan_create(&d, w.data(), nullptr, static_cast<gconv_algorithm>(42), &plan),
                 GCONV_INVALID_PARAMETER);
    CHECK(error_mentions("42"));

    CHECK_STATUS(gconv_plan_create(&d, w.data(), nullptr, GCONV_ALGO_AUTO, &plan), GCONV_SUCCESS);
    std::vector<float> x(2 * 4 * 36), y(2 * 8 * 16);
    CHECK_STATUS(gconv_plan_execute(nullptr, 1, x.data(), y.data(), 0), GCONV_INVALID_PARAMETER);
    CHECK_STATUS(gconv_plan_execute(plan, -1, x.data(), y.data(), 0), GCONV_INVALID_PARAMETER);
    CHECK(error_mentions("-1"));
    CHECK_STATUS(gconv_plan_execute(plan, 1, nullptr, y.data(), 0), GCONV_INVALID_PARAMETER);
    CHECK_STATUS(gconv_plan_execute(plan, 1, x.data(), nullptr, 0), GCONV_INVALID_PARAMETER);
    CHECK_STATUS(gconv_plan_execute(plan, INT64_MAX / 2, x.data(), y.data(), 0),
                 GCONV_INVALID_PARAMETER);
    CHECK_STATUS(gconv_plan_execute(plan, 0, nullptr, nullptr, 0), GCONV_SUCCESS);  // nothing to do

    int64_t shape[4];
    CHECK_STATUS(gconv_plan_output_shape(nullptr, 1, shape), GCONV_INVALID_PARAMETER);
    CHECK_STATUS(gconv_plan_output_shape(plan, 1, nullptr), GCONV_INVALID_PARAMETER);
    CHECK_STATUS(gconv_plan_output_shape(plan, -3, shape), GCONV_INVALID_PARAMETER);
    size_t bytes;
    CHECK_STATUS(gconv_plan_workspace_size(nullptr, 1, &bytes), GCONV_INVALID_PARAMETER);
    CHECK_STATUS(gconv_plan_workspace_size(plan, 1, nullptr), GCONV_INVALID_PARAMETER);
    gconv_conv2d_desc back;
    CHECK_STATUS(gconv_plan_descriptor(nullptr, &back), GCONV_INVALID_PARAMETER);
    CHECK_STATUS(gconv_plan_descriptor(plan, nullptr), GCONV_INVALID_PARAMETER);
    gconv_plan_destroy(plan);

    CHECK_STATUS(gconv_set_num_threads(0), GCONV_INVALID_PARAMETER);
    CHECK(error_mentions("num_threads"));
    CHECK_STATUS(gconv_set_max_isa(static_cast<gconv_isa>(9)), GCONV_INVALID_PARAMETER);
    CHECK_STATUS(gconv_choose_algorithm(nullptr, nullptr), GCONV_INVALID_PARAMETER);
    CHECK(gconv_algorithm_accepts(GCONV_ALGO_DEPTHWISE, nullptr) == 0);
}

void workspace_smaller_than_needed_is_invalid() {
    // im2col_gemm always has per-thread scratch.
    gconv_conv2d_desc d = small_desc();
    d.groups = 1;
    const std::vector<float> w(8 * 4 * 9, 0.5f);
    gconv_plan* plan = nullptr;
    CHECK_STATUS(gconv_plan_create(&d, w.data(), nullptr, GCONV_ALGO_IM2COL_GEMM, &plan),
                 GCONV_SUCCESS);
    size_t bytes = 0;
    CHECK_STATUS(gconv_plan_workspace_size(plan, 1, &bytes), GCONV_SUCCESS);
    CHECK(bytes > 0);
    std::vector<unsigned char> workspace(bytes);
    std::vector<float> x(4 * 36), y(8 * 16);
    CHECK_STATUS(gconv_plan_execute_with_workspace(plan, 1, x.data(), y.data(), workspace.data(),
                                                   bytes / 2, 1),
                 GCONV_INVALID_PARAMETER);
    CHECK(error_mentions("workspace_bytes"));
    // Any alignment works: the size includes the slack to align it.
    for (size_t offset = 0; offset < 64; offset += 7) {
        std::vector<unsigned char> shifted(bytes + offset);
        CHECK_STATUS(gconv_plan_execute_with_workspace(plan, 1, x.data(), y.data(),
                                                       shifted.data() + offset, bytes, 1),
                     GCONV_SUCCESS);
    }
    // A null workspace lets gconv allocate, as gconv_plan_execute does.
    CHECK_STATUS(gconv_plan_execute_with_workspace(plan, 1, x.data(), y.data(), nullptr, 0, 0),
                 GCONV_SUCCESS);
    gconv_plan_destroy(plan);
}

void forced_algorithm_that_cannot_compute_is_unsupported() {
    const gconv_conv2d_desc d = small_desc();  // groups=2 of 2 channels: not depthwise, not 1x1
    const std::vector<float> w(8 * 2 * 9, 1.0f);
    gconv_plan* plan = nullptr;
    for (gconv_algorithm a : {GCONV_ALGO_DEPTHWISE, GCONV_ALGO_GEMM_1X1, GCONV_ALGO_GLOBAL_DEPTHWISE}) {
        CHECK_STATUS(gconv_plan_create(&d, w.data(), nullptr, a, &plan), GCONV_UNSUPPORTED);
        CHECK(plan == nullptr);
        CHECK(error_mentions(gconv_algorithm_name(a)));
    }
}

void weights_too_large_for_memory_are_out_of_memory() {
    // Valid in int64 (2^58 bytes of weights) but beyond any address space.
    gconv_conv2d_desc d;
    gconv_conv2d_desc_init(&d);
    d.in_channels = d.out_channels = int64_t(1) << 20;
    d.in_h = d.in_w = d.kernel_h = d.kernel_w = 256;
    const float dummy = 0;
    gconv_plan* plan = nullptr;
    CHECK_STATUS(gconv_plan_create(&d, &dummy, nullptr, GCONV_ALGO_AUTO, &plan),
                 GCONV_OUT_OF_MEMORY);
    CHECK(plan == nullptr);
    CHECK(gconv_last_error()[0] != '\0');
}

void status_names_cover_every_status() {
    CHECK(std::strcmp(gconv_status_name(GCONV_SUCCESS), "success") == 0);
    CHECK(std::strcmp(gconv_status_name(GCONV_INVALID_PARAMETER), "invalid_parameter") == 0);
    CHECK(std::strcmp(gconv_status_name(GCONV_UNSUPPORTED), "unsupported") == 0);
    CHECK(std::strcmp(gconv_status_name(GCONV_OUT_OF_MEMORY), "out_of_memory") == 0);
    CHECK(std::strcmp(gconv_status_name(GCONV_INTERNAL_ERROR), "internal_error") == 0);
    CHECK(std::strcmp(gconv_status_name(static_cast<gconv_status>(77)), "unknown") == 0);
}

void messages_are_per_thread() {
    CHECK_STATUS(gconv_set_num_threads(-5), GCONV_INVALID_PARAMETER);
    std::string other;
    std::thread t([&] { other = gconv_last_error(); });
    t.join();
    CHECK(other.empty());
    CHECK(error_mentions("-5"));
}

void wrapper_throws_error_with_status_and_message() {
    gconv::Conv2dParams p;
    p.in_channels = 4;
    p.out_channels = 8;
    p.groups = 3;  // does not divide 4
    p.input = {6, 6};
    p.kernel = {3, 3};
    const std::vector<float> w(8 * 2 * 9, 1.0f);
    try {
        gconv::Conv2d conv(p, w.data());
        CHECK(false);
    } catch (const gconv::Error& e) {
        CHECK(e.status() == GCONV_INVALID_PARAMETER);
        CHECK(e.message().find("groups") != std::string::npos);
        CHECK(std::string(e.what()).find("invalid_parameter") == 0);
    }
    p.groups = 2;
    try {  // wrong weight count, caught before the C call
        gconv::Conv2d conv(p, gconv::Span<const float>(w.data(), w.size() - 1));
        CHECK(false);
    } catch (const gconv::Error& e) {
        CHECK(e.status() == GCONV_INVALID_PARAMETER);
        CHECK(e.message().find("weight") != std::string::npos);
    }
    try {
        gconv::Conv2d conv(p, w.data(), nullptr, gconv::Algorithm::depthwise);
        CHECK(false);
    } catch (const gconv::Error& e) {
        CHECK(e.status() == GCONV_UNSUPPORTED);
    }
    gconv::Conv2d conv(p, gconv::Span<const float>(w));
    std::vector<float> x(4 * 36), y(8 * 16 + 1);
    try {  // y one element too long
        conv.run(gconv::Span<const float>(x), gconv::Span<float>(y), 1);
        CHECK(false);
    } catch (const gconv::Error& e) {
        CHECK(e.message().find("y has") != std::string::npos);
    }
    try {
        gconv::set_num_threads(0);
        CHECK(false);
    } catch (const gconv::Error& e) {
        CHECK(e.status() == GCONV_INVALID_PARAMETER);
    }
}

}  // namespace

int main() {
    invalid_descriptors_name_the_field();
    null_and_out_of_range_arguments_are_invalid();
    workspace_smaller_than_needed_is_invalid();
    forced_algorithm_that_cannot_compute_is_unsupported();
    weights_too_large_for_memory_are_out_of_memory();
    status_names_cover_every_status();
    messages_are_per_thread();
    wrapper_throws_error_with_status_and_message();
    std::printf("errors: ok\n");
    return 0;
}
