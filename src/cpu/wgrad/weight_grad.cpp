// The conv2d weight gradient:
//   dW(k, c, r, s) = sum over images n and output pixels (oh, ow) of
//                    dy(n, k, oh, ow) * x(n, c, oh*sh + r*dh - pt, ow*sw + s*dw - pl)
// with k and c in the same group.
//
// The reduction runs over bands: a few output rows of a few "slabs", whose
// operands each thread first copies into a small reused buffer,
// channels-innermost with the zero padding written out, in whichever of two
// arrangements fills the vector lanes better (V lanes per vector):
//  - lanes over groups (depthwise, narrow groups, e.g. ResNeXt's 4 channels
//    per group): slab v holds groups v*V .. v*V + V - 1, pixel by pixel
//    x[c][lane] and dy[k][lane];
//  - lanes over channels (wide groups, dense): slab = group, pixel by pixel
//    x[c rounded up to V] and dy[k], dy(k) broadcast against vectors of x
//    (NCHW broadcasts from dy's planes in place, uncopied).
// The band stays in L2 while every accumulator block of its slabs passes
// over it, so the copy reads each input once per thread instead of once per
// block.
// The accumulators live in a buffer in the kernels' order (each block's
// first band starts them from zero) and are transposed into PyTorch's
// (K, C/G, R, S) at the end.
//
// Parallel over blocks of accumulators, never over the reduction: every
// gradient element is summed by one thread, over images, then bands of
// output rows, then rows and columns in order (the depthwise stride-1
// kernel keeps interleaved partial sums over a band's columns, added at the
// band's end: see wgrad.inl), so the result is bitwise the same for any
// thread count.
#include <algorithm>
#include <cinttypes>
#include <cstring>
#include <initializer_list>
#include <new>
#include <vector>

#include "core/descriptor.hpp"
#include "core/error.hpp"
#include "core/plan.hpp"
#include "core/threads.hpp"
#include "cpu/common/direct_driver.hpp"
#include "cpu/common/prefetch.hpp"

