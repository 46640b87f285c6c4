// The CUDA entry points: validate with the CPU's rules, pick the algorithm,
// make the caller's device current, enqueue on the caller's stream, and turn
// CUDA runtime errors into a status plus message.
#include <climits>

#include "core/descriptor.hpp"
#include "core/error.hpp"
#include "cuda/gconv_cuda.h"
#include "cuda/kernels.hpp"

namespace gconv {
namespace cuda {

gconv_status cuda_failure(cudaError_t error, const char* what) {
    cudaGetLastError();  // clears the error unless it is sticky
    const gconv_status status =
        error == cudaErrorMemoryAllocation ? GCONV_OUT_OF_MEMORY : GCONV_UNSUPPORTED;
    return fail(status, "CUDA error in %s: %s (%s)", what, cudaGetErrorName(error),
                cudaGetErrorString(error));
}

gconv_status launch_status(const char* kernel) {
    const cudaError_t error = cudaGetLastError();
    return error == cudaSuccess ? GCONV_SUCCESS : cuda_failure(error, kernel);
}

namespace {

const char* const kNames[GCONV_CUDA_ALGORITHM_COUNT] = {
    "auto", "implicit_gemm", "grouped_narrow", "depthwise", "global_depthwise", "direct"};

// Kernels index within an image with int; window coordinates reach at most
// the padded extent, which therefore has to stay well inside int.
bool fits_int(const ConvGeometry& g) {
    const int64_t limit = INT_MAX / 2;
    for (int64_t v : {g.C, g.K, g.G, g.R, g.S, g.sh, g.sw, g.dh, g.dw, g.OH, g.OW})
        if (v > limit) return false;
    return g.H + g.pt + g.pb <= limit && g.W + g.pl + g.pr <= limit &&
           g.Cg * g.R * g.S <= limit && (g.R - 1) * g.dh <= limit && (g.S - 1) * g.dw <= limit;
}

ConvShape shape_of(const ConvGeometry& g, int64_t batch) {
    ConvShape s;
    s.N = batch;
    s.C = static_cast<int>(g.C);
    s.K = static_cast<int>(g.K);
    s.G = static_cast<int>(g.G);
    s.Cg = static_cast<int>(g.Cg);
    s.Kg = static_cast<int>(g.Kg);
    s.H = static_cast<int>(g.H);
    s.W = static_cast<int>(g.W);
    s.R = static_cast<int>(g.R);
    s.S = static_cast<int>(g.S);
    s.sh = static_cast<int>(g.sh);
    s.sw = static_cast<int>(g.sw);
    s.pt = static_cast<int>(g.pt);
    s.pl = static_cast<int>(g.pl);
    s.dh = static_cast<int>(g.dh);
    s.dw = static_cast<int>(g.dw);
    s.OH = static_cast<int>(g.OH);
    s.OW = static_cast<int>(g.OW);
    s.act = g.act;
    return s;
}

bool is_depthwise(const ConvGeometry& g) { return g.Cg == 1 && g.G == g.C; }

bool is_global(const ConvGeometry& g) {
    return is_depthwise(g) && g.dh == 1 && g.dw == 1 && g.OH == 1 && g.OW == 1 &&
           g.R == g.pt + g.H + g.pb && g.S == g.pl + g.W + g.pr;
}

bool accepts(int algorithm, const ConvGeometry& g, const ConvShape& s) {
    switch (algorithm) {
        case GCONV_CUDA_IMPLICIT_GEMM:
        case GCONV_CUDA_DIRECT: return true;
        case GCONV_CUDA_GROUPED_NARROW: return grouped_narrow_fits(s, g.dtype);
        case GCONV_CUDA_DEPTHWISE: return is_depthwise(g);
        case GCONV_CUDA_GLOBAL_DEPTHWISE: return is_global(g);
        default: return false;
    }
}

int automatic(const ConvGeometry& g, const ConvShape& s) {
    if (is_global(g)) return GCONV_CUDA_GLOBAL_DEPTHWISE;
    if (is_depthwise(g)) return GCONV_CUDA_DEPTHWISE;
    // The GEMM's 64-row tiles would be mostly padding below 32 outputs per group.
    if (g.Cg >= 16 && g.Kg >= 32) return GCONV_CUDA_IMPLICIT_GEMM;
    return grouped_narrow_fits(s, g.dtype) ? GCONV_CUDA_GROUPED_NARROW : GCONV_CUDA_IMPLICIT_GEMM;
}

gconv_status prepare(const gconv_conv2d_desc* d, int64_t batch, int algorithm, ConvGeometry& g,
                     ConvShape& s, int& chosen) {
    if (d == nullptr) return fail(GCONV_INVALID_PARAMETER, "descriptor must not be null");
    gconv_conv2d_desc desc = *d;
    desc.batch = batch;
    if (gconv_status status = validate_conv2d(desc, g)) return status;
    if (!fits_int(g))
        return fail(GCONV_UNSUPPORTED,
                    "a size of this convolution exceeds what the CUDA kernels index with int");
    s = shape_of(g, batch);
    if (algorithm == GCONV_CUDA_AUTO) {
        chosen = automatic(g, s);
        return GCONV_SUCCESS;
    }
    if (algorithm < 0 || algorithm >= GCONV_CUDA_ALGORITHM_COUNT)
        return fail(GCONV_INVALID_PARAMETER, "unknown CUDA algorithm %d", algorithm);
    if (!accepts(algorithm, g, s))
        return fail(GCONV_INVALID_PARAMETER, "CUDA algorithm %s does not accept this convolution",
                    kNames[algorithm]);
    chosen = algorithm;
    return GCONV_SUCCESS;
}

gconv_status use_device(int device) {
    if (device < 0) return GCONV_SUCCESS;
    int current = -1;
    cudaError_t error = cudaGetDevice(&current);
    if (error == cudaSuccess && current == device) return GCONV_SUCCESS;
    error = cudaSetDevice(device);
    return error == cudaSuccess ? GCONV_SUCCESS : cuda_failure(error, "cudaSetDevice");
}

}  // namespace
}  // namespace cuda
}  // namespace gconv

