// Direct convolution of NCHW output rows, vector lanes over output pixels.
//
// Included inside namespace gconv::<isa> after kernel_common.inl. Interior
// pixels (every tap inside the input) are computed kBlock at a time with the
// accumulators in registers and stored once; border pixels take the checked
// scalar path. KR, KS and SW fix the kernel size and column stride at compile
// time so the tap loops unroll (0 means "read from the geometry").

template <typename T, int KR, int KS, int SW>
static void direct_rows(const ConvGeometry& g, const T* x, const T* w, const T* bias, T* y,
                        int64_t oh_begin, int64_t oh_end, int64_t channels) {
    constexpr int kBlock = 64 / sizeof(T) * 2;  // two cache lines of outputs
    const int64_t R = KR ? KR : g.R, S = KS ? KS : g.S, sw = SW ? SW : g.sw;
    const int64_t H = g.H, W = g.W, OW = g.OW, dh = g.dh, dw = g.dw;
    const int64_t plane = H * W;
    const T b = bias ? *bias : T(0);

    // Columns where every tap s reads inside the row.
    int64_t lo0, hi0, lo1, hi1;
    valid_output_range(W, OW, sw, -g.pl, &lo0, &hi0);
    valid_output_range(W, OW, sw, (S - 1) * dw - g.pl, &lo1, &hi1);
    const int64_t in_lo = max_i64(lo0, lo1), in_hi = max_i64(in_lo, min_i64(hi0, hi1));

    for (int64_t oh = oh_begin; oh < oh_end; ++oh) {
        T* yrow = y + oh * OW;
        const int64_t ih0 = oh * g.sh - g.pt;
        int64_t r_lo, r_hi;  // taps r with 0 <= ih0 + r * dh < H
        valid_output_range(H, R, dh, ih0, &r_lo, &r_hi);

        auto border_pixel = [&](int64_t ow) {
            T acc = T(0);
            const int64_t iw0 = ow * sw - g.pl;
            int64_t s_lo, s_hi;
            valid_output_range(W, S, dw, iw0, &s_lo, &s_hi);
            for (int64_t c = 0; c < channels; ++c)
                for (int64_t r = r_lo; r < r_hi; ++r) {
                    const T* xrow = x + c * plane + (ih0 + r * dh) * W + iw0;
                    const T* wr = w + (c * R + r) * S;
                    for (int64_t s = s_lo; s < s_hi; ++s) acc += wr[s] * xrow[s * dw];
                }
            yrow[ow] = activate(acc + b, g.act);
        };

        for (int64_t ow = 0; ow < in_lo; ++ow) border_pixel(ow);
        int64_t ow = in_lo;
        for (; ow + kBlock <= in_hi; ow += kBlock) {
            T acc[kBlock];
            for (int j = 0; j < kBlock; ++j) acc[j] = T(0);
            for (int64_t c = 0; c < channels; ++c)
                for (int64_t r = r_lo; r < r_hi; ++r) {
                    const T* xrow = x + c * plane + (ih0 + r * dh) * W + ow * sw - g.pl;
                    const T* wr = w + (c * R + r) * S;
                    for (int64_t s = 0; s < S; ++s) {
                        const T ws = wr[s];
                        const T* xs = xrow + s * dw;
#pragma GCC unroll 32
                        for (int j = 0; j < kBlock; ++j) acc[j] += ws * xs[j * sw];
                    }
                }
            for (int j = 0; j < kBlock; ++j) yrow[ow + j] = activate(acc[j] + b, g.act);
        }
        for (; ow < OW; ++ow) border_pixel(ow);
    }
}
