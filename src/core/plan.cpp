// The C ABI around plans: create (validate, choose, pack), execute, destroy.
#include "core/plan.hpp"

#include <cinttypes>
#include <cstdlib>
#include <cstring>
#include <new>
#if defined(_WIN32)
#include <malloc.h>
#endif

#include "core/descriptor.hpp"
#include "core/error.hpp"
#include "core/threads.hpp"

namespace gconv {

namespace {
// MSVC's C runtime has no std::aligned_alloc (its free() cannot release it).
void* aligned_allocate(size_t bytes) {
#if defined(_WIN32)
    return _aligned_malloc(bytes, 64);
#else
    return std::aligned_alloc(64, bytes);
#endif
}

void aligned_release(void* p) {
#if defined(_WIN32)
    _aligned_free(p);
#else
    std::free(p);
#endif
}
}  // namespace

AlignedBuffer::~AlignedBuffer() { aligned_release(data_); }

bool AlignedBuffer::allocate(size_t bytes, bool zeroed) {
    aligned_release(data_);
    data_ = nullptr;
    size_t rounded = (bytes + 63) / 64 * 64;
    if (rounded < bytes) return false;
    if (rounded == 0) rounded = 64;
    data_ = aligned_allocate(rounded);
    if (data_ == nullptr) return false;
    if (zeroed) std::memset(data_, 0, rounded);
    return true;
}

namespace {

size_t dtype_size(const ConvGeometry& g) { return g.dtype == GCONV_FLOAT64 ? 8 : 4; }

// Threads one execute uses: the requested count, capped where more threads
// would cost more than they save.
int effective_threads(const gconv_plan& plan, int64_t batch, int num_threads) {
    const ConvGeometry& g = plan.geom;
    // Below ~64K multiply-adds per thread, waking another thread costs more
    // than it saves (and a parked thread on a busy machine costs far more).
    int64_t macs;
    const int64_t useful = checked_mul(batch * g.out_image(), g.reduction(), macs)
                               ? macs / 65536 + 1
                               : INT64_MAX;
    int threads = resolve_threads(num_threads);
    if (threads > useful) threads = static_cast<int>(useful);
    return threads;
}

// `workspace` null: allocate the scratch here; else the caller's, which must
// hold workspace_bytes >= what `threads` threads need.
gconv_status run(const gconv_plan& plan, int64_t batch, const void* x, void* y,
                 int num_threads, void* workspace = nullptr, size_t workspace_bytes = 0) {
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
    const int threads = effective_threads(plan, batch, num_threads);
    const size_t needed = static_cast<size_t>(plan.scratch_bytes) * static_cast<size_t>(threads);
    if (workspace != nullptr && plan.scratch_bytes > 0) {
        // The kernels see the same 64-byte aligned scratch as with gconv's
        // own (gconv_plan_workspace_size counts the alignment slack).
        const uintptr_t address = reinterpret_cast<uintptr_t>(workspace);
        const size_t skip = static_cast<size_t>((64 - address % 64) % 64);
        if (workspace_bytes < skip || workspace_bytes - skip < needed)
            return fail(GCONV_INVALID_PARAMETER,
                        "workspace_bytes (%zu) is smaller than the %zu bytes %d threads need "
                        "after aligning the workspace to 64 bytes (gconv_plan_workspace_size)",
                        workspace_bytes, needed + skip, threads);
        void* aligned = static_cast<unsigned char*>(workspace) + skip;
        return plan.algorithm->execute(plan, batch, x, y, threads, aligned);
    }
    // Not zeroed: every kernel writes the scratch it reads, and zeroing
    // 512 KiB per thread per call cost 5% of a small GEMM. GCONV_POISON_SCRATCH
    // fills it with NaN instead, which is how the tests check that claim.
    AlignedBuffer scratch;
    if (plan.scratch_bytes > 0 && !scratch.allocate(needed, false))
        return fail(GCONV_OUT_OF_MEMORY, "cannot allocate %d x %" PRId64 " bytes of scratch",
                    threads, plan.scratch_bytes);
    static const bool poison = std::getenv("GCONV_POISON_SCRATCH") != nullptr;
    if (poison && plan.scratch_bytes > 0) std::memset(scratch.data(), 0xFF, needed);
    return plan.algorithm->execute(plan, batch, x, y, threads, scratch.data());
}

// The C ABI never lets an exception out (a C caller cannot catch it).
template <typename Body>
gconv_status guarded(const char* where, const Body& body) {
    try {
        return body();
    } catch (const std::bad_alloc&) {
        return fail(GCONV_OUT_OF_MEMORY, "%s: out of memory", where);
    } catch (const std::exception& e) {
        return fail(GCONV_INTERNAL_ERROR, "%s: unexpected exception: %s", where, e.what());
    } catch (...) {
        return fail(GCONV_INTERNAL_ERROR, "%s: unexpected exception", where);
    }
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

static gconv_status plan_create(const gconv_conv2d_desc* d, const void* weight, const void* bias,
                                gconv_algorithm algorithm, gconv_plan** plan) {
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

gconv_status gconv_plan_create(const gconv_conv2d_desc* d, const void* weight, const void* bias,
                               gconv_algorithm algorithm, gconv_plan** plan) {
    if (plan == nullptr) return gconv::fail(GCONV_INVALID_PARAMETER, "plan must not be null");
    *plan = nullptr;
    return gconv::guarded("gconv_plan_create",
                          [&] { return plan_create(d, weight, bias, algorithm, plan); });
}

gconv_status gconv_plan_execute(const gconv_plan* plan, int64_t batch, const void* x, void* y,
                                int num_threads) {
    if (plan == nullptr) return gconv::fail(GCONV_INVALID_PARAMETER, "plan must not be null");
    return gconv::guarded("gconv_plan_execute",
                          [&] { return gconv::run(*plan, batch, x, y, num_threads); });
}

gconv_status gconv_plan_execute_with_workspace(const gconv_plan* plan, int64_t batch,
                                               const void* x, void* y, void* workspace,
                                               size_t workspace_bytes, int num_threads) {
    if (plan == nullptr) return gconv::fail(GCONV_INVALID_PARAMETER, "plan must not be null");
    return gconv::guarded("gconv_plan_execute_with_workspace", [&] {
        return gconv::run(*plan, batch, x, y, num_threads, workspace, workspace_bytes);
    });
}

gconv_status gconv_plan_workspace_size(const gconv_plan* plan, int num_threads, size_t* bytes) {
    if (plan == nullptr || bytes == nullptr)
        return gconv::fail(GCONV_INVALID_PARAMETER, "plan and bytes must not be null");
    // The most threads any batch can use (the cap only lowers the count),
    // and 63 bytes to align the caller's workspace to 64.
    const int threads = gconv::resolve_threads(num_threads);
    *bytes = plan->scratch_bytes > 0
                 ? static_cast<size_t>(plan->scratch_bytes) * static_cast<size_t>(threads) + 63
                 : 0;
    return GCONV_SUCCESS;
}

gconv_status gconv_plan_output_shape(const gconv_plan* plan, int64_t batch, int64_t shape[4]) {
    if (plan == nullptr || shape == nullptr)
        return gconv::fail(GCONV_INVALID_PARAMETER, "plan and shape must not be null");
    if (batch < 0)
        return gconv::fail(GCONV_INVALID_PARAMETER, "batch must be >= 0, got %" PRId64, batch);
    const gconv::ConvGeometry& g = plan->geom;
    int64_t elements;
    if (!gconv::checked_mul(batch, g.out_image(), elements))
        return gconv::fail(GCONV_INVALID_PARAMETER,
                           "batch (%" PRId64 ") makes the output overflow int64", batch);
    const bool nhwc = g.layout == GCONV_LAYOUT_NHWC;
    shape[0] = batch;
    shape[1] = nhwc ? g.OH : g.K;
    shape[2] = nhwc ? g.OW : g.OH;
    shape[3] = nhwc ? g.K : g.OW;
    return GCONV_SUCCESS;
}

gconv_status gconv_plan_descriptor(const gconv_plan* plan, gconv_conv2d_desc* d) {
    if (plan == nullptr || d == nullptr)
        return gconv::fail(GCONV_INVALID_PARAMETER, "plan and descriptor must not be null");
    *d = plan->desc;
    return GCONV_SUCCESS;
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
