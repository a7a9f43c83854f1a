#include "util/huge_buffer.h"

#include <sys/mman.h>

#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>

namespace rb {
namespace {
constexpr size_t k_huge = size_t(2) << 20;
}

HugeBuffer::HugeBuffer(size_t bytes) : m_size(bytes) {
    if (bytes >= k_huge) {
        // Map 2 MiB more than needed, then trim to a 2 MiB-aligned range so that the kernel can
        // back it with whole huge pages. Anonymous mappings are zeroed.
        const size_t len = (bytes + k_huge - 1) / k_huge * k_huge;
        void* p = mmap(nullptr, len + k_huge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) throw std::bad_alloc();
        auto base = reinterpret_cast<uintptr_t>(p);
        uintptr_t aligned = (base + k_huge - 1) / k_huge * k_huge;
        if (aligned > base) munmap(p, aligned - base);
        if (aligned + len < base + len + k_huge) munmap(reinterpret_cast<void*>(aligned + len), base + len + k_huge - aligned - len);
#ifdef MADV_HUGEPAGE
        madvise(reinterpret_cast<void*>(aligned), len, MADV_HUGEPAGE);  // advisory: ignored where unsupported
#endif
        m_data = reinterpret_cast<uint8_t*>(aligned);
        m_mapped = len;
    } else {
        const size_t len = (bytes + 63) / 64 * 64;
        m_data = static_cast<uint8_t*>(std::aligned_alloc(64, len == 0 ? 64 : len));
        if (!m_data) throw std::bad_alloc();
        std::memset(m_data, 0, len == 0 ? 64 : len);
    }
}

void HugeBuffer::release() {
    if (!m_data) return;
    if (m_mapped)
        munmap(m_data, m_mapped);
    else
        std::free(m_data);
    m_data = nullptr;
    m_size = m_mapped = 0;
}

HugeBuffer::~HugeBuffer() { release(); }

HugeBuffer::HugeBuffer(HugeBuffer&& o) noexcept
    : m_data(std::exchange(o.m_data, nullptr)), m_size(std::exchange(o.m_size, 0)), m_mapped(std::exchange(o.m_mapped, 0)) {}

HugeBuffer& HugeBuffer::operator=(HugeBuffer&& o) noexcept {
    if (this != &o) {
        release();
        m_data = std::exchange(o.m_data, nullptr);
        m_size = std::exchange(o.m_size, 0);
        m_mapped = std::exchange(o.m_mapped, 0);
    }
    return *this;
}

}  // namespace rb
