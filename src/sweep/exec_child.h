// Experiments in a child process: an MPI worker runs each experiment in a long-lived child
// (`ropebench sweep-exec`), so that a crash, a SIGKILL or the OOM killer takes down only
// the experiment in flight, never the rank; the worker reports the death and the
// coordinator puts the experiment back in the queue.
//
// Protocol: one JSON object per line. Requests (parent -> child, on fd 3):
// {"id", "spec" (spec_to_json), "threads", "fake_eval_ms"}; answers (child -> parent, on
// fd 4): outcome_to_json. The child's stdout/stderr are the parent's.
#pragma once
#include <sys/types.h>

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "sweep/engine.h"

namespace rb::sweep {

class ExecChild {
public:
    /// `argv`: the child's command line (argv[0] is the executable's path).
    explicit ExecChild(std::vector<std::string> argv);
    ~ExecChild();
    ExecChild(const ExecChild&) = delete;
    ExecChild& operator=(const ExecChild&) = delete;

    /// Sends one request and waits for its answer. Starts the child when none runs. When the
    /// child dies before answering, the outcome has died = true and says how it ended.
    Outcome run(const nlohmann::json& request);
    /// pid of the running child, -1 when none.
    pid_t pid() const { return m_pid; }

private:
    void start();
    std::string reap();  // waits for the child, returns "killed by signal 9 (SIGKILL)" etc.
    std::vector<std::string> m_argv;
    pid_t m_pid = -1;
    int m_to = -1, m_from = -1;
    std::string m_buf;
};

/// The child's side: reads requests from `in_fd` until EOF, answers each with
/// handle(request) on `out_fd`. Returns 0 at EOF.
int serve_exec_requests(int in_fd, int out_fd, const std::function<Outcome(const nlohmann::json&)>& handle);

/// The single-process sweep's pool: one worker, the experiment process `argv` (started on the
/// first experiment, kept with its models loaded), run synchronously. A crash, a SIGKILL or the
/// OOM killer in an experiment then ends that experiment only (the engine requeues it once,
/// then records it failed) and the sweep goes on. `settings` travel with every request
/// ({"threads", "fake_eval_ms"}).
std::unique_ptr<WorkerPool> make_child_pool(std::vector<std::string> argv, nlohmann::json settings);

/// For the experiment process: dies with its parent (PR_SET_PDEATHSIG), so a killed sweep
/// leaves no experiment running on its own.
void die_with_parent();

/// This executable's path (/proc/self/exe).
std::string self_executable();

}  // namespace rb::sweep
