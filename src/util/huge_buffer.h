// Large, zeroed, 64-byte aligned allocations backed by transparent huge pages where the
// kernel offers them (madvise mode): 512x fewer page faults when filling gigabytes of packed
// weights (expensive under virtualisation) and fewer TLB misses when streaming them.
#pragma once
#include <cstddef>
#include <cstdint>

namespace rb {

class HugeBuffer {
public:
    HugeBuffer() = default;
    /// `bytes` zeroed bytes. Throws std::bad_alloc.
    explicit HugeBuffer(size_t bytes);
    ~HugeBuffer();
    HugeBuffer(HugeBuffer&& o) noexcept;
    HugeBuffer& operator=(HugeBuffer&& o) noexcept;
    HugeBuffer(const HugeBuffer&) = delete;
    HugeBuffer& operator=(const HugeBuffer&) = delete;

    uint8_t* data() { return m_data; }
    const uint8_t* data() const { return m_data; }
    size_t size() const { return m_size; }

private:
    void release();
    uint8_t* m_data = nullptr;
    size_t m_size = 0;
    size_t m_mapped = 0;  // > 0: m_data is an mmap of this many bytes; 0: aligned_alloc
};

}  // namespace rb
