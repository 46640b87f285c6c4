// gconv C++17 wrapper: RAII plans over the C ABI of gconv.h, errors as
// exceptions. Header-only; links against gconv::gconv like any C caller.
//
//   gconv::Conv2dParams p;
//   p.in_channels = 64; p.out_channels = 64; p.groups = 32;
//   p.input = {56, 56}; p.kernel = {3, 3}; p.padding = gconv::Padding::same(1);
//   gconv::Conv2d conv(p, gconv::Span<const float>(weight));   // (K, C/G, R, S)
//   gconv::Shape4 shape = conv.output_shape(1);                // {1, 64, 56, 56}
//   conv.run(gconv::Span<const float>(x), gconv::Span<float>(y), 1);
//
// Every failure throws gconv::Error, which carries the C status and message.
#ifndef GCONV_GCONV_HPP
#define GCONV_GCONV_HPP

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include "gconv/gconv.h"

namespace gconv {

// A failed call: what the C ABI returned and its message for this thread.
class Error : public std::runtime_error {
public:
    Error(gconv_status status, const std::string& message)
        : std::runtime_error(std::string(gconv_status_name(status)) + ": " + message),
          status_(status),
          message_(message) {}
    gconv_status status() const noexcept { return status_; }
    const std::string& message() const noexcept { return message_; }

private:
    gconv_status status_;
    std::string message_;
};

inline void check(gconv_status status) {
    if (status != GCONV_SUCCESS) throw Error(status, gconv_last_error());
}

// A view of contiguous elements (C++20's std::span, cut down for C++17):
// from a pointer and a count, or from any container with data() and size().
template <typename T>
class Span {
public:
    constexpr Span() noexcept = default;
    constexpr Span(T* data, size_t size) noexcept : data_(data), size_(size) {}
    template <typename Container,
              typename = std::enable_if_t<std::is_convertible<
                  decltype(std::declval<Container&>().data()), T*>::value>>
    constexpr Span(Container& c) noexcept : data_(c.data()), size_(c.size()) {}
    template <size_t N>
    constexpr Span(T (&array)[N]) noexcept : data_(array), size_(N) {}
    constexpr T* data() const noexcept { return data_; }
    constexpr size_t size() const noexcept { return size_; }
    constexpr bool empty() const noexcept { return size_ == 0; }
    constexpr T& operator[](size_t i) const { return data_[i]; }

private:
    T* data_ = nullptr;
    size_t size_ = 0;
};

enum class Layout : int32_t { nchw = GCONV_LAYOUT_NCHW, nhwc = GCONV_LAYOUT_NHWC };
enum class DType : int32_t { float32 = GCONV_FLOAT32, float64 = GCONV_FLOAT64 };
enum class Activation : int32_t {
    none = GCONV_ACTIVATION_NONE,
    relu = GCONV_ACTIVATION_RELU,
    relu6 = GCONV_ACTIVATION_RELU6
};
enum class Algorithm : int {
    automatic = GCONV_ALGO_AUTO,
    gemm_1x1 = GCONV_ALGO_GEMM_1X1,
    im2col_gemm = GCONV_ALGO_IM2COL_GEMM,
    grouped_direct = GCONV_ALGO_GROUPED_DIRECT,
    depthwise = GCONV_ALGO_DEPTHWISE,
    global_depthwise = GCONV_ALGO_GLOBAL_DEPTHWISE
};

struct Size2 {
    int64_t h = 1, w = 1;
};

struct Padding {
    int64_t top = 0, bottom = 0, left = 0, right = 0;
    static Padding same(int64_t p) { return {p, p, p, p}; }
    static Padding symmetric(int64_t ph, int64_t pw) { return {ph, ph, pw, pw}; }
};

// A 4-D shape by meaning (n, c, h, w), whatever the memory layout.
struct Shape4 {
    int64_t n = 0, c = 0, h = 0, w = 0;
    int64_t elements() const { return n * c * h * w; }
    bool operator==(const Shape4& o) const { return n == o.n && c == o.c && h == o.h && w == o.w; }
    bool operator!=(const Shape4& o) const { return !(*this == o); }
};

// One convolution; weights are in PyTorch's layout (K, C/G, R, S).
struct Conv2dParams {
    int64_t in_channels = 1, out_channels = 1, groups = 1;
    Size2 input{1, 1};
    Size2 kernel{1, 1};
    Size2 stride{1, 1};
    Padding padding{};
    Size2 dilation{1, 1};
    Layout layout = Layout::nchw;
    DType dtype = DType::float32;
    Activation activation = Activation::none;
    bool has_bias = false;

