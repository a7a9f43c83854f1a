// Test inputs rounded to bf16 (round to nearest even, the backends' conversion), so a reference
// computed on them sees exactly what a bf16 kernel multiplies.
#pragma once
#include <vector>

#include "backend/cpu/kernels.h"

namespace rb::test {

inline std::vector<float> round_bf16(std::vector<float> v) {
    for (auto& x : v) x = cpu::bf16_to_f32(cpu::f32_to_bf16(x));
    return v;
}

}  // namespace rb::test
