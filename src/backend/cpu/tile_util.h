// The ISA-neutral skeleton of the register-blocked kernels (gemm_*.cpp, attention_*.cpp): the row
// dispatch, the accumulator tile's start and store, the A-panel packing loop. Each is a template
// over a vector type V (a struct of static operations: Ymm in avx2_util.h, Zmm in avx512_util.h),
// instantiated inside the ISA file that includes it.
//
// Everything here sits in an unnamed namespace on purpose: the files that include it are compiled
// with different -m flags, so each must keep its own copy (internal linkage) instead of sharing one
// inline symbol that the linker could take from a file built for a wider instruction set.
#pragma once
#include <immintrin.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <utility>

#include "backend/cpu/kernels.h"

namespace rb::cpu::detail {
namespace {

/// Calls f.template operator()<M>() for the run-time row count m = M in 1 .. MR (one
/// instantiation per count; nothing for other m).
template <int MR, class F>
inline void with_rows(int m, F&& f) {
    [&]<int... I>(std::integer_sequence<int, I...>) {
        (void)((m == I + 1 && (f.template operator()<I + 1>(), true)) || ...);
    }(std::make_integer_sequence<int, MR>{});
}

/// Zeroes an M-row accumulator tile (c0: the first V::width columns, c1: the next V::width).
template <class V, int M>
inline void zero_tile(typename V::Reg* c0, typename V::Reg* c1) {
#pragma GCC unroll 16
    for (int i = 0; i < M; i++) c0[i] = c1[i] = V::zero();
}

/// Fetches the 2·16 floats of each of the M rows of C (row stride ldc) towards L1: the C tile is
/// usually out of cache (y is large and revisited once per k block), so the loads/stores at the
/// end of the micro-kernel do not stall.
template <int M>
inline void prefetch_c_tile(const float* c, int ldc) {
#pragma GCC unroll 16
    for (int i = 0; i < M; i++) {
        _mm_prefetch(reinterpret_cast<const char*>(c + static_cast<size_t>(i) * ldc), _MM_HINT_T0);
        _mm_prefetch(reinterpret_cast<const char*>(c + static_cast<size_t>(i) * ldc + 16), _MM_HINT_T0);
    }
}

/// C[M, nc] (+)= the tile (c0 | c1), nc <= 2·V::width valid columns (masked loads/stores below that).
template <class V, int M>
inline void store_tile(const typename V::Reg* c0, const typename V::Reg* c1, float* c, int ldc, int nc, bool accumulate) {
    constexpr int w = V::width;
    if (nc >= 2 * w) {
#pragma GCC unroll 16
        for (int i = 0; i < M; i++) {
            float* ci = c + static_cast<size_t>(i) * ldc;
            typename V::Reg v0 = c0[i], v1 = c1[i];
            if (accumulate) {
                v0 = V::add(v0, V::loadu(ci));
                v1 = V::add(v1, V::loadu(ci + w));
            }
            V::storeu(ci, v0);
            V::storeu(ci + w, v1);
        }
        return;
    }
    const typename V::Mask m0 = V::mask(nc), m1 = V::mask(nc - w);
#pragma GCC unroll 16
    for (int i = 0; i < M; i++) {
        float* ci = c + static_cast<size_t>(i) * ldc;
        typename V::Reg v0 = c0[i], v1 = c1[i];
        if (accumulate) {
            v0 = V::add(v0, V::maskz_loadu(m0, ci));
            v1 = V::add(v1, V::maskz_loadu(m1, ci + w));
        }
        V::mask_storeu(ci, m0, v0);
        V::mask_storeu(ci + w, m1, v1);
    }
}

/// The micro-kernel for bf16 weights with f32 x (CPUs without a bf16 dot product): C[M, nc] (+)=
/// A · B over kc (even) k, M rows x 2·V::width columns of the panel; each k pair of the panel (rows
/// of 2·k_nr bf16) is widened to f32 exactly (bf16 -> f32 is a 16-bit shift). a: f32 A panel of MR
/// rows. PrefetchC: fetch the C tile first (prefetch_c_tile).
template <class V, int MR, int M, bool PrefetchC>
inline void bf16w_tile(int kc, const float* a, const uint16_t* b, float* c, int ldc, int nc, bool accumulate) {
    typename V::Reg c0[M], c1[M];
    zero_tile<V, M>(c0, c1);
    if constexpr (PrefetchC) prefetch_c_tile<M>(c, ldc);
    for (int p = 0; p < kc; p += 2) {
        const typename V::IReg w0 = V::loadi(b), w1 = V::loadi(b + 2 * V::width);
        const typename V::Reg e0 = V::bf16_even(w0), e1 = V::bf16_even(w1);  // k even
        const typename V::Reg o0 = V::bf16_odd(w0), o1 = V::bf16_odd(w1);    // k odd
#pragma GCC unroll 16
        for (int i = 0; i < M; i++) {
            const typename V::Reg ae = V::set1(a[i]);
            c0[i] = V::fmadd(ae, e0, c0[i]);
            c1[i] = V::fmadd(ae, e1, c1[i]);
        }
#pragma GCC unroll 16
        for (int i = 0; i < M; i++) {
            const typename V::Reg ao = V::set1(a[MR + i]);
            c0[i] = V::fmadd(ao, o0, c0[i]);
            c1[i] = V::fmadd(ao, o1, c1[i]);
        }
        a += 2 * MR;
        b += 2 * k_nr;
    }
    store_tile<V, M>(c0, c1, c, ldc, nc, accumulate);
}

/// Packs up to MR rows of x [rows, k] (row stride ldx) into one A micro-panel of 4-byte words
/// [kp / KPerWord][MR] (word w of row i at dst[w*MR + i]): conv(src, cnt, tmp) turns the next
/// 16·KPerWord elements of a row, of which the first cnt are valid (cnt may be <= 0; the rest
/// read as zero), into 16 words.
template <int MR, int KPerWord, class Word, class Conv>
inline void pack_a_rows(const float* x, int rows, int ldx, int k, int kp, void* dst_v, Conv conv) {
    auto* dst = static_cast<Word*>(dst_v);
    alignas(64) Word tmp[16];
    const int words = kp / KPerWord;
    for (int i = 0; i < rows; i++) {
        const float* xi = x + static_cast<size_t>(i) * ldx;
        for (int w0 = 0; w0 < words; w0 += 16) {
            const int k0 = w0 * KPerWord;
            conv(xi + k0, k - k0, tmp);
            const int lim = std::min(16, words - w0);
            for (int j = 0; j < lim; j++) dst[static_cast<size_t>(w0 + j) * MR + i] = tmp[j];
        }
    }
}

}  // namespace
}  // namespace rb::cpu::detail
