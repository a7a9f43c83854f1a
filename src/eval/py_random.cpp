#include "eval/py_random.h"

#include <vector>

#include "util/error.h"

namespace rb {

PyRandom::PyRandom(uint64_t seed) {
    // init_genrand(19650218)
    m_mt[0] = 19650218u;
    for (uint32_t i = 1; i < 624; i++) m_mt[i] = 1812433253u * (m_mt[i - 1] ^ (m_mt[i - 1] >> 30)) + i;
    // init_by_array(key): the 32-bit words of the seed, least significant first.
    std::vector<uint32_t> key;
    for (uint64_t s = seed; s != 0; s >>= 32) key.push_back(static_cast<uint32_t>(s & 0xffffffffu));
    if (key.empty()) key.push_back(0);
    const size_t n = 624, klen = key.size();
    size_t i = 1, j = 0;
    for (size_t k = n > klen ? n : klen; k; k--) {
        m_mt[i] = (m_mt[i] ^ ((m_mt[i - 1] ^ (m_mt[i - 1] >> 30)) * 1664525u)) + key[j] + static_cast<uint32_t>(j);
        i++;
        j++;
        if (i >= n) {
            m_mt[0] = m_mt[n - 1];
            i = 1;
        }
        if (j >= klen) j = 0;
    }
    for (size_t k = n - 1; k; k--) {
        m_mt[i] = (m_mt[i] ^ ((m_mt[i - 1] ^ (m_mt[i - 1] >> 30)) * 1566083941u)) - static_cast<uint32_t>(i);
        i++;
        if (i >= n) {
            m_mt[0] = m_mt[n - 1];
            i = 1;
        }
    }
    m_mt[0] = 0x80000000u;
    m_i = 624;
}

uint32_t PyRandom::next_u32() {
    constexpr uint32_t upper = 0x80000000u, lower = 0x7fffffffu, matrix = 0x9908b0dfu;
    if (m_i >= 624) {
        for (int k = 0; k < 624; k++) {
            const uint32_t y = (m_mt[k] & upper) | (m_mt[(k + 1) % 624] & lower);
            m_mt[k] = m_mt[(k + 397) % 624] ^ (y >> 1) ^ ((y & 1u) ? matrix : 0u);
        }
        m_i = 0;
    }
    uint32_t y = m_mt[m_i++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
}

uint32_t PyRandom::getrandbits(int k) {
    RB_CHECK(k >= 1 && k <= 32);
    return next_u32() >> (32 - k);
}

int64_t PyRandom::randint(int64_t a, int64_t b) {
    RB_CHECK(a <= b && b - a < (int64_t{1} << 32) - 1);
    const uint64_t n = static_cast<uint64_t>(b - a) + 1;
    int k = 0;
    while ((n >> k) != 0) k++;  // n.bit_length()
    uint64_t r = getrandbits(k);
    while (r >= n) r = getrandbits(k);
    return a + static_cast<int64_t>(r);
}

}  // namespace rb
