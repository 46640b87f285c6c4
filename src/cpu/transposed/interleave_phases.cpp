#include "cpu/transposed/interleave_phases.h"

#include <cinttypes>
#include <cstring>

#include "core/descriptor.hpp"
#include "core/error.hpp"
#include "core/threads.hpp"

namespace gconv {
namespace {

template <typename T>
void interleave(bool nhwc, int64_t N, int64_t C, int64_t H, int64_t W, int64_t sh, int64_t sw,
                int64_t PH, int64_t PW, const T* phases, T* y, int threads) {
    const int64_t phase_size = N * C * PH * PW;
    if (nhwc) {
        // Each output pixel is a contiguous run of C values in one phase.
        parallel_for(N * H, threads, [&](int64_t row, int) {
            const int64_t n = row / H, i = row % H, a = i % sh, t = i / sh;
            T* out = y + row * W * C;
            for (int64_t j = 0; j < W; ++j) {
                const T* src = phases + (a * sw + j % sw) * phase_size +
                               ((n * PH + t) * PW + j / sw) * C;
                std::memcpy(out + j * C, src, sizeof(T) * C);
            }
        });
        return;
    }
    // Each output row interleaves sw phase rows.
    parallel_for(N * C * H, threads, [&](int64_t row, int) {
        const int64_t i = row % H, plane = row / H, a = i % sh, t = i / sh;
        T* out = y + row * W;
        if (sw == 2) {  // one pass over the row, pairs side by side: vectorises as unpacks
            const T* even = phases + (a * 2) * phase_size + (plane * PH + t) * PW;
            const T* odd = even + phase_size;
            const int64_t pairs = W / 2;
            for (int64_t u = 0; u < pairs; ++u) {
                out[2 * u] = even[u];
                out[2 * u + 1] = odd[u];
            }
            if (W % 2) out[W - 1] = even[pairs];
            return;
        }
        for (int64_t b = 0; b < sw && b < W; ++b) {
            const T* src = phases + (a * sw + b) * phase_size + (plane * PH + t) * PW;
            for (int64_t j = b, u = 0; j < W; j += sw, ++u) out[j] = src[u];
        }
    });
}

}  // namespace
}  // namespace gconv

extern "C" gconv_status gconv_interleave_phases(int32_t dtype, int32_t layout, int64_t batch,
                                                int64_t channels, int64_t out_h, int64_t out_w,
                                                int64_t stride_h, int64_t stride_w,
                                                int64_t phase_h, int64_t phase_w,
                                                const void* phases, void* y, int num_threads) {
    using namespace gconv;
    if (batch < 0 || channels < 1 || out_h < 1 || out_w < 1 || stride_h < 1 || stride_w < 1 ||
        out_h > phase_h * stride_h || out_w > phase_w * stride_w)
        return fail(GCONV_INVALID_PARAMETER,
                    "interleave_phases: inconsistent sizes (batch %" PRId64 ", channels %" PRId64
                    ", out %" PRId64 "x%" PRId64 ", stride %" PRId64 "x%" PRId64
                    ", phases %" PRId64 "x%" PRId64 ")",
                    batch, channels, out_h, out_w, stride_h, stride_w, phase_h, phase_w);
    if (batch == 0) return GCONV_SUCCESS;
    const int64_t elements = batch * channels * out_h * out_w;
    const int threads = threads_for_work(num_threads, elements);
    const bool nhwc = layout == GCONV_LAYOUT_NHWC;
    if (dtype == GCONV_FLOAT64)
        interleave(nhwc, batch, channels, out_h, out_w, stride_h, stride_w, phase_h, phase_w,
                   static_cast<const double*>(phases), static_cast<double*>(y), threads);
    else
        interleave(nhwc, batch, channels, out_h, out_w, stride_h, stride_w, phase_h, phase_w,
                   static_cast<const float*>(phases), static_cast<float*>(y), threads);
    return GCONV_SUCCESS;
}