namespace gconv {
namespace {

// A band: output rows (at most band_rows) of a group of slabs whose dy
// values and input rows (at most kBandBytes) stay in L2 while every
// accumulator block of those slabs passes over them.
constexpr int64_t kBandRows = 8;
constexpr int64_t kBandBytes = 192 * 1024;

// Each band reloads and stores every accumulator block: 16 rows, or a whole
// map of up to 16 rows, halve that (N=16: AlexNet, dense 3x3 and RegNet
// 1.04-1.09x; NCHW 28x28 and 56x56 maps 1.06-1.16x). NHWC maps beyond 16
// rows keep 8: a band copies each pixel's slice of channels, and longer
// bands hold fewer slabs, so each pixel's lines are read by more copies
// (ResNeXt s3_down 0.87x, ConvNeXt 7x7 0.75x).
int64_t band_rows(const ConvGeometry& g) {
    constexpr int64_t kLongBandRows = 16;
    const bool long_band = g.layout == GCONV_LAYOUT_NCHW || g.OH <= kLongBandRows;
    return std::min<int64_t>(g.OH, long_band ? kLongBandRows : kBandRows);
}

struct WgradLayout {
    bool group_lanes;
    // Lanes over channels with a group's channels in one vector: a block's
    // members are neighbouring taps of a kernel row (each x vector then
    // serves kb broadcasts, where a block of one vector of channels
    // loaded about as often as it multiplied).
    bool j_taps;
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

// Images per band where a band holds a whole map (NCHW, lanes over
// channels): a pass of an accumulator block then covers about kBandPixels
// output pixels, where a pass per image paid the block's loads, stores and
// call for a few dozen pixels (ResNeXt s5's 7x7 at N=16: 1.04x over the
// single-image passes), within the band's L2 budget.
constexpr int64_t kBandPixels = 800;

int64_t band_images(const ConvGeometry& g, const WgradLayout& l, int64_t batch, int64_t band,
                    int64_t slab_row_bytes) {
    if (band < g.OH || l.group_lanes || g.layout == GCONV_LAYOUT_NHWC) return 1;
    const int64_t wanted = kBandPixels / std::max<int64_t>(g.OH * g.OW, 1);
    const int64_t fit = kBandBytes / std::max<int64_t>(band * slab_row_bytes, 1);
    return std::clamp<int64_t>(std::min(wanted, fit), 1, batch);
}

double lane_use(int64_t n, int64_t V) { return double(n) / double((n + V - 1) / V * V); }

WgradLayout choose_layout(const ConvGeometry& g, int64_t V, int64_t broadcast_k,
                          int64_t broadcast_product) {
    WgradLayout l{};
    l.V = V;
    l.Hp = g.H + g.pt + g.pb;
    l.Wp = g.W + g.pl + g.pr;
    // Useful lanes times FMAs per load of the register block (loads and FMAs
    // issue at about the same rate; above 1.5 the FMAs are the limit).
    const auto score = [&](int64_t groups, int64_t kb, int64_t jb) {
        return lane_use(groups, V) * std::min(double(kb * jb) / double(kb + jb), 1.5);
    };
    const int64_t lane_kb = std::min<int64_t>(g.Kg, kWgradLaneMaxK);
    const int64_t cast_kb = std::min<int64_t>(g.Kg, broadcast_k);
    // Block members: taps of a kernel row when a group's channels fit one
    // vector, else its vectors of channels; as many as the registers hold
    // (AVX-512: 4 x 6, where AVX2's 2 x 6 loaded 8 values per 12 FMAs).
    const bool one_vector = g.Cg <= V;
    const int64_t cast_jb = std::min<int64_t>({one_vector ? g.S : (g.Cg + V - 1) / V,
                                               kWgradBroadcastMaxJ,
                                               std::max<int64_t>(broadcast_product / cast_kb, 1)});
    l.group_lanes = score(g.G, lane_kb, std::min<int64_t>(g.S, kWgradLaneMaxProduct / lane_kb)) >
                    score(g.Cg, cast_kb, cast_jb);
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
        l.kb = cast_kb;
        l.jb = cast_jb;
        l.k_chunks = (g.Kg + l.kb - 1) / l.kb;
        l.j_taps = one_vector;
        if (l.j_taps) {
            l.j_chunks = (g.S + l.jb - 1) / l.jb;
            l.items = g.G * g.R * l.k_chunks * l.j_chunks;
        } else {
            l.j_chunks = (l.Cgp / V + l.jb - 1) / l.jb;
            l.items = g.G * g.R * g.S * l.k_chunks * l.j_chunks;
        }
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

// A band: rows of one image for a few slabs, each slab a set of planes of
// rows x width x q values (the zero padding written out), so that every
// accumulator block streams contiguous memory. Plane p, slot q of slab v
// holds source channel
//   lanes over groups:   (v * q_size + q) * count + p   (group v * V + q)
//   lanes over channels: v * count + p * q_size + q     (within group v)
// and zero where that channel does not exist.
struct PlaneCopy {
    bool group_lanes;
    int64_t count;       // channels per group in the source (Cg or Kg)
    int64_t groups;      // G
    int64_t planes, q_size;
    int64_t top, left;   // padding before the first row / column
    int64_t width;       // pixels per row (padded)

    // Source channel of (v, p, q), or -1.
    int64_t channel(int64_t v, int64_t p, int64_t q) const {
        if (group_lanes) {
            const int64_t group = v * q_size + q;
            return group < groups ? group * count + p : -1;
        }
        const int64_t c = p * q_size + q;
        return c < count ? v * count + c : -1;
    }
};

#include "cpu/common/copy_runs.inl"

// Rows [row0, row0 + rows) of the padded image n, slabs [v0, v0 + slabs),
// into dst ([slab][plane][row][width][q]); rows and columns outside the
// source are zero. Transposes go f.transpose_lanes rows at a time (16
// floats with AVX-512: whole 64-byte lines of each pixel, half the
// shuffles per value of 8) through the family's transpose_rows.
template <typename T>
void copy_planes(const KernelFamily<T>& f, const Tensor4& src, const T* data, const PlaneCopy& c,
                 int64_t n, int64_t v0, int64_t slabs, int64_t row0, int64_t rows, T* dst) {
    const int64_t plane = rows * c.width * c.q_size;
    const int64_t h0 = std::max<int64_t>(row0 - c.top, 0);
    const int64_t h1 = std::min<int64_t>(row0 + rows - c.top, src.H);
    // Rows shorter than a vector (ResNeXt s5's 7x7) keep 8: the 16-row
    // transposes' tail columns cost more than they save there (0.97x).
    constexpr int kMostLanes = 16;  // the widest transpose_lanes
    const int64_t lanes = src.W >= kMostLanes ? f.transpose_lanes : std::min(f.transpose_lanes, 8);
    const T* in[kMostLanes];
    if (!src.nhwc) {
        // NCHW: each slot reads its own source rows; 8 slots of a plane at a
        // time become contiguous runs of each pixel. Slot by slot, so that
        // each source plane's rows are read in order (row by row across the
        // slabs jumped a plane between reads: beyond L2, a miss per read
        // that made the copy 7x the arithmetic of a 14x14 depthwise layer).
        const int64_t band_bytes = (h1 - h0) * src.W * static_cast<int64_t>(sizeof(T));
        for (int64_t v = v0; v < v0 + slabs; ++v) {
            // The next slab's rows, requested while this one is copied
            // (960 channels at 7x7, N=16: the copy took 2x as long without).
            for (int64_t p = 0; p < c.planes && v + 1 < v0 + slabs; ++p)
                for (int64_t q = 0; q < c.q_size; ++q) {
                    const int64_t ch = c.channel(v + 1, p, q);
                    if (ch < 0) break;
                    prefetch_range(data + src.at(n, ch, h0, 0), band_bytes);
                }
            // The planes of chunk (p, q0): up to `lanes` source channels.
            const auto chunk = [&](int64_t p, int64_t q0, const T** first) {
                int m = 0;
                for (int64_t q = q0; q < std::min(q0 + lanes, c.q_size); ++q) {
                    const int64_t ch = c.channel(v, p, q);
                    if (ch < 0) break;  // missing channels come last
                    first[m++] = data + src.at(n, ch, 0, 0);
                }
                return m;
            };
            const int64_t row_bytes = src.W * static_cast<int64_t>(sizeof(T));
            // Zeroed: what the transposes leave, the padding, or all of a
            // plane that lacks channels (a memset of every band was 4% of
            // ResNeXt s3's gradient).
            const size_t pixel_bytes = sizeof(T) * static_cast<size_t>(c.q_size);
            const int64_t r0 = h0 + c.top - row0, r1 = h1 + c.top - row0;  // rows from x
            for (int64_t p = 0; p < c.planes; ++p) {
                T* out = dst + ((v - v0) * c.planes + p) * plane;
                if (c.channel(v, p, c.q_size - 1) < 0) {  // missing channels come last
                    std::memset(out, 0, sizeof(T) * static_cast<size_t>(plane));
                    continue;
                }
                std::memset(out, 0, pixel_bytes * static_cast<size_t>(r0 * c.width));
                std::memset(out + r1 * c.width * c.q_size, 0,
                            pixel_bytes * static_cast<size_t>((rows - r1) * c.width));
                const int64_t right = c.width - c.left - src.W;
                for (int64_t r = r0; r < r1; ++r) {
                    T* row = out + r * c.width * c.q_size;
                    std::memset(row, 0, pixel_bytes * static_cast<size_t>(c.left));
                    std::memset(row + (c.left + src.W) * c.q_size, 0,
                                pixel_bytes * static_cast<size_t>(right));
                }
            }
            for (int64_t p = 0; p < c.planes; ++p)
                for (int64_t q0 = 0; q0 < c.q_size; q0 += lanes) {
                    const T* first[kMostLanes];
                    const int m = chunk(p, q0, first);
                    // The slab's next chunk, requested row by row while this
                    // one is transposed: its planes are as many short
                    // streams, which the hardware prefetchers barely start
                    // on (ResNeXt s3, N=16: the copy was a third of the
                    // weight gradient).
                    const T* ahead[kMostLanes];
                    const int64_t p1 = q0 + lanes < c.q_size ? p : p + 1;
                    const int m1 = p1 < c.planes ? chunk(p1, p1 == p ? q0 + lanes : 0, ahead) : 0;
                    T* out = dst + ((v - v0) * c.planes + p) * plane + q0;
                    for (int64_t h = h0; h < h1 && m > 0; ++h) {
                        const int64_t row = ((h + c.top - row0) * c.width + c.left) * c.q_size;
                        for (int i = 0; i < m1; ++i)
                            prefetch_range(ahead[i] + h * src.W, row_bytes);
                        for (int i = 0; i < m; ++i) in[i] = first[i] + h * src.W;
                        f.transpose_rows(in, m, src.W, out + row, c.q_size);
                    }
                }
        }
        return;
    }
    // NHWC.
    std::memset(dst, 0, sizeof(T) * slabs * c.planes * plane);
    const int64_t span = std::min(slabs * c.q_size, c.groups - v0 * c.q_size);
    for (int64_t h = h0; h < h1; ++h) {
        const int64_t row = ((h + c.top - row0) * c.width + c.left) * c.q_size;
        if (c.group_lanes && c.count == 1) {
            // Depthwise: each slab's V channels are already side by side; one
            // pass over the row's pixels feeds every slab.
            for (int64_t w = 0; w < src.W; ++w) {
                const T* p = data + src.at(n, v0 * c.q_size, h, w);
                // The next row's pixel, requested a row ahead (the slabs'
                // channels are a part of each pixel: a stride the hardware
                // prefetchers did not follow beyond L2; 144 channels at
                // 56x56, N=16: the weight gradient took 1.3x as long).
                if (h + 1 < h1) prefetch_range(p + src.W * src.C, span * int64_t(sizeof(T)));
                for (int64_t v = v0; v < v0 + slabs; ++v) {
                    const int64_t present = std::min(c.q_size, c.groups - v * c.q_size);
                    T* q = dst + (v - v0) * c.planes * plane + row + w * c.q_size;
                    // Whole vectors (AVX2 floats, AVX-512 floats): fixed-size
                    // copies, where a call per 64 bytes took a third of
                    // dw_mult2's NHWC gradient.
                    if (present == 8 && c.q_size == 8)
                        std::memcpy(q, p + (v - v0) * 8, 8 * sizeof(T));
                    else if (present == 16 && c.q_size == 16)
                        std::memcpy(q, p + (v - v0) * 16, 16 * sizeof(T));
                    else
                        std::memcpy(q, p + (v - v0) * c.q_size, present * sizeof(T));
                }
            }
            continue;
        }
        if (!c.group_lanes && h + 1 < h1) {
            // Lanes over channels: the next row's slices of these slabs,
            // requested into L2 a row ahead (each pixel's slice is a few
            // lines C values apart, which the hardware prefetchers did not
            // bring in time beyond L2: N=16, ShuffleNet's grouped 1x1
            // 1.25x, ResNeXt s3 1.16x, s3_down 1.1x; into L1, 0.9-0.95x).
            const int64_t first = v0 * c.count;
            const int64_t bytes = std::min(slabs * c.count, src.C - first) *
                                  static_cast<int64_t>(sizeof(T));
            for (int64_t w = 0; w < src.W; ++w)
                prefetch_range_l2(data + src.at(n, first, h + 1, w), bytes);
        }
        for (int64_t v = v0; v < v0 + slabs; ++v) {
            T* slab = dst + (v - v0) * c.planes * plane;
            if (c.group_lanes) {
                // Per pixel, V groups x count channels -> one value per plane.
                const int64_t present = std::min(c.q_size, c.groups - v * c.q_size);
                f.split_groups(data + src.at(n, v * c.q_size * c.count, h, 0), src.C, src.W,
                               static_cast<int>(present), c.count, slab + row, c.q_size, plane);
                continue;
            }
            // Channels in order: plane p takes the next q_size of each pixel.
            for (int64_t p = 0; p < c.planes; ++p) {
                const int64_t m = std::min(c.q_size, c.count - p * c.q_size);
                T* q = slab + p * plane + row;
                const T* s = data + src.at(n, v * c.count + p * c.q_size, h, 0);
                copy_runs(s, src.C, src.W, m, q, c.q_size);
            }
        }
    }
}

// Whether the kernels read dy where it is (see WgradRun::dy_in_place).
bool reads_dy_in_place(const ConvGeometry& g, const WgradLayout& l) {
    const bool nhwc = g.layout == GCONV_LAYOUT_NHWC;
    return l.group_lanes ? g.Kg == 1 && nhwc && g.G % l.V == 0 : !nhwc;
}

template <typename T>
struct WgradRun {
    const ConvGeometry& g;
    const WgradLayout& l;
    const KernelFamily<T>& f;
    T* acc;
    int64_t x_planes, dy_planes, dy_q;  // per slab
    // dy read in place instead of copied (null otherwise): NCHW lanes over
    // channels, whose kernel broadcasts each dy value from kb planes, and
    // depthwise (multiplier 1) NHWC with whole lane blocks, V channels per
    // pixel. (NHWC lanes over channels keep the copy: ResNeXt's 1024
    // channels put each pixel's dy in the same L1 sets, 1.15x slower.)
    const T* dy_in_place;

    int64_t slab_of(int64_t item) const { return item / (l.items / l.slabs); }  // slab-major

    // Accumulator block `item` with the bands of slabs from v0: where its
    // operands start (planes of the bands, whose size depends on the band's
    // rows, and offsets within them), its accumulators and its size.
    // Worked out once per thread and group of slabs, not per band: the
    // divisions cost 5% of ResNeXt s5's gradient, whose blocks each take
    // 49 pixels.
    struct Item {
        int64_t x_plane_index, x_offset;  // x: x_band + x_plane_index * x_plane + x_offset
        int64_t dy_plane_index;           // dy: dy_band + dy_plane_index * dy_plane
        int64_t dy_in_place;              // dy read in place: from the band's first row
        int64_t acc;
        int kb, jb;
    };

    Item describe(int64_t item, int64_t v0) const {
        Item it{};
        const int64_t x_row = l.Wp * l.V, x_pixel = l.V;
        const int64_t j_chunk = item % l.j_chunks;
        int64_t rest = item / l.j_chunks;
        const int64_t k_chunk = rest % l.k_chunks, k0 = k_chunk * l.kb;
        rest /= l.k_chunks;
        it.kb = static_cast<int>(std::min(l.kb, g.Kg - k0));
        if (l.group_lanes) {
            const int64_t r = rest % g.R, c = rest / g.R % g.Cg, v = rest / g.R / g.Cg;
            const int64_t s0 = j_chunk * l.jb, Gp = l.slabs * l.V;
            it.jb = static_cast<int>(std::min(l.jb, g.S - s0));
            it.x_plane_index = (v - v0) * x_planes + c;
            it.x_offset = r * g.dh * x_row + s0 * g.dw * x_pixel;
            it.dy_plane_index = (v - v0) * dy_planes + k0;
            it.dy_in_place = v * l.V;
            it.acc = (((k0 * g.Cg + c) * g.R + r) * g.S + s0) * Gp + v * l.V;
            return it;
        }
        // Members j: neighbouring taps of kernel row r (j_taps), or vectors
        // of channels at tap (r, s).
        int64_t r, s, gi, cv = 0;  // cv: first vector of channels
        if (l.j_taps) {
            r = rest % g.R, gi = rest / g.R, s = j_chunk * l.jb;
            it.jb = static_cast<int>(std::min(l.jb, g.S - s));
        } else {
            s = rest % g.S, r = rest / g.S % g.R, gi = rest / g.S / g.R, cv = j_chunk * l.jb;
            it.jb = static_cast<int>(std::min(l.jb, l.Cgp / l.V - cv));
        }
        it.x_plane_index = (gi - v0) * x_planes + cv;
        it.x_offset = r * g.dh * x_row + s * g.dw * x_pixel;
        it.dy_plane_index = (gi - v0) * dy_planes + k_chunk;
        it.dy_in_place = (gi * g.Kg + k0) * g.OH * g.OW;
        it.acc = (((gi * g.R + r) * g.S + s) * g.Kg + k0) * l.Cgp + cv * l.V;
        return it;
    }

    // Accumulator block `it` over `rows` output rows from row oh0 of images
    // n .. n + images - 1, whose operands the bands hold (or dy, in place),
    // image after image, each a band of `slabs` slabs. The first band of
    // each block (fresh) starts its sums from zero.
    void pass(const Item& it, const T* x_band, const T* dy_band, int64_t rows, int64_t n,
              int64_t oh0, int64_t images, int64_t slabs, bool fresh) const {
        const int64_t x_rows = (rows - 1) * g.sh + (g.R - 1) * g.dh + 1;
        const int64_t x_plane = x_rows * l.Wp * l.V, dy_plane = rows * g.OW * dy_q;
        WgradBlock<T> b;
        b.images = images;
        b.x_image = slabs * x_planes * x_plane;
        b.dy_image = dy_in_place ? g.K * g.OH * g.OW : slabs * dy_planes * dy_plane;
        b.sh = g.sh;
        b.sw = g.sw;
        b.oh0 = 0;
        b.oh1 = rows;
        b.OW = g.OW;
        b.x_pixel = l.V;
        b.x_row = l.Wp * l.V;
        b.dy_pixel = dy_q;
        b.kb = it.kb;
        b.jb = it.jb;
        b.fresh = fresh;
        b.x = x_band + it.x_plane_index * x_plane + it.x_offset;
        b.dy = dy_band + it.dy_plane_index * dy_plane;
        b.acc = acc + it.acc;
        if (l.group_lanes) {
            b.x_step = g.dw * b.x_pixel;
            b.dy_k = dy_plane;
            if (dy_in_place) {
                b.dy = dy_in_place + (n * g.OH + oh0) * g.OW * g.K + it.dy_in_place;
                b.dy_pixel = g.K;
            }
            b.acc_k = g.Cg * g.R * g.S * l.slabs * l.V;
            b.acc_j = l.slabs * l.V;
            f.wgrad_group_lanes(b);
        } else {
            b.x_step = l.j_taps ? g.dw * b.x_pixel : x_plane;
            b.dy_k = 1;
            if (dy_in_place) {
                b.dy = dy_in_place + n * g.K * g.OH * g.OW + oh0 * g.OW + it.dy_in_place;
                b.dy_pixel = 1;
                b.dy_k = g.OH * g.OW;
            }
            b.acc_k = l.Cgp;
            b.acc_j = l.j_taps ? g.Kg * l.Cgp : l.V;
            f.wgrad_channel_lanes(b);
        }
    }
};

// Depthwise (multiplier 1) NHWC whose taps fit the in-place kernel's
// registers (up to 4 x 7, 12 taps): read in place, not copied into bands.
bool depthwise_nhwc_in_place(const ConvGeometry& g, int64_t lanes) {
    return g.Cg == 1 && g.Kg == 1 && g.layout == GCONV_LAYOUT_NHWC && g.C % lanes == 0 &&
           g.R <= kWgradDwMaxR && g.S <= kWgradDwMaxS && g.R * g.S <= kWgradDwMaxTaps;
}

// Past this many bytes per pixel each pixel's vector is a new line the
// hardware prefetchers do not predict: the loads waited on them (N=16, 960
// channels at 7x7 ran at 0.65x the bands' speed, 384 at 14x14 0.9x) until
// the driver requested the next band's lines a band ahead (then 1.4x and
// 1.6x). Below it the requests only cost (96 channels at 112x112, stride
// 2: 10% slower).
constexpr int64_t kFetchBandPixelBytes = 1024;

// The lines of the next band (image n, output rows from oh0) of channels
// [c0, c0 + count): its input rows' pixels, then its dy pixels, each
// pixel's channels contiguous, requested a slice at a time (none past the
// batch or for count 0).
template <typename T>
struct NextBandFetch {
    const ConvGeometry& g;
    const T *x, *dy;
    int64_t n, oh0, ih0, x_pixels, pixels, bytes;

    NextBandFetch(const ConvGeometry& geometry, const T* x_, const T* dy_, int64_t batch,
                  int64_t next_n, int64_t next_oh0, int64_t band, int64_t c0, int64_t count)
        : g(geometry), x(x_ + c0), dy(dy_ + c0), n(next_n), oh0(next_oh0) {
        const int64_t rows = std::min(band, g.OH - oh0);
        ih0 = std::max<int64_t>(oh0 * g.sh - g.pt, 0);
        const int64_t ih1 =
            std::min<int64_t>((oh0 + rows - 1) * g.sh - g.pt + (g.R - 1) * g.dh + 1, g.H);
        const bool any = n < batch && count > 0;
        x_pixels = any ? std::max<int64_t>(ih1 - ih0, 0) * g.W : 0;
        pixels = any ? x_pixels + rows * g.OW : 0;
        bytes = count * static_cast<int64_t>(sizeof(T));
    }
    // Slice `i` of `slices`.
    void slice(int64_t i, int64_t slices) const {
        for (int64_t p = pixels * i / slices; p < pixels * (i + 1) / slices; ++p) {
            const T* at = p < x_pixels ? x + ((n * g.H + ih0) * g.W + p) * g.C
                                       : dy + ((n * g.OH + oh0) * g.OW + p - x_pixels) * g.K;
            prefetch_range(at, bytes);
        }
    }
};

// The depthwise NHWC weight gradient's items are images from this batch
// and output map size on (Zen 4, N=16: 56x56 and 112x112 maps 1.3-2.4x);
// below either, runs of channel vectors (14x14 and 7x7 maps, whose data
// stays in L3, ran 1.1-1.4x faster that way; 28x28 about the same).
constexpr int64_t kImageItemsBatch = 4;
constexpr int64_t kImageItemsPixels = 1024;

// Depthwise (multiplier 1) NHWC with whole vectors of channels: a pixel's
// channel vectors are already side by side in x and dy, so the kernel reads
// both in place, all of a vector's taps in one pass, and no band is copied
// (N=16, 2 threads: 32 channels at 112x112 1.4x, 96 at 112x112 stride 2
// 1.7x, 960 at 7x7 1.4x, 384 at 14x14 1.6x the bands' speed). Each thread
// takes a contiguous run of channel vectors, a few at a time whose band of
// rows stays in L2 while they pass over it, or (large maps, batches of a
// few images) takes whole images. Every accumulator belongs to one vector,
// summed over images, then rows, then columns in order (or per image, the
// images then added in order): the same bits at any thread count.
template <typename T>
void weight_grad_depthwise_nhwc(const ConvGeometry& g, const KernelFamily<T>& f, int64_t batch,
                                const T* x, const T* dy, T* dw, int threads) {
    const int64_t V = f.vector_lanes, vectors = g.C / V, RS = g.R * g.S;
    AlignedBuffer accumulators;
    if (!accumulators.allocate(bytes_of<T>({vectors, RS, V}))) throw std::bad_alloc();
    T* acc = accumulators.as<T>();
    std::memset(acc, 0, sizeof(T) * vectors * RS * V);

    const int64_t band = std::min<int64_t>(g.OH, kBandRows);
    const int64_t band_bytes =
        sizeof(T) * V * (band * g.OW + ((band - 1) * g.sh + (g.R - 1) * g.dh + 1) * g.W);
    const int64_t group = std::clamp<int64_t>(kBandBytes / std::max<int64_t>(band_bytes, 1), 1,
                                              vectors);
    const int workers = static_cast<int>(std::min<int64_t>(threads, vectors));
    const int64_t line = std::max<int64_t>(64 / sizeof(T), 1);  // values per cache line
    const bool fetch = g.C * static_cast<int64_t>(sizeof(T)) > kFetchBandPixelBytes;
    WgradDwNhwc<T> shape{};  // what every call shares
    shape.C = g.C;
    shape.H = g.H;
    shape.W = g.W;
    shape.OW = g.OW;
    shape.sh = g.sh;
    shape.sw = g.sw;
    shape.dh = g.dh;
    shape.dw = g.dw;
    shape.pt = g.pt;
    shape.pl = g.pl;
    shape.R = static_cast<int>(g.R);
    shape.S = static_cast<int>(g.S);
    // The sliding window (Zen 4, N=16, 3x3 at stride 1): 1.05-1.17x on rows
    // of 7 to 28 pixels, 1.03-1.06x at 112x112 over 32 channels, but
    // 0.95-0.98x at 56x56 over 144 and 192 channels, where every load waits
    // on memory.
    shape.slide = g.OW <= 32 || g.C * static_cast<int64_t>(sizeof(T)) <= 256;
    // Vector v's accumulators `sums` gain image n's output rows [oh0, oh1).
    const auto pass = [&](int64_t n, int64_t v, int64_t oh0, int64_t oh1, T* sums) {
        WgradDwNhwc<T> b = shape;
        b.x = x + n * g.H * g.W * g.C + v * V;
        b.dy = dy + n * g.OH * g.OW * g.K + v * V;
        b.acc = sums;
        b.ahead = line - (v * V) % line;
        b.oh0 = oh0;
        b.oh1 = oh1;
        f.wgrad_dw_nhwc(b);
    };
    if (batch >= kImageItemsBatch && g.OH * g.OW >= kImageItemsPixels) {
        // Items are images: all of an image's channel vectors pass over a
        // band of its rows, which is contiguous memory, requested a band
        // ahead (split by channel vectors, each thread read a vector's line
        // of every pixel, C values apart: 144 channels at 56x56, N=16, read
        // memory at 13 GB/s). Each image sums into its own accumulators,
        // added in image order at the end: the same bits at any thread
        // count.
        const int64_t per_image = vectors * RS * V;
        AlignedBuffer partials;
        if (!partials.allocate(bytes_of<T>({batch, per_image}))) throw std::bad_alloc();
        const int64_t row_bytes = static_cast<int64_t>(sizeof(T)) * g.C * (g.OW + g.sh * g.W);
        const int64_t rows = std::clamp<int64_t>(kBandBytes / std::max<int64_t>(row_bytes, 1), 1,
                                                 std::min<int64_t>(g.OH, kBandRows));
        parallel_for(batch, threads, [&](int64_t n, int) {
            T* part = partials.as<T>() + n * per_image;
            std::memset(part, 0, sizeof(T) * static_cast<size_t>(per_image));
            for (int64_t oh0 = 0; oh0 < g.OH; oh0 += rows) {
                const bool next_row = oh0 + rows < g.OH;
                const NextBandFetch<T> next(g, x, dy, batch, next_row ? n : n + 1,
                                            next_row ? oh0 + rows : 0, rows, 0, g.C);
                for (int64_t v = 0; v < vectors; ++v) {
                    next.slice(v, vectors);
                    pass(n, v, oh0, std::min(g.OH, oh0 + rows), part + v * RS * V);
                }
            }
        });
        const T* part = partials.as<T>();
        parallel_for(vectors, threads, [&](int64_t v, int) {
            T* a = acc + v * RS * V;
            for (int64_t n = 0; n < batch; ++n) {
                const T* p = part + n * per_image + v * RS * V;
                for (int64_t i = 0; i < RS * V; ++i) a[i] += p[i];
            }
        });
    } else {
        parallel_for(workers, workers, [&](int64_t t, int) {
            const int64_t first = vectors * t / workers, last = vectors * (t + 1) / workers;
            for (int64_t v0 = first; v0 < last; v0 += group)
                for (int64_t n = 0; n < batch; ++n)
                    for (int64_t oh0 = 0; oh0 < g.OH; oh0 += band) {
                        const int64_t v1 = std::min(last, v0 + group);
                        const bool next_row = oh0 + band < g.OH;
                        const NextBandFetch<T> next(g, x, dy, batch, next_row ? n : n + 1,
                                                    next_row ? oh0 + band : 0, band, v0 * V,
                                                    fetch ? (v1 - v0) * V : 0);
                        for (int64_t v = v0; v < v1; ++v) {
                            next.slice(v - v0, v1 - v0);
                            pass(n, v, oh0, std::min(g.OH, oh0 + band), acc + v * RS * V);
                        }
                    }
        });
    }
    // [vector][tap][lane] -> PyTorch's (C, 1, R, S).
    for (int64_t c = 0; c < g.C; ++c)
        for (int64_t t = 0; t < RS; ++t) dw[c * RS + t] = acc[(c / V * RS + t) * V + c % V];
}

// Depthwise (any multiplier) NCHW, where the family reads x and dy in place
// (AVX-512): 3x3 with output rows up to 8 vectors at stride 1 or 2, 5x5 of
// one at stride 1. Zen 4, against the bands (N=16, N=1): 3x3 at 14x14 2.1x,
// 2.3x; at 7x7 1.7x, 1.35x; at 56x56 1.35x, 2.1x; at 112x112 1.06x, 1.9x;
// 5x5 at 14x14 1.65x, 1.3x. Stride 2 (3x3): from 28x28 2.2x, 2.2x; from
// 56x56 1.2x, 1.6x; from 112x112 0.88x, 1.2-1.5x, so planes that large take
// it only while x stays within 8 MiB (four such images: 1.07x).
template <typename T>
bool depthwise_nchw_rows(const ConvGeometry& g, const KernelFamily<T>& f, int64_t batch) {
    const bool unit = g.sh == 1 && g.sw == 1;
    const int64_t plane_bytes = g.H * g.W * static_cast<int64_t>(sizeof(T));
    const bool stride_2 = g.sh == 2 && g.sw == 2 &&
                          (plane_bytes <= (32 << 10) || batch * g.C * plane_bytes <= (8 << 20));
    return f.wgrad_dw_nchw_rows != nullptr && g.Cg == 1 && g.layout == GCONV_LAYOUT_NCHW &&
           g.dh == 1 && g.dw == 1 && g.R == g.S &&
           ((g.R == 3 && (unit || stride_2) && g.OW <= kWgradDwRowsMostVectors * f.vector_lanes &&
             g.W <= g.sw * kWgradDwRowsMostVectors * 16) ||
            (g.R == 5 && unit && g.OW <= f.vector_lanes && g.W <= f.vector_lanes));
}

// Each thread a contiguous run of output channels, every channel's gradient
// one thread's.
template <typename T>
void weight_grad_depthwise_nchw_rows(const ConvGeometry& g, const KernelFamily<T>& f,
                                     int64_t batch, const T* x, const T* dy, T* dw, int threads) {
    const int workers = static_cast<int>(std::min<int64_t>(threads, g.K));
    AlignedBuffer scratch;
    if (!scratch.allocate(static_cast<size_t>(workers * kWgradDwRowsScratchBytes), false))
        throw std::bad_alloc();
    parallel_for(workers, workers, [&](int64_t t, int) {
        f.wgrad_dw_nchw_rows(g, batch, x, dy, dw, g.K * t / workers, g.K * (t + 1) / workers,
                             scratch.as<char>() + t * kWgradDwRowsScratchBytes);
    });
}

// Depthwise layers (any multiplier) with one output pixel, GDC among them:
// the kernel covers the padded input, so
//   dW(k, 0, r, s) = sum over images n of dy(n, k) * x(n, k / Kg, pixel of tap (r, s))
// (x zero where the tap lies in the padding). The banded route spent its
// time copying a band per image for one pixel's few products
// (MobileFaceNet's GDC at N=16: 0.19-0.26 ms, ten times the data's
// reading time). Here each gradient element is a sum over images in order,
// by one thread: loops simple enough to vectorise, the same bits at any
// thread count.
bool global_depthwise(const ConvGeometry& g) {
    return g.OH == 1 && g.OW == 1 && g.Cg == 1;
}

template <typename T>
void weight_grad_global_depthwise(const ConvGeometry& g, int64_t batch, const T* x, const T* dy,
                                  T* dw, int threads) {
    const int64_t RS = g.R * g.S, HW = g.H * g.W, K = g.K, C = g.C, Kg = g.Kg;
    std::vector<int64_t> pixel(static_cast<size_t>(RS));  // each tap's, or -1 in the padding
    bool contiguous = RS == HW;
    for (int64_t r = 0; r < g.R; ++r)
        for (int64_t s = 0; s < g.S; ++s) {
            const int64_t ih = r * g.dh - g.pt, iw = s * g.dw - g.pl;
            const int64_t t = r * g.S + s;
            pixel[static_cast<size_t>(t)] = ih >= 0 && ih < g.H && iw >= 0 && iw < g.W
                                                ? ih * g.W + iw : -1;
            contiguous = contiguous && pixel[static_cast<size_t>(t)] == t;
        }
    const int64_t* tap = pixel.data();
    // Runs of output channels, about four per thread, in multiples of 16.
    const int64_t run = (split_size(K, 4 * static_cast<int64_t>(threads), 16) + 15) / 16 * 16;
    const int64_t runs = (K + run - 1) / run;
    if (g.layout == GCONV_LAYOUT_NCHW) {
        // Channel by channel: each image adds its plane times one dy value.
        parallel_for(runs, threads, [&](int64_t item, int) {
            const int64_t k1 = std::min(K, (item + 1) * run);
            for (int64_t k = item * run; k < k1; ++k) {
                T* __restrict out = dw + k * RS;
                for (int64_t t = 0; t < RS; ++t) out[t] = T(0);
                for (int64_t n = 0; n < batch; ++n) {
                    const T d = dy[n * K + k];
                    const T* __restrict plane = x + (n * C + k / Kg) * HW;
                    if (contiguous) {
                        for (int64_t t = 0; t < RS; ++t) out[t] += d * plane[t];
                    } else {
                        for (int64_t t = 0; t < RS; ++t)
                            out[t] += d * (tap[t] >= 0 ? plane[tap[t]] : T(0));
                    }
                }
            }
        });
        return;
    }
    // NHWC: a run's channels side by side, tap by tap, into a [tap][channel]
    // scratch per run, then into PyTorch's [channel][tap].
    AlignedBuffer scratch;
    if (!scratch.allocate(bytes_of<T>({runs, RS, run}), false)) throw std::bad_alloc();
    parallel_for(runs, threads, [&](int64_t item, int) {
        const int64_t k0 = item * run, width = std::min(K, k0 + run) - k0;
        T* acc = scratch.as<T>() + item * RS * run;
        for (int64_t i = 0; i < RS * width; ++i) acc[i] = T(0);
        for (int64_t n = 0; n < batch; ++n) {
            const T* __restrict d = dy + n * K + k0;
            for (int64_t t = 0; t < RS; ++t) {
                T* __restrict a = acc + t * width;
                if (tap[t] < 0) {
                    for (int64_t i = 0; i < width; ++i) a[i] += d[i] * T(0);
                    continue;
                }
                const T* __restrict xp = x + (n * HW + tap[t]) * C;
                if (Kg == 1) {
                    for (int64_t i = 0; i < width; ++i) a[i] += d[i] * xp[k0 + i];
                } else {
                    for (int64_t i = 0; i < width; ++i) a[i] += d[i] * xp[(k0 + i) / Kg];
                }
            }
        }
        for (int64_t i = 0; i < width; ++i)
            for (int64_t t = 0; t < RS; ++t) dw[(k0 + i) * RS + t] = acc[t * width + i];
    });
}

// NHWC groups narrower than the family's vectors but filling the narrow
// family's (8 channels per group with AVX-512) go lanes over channels on
// AVX2's kernels: a pixel's channels are copied as runs, where lanes over
// groups transpose them (Zen 4, N=16: ResNeXt s3 1.25x, s3_down 1.42x; in
// NCHW, whose copy transposes either way, 0.95-1.06x, so not there).
template <typename T>
const KernelFamily<T>& wgrad_family(const ConvGeometry& g, const KernelFamily<T>& f) {
    const KernelFamily<T>* narrow = narrow_family_for(f, g.Cg);
    return g.layout == GCONV_LAYOUT_NHWC && g.Cg < f.vector_lanes && narrow ? *narrow : f;
}

template <typename T>
void weight_grad_typed(const ConvGeometry& g, const KernelFamily<T>& family, int64_t batch,
                       const T* x, const T* dy, T* dw, int threads) {
    const KernelFamily<T>& f = wgrad_family(g, family);
    if (global_depthwise(g)) return weight_grad_global_depthwise(g, batch, x, dy, dw, threads);
    if (depthwise_nhwc_in_place(g, f.vector_lanes))
        return weight_grad_depthwise_nhwc(g, f, batch, x, dy, dw, threads);
    if (depthwise_nchw_rows(g, f, batch))
        return weight_grad_depthwise_nchw_rows(g, f, batch, x, dy, dw, threads);
    const WgradLayout l =
        choose_layout(g, f.vector_lanes, f.wgrad_broadcast_k, f.wgrad_broadcast_product);
    const int64_t acc_size =
        l.group_lanes ? g.Kg * g.Cg * g.R * g.S * l.slabs * l.V : g.G * g.R * g.S * g.Kg * l.Cgp;
    // Planes per slab and values per pixel of a plane.
    const int64_t x_planes = l.group_lanes ? g.Cg : l.Cgp / l.V;
    const int64_t dy_planes = l.group_lanes ? g.Kg : l.k_chunks;
    const int64_t dy_q = l.group_lanes ? l.V : l.kb;
    // Blocks of (slabs x output rows) whose operands (the dy rows and the
    // input rows they read) fit in L2 while every accumulator block of those
    // slabs passes over them: up to band_rows rows, then as many slabs as fit.
    const int64_t slab_row_bytes =
        sizeof(T) * (g.OW * dy_planes * dy_q + g.sh * l.Wp * x_planes * l.V);
    const int64_t band = band_rows(g);
    const int64_t images = band_images(g, l, batch, band, slab_row_bytes);
    const int64_t slab_group = std::clamp<int64_t>(
        kBandBytes / std::max<int64_t>(images * band * slab_row_bytes, 1), 1, l.slabs);
    const int64_t x_band_rows = (band - 1) * g.sh + (g.R - 1) * g.dh + 1;
    const int64_t x_band_size = x_band_rows * l.Wp * x_planes * l.V * slab_group * images;
    const int64_t dy_band_size =
        reads_dy_in_place(g, l) ? 0 : band * g.OW * dy_planes * dy_q * slab_group * images;
    const int workers = static_cast<int>(std::min<int64_t>(threads, l.items));
    AlignedBuffer accumulators, bands;
    // Not zeroed: each block's first band starts from zero.
    if (!accumulators.allocate(bytes_of<T>({acc_size}), false) ||
        !bands.allocate(bytes_of<T>({workers, x_band_size + dy_band_size})))
        throw std::bad_alloc();

    const Tensor4 xt{g.C, g.H, g.W, g.layout == GCONV_LAYOUT_NHWC};
    const Tensor4 dyt{g.K, g.OH, g.OW, g.layout == GCONV_LAYOUT_NHWC};
    const PlaneCopy x_copy{l.group_lanes, g.Cg, g.G, x_planes, l.V, g.pt, g.pl, l.Wp};
    const PlaneCopy dy_copy{l.group_lanes, g.Kg, g.G, dy_planes, dy_q, 0, 0, g.OW};
    const bool dy_in_place = reads_dy_in_place(g, l);
    const WgradRun<T> run{g, l, f, accumulators.as<T>(), x_planes, dy_planes, dy_q,
                          dy_in_place ? dy : nullptr};
    // Each thread's block descriptions (WgradRun::describe), at most one
    // share of the blocks: allocated here, not inside the parallel region.
    using Item = typename WgradRun<T>::Item;
    const int64_t share = (l.items + workers - 1) / workers;
    std::vector<Item> descriptions(static_cast<size_t>(workers * share));
    parallel_for(workers, workers, [&](int64_t t, int) {
        Item* items = descriptions.data() + t * share;
        T* x_band = bands.as<T>() + t * (x_band_size + dy_band_size);
        T* dy_band = x_band + x_band_size;
        const int64_t first = l.items * t / workers, last = l.items * (t + 1) / workers;
        const int64_t v_first = run.slab_of(first), v_last = run.slab_of(last - 1) + 1;
        for (int64_t v0 = v_first; v0 < v_last; v0 += slab_group) {
            const int64_t slabs = std::min(slab_group, v_last - v0);
            const int64_t item0 = std::max(first, v0 * (l.items / l.slabs));
            const int64_t item1 = std::min(last, (v0 + slabs) * (l.items / l.slabs));
            for (int64_t item = item0; item < item1; ++item)
                items[item - item0] = run.describe(item, v0);
            for (int64_t n = 0; n < batch; n += images)
                for (int64_t oh0 = 0; oh0 < g.OH; oh0 += band) {
                    const int64_t rows = std::min(band, g.OH - oh0);
                    const int64_t count = std::min(images, batch - n);
                    const int64_t x_rows = (rows - 1) * g.sh + (g.R - 1) * g.dh + 1;
                    const int64_t x_image = slabs * x_planes * x_rows * l.Wp * l.V;
                    const int64_t dy_image = slabs * dy_planes * rows * g.OW * dy_q;
                    for (int64_t m = 0; m < count; ++m) {
                        copy_planes(f, xt, x, x_copy, n + m, v0, slabs, oh0 * g.sh, x_rows,
                                    x_band + m * x_image);
                        if (!dy_in_place)
                            copy_planes(f, dyt, dy, dy_copy, n + m, v0, slabs, oh0, rows,
                                        dy_band + m * dy_image);
                    }
                    const bool fresh = n == 0 && oh0 == 0;
                    for (int64_t i = 0; i < item1 - item0; ++i)
                        run.pass(items[i], x_band, dy_band, rows, n, oh0, count, slabs, fresh);
                }
        }
    });

    // Into PyTorch's order, output channel by output channel (in one
    // thread AlexNet's 2.6 MB of weights took 1.2% of its gradient). Lanes
    // over channels read each tap's channels in a run, where tap by tap
    // within a channel jumped Kg * Cg values per read (ResNeXt s5: 3% of
    // the gradient).
    const T* a = accumulators.as<T>();
    const int64_t RS = g.R * g.S;
    parallel_for(g.K, threads, [&](int64_t out, int) {
        const int64_t gi = out / g.Kg, k = out % g.Kg;
        T* to = dw + out * g.Cg * RS;
        if (l.group_lanes) {
            for (int64_t c = 0; c < g.Cg; ++c)
                for (int64_t t = 0; t < RS; ++t)
                    to[c * RS + t] = a[((k * g.Cg + c) * RS + t) * l.slabs * l.V + gi];
            return;
        }
        for (int64_t t = 0; t < RS; ++t) {
            const T* from = a + ((gi * RS + t) * g.Kg + k) * l.Cgp;
            for (int64_t c = 0; c < g.Cg; ++c) to[c * RS + t] = from[c];
        }
    });
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
