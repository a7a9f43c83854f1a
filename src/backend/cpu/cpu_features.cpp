#include <cpuid.h>

#include <atomic>
#include <cstring>

#include "backend/cpu/kernels.h"

namespace rb::cpu {
namespace {

uint64_t xgetbv0() {
    uint32_t eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return (static_cast<uint64_t>(edx) << 32) | eax;
}

Isa detect() {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return Isa::scalar;
    bool osxsave = c & (1u << 27), fma = c & (1u << 12), avx = c & (1u << 28);
    if (!osxsave || !avx || !fma) return Isa::scalar;
    uint64_t xcr0 = xgetbv0();
    bool ymm_ok = (xcr0 & 0x6) == 0x6, zmm_ok = (xcr0 & 0xe6) == 0xe6;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return Isa::scalar;
    bool avx2 = b & (1u << 5);
    bool avx512f = b & (1u << 16), avx512bw = b & (1u << 30), avx512vl = b & (1u << 31), avx512dq = b & (1u << 17);
    if (!(avx2 && ymm_ok)) return Isa::scalar;
    if (!(avx512f && avx512bw && avx512vl && avx512dq && zmm_ok)) return Isa::avx2;
    unsigned a1 = 0, b1, c1, d1;
    __get_cpuid_count(7, 1, &a1, &b1, &c1, &d1);
    bool bf16 = a1 & (1u << 5);
    return bf16 ? Isa::avx512bf16 : Isa::avx512;
}

std::atomic<int> g_forced{static_cast<int>(Isa::avx512bf16)};

}  // namespace

Isa detected_isa() {
    static const Isa d = detect();
    return d;
}

Isa active_isa() {
    int f = g_forced.load();
    int d = static_cast<int>(detected_isa());
    return static_cast<Isa>(f < d ? f : d);
}

void force_isa(Isa level) { g_forced.store(static_cast<int>(level)); }

const char* isa_name(Isa i) {
    switch (i) {
        case Isa::scalar: return "scalar";
        case Isa::avx2: return "avx2";
        case Isa::avx512: return "avx512";
        case Isa::avx512bf16: return "avx512bf16";
    }
    return "?";
}

bool parse_isa(const char* name, Isa* out) {
    for (Isa i : {Isa::scalar, Isa::avx2, Isa::avx512, Isa::avx512bf16})
        if (std::strcmp(name, isa_name(i)) == 0) {
            *out = i;
            return true;
        }
    return false;
}

}  // namespace rb::cpu
