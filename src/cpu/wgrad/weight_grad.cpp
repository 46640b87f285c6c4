// The conv2d weight gradient:
//   dW(k, c, r, s) = sum over images n and output pixels (oh, ow) of
//                    dy(n, k, oh, ow) * x(n, c, oh*sh + r*dh - pt, ow*sw + s*dw - pl)
// with k and c in the same group.
//
// Both operands are first copied channels-innermost with the zero padding
// written out, in whichever of two arrangements fills the vector lanes
// better (V lanes per vector):
//  - lanes over groups (depthwise, narrow groups, e.g. ResNeXt's 4 channels
//    per group): lane l of slab v holds group v*V + l, copies
//    x[v][n][hp][wp][c][l] and dy[v][n][oh][ow][k][l];
//  - lanes over channels (wide groups, dense): slab = group, copies
//    x[g][n][hp][wp][c rounded up to V] and dy[g][n][oh][ow][k], dy(k)
//    broadcast against vectors of x's channels.
// The accumulators live in a zeroed buffer in the kernels' order and are
// transposed into PyTorch's (K, C/G, R, S) at the end.
//
// Parallel over blocks of accumulators, never over the reduction: every
// gradient element is summed by one thread, over images, then bands of
// output rows, then rows and columns in order, so the result is bitwise the
// same for any thread count.
#include <algorithm>
#include <cinttypes>
#include <cstring>
#include <initializer_list>
#include <new>

#include "core/descriptor.hpp"
#include "core/error.hpp"
#include "core/plan.hpp"
#include "core/threads.hpp"
#include "cpu/common/direct_driver.hpp"

namespace gconv {
namespace {

// Bytes of one slab's band (dy rows plus the input rows they read) that
// should stay in L2 while every accumulator block of the slab passes over it.
constexpr int64_t kBandBytes = 192 * 1024;

struct WgradLayout {
    bool group_lanes;
    int64_t V;             // vector lanes
    int64_t slabs;         // lane blocks of groups, or groups
    int64_t x_channels;    // values per pixel in the x copy
    int64_t dy_channels;   // values per pixel in the dy copy
    int64_t Hp, Wp;        // padded input size
    int64_t Cgp;           // channels per group rounded up to V (channel lanes)
    int64_t kb, jb;        // largest accumulator block
    int64_t k_chunks, j_chunks;
    int64_t items;         // accumulator blocks
};

double lane_use(int64_t n, int64_t V) { return double(n) / double((n + V - 1) / V * V); }

WgradLayout choose_layout(const ConvGeometry& g, int64_t V) {
    WgradLayout l{};
    l.V = V;
    l.Hp = g.H + g.pt + g.pb;
    l.Wp = g.W + g.pl + g.pr;
    l.group_lanes = lane_use(g.G, V) > lane_use(g.Cg, V);
    if (l.group_lanes) {
        l.slabs = (g.G + V - 1) / V;
        l.x_channels = g.Cg * V;
        l.dy_channels = g.Kg * V;
        l.kb = std::min<int64_t>(g.Kg, kWgradLaneMaxK);
        l.jb = std::min<int64_t>(g.S, kWgradLaneMaxProduct / l.kb);
        l.k_chunks = (g.Kg + l.kb - 1) / l.kb;
        l.j_chunks = (g.S + l.jb - 1) / l.jb;
        l.items = l.slabs * g.Cg * g.R * l.k_chunks * l.j_chunks;
    } else {
        l.slabs = g.G;
        l.Cgp = (g.Cg + V - 1) / V * V;
        l.x_channels = l.Cgp;
        l.dy_channels = g.Kg;
        l.kb = std::min<int64_t>(g.Kg, kWgradBroadcastMaxK);
        l.jb = kWgradBroadcastMaxJ;
        l.k_chunks = (g.Kg + l.kb - 1) / l.kb;
        l.j_chunks = (l.Cgp / V + l.jb - 1) / l.jb;
        l.items = g.G * g.R * g.S * l.k_chunks * l.j_chunks;
    }
    return l;
}

// Bytes of an array of T with these dimensions; an overflow is an
// allocation that cannot succeed.
template <typename T>
size_t bytes_of(std::initializer_list<int64_t> dims) {
    int64_t total = sizeof(T);
    for (int64_t d : dims)
        if (!checked_mul(total, d, total)) throw std::bad_alloc();
    return static_cast<size_t>(total);
}

// Element (n, channel, h, w) of a tensor in `layout`.
struct Tensor4 {
    int64_t C, H, W;
    bool nhwc;
    int64_t at(int64_t n, int64_t ch, int64_t h, int64_t w) const {
        return nhwc ? ((n * H + h) * W + w) * C + ch : ((n * C + ch) * H + h) * W + w;
    }
};

// Copies image n's channels of one slab into `dst` (zeroed): channel
// `channel(q)` of the source goes to slot q of each pixel, q < `slots`
// (a negative channel leaves the slot zero), pixels offset by (top, left)
// in a row `dst_w` pixels wide.
template <typename T, typename ChannelOf>
void copy_slab(const Tensor4& src, const T* data, int64_t n, int64_t slots,
               const ChannelOf& channel, int64_t top, int64_t left, int64_t dst_w, T* dst) {
    if (src.nhwc) {
        for (int64_t h = 0; h < src.H; ++h)
            for (int64_t w = 0; w < src.W; ++w) {
                const T* p = data + src.at(n, 0, h, w);
                T* q = dst + ((h + top) * dst_w + w + left) * slots;
                for (int64_t s = 0; s < slots; ++s) {
                    const int64_t ch = channel(s);
                    if (ch >= 0) q[s] = p[ch];
                }
            }
        return;
    }
    for (int64_t s = 0; s < slots; ++s) {
        const int64_t ch = channel(s);
        if (ch < 0) continue;
        for (int64_t h = 0; h < src.H; ++h) {
            const T* p = data + src.at(n, ch, h, 0);
            T* q = dst + ((h + top) * dst_w + left) * slots + s;
            for (int64_t w = 0; w < src.W; ++w) q[w * slots] = p[w];
        }
    }
}

template <typename T>
struct WgradRun {
    const ConvGeometry& g;
    const WgradLayout& l;
    const KernelFamily<T>& f;
    int64_t batch;
    const T* xr;   // x copy
    const T* dyr;  // dy copy
    T* acc;

