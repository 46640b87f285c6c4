/* gconv C ABI: grouped, depthwise and global depthwise 2-D convolution.
 *
 * Every function returns a status and never throws or aborts on bad input.
 * On failure gconv_last_error() holds a message for the calling thread.
 *
 * Life of a convolution:
 *   gconv_conv2d_desc d; gconv_conv2d_desc_init(&d); ...fill the fields...
 *   gconv_plan* p; gconv_plan_create(&d, weight, bias, GCONV_ALGO_AUTO, &p);
 *   gconv_plan_execute(p, batch, x, y, 0);   // any number of times, any thread
 *   gconv_plan_destroy(p);
 *
 * A caller that manages its own memory asks the plan for the output shape and
 * the workspace it needs (gconv_plan_output_shape, gconv_plan_workspace_size)
 * and runs it with gconv_plan_execute_with_workspace: no allocation then.
 *
 * Stability: functions and enum values are only ever added; a struct changes
 * only with GCONV_ABI_VERSION. Compare gconv_abi_version() with the macro to
 * detect a header/library mismatch.
 *
 * Weights are always in PyTorch's layout (K, C/G, R, S), whatever the data
 * layout; the plan copies and packs them, so the caller may free them after
 * gconv_plan_create returns.
 */
#ifndef GCONV_GCONV_H
#define GCONV_GCONV_H

#include <stddef.h>
#include <stdint.h>

#define GCONV_VERSION_MAJOR 0
#define GCONV_VERSION_MINOR 1
#define GCONV_VERSION_PATCH 0
/* Bumped when a struct's layout or a function's meaning changes. */
#define GCONV_ABI_VERSION 1

#if defined(_WIN32) && !defined(GCONV_STATIC)
#  if defined(GCONV_BUILDING)
#    define GCONV_API __declspec(dllexport)
#  else
#    define GCONV_API __declspec(dllimport)
#  endif
#elif defined(__GNUC__)
#  define GCONV_API __attribute__((visibility("default")))
#else
#  define GCONV_API
#endif

/* In C++ the enums get `int` as their fixed underlying type, so any int a C
 * caller passes (e.g. an out-of-range algorithm) is a valid value to inspect
 * and reject, not undefined behaviour; the layout is int either way. */
#ifdef __cplusplus
#  define GCONV_ENUM(name) enum name : int
#else
#  define GCONV_ENUM(name) enum name
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef GCONV_ENUM(gconv_status) {
    GCONV_SUCCESS = 0,
    GCONV_INVALID_PARAMETER = 1, /* a descriptor field or argument is wrong */
    GCONV_UNSUPPORTED = 2,       /* valid, but the requested algorithm/ISA cannot do it */
    GCONV_OUT_OF_MEMORY = 3,
    GCONV_INTERNAL_ERROR = 4     /* a bug in gconv: an unexpected exception at the boundary */
} gconv_status;

typedef GCONV_ENUM(gconv_layout) {
    GCONV_LAYOUT_NCHW = 0,
    GCONV_LAYOUT_NHWC = 1
} gconv_layout;

typedef GCONV_ENUM(gconv_dtype) {
    GCONV_FLOAT32 = 0,
    GCONV_FLOAT64 = 1
} gconv_dtype;

typedef GCONV_ENUM(gconv_activation) {
    GCONV_ACTIVATION_NONE = 0,
    GCONV_ACTIVATION_RELU = 1,
    GCONV_ACTIVATION_RELU6 = 2
} gconv_activation;

typedef GCONV_ENUM(gconv_algorithm) {
    GCONV_ALGO_AUTO = 0,
    GCONV_ALGO_GEMM_1X1 = 1,
    GCONV_ALGO_IM2COL_GEMM = 2,
    GCONV_ALGO_GROUPED_DIRECT = 3,
    GCONV_ALGO_DEPTHWISE = 4,
    GCONV_ALGO_GLOBAL_DEPTHWISE = 5,
    GCONV_ALGO_COUNT = 6
} gconv_algorithm;

typedef GCONV_ENUM(gconv_isa) {
    GCONV_ISA_SCALAR = 0, /* baseline of the target: SSE2 on x86-64 */
    GCONV_ISA_AVX2 = 1,   /* AVX2 + FMA */
    GCONV_ISA_AVX512 = 2  /* AVX-512 F/VL/BW/DQ */
} gconv_isa;

/* One convolution, described once and read by every layer below. */
typedef struct gconv_conv2d_desc {
    int64_t batch;          /* N >= 0; a plan runs any batch, this one sizes nothing */
    int64_t in_channels;    /* C >= 1, divisible by groups */
    int64_t out_channels;   /* K >= 0, divisible by groups */
    int64_t groups;         /* G >= 1 */
    int64_t in_h, in_w;     /* >= 1 */
    int64_t kernel_h, kernel_w;          /* >= 1 */
    int64_t stride_h, stride_w;          /* >= 1 */
    int64_t pad_top, pad_bottom, pad_left, pad_right; /* >= 0 */
    int64_t dilation_h, dilation_w;      /* >= 1 */
    int32_t layout;         /* gconv_layout */
    int32_t dtype;          /* gconv_dtype */
    int32_t activation;     /* gconv_activation, applied after the bias */
    int32_t has_bias;       /* 0 or 1 */
} gconv_conv2d_desc;

typedef struct gconv_plan gconv_plan;

/* Fills d with a 1x1, stride 1, unpadded, ungrouped, NCHW float32 descriptor. */
GCONV_API void gconv_conv2d_desc_init(gconv_conv2d_desc* d);

/* Validates d (int64 overflow included) and writes the output height/width. */
GCONV_API gconv_status gconv_conv2d_output_size(const gconv_conv2d_desc* d,
                                                int64_t* out_h, int64_t* out_w);

