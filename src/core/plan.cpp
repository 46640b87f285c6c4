// The C ABI around plans: create (validate, choose, pack), execute, destroy.
#include "core/plan.hpp"

#include <cinttypes>
#include <cstdlib>
#include <cstring>
#include <new>

#include "core/descriptor.hpp"
#include "core/error.hpp"
#include "core/threads.hpp"

namespace gconv {

AlignedBuffer::~AlignedBuffer() { std::free(data_); }

bool AlignedBuffer::allocate(size_t bytes) {
    std::free(data_);
    data_ = nullptr;
    size_t rounded = (bytes + 63) / 64 * 64;
    if (rounded < bytes) return false;
    if (rounded == 0) rounded = 64;
    data_ = std::aligned_alloc(64, rounded);
    if (data_ == nullptr) return false;
    std::memset(data_, 0, rounded);
    return true;
}

namespace {

size_t dtype_size(const ConvGeometry& g) { return g.dtype == GCONV_FLOAT64 ? 8 : 4; }

gconv_status run(const gconv_plan& plan, int64_t batch, const void* x, void* y,
                 int num_threads) {
    const ConvGeometry& g = plan.geom;
    int64_t elements;
    if (batch < 0) return fail(GCONV_INVALID_PARAMETER, "batch must be >= 0, got %" PRId64, batch);
    if (!checked_mul(batch, g.out_image(), elements) ||
        !checked_mul(batch, g.in_image(), elements))
        return fail(GCONV_INVALID_PARAMETER, "batch (%" PRId64 ") makes the arrays overflow int64",
                    batch);
    if (batch == 0 || g.out_image() == 0) return GCONV_SUCCESS;
    if (x == nullptr || y == nullptr)
        return fail(GCONV_INVALID_PARAMETER, "input and output pointers must not be null");
    // Below ~64K multiply-adds per thread, waking another thread costs more
    // than it saves (and a parked thread on a busy machine costs far more).
    int64_t macs;
    const int64_t useful = checked_mul(batch * g.out_image(), g.reduction(), macs)
                               ? macs / 65536 + 1
                               : INT64_MAX;
    int threads = resolve_threads(num_threads);
    if (threads > useful) threads = static_cast<int>(useful);
    AlignedBuffer scratch;
    if (plan.scratch_bytes > 0 &&
        !scratch.allocate(static_cast<size_t>(plan.scratch_bytes) * static_cast<size_t>(threads)))
        return fail(GCONV_OUT_OF_MEMORY, "cannot allocate %d x %" PRId64 " bytes of scratch",
                    threads, plan.scratch_bytes);
    return plan.algorithm->execute(plan, batch, x, y, threads, scratch.data());
}

}  // namespace
}  // namespace gconv

