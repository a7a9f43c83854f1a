// Causal GQA attention with an online softmax over key tiles (no L² memory).
// Work items are (KV head, tile of query positions): the G query heads sharing a KV head are
// processed together, so the tile kernels see GEMM-shaped Q·Kᵀ and P·V products. Items are
// split over the threads in contiguous ranges of equal estimated cost (a function of the
// shapes only), and every output row is computed by exactly one item: results do not
// depend on timing or on the thread count.
// The tiled kernels live in attention_avx512.cpp (intrinsics) and attention_avx2.cpp;
// the scalar level uses attention_task_generic below (one query row at a time).
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <new>
#include <vector>

#include "backend/cpu/aligned_buf.h"
#include "backend/cpu/kernels.h"

namespace rb::cpu {
namespace detail {

void attention_task_generic(const AttnTask& t) {
    constexpr int k_tile = 64;
    const int hd = t.head_dim;
    std::vector<float> s(k_tile), acc(hd);
    for (int i = 0; i < t.n_pos; i++) {
        const int last = t.pos_first + i;  // causal: keys first..last
        const int first = attention_first_key(t, last);
        for (int h = 0; h < t.group; h++) {
            const float* qi = t.q + static_cast<size_t>(i) * t.ldq + static_cast<size_t>(h) * hd;
            float mx = -INFINITY, sum = 0;
            std::fill(acc.begin(), acc.end(), 0.f);
            for (int t0 = first; t0 <= last; t0 += k_tile) {
                const int t1 = std::min(last + 1, t0 + k_tile);
                float tile_max = -INFINITY;
                for (int j = t0; j < t1; j++) {
                    const float* kj = t.k + static_cast<size_t>(j) * hd;
                    float d = 0;
                    for (int c = 0; c < hd; c++) d += qi[c] * kj[c];
                    s[j - t0] = d * t.scale;
                    tile_max = std::max(tile_max, s[j - t0]);
                }
                const float new_max = std::max(mx, tile_max);
                const float corr = std::exp(mx - new_max);
                sum *= corr;
                for (int c = 0; c < hd; c++) acc[c] *= corr;
                for (int j = t0; j < t1; j++) {
                    const float p = std::exp(s[j - t0] - new_max);
                    sum += p;
                    const float* vj = t.v + static_cast<size_t>(j) * hd;
                    for (int c = 0; c < hd; c++) acc[c] += p * vj[c];
                }
                mx = new_max;
            }
            float* o = t.out + static_cast<size_t>(i) * t.ldo + static_cast<size_t>(h) * hd;
            const float inv = 1.f / sum;
            for (int c = 0; c < hd; c++) o[c] = acc[c] * inv;
        }
    }
}

}  // namespace detail


bool attention_bf16_available(int head_dim) { return active_isa() >= Isa::avx512bf16 && head_dim % 2 == 0; }

size_t attention_bf16_cache_floats(int cap, int n_kv_heads, int head_dim) {
    return static_cast<size_t>(n_kv_heads) * detail::bf16_cache_head_floats(cap, head_dim);
}

void store_kv_bf16(const float* k, int ldk, const float* v, int ldv, int n, int pos0, float* k_cache, float* v_cache,
                   int cap, int n_kv_heads, int head_dim) {
    detail::store_kv_bf16_avx512bf16(k, ldk, v, ldv, n, pos0, k_cache, v_cache, cap, n_kv_heads, head_dim);
}

namespace {

// Runs `fn` over the work items (KV head g, tile of bq query positions); bind(task, g) sets the
// task's K/V pointers for head g.
template <class Bind>
void run_items(detail::AttnFn fn, int bq, const float* q, int ldq, int n, int pos0, int n_heads, int n_kv_heads,
               int head_dim, float scale, float* out, int ldo, ThreadPool& pool, int window, const Bind& bind) {
    const int group = n_heads / n_kv_heads;
    const int n_tiles = (n + bq - 1) / bq;
    const int n_items = n_kv_heads * n_tiles;
    // Estimated cost of an item ~ positions x keys it reads; prefix sums give the fixed split.
    std::vector<double> prefix(n_items + 1, 0.0);
    for (int it = 0; it < n_items; it++) {
        const int tile = it % n_tiles;
        const int p_lo = tile * bq, p_hi = std::min(n, p_lo + bq);
        const double keys = window > 0 ? std::min(pos0 + p_hi, window + bq) : pos0 + p_hi;
        prefix[it + 1] = prefix[it] + static_cast<double>(p_hi - p_lo) * (keys + 64);
    }
    const int nt = std::min(pool.size(), n_items);
    // Item range of thread t: items whose cost midpoint falls in [t, t+1) * total / nt.
    auto split = [&](int t) {
        if (t <= 0) return 0;
        if (t >= nt) return n_items;
        const double target = prefix[n_items] * t / nt;
        return static_cast<int>(std::lower_bound(prefix.begin(), prefix.end(), target) - prefix.begin());
    };
    pool.run_on_all([&](int t) {
        if (t >= nt) return;
        const int b = split(t), e = split(t + 1);
        for (int it = b; it < e; it++) {
            const int g = it / n_tiles, tile = it % n_tiles;
            const int p_lo = tile * bq, p_hi = std::min(n, p_lo + bq);
            detail::AttnTask task;
            task.q = q + static_cast<size_t>(p_lo) * ldq + static_cast<size_t>(g) * group * head_dim;
            task.ldq = ldq;
            task.n_pos = p_hi - p_lo;
            task.pos_first = pos0 + p_lo;
            task.window = window;
            task.group = group;
            task.k = task.v = task.kt = nullptr;
            bind(task, g);
            task.head_dim = head_dim;
            task.scale = scale;
            task.out = out + static_cast<size_t>(p_lo) * ldo + static_cast<size_t>(g) * group * head_dim;
            task.ldo = ldo;
            fn(task);
        }
    });
}

}  // namespace

void attention_bf16_cache(const float* q, int ldq, int n, int pos0, const float* k_cache, const float* v_cache, int cap,
                          int n_heads, int n_kv_heads, int head_dim, float scale, float* out, int ldo, ThreadPool& pool,
                          int window) {
    if (n <= 0 || n_heads <= 0) return;
    const int group = n_heads / n_kv_heads;
    // Query tile: about 64 rows (positions x heads of the group) per item, a multiple of the
    // kernel's 6-row register block where one is near (G = 8: 9 positions, 72 rows).
    int bq = std::max(1, 64 / std::max(1, group));
    for (int b = bq; b <= 2 * bq; b++)
        if (b * group % 6 == 0) {
            bq = b;
            break;
        }
    const size_t head = detail::bf16_cache_head_floats(cap, head_dim);
    run_items(detail::attention_kernel_avx512bf16(), bq, q, ldq, n, pos0, n_heads, n_kv_heads, head_dim, scale, out,
              ldo, pool, window, [&](detail::AttnTask& t, int g) {
                  t.kt = k_cache + g * head;
                  t.v = v_cache + g * head;
              });
}

void attention(const float* q, int ldq, int n, int pos0, const float* k_cache, const float* v_cache, int cap,
               int n_heads, int n_kv_heads, int head_dim, float scale, float* out, int ldo, ThreadPool& pool, bool bf16,
               int window) {
    if (n <= 0 || n_heads <= 0) return;
    constexpr int bk = detail::k_attn_tile;
    const int n_keys = pos0 + n, n_ktiles = (n_keys + bk - 1) / bk;
    if (bf16 && attention_bf16_available(head_dim)) {
        // f32 caches: store keys 0 .. pos0+n-1 into a bf16 cache for this call (the cpu backend keeps
        // its bf16 models' caches in that layout and calls attention_bf16_cache directly).
        const size_t head = detail::bf16_cache_head_floats(n_keys, head_dim);
        static thread_local AlignedBuf<float> kb, vb;  // reused across calls by the calling thread
        float* kc = kb.get(head * n_kv_heads);
        float* vc = vb.get(head * n_kv_heads);
        pool.parallel_for(static_cast<size_t>(n_kv_heads) * n_ktiles, [&](size_t b, size_t e) {
            for (size_t it = b; it < e; it++) {
                const int g = static_cast<int>(it / n_ktiles), t0 = static_cast<int>(it % n_ktiles) * bk;
                const size_t src = (static_cast<size_t>(g) * cap + t0) * head_dim;
                detail::store_kv_bf16_avx512bf16(k_cache + src, head_dim, v_cache + src, head_dim,
                                                 std::min(bk, n_keys - t0), t0, kc + g * head, vc + g * head, n_keys, 1,
                                                 head_dim);
            }
        });
        attention_bf16_cache(q, ldq, n, pos0, kc, vc, n_keys, n_heads, n_kv_heads, head_dim, scale, out, ldo, pool,
                             window);
        return;
    }
    const int group = n_heads / n_kv_heads;
    const Isa isa = active_isa();
    detail::AttnFn fn = nullptr;
    if (isa >= Isa::avx512) fn = detail::attention_kernel_avx512();
    if (!fn && isa >= Isa::avx2) fn = detail::attention_kernel_avx2();
    if (!fn) fn = detail::attention_task_generic;

    // The tiled kernels read keys transposed ([hd][64] per tile of 64 keys): transpose each KV
    // head's keys 0 .. pos0+n-1 once per call (cost KV*keys*hd, small next to the n*H*keys*hd
    // of the products) instead of once per query tile.
    const bool want_kt = fn != detail::attention_task_generic;
    detail::AttnTransposeFn transpose = isa >= Isa::avx512 ? detail::attention_transpose_avx512() : nullptr;
    const size_t kt_head = static_cast<size_t>(n_ktiles) * head_dim * bk;
    static thread_local AlignedBuf<float> kt_buf;  // reused across calls by the calling thread
    float* ktb = want_kt ? kt_buf.get(kt_head * n_kv_heads) : nullptr;
    if (want_kt) {
        pool.parallel_for(static_cast<size_t>(n_kv_heads) * n_ktiles, [&](size_t b, size_t e) {
            for (size_t it = b; it < e; it++) {
                const int g = static_cast<int>(it / n_ktiles), tile = static_cast<int>(it % n_ktiles);
                const int t0 = tile * bk, nk = std::min(bk, n_keys - t0);
                float* dst = ktb + g * kt_head + static_cast<size_t>(tile) * head_dim * bk;
                const float* src = k_cache + (static_cast<size_t>(g) * cap + t0) * head_dim;
                if (transpose) {
                    transpose(src, nk, head_dim, dst);
                    continue;
                }
                for (int j = 0; j < nk; j++)
                    for (int c = 0; c < head_dim; c++) dst[c * bk + j] = src[static_cast<size_t>(j) * head_dim + c];
                if (nk < bk)
                    for (int c = 0; c < head_dim; c++) std::fill(dst + c * bk + nk, dst + (c + 1) * bk, 0.f);
            }
        });
    }
    // Query tile: about 64 rows (positions x heads of the group) per item.
    const int bq = std::max(1, 64 / std::max(1, group));
    run_items(fn, bq, q, ldq, n, pos0, n_heads, n_kv_heads, head_dim, scale, out, ldo, pool, window,
              [&](detail::AttnTask& t, int g) {
                  t.k = k_cache + static_cast<size_t>(g) * cap * head_dim;
                  t.v = v_cache + static_cast<size_t>(g) * cap * head_dim;
                  t.kt = want_kt ? ktb + g * kt_head : nullptr;
              });
}

}  // namespace rb::cpu
