// CPython's `random` module, bit for bit, for the protocols that reproduce published
// Python scripts (the `yarn` passkey protocol, src/eval/passkey.h).
//
// CPython (Modules/_randommodule.c, Lib/random.py): MT19937; random.seed(a) for an int a
// seeds with init_by_array over the 32-bit words of |a|, least significant first (one
// word 0 for a = 0); getrandbits(k ≤ 32) = genrand_uint32() >> (32 − k); randint(a, b) =
// a + _randbelow(b − a + 1) with _randbelow(n) = getrandbits(n.bit_length()) redrawn while
// ≥ n. Checked against /usr/bin/python3 (tests/golden/protocols.json).
#pragma once
#include <array>
#include <cstdint>

namespace rb {

class PyRandom {
public:
    /// random.seed(seed) for a non-negative int.
    explicit PyRandom(uint64_t seed);
    /// The next 32-bit output of the generator (genrand_uint32).
    uint32_t next_u32();
    /// random.getrandbits(k), 1 ≤ k ≤ 32.
    uint32_t getrandbits(int k);
    /// random.randint(a, b), a ≤ b, b − a < 2^32.
    int64_t randint(int64_t a, int64_t b);

private:
    std::array<uint32_t, 624> m_mt{};
    int m_i = 624;
};

}  // namespace rb
