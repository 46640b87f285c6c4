// The strided transposed grouped convolution written in place: output
// channel c of group g at (i, j) sums w[g][k][c][r][s] * dy[g][k][oi][oj]
// over the group's Kg dy channels k and the taps with
// i + pt - r * dh == oi * sh and j + pl - s * dw == oj * sw.
//
// The phase-split route ran this as sh x sw narrow-group convolutions with
// 1 to 4 taps each (3x3, stride 2) plus an interleave pass: a few
// multiply-adds per loaded value, 15-30 GFLOP/s on ResNeXt's stride-2
// layer. Here each output is summed in a register over all its taps and
// dy channels, with register blocks that reuse every load: NCHW keeps
// vectors of one phase row for a block of the group's output channels
// (each dy vector feeds every channel of the block, each broadcast weight
// two vectors); NHWC keeps a group's channels in lanes for a block of
// pixels of one column phase (each weight vector feeds every pixel).
// NHWC groups of 4 or 8 at 3x3, stride 2 take transposed_grouped_runs.inl.
#include <cstdint>
#include <utility>
#if defined(__SSE2__)
#include <immintrin.h>
#endif

#include "cpu/kernel_table.hpp"

namespace gconv {
namespace GCONV_ISA {

#include "cpu/common/simd.inl"
#include "cpu/transposed/phase_row.inl"

namespace {

// Taps summed per pass: each pass keeps its accumulators in registers and
// stores them once; kernels with more taps per phase take several passes.
constexpr int kGroupedTapsPerPass = 16;

// NCHW register block: kChannelBlock output channels x kRowVectors vectors
// along the phase row (per tap and dy channel 2 vector loads and
// kChannelBlock broadcasts feed 2 * kChannelBlock multiply-adds). AVX-512's
// 32 registers hold 16 accumulators: 8 channels, a whole group of
// ResNeXt's, load each dy vector once for all of them (its stride-2
// gradient, NCHW: 1.06x warm, 1.08x flushed against 4 channels).
constexpr int kChannelBlock = GCONV_ISA_LEVEL == 2 ? 8 : 4;
constexpr int kRowVectors = 2;

// One pass of taps over a phase row: tap t reads the group's padded dy row
// src[t] (Kg rows `plane` apart) at column u + d[t], with weights wt[t]
// ([Kg][Cg]). Outputs for channel c go to out[c * out_stride + u].
template <typename T>
struct PhasePass {
    const T* const* src;
    const T* const* wt;
    const int64_t* d;
    int taps;
    int64_t Kg, Cg, plane;
    T* out;
    int64_t out_stride;
    bool accumulate;  // add to out (a later pass) instead of starting from the bias
};

// Channels [c0, c0 + CB) at phase columns [u, u + UV * N).
template <typename T, int CB, int UV>
void phase_vectors(const PhasePass<T>& p, const T* bias, int64_t c0, int64_t u) {
    using V = Vec<T>;
    V acc[CB][UV];
    for (int cb = 0; cb < CB; ++cb)
        for (int v = 0; v < UV; ++v)
            acc[cb][v] = p.accumulate ? V::load(p.out + (c0 + cb) * p.out_stride + u + v * V::N)
                                      : V::set1(bias ? bias[c0 + cb] : T(0));
    for (int t = 0; t < p.taps; ++t) {
        const T* s = p.src[t] + u + p.d[t];
        const T* wp = p.wt[t] + c0;
        for (int64_t k = 0; k < p.Kg; ++k, s += p.plane, wp += p.Cg) {
            V x[UV];
            for (int v = 0; v < UV; ++v) x[v] = V::load(s + v * V::N);
            for (int cb = 0; cb < CB; ++cb) {
                const V wv = V::set1(wp[cb]);
                for (int v = 0; v < UV; ++v) acc[cb][v] = fmadd(wv, x[v], acc[cb][v]);
            }
        }
    }
    for (int cb = 0; cb < CB; ++cb)
        for (int v = 0; v < UV; ++v)
            acc[cb][v].store(p.out + (c0 + cb) * p.out_stride + u + v * V::N);
}

// Channels [c0, c0 + CB) over phase columns [0, count), count a multiple
// of the vector width: the padded rows make every load valid (zeros past
// dy).
template <typename T, int CB>
void phase_channels(const PhasePass<T>& p, const T* bias, int64_t c0, int64_t count) {
    constexpr int64_t step = kRowVectors * Vec<T>::N;
    int64_t u = 0;
    for (; u + step <= count; u += step) phase_vectors<T, CB, kRowVectors>(p, bias, c0, u);
    for (; u < count; u += Vec<T>::N) phase_vectors<T, CB, 1>(p, bias, c0, u);
}

// phase_channels for a run-time block of 1..kChannelBlock channels.
template <typename T, int... B>
void phase_block(const PhasePass<T>& p, const T* bias, int64_t c0, int64_t count, int block,
                 std::integer_sequence<int, B...>) {
    using Fn = void (*)(const PhasePass<T>&, const T*, int64_t, int64_t);
    static constexpr Fn table[] = {&phase_channels<T, B + 1>...};
    table[block - 1](p, bias, c0, count);
}

template <typename T>
void phase_pass(const PhasePass<T>& p, const T* bias, int64_t count) {
    for (int64_t c0 = 0; c0 < p.Cg; c0 += kChannelBlock) {
        const int block = p.Cg - c0 < kChannelBlock ? static_cast<int>(p.Cg - c0) : kChannelBlock;
        phase_block(p, bias, c0, count, block, std::make_integer_sequence<int, kChannelBlock>());
    }
}

// NCHW: rows [i0, i1) of the group's Cg output planes. The dy rows they
// read are first copied, zero-padded, into `rows`; output row i is then
// computed as sw phase rows per channel in `phases` ([Cg][sw][pad.phase])
// and interleaved.
template <typename T>
void transposed_grouped_nchw_rows(const TransposedGeometry& g, const TransposedTaps& k,
                                  const TransposedPadding& pad, const T* dy, const T* w,
                                  const T* bias, T* y, int64_t i0, int64_t i1, T* rows,
                                  T* phases, bool stream) {
    // dy rows [first, last] are the ones rows [i0, i1) read.
    int64_t kmin = 0, kmax = 0;
    for (int64_t t = k.row_begin[0]; t < k.row_begin[g.sh]; ++t) {
        kmin = k.row_k[t] < kmin ? k.row_k[t] : kmin;
        kmax = k.row_k[t] > kmax ? k.row_k[t] : kmax;
    }
    int64_t first = (i0 + g.pt) / g.sh - kmax, last = (i1 - 1 + g.pt) / g.sh - kmin;
    first = first < 0 ? 0 : first;
    last = last >= g.H ? g.H - 1 : last;
    const int64_t copied = last >= first ? last - first + 1 : 0;
    const int64_t plane = copied * pad.width;
    for (int64_t kk = 0; kk < g.Kg; ++kk)
        for (int64_t r = 0; r < copied; ++r) {
            T* to = rows + kk * plane + r * pad.width;
            const T* from = dy + (kk * g.H + first + r) * g.W;
            for (int64_t c = 0; c < pad.left; ++c) to[c] = T(0);
            for (int64_t c = 0; c < g.W; ++c) to[pad.left + c] = from[c];
            for (int64_t c = pad.left + g.W; c < pad.width; ++c) to[c] = T(0);
        }
    const int64_t tap_weights = g.Kg * g.Cg;
    for (int64_t i = i0; i < i1; ++i) {
        const int64_t q = (i + g.pt) % g.sh, base = (i + g.pt) / g.sh;
        for (int64_t b = 0; b < g.sw; ++b) {
            const T* src[kGroupedTapsPerPass];
            const T* wt[kGroupedTapsPerPass];
            int64_t offset[kGroupedTapsPerPass];
            PhasePass<T> p{src,  wt,    offset,         0,          g.Kg, g.Cg,
                           plane, phases + b * pad.phase, g.sw * pad.phase, false};
            for (int64_t t = k.row_begin[q]; t < k.row_begin[q + 1]; ++t) {
                const int64_t oi = base - k.row_k[t];
                if (oi < 0 || oi >= g.H) continue;
                for (int64_t e = k.col_begin[b]; e < k.col_begin[b + 1]; ++e) {
                    src[p.taps] = rows + (oi - first) * pad.width + pad.left;
                    wt[p.taps] = w + (k.row_r[t] * g.S + k.col_s[e]) * tap_weights;
                    offset[p.taps] = k.col_d[e];
                    if (++p.taps == kGroupedTapsPerPass) {
                        phase_pass(p, bias, pad.phase);
                        p.accumulate = true;
                        p.taps = 0;
                    }
                }
            }
            if (p.taps > 0 || !p.accumulate) phase_pass(p, bias, pad.phase);
        }
        for (int64_t c = 0; c < g.Cg; ++c)
            interleave_phase_row(phases + c * g.sw * pad.phase, pad.phase, g.sw, g.OW,
                                 y + (c * g.OH + i) * g.OW, stream);
    }
#if defined(__SSE2__)
    _mm_sfence();  // streaming stores complete before the caller's barrier
#endif
}

// One pass of taps over a block of pixels of one column phase in NHWC:
// tap t reads dy pixels src[t] + q * K (the group's first dy channel of the
// block's pixel q) with weights wt[t] ([Kg][Cg], at the group's). Output
// pixel q of the block is at out + q * out_step.
template <typename T>
struct PixelPass {
    const T* const* src;
    const T* const* wt;
    int taps;
    int64_t Kg, Cg, K;
    T* out;
    int64_t out_step;
    bool accumulate;
};

// Channels [c0, c0 + CV * N) of the group at Q pixels. Blocks of fewer
// than four accumulators sum every other dy channel into a second set
// (added at the end): one chain of dependent multiply-adds per accumulator
// left a lone edge pixel waiting on the FMA latency (ResNeXt s3_down's
// transposed form, NHWC: the pixels outside whole blocks took a fifth of
// the time).
template <typename T, int CV, int Q>
void pixel_vectors(const PixelPass<T>& p, const T* bias, int64_t c0) {
    using V = Vec<T>;
    constexpr int kSets = Q * CV < 4 ? 2 : 1;
    V acc[kSets][Q][CV];
    for (int q = 0; q < Q; ++q)
        for (int cv = 0; cv < CV; ++cv) {
            acc[0][q][cv] = p.accumulate ? V::load(p.out + q * p.out_step + c0 + cv * V::N)
                            : bias       ? V::load(bias + c0 + cv * V::N)
                                         : V::zero();
            if constexpr (kSets == 2) acc[1][q][cv] = V::zero();
        }
    for (int t = 0; t < p.taps; ++t) {
        const T* s = p.src[t];
        const T* wp = p.wt[t] + c0;
        for (int64_t k = 0; k < p.Kg; ++k, ++s, wp += p.Cg) {
            const int set = kSets == 2 ? static_cast<int>(k & 1) : 0;
            V wv[CV];
            for (int cv = 0; cv < CV; ++cv) wv[cv] = V::load(wp + cv * V::N);
            for (int q = 0; q < Q; ++q) {
                const V x = V::set1(s[q * p.K]);
                for (int cv = 0; cv < CV; ++cv)
                    acc[set][q][cv] = fmadd(wv[cv], x, acc[set][q][cv]);
            }
        }
    }
    for (int q = 0; q < Q; ++q)
        for (int cv = 0; cv < CV; ++cv) {
            V sum = acc[0][q][cv];
            if constexpr (kSets == 2) sum = sum + acc[1][q][cv];
            sum.store(p.out + q * p.out_step + c0 + cv * V::N);
        }
}

// Every channel of the group at Q pixels (Cg a multiple of N): two vectors
// at a time where they pair up, for half the pixels at a time.
template <typename T, int Q>
void pixel_channels(const PixelPass<T>& p, const T* bias) {
    using V = Vec<T>;
    int64_t c0 = 0;
    for (; c0 + 2 * V::N <= p.Cg; c0 += 2 * V::N) {
        if constexpr (Q == 1) {
            pixel_vectors<T, 2, 1>(p, bias, c0);
        } else {
            pixel_vectors<T, 2, Q / 2>(p, bias, c0);
            PixelPass<T> second = p;
            const T* moved[kGroupedTapsPerPass];
            for (int t = 0; t < p.taps; ++t) moved[t] = p.src[t] + Q / 2 * p.K;
            second.src = moved;
            second.out = p.out + Q / 2 * p.out_step;
            pixel_vectors<T, 2, Q - Q / 2>(second, bias, c0);
        }
    }
    if (c0 < p.Cg) pixel_vectors<T, 1, Q>(p, bias, c0);
}

// Pixels per NHWC register block: one accumulator each for a group of one
// vector of channels (each weight vector feeds all of them).
constexpr int kPixelBlock = 8;

// NHWC: output row i of one image, every group.
template <typename T>
void transposed_grouped_nhwc_row(const TransposedGeometry& g, const TransposedTaps& k,
                                 const T* dy, const T* w, const T* bias, T* y, int64_t i) {
    const int64_t K = g.G * g.Kg, tap_weights = g.Kg * g.Cg, group_weights = g.R * g.S * tap_weights;
    const int64_t q = (i + g.pt) % g.sh, base = (i + g.pt) / g.sh;
    // This row's taps, group-independent: dy row, kernel tap, column offset.
    const T* rows[kGroupedTapsPerPass];
    int64_t tap_index[kGroupedTapsPerPass], offset[kGroupedTapsPerPass];
    for (int64_t b = 0; b < g.sw; ++b) {
        const int64_t count = (g.OW - b + g.sw - 1) / g.sw;
        // The (row, column) tap pairs in passes of kGroupedTapsPerPass; the
        // first pass writes, the others add.
        const int64_t columns = k.col_begin[b + 1] - k.col_begin[b];
        const int64_t pairs = (k.row_begin[q + 1] - k.row_begin[q]) * columns;
        int64_t pair = 0;
        bool accumulate = false;
        do {
            int taps = 0;
            for (; pair < pairs && taps < kGroupedTapsPerPass; ++pair) {
                const int64_t t = k.row_begin[q] + pair / columns;
                const int64_t e = k.col_begin[b] + pair % columns;
                const int64_t oi = base - k.row_k[t];
                if (oi < 0 || oi >= g.H) continue;
                rows[taps] = dy + oi * g.W * K;
                tap_index[taps] = k.row_r[t] * g.S + k.col_s[e];
                offset[taps++] = k.col_d[e];
            }
            if (taps == 0 && accumulate) break;
            int64_t lo = 0, hi = count;  // pixels where every tap is inside dy
            for (int x = 0; x < taps; ++x) {
                lo = -offset[x] > lo ? -offset[x] : lo;
                hi = g.W - offset[x] < hi ? g.W - offset[x] : hi;
            }
            if (hi < lo) hi = lo;
            for (int64_t grp = 0; grp < g.G; ++grp) {
                const T* src[kGroupedTapsPerPass];
                const T* wt[kGroupedTapsPerPass];
                const T* gb = bias ? bias + grp * g.Cg : nullptr;
                PixelPass<T> p{src, wt, 0, g.Kg, g.Cg, K, nullptr, g.sw * g.C, accumulate};
                auto point = [&](int64_t u, bool inside) {  // the pass's taps at pixel u
                    p.taps = 0;
                    for (int x = 0; x < taps; ++x) {
                        const int64_t col = u + offset[x];
                        if (!inside && (col < 0 || col >= g.W)) continue;
                        src[p.taps] = rows[x] + col * K + grp * g.Kg;
                        wt[p.taps++] = w + grp * group_weights + tap_index[x] * tap_weights;
                    }
                    p.out = y + ((i * g.OW) + u * g.sw + b) * g.C + grp * g.Cg;
                };
                int64_t u = 0;
                for (; u < lo; ++u) point(u, false), pixel_channels<T, 1>(p, gb);
                for (; u + kPixelBlock <= hi; u += kPixelBlock)
                    point(u, true), pixel_channels<T, kPixelBlock>(p, gb);
                // The interior's last pixels in one block (one at a time,
                // each a short chain: see pixel_vectors).
                if (hi - u >= 2) {
                    point(u, true);
                    switch (hi - u) {
                        case 2: pixel_channels<T, 2>(p, gb); break;
                        case 3: pixel_channels<T, 3>(p, gb); break;
                        case 4: pixel_channels<T, 4>(p, gb); break;
                        case 5: pixel_channels<T, 5>(p, gb); break;
                        case 6: pixel_channels<T, 6>(p, gb); break;
                        default: pixel_channels<T, 7>(p, gb); break;
                    }
                    u = hi;
                }
                for (; u < count; ++u) point(u, u < hi), pixel_channels<T, 1>(p, gb);
            }
            accumulate = true;
        } while (pair < pairs);
    }
}

template <typename T>
void fill(KernelFamily<T>& f) {
    f.transposed_grouped_nchw = transposed_grouped_nchw_rows<T>;
    f.transposed_grouped_nhwc = transposed_grouped_nhwc_row<T>;
}

}  // namespace

void fill_transposed_grouped(KernelTable& table) {
    fill(table.f32);
    fill(table.f64);
}

}  // namespace GCONV_ISA
}  // namespace gconv