    gconv_conv2d_desc desc(int64_t batch = 1) const {
        gconv_conv2d_desc d;
        gconv_conv2d_desc_init(&d);
        d.batch = batch;
        d.in_channels = in_channels;
        d.out_channels = out_channels;
        d.groups = groups;
        d.in_h = input.h;
        d.in_w = input.w;
        d.kernel_h = kernel.h;
        d.kernel_w = kernel.w;
        d.stride_h = stride.h;
        d.stride_w = stride.w;
        d.pad_top = padding.top;
        d.pad_bottom = padding.bottom;
        d.pad_left = padding.left;
        d.pad_right = padding.right;
        d.dilation_h = dilation.h;
        d.dilation_w = dilation.w;
        d.layout = static_cast<int32_t>(layout);
        d.dtype = static_cast<int32_t>(dtype);
        d.activation = static_cast<int32_t>(activation);
        d.has_bias = has_bias ? 1 : 0;
        return d;
    }
    // Elements of the weight, K * C/G * R * S (0 when groups does not divide C).
    int64_t weight_elements() const {
        if (groups < 1 || in_channels % groups != 0) return 0;
        return out_channels * (in_channels / groups) * kernel.h * kernel.w;
    }
    Shape4 input_shape(int64_t batch) const { return {batch, in_channels, input.h, input.w}; }
};

// Output height and width of p (validates p).
inline Size2 output_size(const Conv2dParams& p) {
    const gconv_conv2d_desc d = p.desc();
    Size2 s;
    check(gconv_conv2d_output_size(&d, &s.h, &s.w));
    return s;
}

template <typename T>
constexpr DType dtype_of() {
    static_assert(std::is_same<T, float>::value || std::is_same<T, double>::value,
                  "gconv computes in float or double");
    return std::is_same<T, float>::value ? DType::float32 : DType::float64;
}

// A plan: validated parameters, chosen algorithm, packed weight copy.
// Move-only; run() is const and may be called from several threads at once.
class Conv2d {
public:
    // weight (and bias when non-null) hold elements of p.dtype; they are
    // copied, so they may be freed afterwards. A non-null bias sets has_bias.
    Conv2d(const Conv2dParams& p, const void* weight, const void* bias = nullptr,
           Algorithm algorithm = Algorithm::automatic)
        : params_(p) {
        params_.has_bias = bias != nullptr;
        const gconv_conv2d_desc d = params_.desc();
        gconv_plan* plan = nullptr;
        check(gconv_plan_create(&d, weight, bias, static_cast<gconv_algorithm>(algorithm), &plan));
        plan_.reset(plan);
    }

    // Typed: checks the element type and the counts (K * C/G * R * S, K).
    template <typename T>
    Conv2d(const Conv2dParams& p, Span<const T> weight, Span<const T> bias = {},
           Algorithm algorithm = Algorithm::automatic)
        : Conv2d(typed(p, dtype_of<T>(), weight.size(), bias.size()), weight.data(),
                 bias.empty() ? nullptr : bias.data(), algorithm) {}

    const Conv2dParams& params() const noexcept { return params_; }
    gconv_plan* get() const noexcept { return plan_.get(); }

    // (n, K, OH, OW) by meaning; dims() gives it in memory order.
    Shape4 output_shape(int64_t batch) const {
        int64_t s[4];
        check(gconv_plan_output_shape(plan_.get(), batch, s));
        if (params_.layout == Layout::nhwc) return {s[0], s[3], s[1], s[2]};
        return {s[0], s[1], s[2], s[3]};
    }

