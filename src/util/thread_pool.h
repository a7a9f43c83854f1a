// A fixed-size pool of worker threads with a static split: run(n, fn) calls fn(i) for
// i in [0, n) with task i always on thread i % n_threads, so results never depend on
// scheduling. The calling thread takes part as thread 0. Not reentrant.
//
// Hand-off: idle workers and the waiting caller spin (with pause) for a short while before
// they sleep on a condition variable, so back-to-back jobs (decoding runs ~150 per token)
// cost no futex wake-ups. ROPEBENCH_SPIN_US sets the spin (default 100 µs, 0 = always sleep).
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace rb {

class ThreadPool {
public:
    /// n_threads <= 0 means all hardware threads.
    explicit ThreadPool(int n_threads = 0);
    ~ThreadPool();
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    int size() const { return m_n; }

    /// Calls fn(thread_index) once on each of the pool's threads and waits.
    void run_on_all(const std::function<void(int)>& fn);

    /// Calls fn(begin, end) on contiguous ranges of [0, n), one range per thread
    /// (the split depends only on n and the thread count).
    void parallel_for(size_t n, const std::function<void(size_t, size_t)>& fn);

    /// Default pool shared by the process (size set by set_default_threads before first use).
    static ThreadPool& global();
    static void set_default_threads(int n);
    /// Largest thread count any flag or config accepts (0 = all cores).
    static constexpr int k_max_threads = 1024;
    /// "" when 0 <= n <= k_max_threads, else the reason (for the caller's error line).
    static std::string check_thread_count(long long n);
    static int hardware_threads();

private:
    void worker(int idx);

    int m_n = 1;
    std::vector<std::thread> m_threads;
    std::mutex m_mu;
    std::condition_variable m_cv_start, m_cv_done;
    std::atomic<const std::function<void(int)>*> m_job{nullptr};
    std::atomic<size_t> m_generation{0};
    std::atomic<int> m_pending{0};
    std::atomic<bool> m_stop{false};
    int m_sleepers = 0;  // workers blocked on m_cv_start (guarded by m_mu)
    int m_spin_us = 100;
};

}  // namespace rb
