#include "util/thread_pool.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <memory>

namespace rb {

namespace {
int g_default_threads = 0;
}

int ThreadPool::hardware_threads() {
    unsigned h = std::thread::hardware_concurrency();
    return h == 0 ? 1 : static_cast<int>(h);
}

namespace {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

// Spins until pred() or `us` microseconds have passed; true when pred() held.
template <typename Pred>
bool spin_until(Pred pred, int us) {
    if (us <= 0) return pred();
    auto deadline = std::chrono::steady_clock::now() + std::chrono::microseconds(us);
    for (;;) {
        for (int i = 0; i < 64; i++) {
            if (pred()) return true;
            cpu_relax();
        }
        if (std::chrono::steady_clock::now() >= deadline) return pred();
    }
}

}  // namespace

ThreadPool::ThreadPool(int n_threads) {
    m_n = n_threads <= 0 ? hardware_threads() : n_threads;
    if (const char* v = std::getenv("ROPEBENCH_SPIN_US")) m_spin_us = std::max(0, std::atoi(v));
    for (int i = 1; i < m_n; i++) m_threads.emplace_back([this, i] { worker(i); });
}

ThreadPool::~ThreadPool() {
    {
        std::lock_guard<std::mutex> lk(m_mu);
        m_stop.store(true);
    }
    m_cv_start.notify_all();
    for (auto& t : m_threads) t.join();
}

void ThreadPool::worker(int idx) {
    size_t seen = 0;
    for (;;) {
        auto ready = [&] { return m_stop.load(std::memory_order_acquire) || m_generation.load(std::memory_order_acquire) != seen; };
        if (!spin_until(ready, m_spin_us)) {
            std::unique_lock<std::mutex> lk(m_mu);
            ++m_sleepers;
            m_cv_start.wait(lk, ready);
            --m_sleepers;
        }
        if (m_stop.load(std::memory_order_acquire)) return;
        seen = m_generation.load(std::memory_order_acquire);
        const std::function<void(int)>* job = m_job.load(std::memory_order_acquire);
        (*job)(idx);
        if (m_pending.fetch_sub(1, std::memory_order_acq_rel) == 1) {
            std::lock_guard<std::mutex> lk(m_mu);  // pairs with the caller's predicate check
            m_cv_done.notify_one();
        }
    }
}

void ThreadPool::run_on_all(const std::function<void(int)>& fn) {
    if (m_n == 1) {
        fn(0);
        return;
    }
    m_job.store(&fn, std::memory_order_release);
    m_pending.store(m_n - 1, std::memory_order_release);
    int sleepers;
    {
        // Under the mutex: a worker between its predicate check and its wait cannot miss it.
        std::lock_guard<std::mutex> lk(m_mu);
        m_generation.fetch_add(1, std::memory_order_acq_rel);
        sleepers = m_sleepers;
    }
    if (sleepers) m_cv_start.notify_all();
    fn(0);
    auto done = [&] { return m_pending.load(std::memory_order_acquire) == 0; };
    if (!spin_until(done, m_spin_us)) {
        std::unique_lock<std::mutex> lk(m_mu);
        m_cv_done.wait(lk, done);
    }
}

void ThreadPool::parallel_for(size_t n, const std::function<void(size_t, size_t)>& fn) {
    if (n == 0) return;
    int nt = static_cast<int>(std::min<size_t>(static_cast<size_t>(m_n), n));
    if (nt == 1) {
        fn(0, n);
        return;
    }
    run_on_all([&](int t) {
        if (t >= nt) return;
        size_t b = n * static_cast<size_t>(t) / static_cast<size_t>(nt);
        size_t e = n * static_cast<size_t>(t + 1) / static_cast<size_t>(nt);
        if (b < e) fn(b, e);
    });
}

ThreadPool& ThreadPool::global() {
    static std::unique_ptr<ThreadPool> pool = std::make_unique<ThreadPool>(g_default_threads);
    return *pool;
}

void ThreadPool::set_default_threads(int n) { g_default_threads = n; }

std::string ThreadPool::check_thread_count(long long n) {
    if (n >= 0 && n <= k_max_threads) return "";
    return "expected a thread count from 0 (all cores) to " + std::to_string(k_max_threads) + ", got " + std::to_string(n);
}

}  // namespace rb
