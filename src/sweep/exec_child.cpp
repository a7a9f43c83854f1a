#include "sweep/exec_child.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <optional>

#include "sweep/spec_json.h"
#include "util/error.h"

extern char** environ;

namespace rb::sweep {
namespace {

bool write_all(int fd, const std::string& s) {
    size_t off = 0;
    while (off < s.size()) {
        ssize_t n = ::write(fd, s.data() + off, s.size() - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        off += static_cast<size_t>(n);
    }
    return true;
}

// Reads up to and excluding the next '\n' into `line`; false at EOF/error before one.
bool read_line(int fd, std::string& buf, std::string& line) {
    for (;;) {
        auto nl = buf.find('\n');
        if (nl != std::string::npos) {
            line = buf.substr(0, nl);
            buf.erase(0, nl + 1);
            return true;
        }
        char tmp[65536];
        ssize_t n = ::read(fd, tmp, sizeof tmp);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        buf.append(tmp, static_cast<size_t>(n));
    }
}

}  // namespace

std::string self_executable() {
    std::error_code ec;
    auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (ec) throw Error("/proc/self/exe: cannot resolve this executable's path: {}", ec.message());
    return p.string();
}

ExecChild::ExecChild(std::vector<std::string> argv) : m_argv(std::move(argv)) {
    // A write to a dead child must fail with EPIPE, not kill this process.
    signal(SIGPIPE, SIG_IGN);
}

ExecChild::~ExecChild() {
    if (m_pid > 0) {
        ::close(m_to);  // EOF: the child exits
        m_to = -1;
        reap();
    }
}

void ExecChild::start() {
    int to[2], from[2];
    if (pipe2(to, O_CLOEXEC) != 0 || pipe2(from, O_CLOEXEC) != 0) throw Error("sweep: pipe: {}", strerror(errno));
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    // dup2 clears FD_CLOEXEC on the copies; the originals close at exec.
    posix_spawn_file_actions_adddup2(&fa, to[0], 3);
    posix_spawn_file_actions_adddup2(&fa, from[1], 4);
    std::vector<char*> argv;
    for (auto& a : m_argv) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = -1;
    int rc = posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    ::close(to[0]);
    ::close(from[1]);
    if (rc != 0) {
        ::close(to[1]);
        ::close(from[0]);
        throw Error("{}: cannot start the experiment process: {}", m_argv[0], strerror(rc));
    }
    m_pid = pid;
    m_to = to[1];
    m_from = from[0];
    m_buf.clear();
}

std::string ExecChild::reap() {
    int st = 0;
    pid_t pid = m_pid;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    if (m_to >= 0) ::close(m_to);
    if (m_from >= 0) ::close(m_from);
    m_to = m_from = -1;
    m_pid = -1;
    if (WIFSIGNALED(st))
        return fmt::format("the experiment process (pid {}) was killed by signal {} ({})", pid, WTERMSIG(st),
                           sigabbrev_np(WTERMSIG(st)) ? std::string("SIG") + sigabbrev_np(WTERMSIG(st)) : "?");
    return fmt::format("the experiment process (pid {}) exited with status {} before answering", pid, WEXITSTATUS(st));
}

Outcome ExecChild::run(const nlohmann::json& request) {
    if (m_pid <= 0) start();
    auto t0 = std::chrono::steady_clock::now();
    std::string line;
    if (write_all(m_to, request.dump() + "\n") && read_line(m_from, m_buf, line)) {
        try {
            return outcome_from_json(nlohmann::json::parse(line));
        } catch (const nlohmann::json::exception& e) {
            Outcome o;
            o.error = fmt::format("sweep: unreadable answer from the experiment process: {}", e.what());
            return o;
        }
    }
    Outcome o;
    o.died = true;
    o.error = reap();
    o.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return o;
}

namespace {

class ChildPool : public WorkerPool {
public:
    ChildPool(std::vector<std::string> argv, nlohmann::json settings)
        : m_child(std::move(argv)), m_settings(std::move(settings)) {}
    int size() const override { return 1; }
    Event wait() override {
        Event ev;
        if (m_request) {
            ev.result = m_child.run(*m_request);
            m_request.reset();
        }
        return ev;
    }
    void send(int, const std::string& id, const EvalSpec& spec) override {
        nlohmann::json r = m_settings;
        r["id"] = id;
        r["spec"] = spec_to_json(spec);
        m_request = std::move(r);
    }
    void stop(int) override {}
    std::string describe(int) const override {
        return m_child.pid() > 0 ? fmt::format("experiment process pid {}", m_child.pid()) : "experiment process";
    }

private:
    ExecChild m_child;
    nlohmann::json m_settings;
    std::optional<nlohmann::json> m_request;
};

}  // namespace

std::unique_ptr<WorkerPool> make_child_pool(std::vector<std::string> argv, nlohmann::json settings) {
    return std::make_unique<ChildPool>(std::move(argv), std::move(settings));
}

void die_with_parent() {
    pid_t parent = getppid();
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) std::_Exit(1);  // the parent died before the call
}

int serve_exec_requests(int in_fd, int out_fd, const std::function<Outcome(const nlohmann::json&)>& handle) {
    std::string buf, line;
    while (read_line(in_fd, buf, line)) {
        Outcome o;
        try {
            o = handle(nlohmann::json::parse(line));
        } catch (const std::exception& e) {
            o.ok = false;
            o.error = e.what();
        }
        if (!write_all(out_fd, outcome_to_json(o).dump() + "\n")) return 1;
    }
    return 0;
}

}  // namespace rb::sweep