    int64_t x_slab() const { return l.Hp * l.Wp * l.x_channels; }
    int64_t dy_slab() const { return g.OH * g.OW * l.dy_channels; }

    // Accumulator block `item` over output rows [oh0, oh1) of image n.
    void pass(int64_t item, int64_t n, int64_t oh0, int64_t oh1) const {
        WgradBlock<T> b;
        b.sh = g.sh;
        b.sw = g.sw;
        b.oh0 = oh0;
        b.oh1 = oh1;
        b.OW = g.OW;
        b.x_row = l.Wp * l.x_channels;
        b.x_pixel = l.x_channels;
        b.dy_pixel = l.dy_channels;
        const int64_t j_chunk = item % l.j_chunks;
        int64_t rest = item / l.j_chunks;
        const int64_t k0 = rest % l.k_chunks * l.kb;
        rest /= l.k_chunks;
        b.kb = static_cast<int>(std::min(l.kb, g.Kg - k0));
        if (l.group_lanes) {
            const int64_t r = rest % g.R, c = rest / g.R % g.Cg, v = rest / g.R / g.Cg;
            const int64_t s0 = j_chunk * l.jb, Gp = l.slabs * l.V;
            b.jb = static_cast<int>(std::min(l.jb, g.S - s0));
            b.x = xr + (v * batch + n) * x_slab() + (r * g.dh * l.Wp + s0 * g.dw) * l.x_channels +
                  c * l.V;
            b.x_step = g.dw * l.x_channels;
            b.dy = dyr + (v * batch + n) * dy_slab() + k0 * l.V;
            b.dy_k = l.V;
            b.acc = acc + (((k0 * g.Cg + c) * g.R + r) * g.S + s0) * Gp + v * l.V;
            b.acc_k = g.Cg * g.R * g.S * Gp;
            b.acc_j = Gp;
            f.wgrad_group_lanes(b);
        } else {
            const int64_t s = rest % g.S, r = rest / g.S % g.R, gi = rest / g.S / g.R;
            const int64_t c0 = j_chunk * l.jb * l.V;
            b.jb = static_cast<int>(std::min(l.jb, (l.Cgp - c0) / l.V));
            b.x = xr + (gi * batch + n) * x_slab() + (r * g.dh * l.Wp + s * g.dw) * l.x_channels +
                  c0;
            b.x_step = l.V;
            b.dy = dyr + (gi * batch + n) * dy_slab() + k0;
            b.dy_k = 1;
            b.acc = acc + (((gi * g.R + r) * g.S + s) * g.Kg + k0) * l.Cgp + c0;
            b.acc_k = l.Cgp;
            b.acc_j = l.V;
            f.wgrad_channel_lanes(b);
        }
    }
};

template <typename T>
void weight_grad_typed(const ConvGeometry& g, const KernelFamily<T>& f, int64_t batch,
                       const T* x, const T* dy, T* dw, int threads) {
    const WgradLayout l = choose_layout(g, f.vector_lanes);
    const int64_t x_slab = l.Hp * l.Wp * l.x_channels, dy_slab = g.OH * g.OW * l.dy_channels;
    const int64_t acc_size =
        l.group_lanes ? g.Kg * g.Cg * g.R * g.S * l.slabs * l.V : g.G * g.R * g.S * g.Kg * l.Cgp;
    AlignedBuffer x_copy, dy_copy, accumulators;
    if (!x_copy.allocate(bytes_of<T>({l.slabs, batch, x_slab})) ||
        !dy_copy.allocate(bytes_of<T>({l.slabs, batch, dy_slab})) ||
        !accumulators.allocate(bytes_of<T>({acc_size})))
        throw std::bad_alloc();
    T* xr = x_copy.as<T>();
    T* dyr = dy_copy.as<T>();

    const Tensor4 xt{g.C, g.H, g.W, g.layout == GCONV_LAYOUT_NHWC};
    const Tensor4 dyt{g.K, g.OH, g.OW, g.layout == GCONV_LAYOUT_NHWC};
    parallel_for(l.slabs * batch, threads, [&](int64_t item, int) {
        const int64_t v = item / batch, n = item % batch;
        T* xs = xr + item * x_slab;
        T* ds = dyr + item * dy_slab;
        if (l.group_lanes) {
            // Slot q = c * V + lane: channel (v * V + lane) * Cg + c.
            const auto x_channel = [&](int64_t q) {
                const int64_t group = v * l.V + q % l.V;
                return group < g.G ? group * g.Cg + q / l.V : -1;
            };
            const auto dy_channel = [&](int64_t q) {
                const int64_t group = v * l.V + q % l.V;
                return group < g.G ? group * g.Kg + q / l.V : -1;
            };
            copy_slab(xt, x, n, l.x_channels, x_channel, g.pt, g.pl, l.Wp, xs);
            copy_slab(dyt, dy, n, l.dy_channels, dy_channel, 0, 0, g.OW, ds);
        } else {
            const auto x_channel = [&](int64_t q) { return q < g.Cg ? v * g.Cg + q : -1; };
            const auto dy_channel = [&](int64_t q) { return v * g.Kg + q; };
            copy_slab(xt, x, n, l.x_channels, x_channel, g.pt, g.pl, l.Wp, xs);
            copy_slab(dyt, dy, n, l.dy_channels, dy_channel, 0, 0, g.OW, ds);
        }
    });

    const int64_t row_bytes = sizeof(T) * (g.OW * l.dy_channels + g.sh * l.Wp * l.x_channels);
    const int64_t band = std::clamp<int64_t>(kBandBytes / std::max<int64_t>(row_bytes, 1), 1, g.OH);
    const WgradRun<T> run{g, l, f, batch, xr, dyr, accumulators.as<T>()};
    const int workers = static_cast<int>(std::min<int64_t>(threads, l.items));
    parallel_for(workers, workers, [&](int64_t t, int) {
        const int64_t first = l.items * t / workers, last = l.items * (t + 1) / workers;
        for (int64_t n = 0; n < batch; ++n)
            for (int64_t oh0 = 0; oh0 < g.OH; oh0 += band)
                for (int64_t item = first; item < last; ++item)
                    run.pass(item, n, oh0, std::min(oh0 + band, g.OH));
    });

    const T* a = accumulators.as<T>();
    const int64_t RS = g.R * g.S;
    for (int64_t gi = 0; gi < g.G; ++gi)
        for (int64_t k = 0; k < g.Kg; ++k)
            for (int64_t c = 0; c < g.Cg; ++c)
                for (int64_t t = 0; t < RS; ++t) {
                    const int64_t from =
                        l.group_lanes ? ((k * g.Cg + c) * RS + t) * l.slabs * l.V + gi
                                      : ((gi * RS + t) * g.Kg + k) * l.Cgp + c;
                    dw[((gi * g.Kg + k) * g.Cg + c) * RS + t] = a[from];
                }
}

}  // namespace
}  // namespace gconv

