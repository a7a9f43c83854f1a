// Small helpers shared by the AVX-512 kernels. Include only from files compiled with AVX-512 flags.
#pragma once
#include <immintrin.h>

#include "backend/cpu/aligned_buf.h"  // AlignedBuf, used with these helpers
#include "backend/cpu/kernels.h"

namespace rb::cpu::detail {

/// Mask of the first `cnt` of 16 lanes: none for cnt <= 0, all for cnt >= 16.
inline __mmask16 count_mask(int cnt) {
    return cnt <= 0 ? __mmask16(0) : cnt >= 16 ? __mmask16(0xffff) : __mmask16((1u << cnt) - 1u);
}

/// Flash-attention epilogue shared by the f32 and bf16 tile kernels: output row r (query r / G,
/// head r % G of the task) = O[r] / l[r], for the task's `rows` rows (O rows `hdp` apart).
inline void attention_write_out(const AttnTask& t, int rows, const float* o, int hdp, const float* l) {
    const int hd = t.head_dim;
    for (int r = 0; r < rows; r++) {
        const __m512 inv = _mm512_set1_ps(1.f / l[r]);
        const float* orow = o + static_cast<size_t>(r) * hdp;
        float* dst = t.out + static_cast<size_t>(r / t.group) * t.ldo + static_cast<size_t>(r % t.group) * hd;
        for (int c = 0; c < hd; c += 16)
            _mm512_mask_storeu_ps(dst + c, count_mask(hd - c), _mm512_mul_ps(inv, _mm512_load_ps(orow + c)));
    }
}

}  // namespace rb::cpu::detail
