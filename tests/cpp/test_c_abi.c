/* The C ABI from C: the header compiles as C99 and a plan's whole life
 * (create, query, execute with and without a workspace, destroy) works. */
#include <gconv/gconv.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(c)                                                                      \
    do {                                                                              \
        if (!(c)) {                                                                   \
            fprintf(stderr, "%s:%d: CHECK(%s) failed: %s\n", __FILE__, __LINE__, #c,   \
                    gconv_last_error());                                              \
            return 1;                                                                 \
        }                                                                             \
    } while (0)

int main(void) {
    int major = -1, minor = -1, patch = -1;
    gconv_version_numbers(&major, &minor, &patch);
    CHECK(major == GCONV_VERSION_MAJOR && minor == GCONV_VERSION_MINOR &&
          patch == GCONV_VERSION_PATCH);
    CHECK(gconv_abi_version() == GCONV_ABI_VERSION);
    CHECK(strncmp(gconv_build_info(), "gconv ", 6) == 0);
    CHECK(strstr(gconv_build_info(), gconv_version()) != NULL);
    printf("%s\n", gconv_build_info());

    /* 2 images, 4 -> 6 channels in 2 groups, 5x5, 3x3 kernel, pad 1, bias, ReLU. */
    gconv_conv2d_desc d;
    gconv_conv2d_desc_init(&d);
    d.in_channels = 4;
    d.out_channels = 6;
    d.groups = 2;
    d.in_h = d.in_w = 5;
    d.kernel_h = d.kernel_w = 3;
    d.pad_top = d.pad_bottom = d.pad_left = d.pad_right = 1;
    d.has_bias = 1;
    d.activation = GCONV_ACTIVATION_RELU;

    float w[6 * 2 * 3 * 3], b[6], x[2 * 4 * 5 * 5], y[2 * 6 * 5 * 5], y2[2 * 6 * 5 * 5];
    for (int i = 0; i < 6 * 2 * 9; ++i) w[i] = (float)((i % 7) - 3) * 0.25f;
    for (int i = 0; i < 6; ++i) b[i] = 0.5f * (float)(i - 3);
    for (int i = 0; i < 2 * 4 * 25; ++i) x[i] = (float)((i * 37) % 11 - 5) * 0.1f;

    gconv_plan* plan = NULL;
    CHECK(gconv_plan_create(&d, w, b, GCONV_ALGO_AUTO, &plan) == GCONV_SUCCESS);
    CHECK(plan != NULL);
    memset(w, 0, sizeof w); /* the plan holds its own copy */
    memset(b, 0, sizeof b);

    int64_t shape[4];
    CHECK(gconv_plan_output_shape(plan, 2, shape) == GCONV_SUCCESS);
    CHECK(shape[0] == 2 && shape[1] == 6 && shape[2] == 5 && shape[3] == 5);
    gconv_conv2d_desc back;
    CHECK(gconv_plan_descriptor(plan, &back) == GCONV_SUCCESS);
    CHECK(memcmp(&back, &d, sizeof d) == 0);
    printf("algorithm %s, isa %s\n", gconv_algorithm_name(gconv_plan_algorithm(plan)),
           gconv_isa_name(gconv_plan_isa(plan)));

    CHECK(gconv_plan_execute(plan, 2, x, y, 0) == GCONV_SUCCESS);

    size_t bytes = 0;
    CHECK(gconv_plan_workspace_size(plan, 2, &bytes) == GCONV_SUCCESS);
    void* workspace = bytes ? malloc(bytes) : NULL;
    CHECK(bytes == 0 || workspace != NULL);
    CHECK(gconv_plan_execute_with_workspace(plan, 2, x, y2, workspace, bytes, 2) == GCONV_SUCCESS);
    free(workspace);

    /* Recompute one output by hand: image 1, channel 4 (group 1), pixel (2, 3). */
    for (int i = 0; i < 6 * 2 * 9; ++i) w[i] = (float)((i % 7) - 3) * 0.25f;
    double acc = 0.5 * (4 - 3);
    for (int c = 0; c < 2; ++c)
        for (int r = 0; r < 3; ++r)
            for (int s = 0; s < 3; ++s) {
                int ih = 2 - 1 + r, iw = 3 - 1 + s;
                if (ih < 0 || ih >= 5 || iw < 0 || iw >= 5) continue;
                acc += (double)x[((1 * 4 + 2 + c) * 5 + ih) * 5 + iw] *
                       (double)w[((4 * 2 + c) * 3 + r) * 3 + s];
            }
    if (acc < 0) acc = 0;
    const float got = y[((1 * 6 + 4) * 5 + 2) * 5 + 3];
    CHECK(fabs((double)got - acc) < 1e-5);
    for (int i = 0; i < 2 * 6 * 25; ++i) CHECK(y[i] == y2[i] && y[i] >= 0.0f);

    gconv_plan_destroy(plan);
    gconv_plan_destroy(NULL); /* like free(NULL) */
    printf("c abi lifecycle: ok\n");
    return 0;
}
