// Copies of many short runs (a pixel's channels, a group's slice of them).
// Included inside an anonymous namespace (weight_grad.cpp) or a kernel
// family's (the per-ISA kernels), so each translation unit keeps its own
// copy compiled with its own flags.

// `count` runs of m values, src_step apart, to dst_step apart: a
// fixed-size copy for the run lengths the copies use (one or two vector
// moves; the loop over m, not vectorised, took 14% of ResNeXt s5's NHWC
// weight gradient).
template <typename T, int M>
inline void copy_fixed_runs(const T* src, int64_t src_step, int64_t count, T* dst,
                            int64_t dst_step) {
    for (int64_t i = 0; i < count; ++i)
        std::memcpy(dst + i * dst_step, src + i * src_step, M * sizeof(T));
}

template <typename T>
inline void copy_runs(const T* src, int64_t src_step, int64_t count, int64_t m, T* dst,
                      int64_t dst_step) {
    switch (m) {
        case 2: return copy_fixed_runs<T, 2>(src, src_step, count, dst, dst_step);
        case 4: return copy_fixed_runs<T, 4>(src, src_step, count, dst, dst_step);
        case 6: return copy_fixed_runs<T, 6>(src, src_step, count, dst, dst_step);
        case 8: return copy_fixed_runs<T, 8>(src, src_step, count, dst, dst_step);
        case 16: return copy_fixed_runs<T, 16>(src, src_step, count, dst, dst_step);
        case 32: return copy_fixed_runs<T, 32>(src, src_step, count, dst, dst_step);
        default:
            for (int64_t i = 0; i < count; ++i)
                std::memcpy(dst + i * dst_step, src + i * src_step,
                            static_cast<size_t>(m) * sizeof(T));
    }
}