extern "C" gconv_status gconv_conv2d_weight_grad(const gconv_conv2d_desc* d, const void* x,
                                                 const void* dy, void* dw, int num_threads) {
    using namespace gconv;
    if (d == nullptr) return fail(GCONV_INVALID_PARAMETER, "descriptor must not be null");
    try {
        ConvGeometry g;
        if (gconv_status status = validate_conv2d(*d, g); status != GCONV_SUCCESS) return status;
        const int64_t weights = g.K * g.Cg * g.R * g.S;
        if (weights == 0) return GCONV_SUCCESS;
        if (dw == nullptr || (d->batch > 0 && (x == nullptr || dy == nullptr)))
            return fail(GCONV_INVALID_PARAMETER, "x, dy and dw must not be null");
        const size_t element = g.dtype == GCONV_FLOAT64 ? sizeof(double) : sizeof(float);
        if (d->batch == 0) {
            std::memset(dw, 0, static_cast<size_t>(weights) * element);
            return GCONV_SUCCESS;
        }
        int threads = resolve_threads(num_threads);
        const double macs = double(d->batch) * double(weights) * double(g.OH * g.OW);
        if (threads > macs / 65536 + 1) threads = static_cast<int>(macs / 65536 + 1);
        const KernelTable& table = active_kernel_table();
        if (g.dtype == GCONV_FLOAT64)
            weight_grad_typed(g, table.f64, d->batch, static_cast<const double*>(x),
                              static_cast<const double*>(dy), static_cast<double*>(dw), threads);
        else
            weight_grad_typed(g, table.f32, d->batch, static_cast<const float*>(x),
                              static_cast<const float*>(dy), static_cast<float*>(dw), threads);
        return GCONV_SUCCESS;
    } catch (const std::bad_alloc&) {
        return fail(GCONV_OUT_OF_MEMORY, "gconv_conv2d_weight_grad: out of memory");
    } catch (...) {
        return fail(GCONV_INTERNAL_ERROR, "gconv_conv2d_weight_grad: unexpected exception");
    }
}
