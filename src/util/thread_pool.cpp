#include "util/thread_pool.h"

#include <algorithm>
#include <memory>

namespace rb {

namespace {
int g_default_threads = 0;
}

int ThreadPool::hardware_threads() {
    unsigned h = std::thread::hardware_concurrency();
    return h == 0 ? 1 : static_cast<int>(h);
}

ThreadPool::ThreadPool(int n_threads) {
    m_n = n_threads <= 0 ? hardware_threads() : n_threads;
    for (int i = 1; i < m_n; i++) m_threads.emplace_back([this, i] { worker(i); });
}

ThreadPool::~ThreadPool() {
    {
        std::lock_guard<std::mutex> lk(m_mu);
        m_stop = true;
    }
    m_cv_start.notify_all();
    for (auto& t : m_threads) t.join();
}

void ThreadPool::worker(int idx) {
    size_t seen = 0;
    for (;;) {
        const std::function<void(int)>* job;
        {
            std::unique_lock<std::mutex> lk(m_mu);
            m_cv_start.wait(lk, [&] { return m_stop || m_generation != seen; });
            if (m_stop) return;
            seen = m_generation;
            job = m_job;
        }
        (*job)(idx);
        {
            std::lock_guard<std::mutex> lk(m_mu);
            if (--m_pending == 0) m_cv_done.notify_one();
        }
    }
}

void ThreadPool::run_on_all(const std::function<void(int)>& fn) {
    if (m_n == 1) {
        fn(0);
        return;
    }
    {
        std::lock_guard<std::mutex> lk(m_mu);
        m_job = &fn;
        m_pending = m_n - 1;
        m_generation++;
    }
    m_cv_start.notify_all();
    fn(0);
    std::unique_lock<std::mutex> lk(m_mu);
    m_cv_done.wait(lk, [&] { return m_pending == 0; });
    m_job = nullptr;
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

}  // namespace rb
