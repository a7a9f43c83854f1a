// Grow-only, 64-byte aligned scratch buffers, reused across calls by the thread that owns
// them (the kernels keep one per thread, `static thread_local`).
#pragma once
#include <cstddef>
#include <cstdlib>
#include <new>

namespace rb::cpu {

template <typename T>
struct AlignedBuf {
    T* p = nullptr;
    size_t n = 0;
    AlignedBuf() = default;
    AlignedBuf(const AlignedBuf&) = delete;
    AlignedBuf& operator=(const AlignedBuf&) = delete;
    ~AlignedBuf() { std::free(p); }
    /// At least `count` elements (contents unspecified). Sizes round up to 1024 elements, so a
    /// buffer that grows a little per call (attention over a growing KV cache) rarely reallocates.
    T* get(size_t count) {
        if (count > n) {
            std::free(p);
            p = nullptr;
            const size_t want = (count + 1023) / 1024 * 1024;
            p = static_cast<T*>(std::aligned_alloc(64, want * sizeof(T)));
            if (!p) {
                n = 0;
                throw std::bad_alloc();
            }
            n = want;
        }
        return p;
    }
};

}  // namespace rb::cpu
