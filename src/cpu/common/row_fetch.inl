// Software prefetches of the next output row's lines for the NHWC run
// kernels (depthwise and grouped), whose loads are C values apart: beyond
// L2 the hardware prefetchers did not cover them. Where the data come from
// memory (beyond the last-level cache: FetchAhead::into_l2) the input
// lines go to L2 only: requested into L1, a row ahead, they waited on L1's
// outstanding misses (Zen 4, N=16, NHWC: MobileNetV2's 112x112 stride-2
// layer 1.8x, ResNeXt s3_down 1.6x, s2 1.1x). From L3, into L1 is faster
// (ResNeXt s3, 26 MB: 1.2x). The output lines, about to be written, go to
// L1 (RowFetch, cpu/common/prefetch.hpp). Included by the per-ISA kernel
// sources inside their anonymous namespace, after cpu/common/prefetch.hpp.

// While NHWC row oh computes (and `fetch`: see fetches_ahead), the lines
// row oh + 1 needs next: the input rows it reads and row oh does not, and
// its own output pixels (stores to lines not in cache wait for them to be
// read first), over the columns of [ow_begin, ow_end). Beyond L2 (a batch of images) the run kernel's
// loads, C values apart, were demand misses the hardware prefetchers did
// not cover: at N=16 a 14x14 layer ran 5x slower per image than at N=1.
template <typename T>
struct NextRowFetch {
    RowFetch input, output;
    NextRowFetch(const ConvGeometry& g, const T* x, T* y, int64_t oh, int64_t ow_begin,
                 int64_t ow_end, int64_t steps, FetchAhead fetch, bool stream_output = false)
        : input(fetch_input(g, x, oh, ow_begin, ow_end, steps, fetch)),
          output(y + ow_begin * g.K, g.OW * g.K * static_cast<int64_t>(sizeof(T)),
                 fetch.on && !stream_output
                     ? (ow_end - ow_begin) * g.K * static_cast<int64_t>(sizeof(T))
                     : 0,
                 oh + 1, std::min(oh + 2, g.OH), steps, true),
          stream_output_(stream_output) {}
    // Whether the kernel stores its output vectors non-temporally (see
    // PixelKernelFn): then no output line is requested.
    bool streams() const { return stream_output_; }
    void step() {
        input.step();
        output.step();
    }

  private:
    bool stream_output_;
    static RowFetch fetch_input(const ConvGeometry& g, const T* x, int64_t oh, int64_t ow_begin,
                                int64_t ow_end, int64_t steps, FetchAhead fetch) {
        const int64_t next_top = (oh + 1) * g.sh - g.pt, reach = (g.R - 1) * g.dh;
        const int64_t first = std::max(std::max(oh * g.sh - g.pt + reach + 1, next_top), int64_t(0));
        const int64_t end = oh + 1 < g.OH ? std::min(next_top + reach + 1, g.H) : first;
        const int64_t iw_begin = std::max<int64_t>(ow_begin * g.sw - g.pl, 0);
        const int64_t iw_end = std::min((ow_end - 1) * g.sw - g.pl + (g.S - 1) * g.dw + 1, g.W);
        const int64_t bytes = g.C * static_cast<int64_t>(sizeof(T));
        return RowFetch(x + iw_begin * g.C, g.W * bytes,
                        fetch.on && iw_end > iw_begin ? (iw_end - iw_begin) * bytes : 0, first,
                        end, steps, false, fetch.into_l2);
    }
};