extern "C" {

void gconv_conv2d_desc_init(gconv_conv2d_desc* d) {
    if (d == nullptr) return;
    std::memset(d, 0, sizeof *d);
    d->batch = 1;
    d->in_channels = d->out_channels = d->groups = 1;
    d->in_h = d->in_w = d->kernel_h = d->kernel_w = 1;
    d->stride_h = d->stride_w = d->dilation_h = d->dilation_w = 1;
    d->layout = GCONV_LAYOUT_NCHW;
    d->dtype = GCONV_FLOAT32;
    d->activation = GCONV_ACTIVATION_NONE;
}

gconv_status gconv_conv2d_output_size(const gconv_conv2d_desc* d, int64_t* out_h,
                                      int64_t* out_w) {
    if (d == nullptr || out_h == nullptr || out_w == nullptr)
        return gconv::fail(GCONV_INVALID_PARAMETER, "descriptor and results must not be null");
    gconv::ConvGeometry g;
    if (gconv_status s = gconv::validate_conv2d(*d, g)) return s;
    *out_h = g.OH;
    *out_w = g.OW;
    return GCONV_SUCCESS;
}

gconv_status gconv_plan_create(const gconv_conv2d_desc* d, const void* weight, const void* bias,
                               gconv_algorithm algorithm, gconv_plan** plan) {
    if (plan == nullptr) return gconv::fail(GCONV_INVALID_PARAMETER, "plan must not be null");
    *plan = nullptr;
    if (d == nullptr) return gconv::fail(GCONV_INVALID_PARAMETER, "descriptor must not be null");
    gconv::ConvGeometry g;
    if (gconv_status s = gconv::validate_conv2d(*d, g)) return s;
    if (weight == nullptr && g.K > 0)
        return gconv::fail(GCONV_INVALID_PARAMETER, "weight must not be null");
    if (g.has_bias && bias == nullptr && g.K > 0)
        return gconv::fail(GCONV_INVALID_PARAMETER, "has_bias is set but bias is null");

    const gconv::Algorithm* chosen = nullptr;
    if (algorithm == GCONV_ALGO_AUTO) {
        gconv_algorithm id;
        if (gconv_status s = gconv_choose_algorithm(d, &id)) return s;
        chosen = gconv::find_algorithm(id);
    } else {
        chosen = gconv::find_algorithm(algorithm);
        if (chosen == nullptr)
            return gconv::fail(GCONV_INVALID_PARAMETER, "algorithm (%d) is not a gconv_algorithm",
                               static_cast<int>(algorithm));
        if (!chosen->accepts(g))
            return gconv::fail(GCONV_UNSUPPORTED,
                               "algorithm '%s' does not accept this convolution (groups=%" PRId64
                               ", in_channels=%" PRId64 ", kernel=%" PRId64 "x%" PRId64
                               ", stride=%" PRId64 "x%" PRId64 ")",
                               chosen->name, g.G, g.C, g.R, g.S, g.sh, g.sw);
    }

    gconv_plan* p = new (std::nothrow) gconv_plan();
    if (p == nullptr) return gconv::fail(GCONV_OUT_OF_MEMORY, "cannot allocate a plan");
    p->desc = *d;
    p->geom = g;
    p->algorithm = chosen;
    p->kernels = &gconv::active_kernel_table();
    const size_t elem = gconv::dtype_size(g);
    if (g.has_bias) {
        if (!p->bias.allocate(static_cast<size_t>(g.K) * elem)) {
            delete p;
            return gconv::fail(GCONV_OUT_OF_MEMORY, "cannot allocate the bias copy");
        }
        if (g.K > 0) std::memcpy(p->bias.data(), bias, static_cast<size_t>(g.K) * elem);
    }
    if (gconv_status s = chosen->prepare(*p, weight)) {
        delete p;
        return s;
    }
    *plan = p;
    return GCONV_SUCCESS;
}

gconv_status gconv_plan_execute(const gconv_plan* plan, int64_t batch, const void* x, void* y,
                                int num_threads) {
    if (plan == nullptr) return gconv::fail(GCONV_INVALID_PARAMETER, "plan must not be null");
    return gconv::run(*plan, batch, x, y, num_threads);
}

void gconv_plan_destroy(gconv_plan* plan) { delete plan; }

gconv_algorithm gconv_plan_algorithm(const gconv_plan* plan) {
    return plan ? plan->algorithm->id : GCONV_ALGO_AUTO;
}

gconv_isa gconv_plan_isa(const gconv_plan* plan) {
    return plan ? plan->kernels->isa : GCONV_ISA_SCALAR;
}

const char* gconv_version(void) { return GCONV_VERSION; }

const char* gconv_compiler(void) {
#if defined(__clang__)
    return "clang " __clang_version__;
#elif defined(__GNUC__)
    return "gcc " __VERSION__;
#elif defined(_MSC_VER)
    return "msvc";
#else
    return "unknown";
#endif
}

const char* gconv_build_type(void) { return GCONV_BUILD_TYPE; }

}  // extern "C"