/* Validates d, picks (or checks the forced) algorithm, copies and packs the
 * weights (and bias when d->has_bias) into the kernel's format. */
GCONV_API gconv_status gconv_plan_create(const gconv_conv2d_desc* d, const void* weight,
                                         const void* bias, gconv_algorithm algorithm,
                                         gconv_plan** plan);

/* y = conv(x) for `batch` images in the descriptor's layout, both C-contiguous.
 * num_threads <= 0 takes gconv_get_num_threads(). Reentrant: one plan may run
 * on several threads at once. */
GCONV_API gconv_status gconv_plan_execute(const gconv_plan* plan, int64_t batch,
                                          const void* x, void* y, int num_threads);

/* As gconv_plan_execute, with scratch memory from the caller: `workspace`
 * holds at least gconv_plan_workspace_size(plan, num_threads) bytes (any
 * alignment: the size includes the slack to align it to 64 bytes; its
 * contents are overwritten), or is NULL to let gconv allocate.
 * A workspace too small for num_threads is GCONV_INVALID_PARAMETER. One
 * workspace must not be shared by concurrent calls. */
GCONV_API gconv_status gconv_plan_execute_with_workspace(const gconv_plan* plan, int64_t batch,
                                                         const void* x, void* y, void* workspace,
                                                         size_t workspace_bytes, int num_threads);

/* Bytes of workspace one execute on num_threads threads (<= 0: the default
 * count) needs, for any batch; 0 when the algorithm needs none. */
GCONV_API gconv_status gconv_plan_workspace_size(const gconv_plan* plan, int num_threads,
                                                 size_t* bytes);

/* Shape of y for `batch` images, in the plan's layout: N, K, OH, OW (NCHW)
 * or N, OH, OW, K (NHWC). */
GCONV_API gconv_status gconv_plan_output_shape(const gconv_plan* plan, int64_t batch,
                                               int64_t shape[4]);

/* The descriptor the plan was created from. */
GCONV_API gconv_status gconv_plan_descriptor(const gconv_plan* plan, gconv_conv2d_desc* d);

GCONV_API void gconv_plan_destroy(gconv_plan* plan);

GCONV_API gconv_algorithm gconv_plan_algorithm(const gconv_plan* plan);
GCONV_API gconv_isa gconv_plan_isa(const gconv_plan* plan);

/* Whether `algorithm` can compute d (d must be valid). */
GCONV_API int gconv_algorithm_accepts(gconv_algorithm algorithm, const gconv_conv2d_desc* d);
/* The algorithm the planner picks for d. */
GCONV_API gconv_status gconv_choose_algorithm(const gconv_conv2d_desc* d,
                                              gconv_algorithm* algorithm);
GCONV_API const char* gconv_algorithm_name(gconv_algorithm algorithm);

/* Global average pooling: y[n, c] = mean over H*W of x[n, c]; dtype, layout
 * as gconv_dtype/gconv_layout; output is (N, C) in either layout. */
GCONV_API gconv_status gconv_global_avg_pool2d(int32_t dtype, int32_t layout, int64_t batch,
                                               int64_t channels, int64_t in_h, int64_t in_w,
                                               const void* x, void* y, int num_threads);

/* Threads: default from GCONV_NUM_THREADS, else OMP_NUM_THREADS, else all cores. */
/* Training: the gradient of a loss with respect to the weights of the
 * convolution d (d->activation and d->has_bias are ignored), given its input
 * x (d->batch images in d->layout) and dy, the gradient with respect to its
 * pre-activation output (same layout). Writes dw, (K, C/G, R, S) as the
 * weights. The reduction order is fixed: bitwise identical results for any
 * num_threads (<= 0 takes gconv_get_num_threads()). */
GCONV_API gconv_status gconv_conv2d_weight_grad(const gconv_conv2d_desc* d, const void* x,
                                                const void* dy, void* dw, int num_threads);

GCONV_API int gconv_get_num_threads(void);
GCONV_API gconv_status gconv_set_num_threads(int n);

/* ISA families: compiled into this build, supported by this CPU, in use. */
GCONV_API int gconv_isa_compiled(gconv_isa isa);
GCONV_API int gconv_isa_supported(gconv_isa isa);
GCONV_API gconv_isa gconv_isa_active(void);
/* Caps the family used by plans created afterwards (GCONV_MAX_ISA at start-up). */
GCONV_API gconv_status gconv_set_max_isa(gconv_isa isa);
GCONV_API const char* gconv_isa_name(gconv_isa isa);

GCONV_API const char* gconv_version(void);
GCONV_API int gconv_has_openmp(void);
GCONV_API const char* gconv_compiler(void);
GCONV_API const char* gconv_build_type(void);
/* The library's version numbers (compare with GCONV_VERSION_*). */
GCONV_API void gconv_version_numbers(int* major, int* minor, int* patch);
/* GCONV_ABI_VERSION of the library, which may differ from the header's. */
GCONV_API int gconv_abi_version(void);
/* One line: version, compiler, build type, OpenMP, ISA families compiled and
 * active, default threads, e.g. "gconv 0.1.0; gcc 12.2.0; Release; openmp=1;
 * isa_compiled=scalar,avx2,avx512; isa_active=avx2; threads=8". The text is
 * valid until the next call on the same thread. */
GCONV_API const char* gconv_build_info(void);

/* Message of the last failure on this thread ("" if none). */
GCONV_API const char* gconv_last_error(void);
/* "success", "invalid_parameter", "unsupported", "out_of_memory",
 * "internal_error", or "unknown". */
GCONV_API const char* gconv_status_name(gconv_status status);

#ifdef __cplusplus
}
#endif

#endif /* GCONV_GCONV_H */
