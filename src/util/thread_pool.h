// A fixed-size pool of worker threads with a static split: run(n, fn) calls fn(i) for
// i in [0, n) with task i always on thread i % n_threads, so results never depend on
// scheduling. The calling thread takes part as thread 0. Not reentrant.
#pragma once
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
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
    static int hardware_threads();

private:
    void worker(int idx);

    int m_n = 1;
    std::vector<std::thread> m_threads;
    std::mutex m_mu;
    std::condition_variable m_cv_start, m_cv_done;
    const std::function<void(int)>* m_job = nullptr;
    size_t m_generation = 0;
    int m_pending = 0;
    bool m_stop = false;
};

}  // namespace rb
