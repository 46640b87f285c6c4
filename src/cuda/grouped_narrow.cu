// Narrow groups (ResNeXt's 4 channels per group, ShuffleNet, RegNet): a GEMM
// per group would be mostly tile padding, so one block holds several groups.
// A "slot" is (group, chunk of KT output channels of that group); a block
// covers kSlots slots x kPixels output pixels, keeps the slots' weights in
// shared memory, and each thread accumulates its slot's KT outputs for one
// pixel, reusing every input value KT times from a register.
// NCHW: threads of a warp run along pixels (coalesced rows); NHWC: along
// slots (neighbouring groups' channels are neighbours in memory).
#include "cuda/kernels.hpp"

namespace gconv {
namespace cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kMaxSharedBytes = 48 * 1024;

template <typename T, int L, int KT>
__global__ void __launch_bounds__(kThreads)
    grouped_narrow_kernel(ConvShape s, const T* __restrict__ x, const T* __restrict__ w,
                          const T* __restrict__ bias, T* __restrict__ y, int64_t slot_base,
                          int slots_per_block, int pixels_per_block) {
    extern __shared__ unsigned char shared_bytes[];
    T* ws = reinterpret_cast<T*>(shared_bytes);  // [slot][Cg*R*S][KT]

    const int tid = threadIdx.x;
    const int RS = s.R * s.S;
    const int red = s.Cg * RS;
    const int chunks = (s.Kg + KT - 1) / KT;
    const int64_t total_slots = static_cast<int64_t>(s.G) * chunks;
    const int64_t slot0 = slot_base + static_cast<int64_t>(blockIdx.y) * slots_per_block;

    const int per_slot = red * KT;
    for (int i = tid; i < slots_per_block * per_slot; i += kThreads) {
        const int sl = i / per_slot;
        const int rem = i - sl * per_slot;
        const int r = rem / KT;
        const int kk = rem - r * KT;
        const int64_t slot = slot0 + sl;
        T v = T(0);
        if (slot < total_slots) {
            const int64_t g = slot / chunks;
            const int k = static_cast<int>(slot - g * chunks) * KT + kk;
            if (k < s.Kg) v = w[(g * s.Kg + k) * red + r];
        }
        ws[i] = v;
    }
    __syncthreads();

    int sl, pl;
    if (L == kLayoutNCHW) {
        pl = tid % pixels_per_block;
        sl = tid / pixels_per_block;
    } else {
        sl = tid % slots_per_block;
        pl = tid / slots_per_block;
    }
    if (sl >= slots_per_block || pl >= pixels_per_block) return;
    const int64_t slot = slot0 + sl;
    const int64_t ohw = static_cast<int64_t>(s.OH) * s.OW;
    const int64_t p = static_cast<int64_t>(blockIdx.x) * pixels_per_block + pl;
    if (slot >= total_slots || p >= s.N * ohw) return;

    const int g = static_cast<int>(slot / chunks);
    const int k0 = static_cast<int>(slot - static_cast<int64_t>(g) * chunks) * KT;
    const int64_t n = p / ohw;
    const int pix = static_cast<int>(p - n * ohw);
    const int oh = pix / s.OW, ow = pix - (pix / s.OW) * s.OW;
    const int ih0 = oh * s.sh - s.pt, iw0 = ow * s.sw - s.pl;

    T acc[KT];
#pragma unroll
    for (int kk = 0; kk < KT; ++kk) acc[kk] = T(0);
    const T* wslot = ws + sl * per_slot;
    for (int c = 0; c < s.Cg; ++c) {
        const int channel = g * s.Cg + c;
        for (int kh = 0; kh < s.R; ++kh) {
            const int ih = ih0 + kh * s.dh;
            if (ih < 0 || ih >= s.H) continue;
            for (int kw = 0; kw < s.S; ++kw) {
                const int iw = iw0 + kw * s.dw;
                if (iw < 0 || iw >= s.W) continue;
                const T xv = x[offset<L>(n, channel, ih, iw, s.C, s.H, s.W)];
                const T* wr = wslot + ((c * s.R + kh) * s.S + kw) * KT;
#pragma unroll
                for (int kk = 0; kk < KT; ++kk) acc[kk] = fma(xv, wr[kk], acc[kk]);
            }
        }
    }
#pragma unroll
    for (int kk = 0; kk < KT; ++kk) {
        const int m = k0 + kk;
        if (m >= s.Kg) break;
        const int k = g * s.Kg + m;
        y[offset<L>(n, k, oh, ow, s.K, s.OH, s.OW)] = epilogue(acc[kk], bias, k, s.act);
    }
}

// Output channels per slot: the group's Kg when it is 1, 2 or 4, else 4 or 8.
int slot_width(int Kg) {
    if (Kg <= 1) return 1;
    if (Kg <= 2) return 2;
    if (Kg <= 4) return 4;
    return 8;
}

int64_t slot_bytes(const ConvShape& s, int dtype) {
    const int64_t item = dtype == GCONV_FLOAT32 ? 4 : 8;
    return static_cast<int64_t>(s.Cg) * s.R * s.S * slot_width(s.Kg) * item;
}

template <typename T, int L, int KT>
gconv_status launch(const ConvLaunch& a) {
    const ConvShape& s = a.s;
    const int64_t chunks = ceil_div(s.Kg, KT);
    const int64_t total_slots = static_cast<int64_t>(s.G) * chunks;
    const int64_t per_slot = slot_bytes(s, a.dtype);
    // At most 8 slots, so that NCHW warps still run along 32 pixels.
    int64_t slots = kMaxSharedBytes / per_slot;
    if (slots > 8) slots = 8;
    if (slots > total_slots) slots = total_slots;
    const int pixels = kThreads / static_cast<int>(slots);
    const int64_t P = s.N * s.OH * s.OW;
    const int64_t blocks_x = ceil_div(P, pixels);
    const int64_t blocks_y = ceil_div(total_slots, slots);
    if (blocks_x > kMaxGridX)
        return cuda_failure(cudaErrorInvalidConfiguration, "grouped_narrow: grid too large");
    const size_t shared = static_cast<size_t>(slots * per_slot);
    for (int64_t y0 = 0; y0 < blocks_y; y0 += kMaxGridYZ) {
        const int64_t ny = blocks_y - y0 < kMaxGridYZ ? blocks_y - y0 : kMaxGridYZ;
        dim3 grid(static_cast<unsigned>(blocks_x), static_cast<unsigned>(ny));
        grouped_narrow_kernel<T, L, KT><<<grid, kThreads, shared, a.stream>>>(
            s, static_cast<const T*>(a.x), static_cast<const T*>(a.w),
            static_cast<const T*>(a.bias), static_cast<T*>(a.y), y0 * slots,
            static_cast<int>(slots), pixels);
    }
    return launch_status("grouped_narrow");
}

template <typename T, int L>
gconv_status launch_width(const ConvLaunch& a) {
    switch (slot_width(a.s.Kg)) {
        case 1: return launch<T, L, 1>(a);
        case 2: return launch<T, L, 2>(a);
        case 4: return launch<T, L, 4>(a);
        default: return launch<T, L, 8>(a);
    }
}

}  // namespace

bool grouped_narrow_fits(const ConvShape& s, int dtype) {
    return slot_bytes(s, dtype) <= kMaxSharedBytes;
}

gconv_status grouped_narrow(const ConvLaunch& a) {
    if (a.dtype == GCONV_FLOAT32)
        return a.layout == kLayoutNCHW ? launch_width<float, kLayoutNCHW>(a)
                                       : launch_width<float, kLayoutNHWC>(a);
    return a.layout == kLayoutNCHW ? launch_width<double, kLayoutNCHW>(a)
                                   : launch_width<double, kLayoutNHWC>(a);
}

}  // namespace cuda
}  // namespace gconv