using namespace gconv::cuda;

extern "C" {

gconv_status gconv_cuda_choose_algorithm(const gconv_conv2d_desc* d, int algorithm, int* chosen) {
    gconv::clear_error();
    if (chosen == nullptr) return gconv::fail(GCONV_INVALID_PARAMETER, "chosen must not be null");
    gconv::ConvGeometry g;
    ConvShape s;
    return prepare(d, d != nullptr ? d->batch : 0, algorithm, g, s, *chosen);
}

const char* gconv_cuda_algorithm_name(int algorithm) {
    if (algorithm < 0 || algorithm >= GCONV_CUDA_ALGORITHM_COUNT) return "unknown";
    return kNames[algorithm];
}

gconv_status gconv_cuda_conv2d(const gconv_conv2d_desc* d, const void* x, const void* weight,
                               const void* bias, void* y, int64_t batch, int device,
                               void* stream, int algorithm, const char** algorithm_used) {
    gconv::clear_error();
    gconv::ConvGeometry g;
    ConvShape s;
    int chosen = GCONV_CUDA_AUTO;
    if (gconv_status status = prepare(d, batch, algorithm, g, s, chosen)) return status;
    if (algorithm_used != nullptr) *algorithm_used = kNames[chosen];
    if (batch == 0 || g.K == 0) return GCONV_SUCCESS;
    if (x == nullptr || weight == nullptr || y == nullptr || (g.has_bias && bias == nullptr))
        return gconv::fail(GCONV_INVALID_PARAMETER,
                           "input, weight, output (and bias when has_bias) must not be null");
    if (gconv_status status = use_device(device)) return status;
    const ConvLaunch launch{s, g.dtype, g.layout, x, weight, g.has_bias ? bias : nullptr, y,
                            static_cast<cudaStream_t>(stream)};
    switch (chosen) {
        case GCONV_CUDA_GLOBAL_DEPTHWISE: return global_depthwise(launch);
        case GCONV_CUDA_DEPTHWISE: return depthwise(launch);
        case GCONV_CUDA_GROUPED_NARROW: return grouped_narrow(launch);
        case GCONV_CUDA_DIRECT: return direct(launch);
        default: return implicit_gemm(launch);
    }
}

gconv_status gconv_cuda_global_avg_pool2d(int32_t dtype, int32_t layout, int64_t batch,
                                          int64_t channels, int64_t in_h, int64_t in_w,
                                          const void* x, void* y, int device, void* stream) {
    gconv::clear_error();
    if (dtype != GCONV_FLOAT32 && dtype != GCONV_FLOAT64)
        return gconv::fail(GCONV_INVALID_PARAMETER, "dtype (%d) is not a gconv_dtype", dtype);
    if (layout != GCONV_LAYOUT_NCHW && layout != GCONV_LAYOUT_NHWC)
        return gconv::fail(GCONV_INVALID_PARAMETER, "layout (%d) is not a gconv_layout", layout);
    if (batch < 0 || channels < 1 || in_h < 1 || in_w < 1)
        return gconv::fail(GCONV_INVALID_PARAMETER,
                           "global_avg_pool2d needs batch >= 0 and channels, height, width >= 1, "
                           "got %lld, %lld, %lld, %lld",
                           static_cast<long long>(batch), static_cast<long long>(channels),
                           static_cast<long long>(in_h), static_cast<long long>(in_w));
    int64_t total = 1;
    for (int64_t v : {batch, channels, in_h, in_w, int64_t{8}})
        if (!gconv::checked_mul(total, v, total))
            return gconv::fail(GCONV_INVALID_PARAMETER, "global_avg_pool2d: input overflows int64");
    if (channels > INT_MAX / 2 || in_h > INT_MAX / 2 || in_w > INT_MAX / 2)
        return gconv::fail(GCONV_UNSUPPORTED,
                           "a size of this pooling exceeds what the CUDA kernels index with int");
    if (batch == 0) return GCONV_SUCCESS;
    if (x == nullptr || y == nullptr)
        return gconv::fail(GCONV_INVALID_PARAMETER, "input and output must not be null");
    if (gconv_status status = use_device(device)) return status;
    return global_avg_pool(dtype, layout, batch, static_cast<int>(channels), static_cast<int>(in_h),
                           static_cast<int>(in_w), x, y, static_cast<cudaStream_t>(stream));
}

int gconv_cuda_device_count(void) {
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    return count;
}

int gconv_cuda_runtime_version(void) {
    int version = 0;
    return cudaRuntimeGetVersion(&version) == cudaSuccess ? version : 0;
}

}  // extern "C"
