// The planner: an ordered list of algorithms; the first that prefers the
// descriptor wins, and a forced algorithm only has to accept it.
#include <cinttypes>

#include "core/descriptor.hpp"
#include "core/error.hpp"
#include "core/plan.hpp"

namespace gconv {
namespace {
const Algorithm* const kList[] = {&kGlobalDepthwise, &kDepthwise, &kGemm1x1, &kIm2colGemm,
                                  &kGroupedDirect};
constexpr int kCount = sizeof kList / sizeof kList[0];
}  // namespace

const Algorithm* const* algorithm_list(int* count) {
    *count = kCount;
    return kList;
}

const Algorithm* find_algorithm(gconv_algorithm id) {
    for (const Algorithm* a : kList)
        if (a->id == id) return a;
    return nullptr;
}

int64_t split_size(int64_t total, int64_t parts_wanted, int64_t floor) {
    if (parts_wanted < 1) parts_wanted = 1;
    int64_t size = (total + parts_wanted - 1) / parts_wanted;
    if (size < floor) size = floor;
    return size < 1 ? 1 : size;
}

}  // namespace gconv

extern "C" {

int gconv_algorithm_accepts(gconv_algorithm algorithm, const gconv_conv2d_desc* d) {
    gconv::ConvGeometry g;
    const gconv::Algorithm* a = gconv::find_algorithm(algorithm);
    if (d == nullptr || a == nullptr || gconv::validate_conv2d(*d, g) != GCONV_SUCCESS) return 0;
    return a->accepts(g) ? 1 : 0;
}

gconv_status gconv_choose_algorithm(const gconv_conv2d_desc* d, gconv_algorithm* algorithm) {
    if (d == nullptr || algorithm == nullptr)
        return gconv::fail(GCONV_INVALID_PARAMETER, "descriptor and result must not be null");
    gconv::ConvGeometry g;
    if (gconv_status s = gconv::validate_conv2d(*d, g)) return s;
    for (const gconv::Algorithm* a : gconv::kList)
        if (a->accepts(g) && a->prefers(g)) {
            *algorithm = a->id;
            return GCONV_SUCCESS;
        }
    return gconv::fail(GCONV_UNSUPPORTED, "no algorithm accepts this convolution");
}

const char* gconv_algorithm_name(gconv_algorithm algorithm) {
    const gconv::Algorithm* a = gconv::find_algorithm(algorithm);
    return a ? a->name : (algorithm == GCONV_ALGO_AUTO ? "auto" : "unknown");
}

}  // extern "C"