    // Scratch bytes one run on `threads` threads (<= 0: the default) needs.
    size_t workspace_size(int threads = 0) const {
        size_t bytes = 0;
        check(gconv_plan_workspace_size(plan_.get(), threads, &bytes));
        return bytes;
    }

    // y = conv(x) for `batch` C-contiguous images in params().layout.
    void run(int64_t batch, const void* x, void* y, int threads = 0) const {
        check(gconv_plan_execute(plan_.get(), batch, x, y, threads));
    }

    // As run(), in the caller's workspace (workspace_size(threads) bytes): no allocation.
    void run(int64_t batch, const void* x, void* y, void* workspace, size_t workspace_bytes,
             int threads = 0) const {
        check(gconv_plan_execute_with_workspace(plan_.get(), batch, x, y, workspace,
                                                workspace_bytes, threads));
    }

    // Typed: checks the element type and that x and y hold `batch` images.
    template <typename T>
    void run(Span<const T> x, Span<T> y, int64_t batch, int threads = 0) const {
        check_typed<T>(x.size(), y.size(), batch);
        run(batch, x.data(), y.data(), threads);
    }

    Algorithm algorithm() const noexcept {
        return static_cast<Algorithm>(gconv_plan_algorithm(plan_.get()));
    }
    const char* algorithm_name() const noexcept {
        return gconv_algorithm_name(gconv_plan_algorithm(plan_.get()));
    }
    const char* isa_name() const noexcept { return gconv_isa_name(gconv_plan_isa(plan_.get())); }

private:
    struct Destroy {
        void operator()(gconv_plan* p) const noexcept { gconv_plan_destroy(p); }
    };

    static Conv2dParams typed(Conv2dParams p, DType dtype, size_t weight_count,
                              size_t bias_count) {
        if (p.dtype != dtype)
            throw Error(GCONV_INVALID_PARAMETER, "the weight's element type is not params.dtype");
        const int64_t expected = p.weight_elements();
        if (static_cast<int64_t>(weight_count) != expected)
            throw Error(GCONV_INVALID_PARAMETER,
                        "weight has " + std::to_string(weight_count) + " elements, expected " +
                            std::to_string(expected) + " (K * C/G * R * S)");
        if (bias_count != 0 && static_cast<int64_t>(bias_count) != p.out_channels)
            throw Error(GCONV_INVALID_PARAMETER,
                        "bias has " + std::to_string(bias_count) + " elements, expected " +
                            std::to_string(p.out_channels) + " (out_channels)");
        return p;
    }

    template <typename T>
    void check_typed(size_t x_count, size_t y_count, int64_t batch) const {
        if (params_.dtype != dtype_of<T>())
            throw Error(GCONV_INVALID_PARAMETER, "the data's element type is not params.dtype");
        const int64_t x_expected = params_.input_shape(batch).elements();
        const int64_t y_expected = output_shape(batch).elements();
        if (static_cast<int64_t>(x_count) != x_expected)
            throw Error(GCONV_INVALID_PARAMETER, "x has " + std::to_string(x_count) +
                                                     " elements, expected " +
                                                     std::to_string(x_expected));
        if (static_cast<int64_t>(y_count) != y_expected)
            throw Error(GCONV_INVALID_PARAMETER, "y has " + std::to_string(y_count) +
                                                     " elements, expected " +
                                                     std::to_string(y_expected));
    }

    Conv2dParams params_;
    std::unique_ptr<gconv_plan, Destroy> plan_;
};

// Threads used when a call passes threads <= 0.
inline int num_threads() { return gconv_get_num_threads(); }
inline void set_num_threads(int n) { check(gconv_set_num_threads(n)); }

inline std::string version() { return gconv_version(); }
inline std::string build_info() { return gconv_build_info(); }

}  // namespace gconv

#endif  // GCONV_GCONV_HPP
