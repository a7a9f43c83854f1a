// Small helpers shared by the AVX-512 kernels. Include only from files compiled with AVX-512 flags.
#pragma once
#include <immintrin.h>

#include <cstddef>
#include <cstdlib>
#include <new>

namespace rb::cpu::detail {

/// Mask of the first `cnt` of 16 lanes: none for cnt <= 0, all for cnt >= 16.
inline __mmask16 count_mask(int cnt) {
    return cnt <= 0 ? __mmask16(0) : cnt >= 16 ? __mmask16(0xffff) : __mmask16((1u << cnt) - 1u);
}

/// Grow-only, 64-byte aligned scratch (the kernels keep one per thread).
template <typename T>
struct AlignedBuf {
    T* p = nullptr;
    size_t n = 0;
    AlignedBuf() = default;
    AlignedBuf(const AlignedBuf&) = delete;
    AlignedBuf& operator=(const AlignedBuf&) = delete;
    ~AlignedBuf() { std::free(p); }
    T* get(size_t count) {
        if (count > n) {
            std::free(p);
            n = (count + 15) / 16 * 16;
            p = static_cast<T*>(std::aligned_alloc(64, n * sizeof(T)));
            if (!p) {
                n = 0;
                throw std::bad_alloc();
            }
        }
        return p;
    }
};

}  // namespace rb::cpu::detail
