// GEMM y = x · Wᵀ over weights packed once into 32-column panels (layout in kernels.h,
// detail::k_nr). The driver here packs x into micro-panels of the kernel's mr rows, blocks
// k (kc) and rows (mc) for the caches, and splits the weight panels between the threads in
// fixed contiguous ranges, so every output element is computed by one thread in one fixed
// order: results do not depend on timing or on the thread count.
// ISA-specific micro-kernels live in gemm_avx2.cpp / gemm_avx512.cpp / gemm_avx512bf16.cpp
// (compiled with per-file flags); the scalar level is below.
#include <xmmintrin.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

#include "backend/cpu/aligned_buf.h"
#include "backend/cpu/kernels.h"

namespace rb::cpu {
namespace detail {

void pack_a_f32(const float* x, int rows, int ldx, int k, int kp, void* dst_v, int mr) {
    auto* dst = static_cast<float*>(dst_v);
    for (int i = 0; i < rows; i++) {
        const float* xi = x + static_cast<size_t>(i) * ldx;
        float* d = dst + i;
        for (int kk = 0; kk < k; kk++) d[static_cast<size_t>(kk) * mr] = xi[kk];
        for (int kk = k; kk < kp; kk++) d[static_cast<size_t>(kk) * mr] = 0.f;
    }
}

}  // namespace detail

namespace {

using detail::GemmKernel;
using detail::k_nr;

// ---- scalar level: plain loops over the packed layout (the compiler may use SSE2) ----
constexpr int k_mr_scalar = 4;

void run_scalar_f32(int m, int kc, const void* a_v, const void* b_v, float* c, int ldc, int nc, bool accumulate) {
    const auto* a = static_cast<const float*>(a_v);
    const auto* b = static_cast<const float*>(b_v);
    float acc[k_mr_scalar][k_nr] = {};
    for (int p = 0; p < kc; p++) {
        const float* bp = b + static_cast<size_t>(p) * k_nr;
        for (int i = 0; i < m; i++) {
            float av = a[static_cast<size_t>(p) * k_mr_scalar + i];
            for (int j = 0; j < k_nr; j++) acc[i][j] += av * bp[j];
        }
    }
    for (int i = 0; i < m; i++)
        for (int j = 0; j < nc; j++) c[static_cast<size_t>(i) * ldc + j] = (accumulate ? c[static_cast<size_t>(i) * ldc + j] : 0.f) + acc[i][j];
}

void run_scalar_bf16(int m, int kc, const void* a_v, const void* b_v, float* c, int ldc, int nc, bool accumulate) {
    const auto* a = static_cast<const float*>(a_v);
    const auto* b = static_cast<const uint16_t*>(b_v);
    float acc[k_mr_scalar][k_nr] = {};
    float w0[k_nr], w1[k_nr];
    for (int p = 0; p < kc; p += 2) {
        const uint16_t* bp = b + static_cast<size_t>(p / 2) * 2 * k_nr;
        for (int j = 0; j < k_nr; j++) {
            w0[j] = bf16_to_f32(bp[2 * j]);
            w1[j] = bf16_to_f32(bp[2 * j + 1]);
        }
        for (int i = 0; i < m; i++) {
            float a0 = a[static_cast<size_t>(p) * k_mr_scalar + i], a1 = a[static_cast<size_t>(p + 1) * k_mr_scalar + i];
            for (int j = 0; j < k_nr; j++) acc[i][j] += a0 * w0[j] + a1 * w1[j];
        }
    }
    for (int i = 0; i < m; i++)
        for (int j = 0; j < nc; j++) c[static_cast<size_t>(i) * ldc + j] = (accumulate ? c[static_cast<size_t>(i) * ldc + j] : 0.f) + acc[i][j];
}

void pack_scalar(const float* x, int rows, int ldx, int k, int kp, void* dst) {
    detail::pack_a_f32(x, rows, ldx, k, kp, dst, k_mr_scalar);
}

const GemmKernel k_scalar_f32{"scalar f32 4x32", k_mr_scalar, false, 256, 32, run_scalar_f32, pack_scalar};
const GemmKernel k_scalar_bf16{"scalar bf16->f32 4x32", k_mr_scalar, false, 256, 32, run_scalar_bf16, pack_scalar};

const GemmKernel& select_kernel(backend::WeightType t) {
    Isa isa = active_isa();
    const GemmKernel* k = nullptr;
    if (isa >= Isa::avx512bf16) k = detail::gemm_kernel_avx512bf16(t);
    if (!k && isa >= Isa::avx512) k = detail::gemm_kernel_avx512(t);
    if (!k && isa >= Isa::avx2) k = detail::gemm_kernel_avx2(t);
    if (!k) k = t == backend::WeightType::f32 ? &k_scalar_f32 : &k_scalar_bf16;
    return *k;
}

int env_int(const char* name) {
    const char* v = std::getenv(name);
    return v ? std::atoi(v) : 0;
}

int padded_k(const PackedMatrix& w) { return w.wtype == backend::WeightType::bf16 ? (w.k + 1) / 2 * 2 : w.k; }

size_t panel_bytes(const PackedMatrix& w) {
    return static_cast<size_t>(padded_k(w)) * k_nr * (w.wtype == backend::WeightType::f32 ? 4 : 2);
}


}  // namespace

const char* gemm_kernel_name(backend::WeightType t) { return select_kernel(t).name; }
bool gemm_rounds_x_to_bf16(backend::WeightType t) { return select_kernel(t).a_bf16; }

std::unique_ptr<PackedMatrix> pack_matrix(const float* w, int n, int k, backend::WeightType type, ThreadPool* pool) {
    auto m = std::make_unique<PackedMatrix>();
    m->n = n;
    m->k = k;
    m->wtype = type;
    const int n_panels = (n + k_nr - 1) / k_nr;
    const size_t pbytes = panel_bytes(*m);
    m->storage = HugeBuffer(n_panels * pbytes);  // zeroed: padding rows/columns stay 0
    uint8_t* base = m->storage.data();
    auto pack_panels = [&](size_t p0, size_t p1) {
        for (size_t p = p0; p < p1; p++) {
            const int rows = std::min(k_nr, n - static_cast<int>(p) * k_nr);
            if (type == backend::WeightType::f32) {
                auto* d = reinterpret_cast<float*>(base + p * pbytes);
                for (int c = 0; c < rows; c++) {
                    const float* src = w + (p * k_nr + c) * static_cast<size_t>(k);
                    for (int kk = 0; kk < k; kk++) d[static_cast<size_t>(kk) * k_nr + c] = src[kk];
                }
            } else {
                auto* d = reinterpret_cast<uint16_t*>(base + p * pbytes);
                for (int c = 0; c < rows; c++) {
                    const float* src = w + (p * k_nr + c) * static_cast<size_t>(k);
                    for (int kk = 0; kk < k; kk++)
                        d[static_cast<size_t>(kk / 2) * 2 * k_nr + 2 * c + (kk & 1)] = f32_to_bf16(src[kk]);
                }
            }
        }
    };
    if (pool)
        pool->parallel_for(static_cast<size_t>(n_panels), pack_panels);
    else
        pack_panels(0, static_cast<size_t>(n_panels));
    return m;
}

namespace {

// The rows of one gemm call after packing: its kernel, the packed activations and their
// micro-panels of nearly equal height.
struct GemmCall {
    const GemmKernel& kern;
    const PackedMatrix& w;
    int m, n, kp, mr, n_mp;
    const float* a_buf;
    size_t a_stride;
    float* y;
    int ldy;
    int row0(int ip) const { return static_cast<int>(static_cast<long long>(m) * ip / n_mp); }
};

// Decoding (one row): each thread streams its panel range as two halves side by side.
void gemv_panels(const GemmCall& c, int n_panels, int nt, ThreadPool& pool) {
    const size_t pbytes = panel_bytes(c.w);
    pool.run_on_all([&](int t) {
        if (t >= nt) return;
        const int p0 = static_cast<int>(static_cast<long long>(n_panels) * t / nt);
        const int p1 = static_cast<int>(static_cast<long long>(n_panels) * (t + 1) / nt);
        const int half = (p1 - p0 + 1) / 2;
        for (int i = 0; i < half; i++) {
            const int pa = p0 + i, pb = p0 + half + i;
            const bool two = pb < p1;
            c.kern.gemv2(c.kp, c.a_buf, c.mr, c.w.data() + pa * pbytes, two ? c.w.data() + pb * pbytes : nullptr,
                         c.y + pa * k_nr, two ? c.y + pb * k_nr : nullptr, std::min(k_nr, c.n - pa * k_nr),
                         two ? std::min(k_nr, c.n - pb * k_nr) : 0);
        }
    });
}

// Several rows: per thread a range of weight panels, k in blocks of kc_block, rows in blocks
// of mc micro-panels, each panel's k block reused from cache across those rows.
void blocked_panels(const GemmCall& c, int n_panels, int nt, int kc_block, int mc, ThreadPool& pool) {
    const size_t pbytes = panel_bytes(c.w);
    const size_t elem = c.w.wtype == backend::WeightType::f32 ? 4 : 2;
    pool.run_on_all([&](int t) {
        if (t >= nt) return;
        const int p0 = static_cast<int>(static_cast<long long>(n_panels) * t / nt);
        const int p1 = static_cast<int>(static_cast<long long>(n_panels) * (t + 1) / nt);
        for (int k0 = 0; k0 < c.kp; k0 += kc_block) {
            const int kc = std::min(kc_block, c.kp - k0);
            const size_t a_off = c.kern.a_bf16 ? static_cast<size_t>(k0 / 2) * c.mr : static_cast<size_t>(k0) * c.mr;
            for (int i0 = 0; i0 < c.n_mp; i0 += mc) {
                const int i1 = std::min(c.n_mp, i0 + mc);
                const size_t slice = static_cast<size_t>(kc) * k_nr * elem;  // bytes of one panel's k block
                for (int p = p0; p < p1; p++) {
                    const uint8_t* bp = c.w.data() + p * pbytes + static_cast<size_t>(k0) * k_nr * elem;
                    const int nc = std::min(k_nr, c.n - p * k_nr);
                    // While this panel is reused from cache, pull the next one towards L2, a share per call,
                    // so its first use does not wait on memory.
                    // Not when decoding (one micro-panel): the panels then stream once, in order, which the
                    // hardware prefetcher follows; a burst of prefetches for a whole 128 KiB panel only
                    // competes with the loads of the current one.
                    const uint8_t* next = p + 1 < p1 && c.n_mp > 1 ? bp + pbytes : nullptr;
                    const size_t share = (slice / (i1 - i0) + 63) / 64 * 64;
                    for (int ip = i0; ip < i1; ip++) {
                        if (next)
                            for (size_t off = (ip - i0) * share; off < std::min(slice, (ip - i0 + 1) * share); off += 64)
                                _mm_prefetch(reinterpret_cast<const char*>(next + off), _MM_HINT_T1);
                        const int r0 = c.row0(ip), r1 = c.row0(ip + 1);
                        c.kern.run(r1 - r0, kc, c.a_buf + ip * c.a_stride + a_off, bp,
                                   c.y + static_cast<size_t>(r0) * c.ldy + p * k_nr, c.ldy, nc, k0 > 0);
                    }
                }
            }
        }
    });
}

}  // namespace

void gemm(const float* x, int m, int ldx, const PackedMatrix& w, float* y, int ldy, ThreadPool& pool) {
    const int n = w.n, k = w.k;
    if (m <= 0 || n <= 0) return;
    if (k == 0) {
        for (int i = 0; i < m; i++) std::fill(y + static_cast<size_t>(i) * ldy, y + static_cast<size_t>(i) * ldy + n, 0.f);
        return;
    }
    const GemmKernel& kern = select_kernel(w.wtype);
    const int kp = padded_k(w);
    const int mr = kern.mr;
    // Micro-panels of nearly equal height (differ by at most one row): m = 32 with mr = 14 gives
    // 11+11+10 rows instead of 14+14+4.
    const int n_mp = (m + mr - 1) / mr;
    const size_t a_elems = static_cast<size_t>(kp) * mr;  // 4-byte elements per A micro-panel (f32, or bf16 pairs for kp/2)
    const size_t a_stride = kern.a_bf16 ? a_elems / 2 : a_elems;
    // Packed activations, reused across calls by the calling thread (the model's thread).
    static thread_local AlignedBuf<float> scratch;
    auto* a_buf = scratch.get(a_stride * n_mp);
    const GemmCall c{kern, w, m, n, kp, mr, n_mp, a_buf, a_stride, y, ldy};

    auto pack = [&](size_t b, size_t e) {
        for (size_t ip = b; ip < e; ip++) {
            int r0 = c.row0(static_cast<int>(ip)), r1 = c.row0(static_cast<int>(ip) + 1);
            kern.pack_a(x + static_cast<size_t>(r0) * ldx, r1 - r0, ldx, k, kp, a_buf + ip * a_stride);
        }
    };
    // Few rows (decoding): packing is tiny, skip one wake-up of the pool.
    if (n_mp <= 2)
        pack(0, n_mp);
    else
        pool.parallel_for(static_cast<size_t>(n_mp), pack);

    const int n_panels = (n + k_nr - 1) / k_nr;
    // A single micro-panel of rows (decoding, small m): no reuse of weight panels, so stream each
    // panel over the full k (sequential reads) instead of blocking k.
    // Tuning overrides for benchmarking (results are correct for any value): ROPEBENCH_GEMM_KC
    // (k block, rounded up to even), ROPEBENCH_GEMM_MC (row block in micro-panels).
    static const int env_kc = env_int("ROPEBENCH_GEMM_KC"), env_mc = env_int("ROPEBENCH_GEMM_MC");
    const int kc_block = n_mp == 1 ? kp : (env_kc > 0 ? (env_kc + 1) / 2 * 2 : kern.kc);
    const int mc = std::max(1, env_mc > 0 ? env_mc : kern.mc);
    const int nt = std::min(pool.size(), n_panels);
    if (m == 1 && kern.gemv2)
        gemv_panels(c, n_panels, nt, pool);
    else
        blocked_panels(c, n_panels, nt, kc_block, mc, pool);
}

}  // namespace rb::cpu
