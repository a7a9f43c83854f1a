// The MPI transport of a sweep (mpi.h). Messages are JSON strings:
//   worker -> 0  k_ready  {"host", "pid"}            first message of each worker
//   worker -> 0  k_result outcome_to_json             after each experiment
//   0 -> worker  k_work   {"id", "spec", settings...}
//   0 -> worker  k_stop   ""
// Rank 0 polls (MPI_Iprobe + 20 ms sleep) instead of blocking in MPI_Probe, which would
// spin a core that the workers on the same machine need.
#include <mpi.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <thread>

#include "sweep/exec_child.h"
#include "sweep/mpi.h"
#include "sweep/spec_json.h"
#include "util/error.h"
#include "util/log.h"

using nlohmann::json;

namespace rb::sweep::mpi {
namespace {

enum Tag { k_ready = 1, k_result = 2, k_work = 3, k_stop = 4 };

void check(int rc, const char* what) {
    if (rc != MPI_SUCCESS) {
        char msg[MPI_MAX_ERROR_STRING];
        int len = 0;
        MPI_Error_string(rc, msg, &len);
        throw Error("sweep: {} failed: {}", what, std::string(msg, static_cast<size_t>(len)));
    }
}

void send(int to, Tag tag, const std::string& text) {
    check(MPI_Send(text.data(), static_cast<int>(text.size()), MPI_CHAR, to, tag, MPI_COMM_WORLD), "MPI_Send");
}

// Receives the message `st` announced (from MPI_Probe/Iprobe).
std::string receive(const MPI_Status& st) {
    int n = 0;
    MPI_Get_count(&st, MPI_CHAR, &n);
    std::string text(static_cast<size_t>(n), '\0');
    check(MPI_Recv(text.data(), n, MPI_CHAR, st.MPI_SOURCE, st.MPI_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE), "MPI_Recv");
    return text;
}

std::string hostname() {
    char buf[256] = {0};
    if (gethostname(buf, sizeof buf - 1) != 0) return "localhost";
    return buf;
}

class MpiPool : public WorkerPool {
public:
    MpiPool(World& world, json settings) : m_size(world.size() - 1), m_settings(std::move(settings)), m_names(world.size()) {}
    int size() const override { return m_size; }
    Event wait() override {
        MPI_Status st;
        for (;;) {
            int flag = 0;
            check(MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &st), "MPI_Iprobe");
            if (flag) break;
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        std::string text = receive(st);
        Event ev;
        ev.worker = st.MPI_SOURCE;
        if (st.MPI_TAG == k_ready) {
            try {
                auto j = json::parse(text);
                m_names[ev.worker] = fmt::format("rank {} on {} pid {}", ev.worker, j.at("host").get<std::string>(),
                                                 j.at("pid").get<long>());
            } catch (const json::exception&) {
                m_names[ev.worker] = fmt::format("rank {}", ev.worker);
            }
            log_debug("sweep: {} ready", m_names[ev.worker]);
        } else if (st.MPI_TAG == k_result) {
            json j;
            try {
                j = json::parse(text);
            } catch (const json::exception& e) {
                throw Error("sweep: unreadable result from {}: {}", describe(ev.worker), e.what());
            }
            ev.result = outcome_from_json(j);
        } else {
            throw Error("sweep: unexpected message (tag {}) from {}", st.MPI_TAG, describe(ev.worker));
        }
        return ev;
    }
    void send(int worker, const std::string& id, const EvalSpec& spec) override {
        json msg = m_settings;
        msg["id"] = id;
        msg["spec"] = spec_to_json(spec);
        mpi::send(worker, k_work, msg.dump());
    }
    void stop(int worker) override { mpi::send(worker, k_stop, ""); }
    std::string describe(int worker) const override {
        return worker < static_cast<int>(m_names.size()) && !m_names[worker].empty() ? m_names[worker]
                                                                                      : fmt::format("rank {}", worker);
    }

private:
    int m_size;
    json m_settings;
    std::vector<std::string> m_names;
};

}  // namespace

bool compiled() { return true; }

World::World() {
    int provided = 0;
    // Only the main thread calls MPI (the progress ticker and the compute pool never do).
    check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &m_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &m_size);
}

World::~World() { MPI_Finalize(); }

std::unique_ptr<WorkerPool> make_pool(World& world, json settings) {
    return std::make_unique<MpiPool>(world, std::move(settings));
}

void stop_all(World& world) {
    for (int r = 1; r < world.size(); ++r) send(r, k_stop, "");
}

void abort(World&, int code) {
    MPI_Abort(MPI_COMM_WORLD, code);
    std::_Exit(code);
}

void serve(World& world, const std::vector<std::string>& child_argv) {
    send(0, k_ready, json{{"host", hostname()}, {"pid", static_cast<long>(getpid())}}.dump());
    ExecChild child(child_argv);
    for (;;) {
        MPI_Status st;
        check(MPI_Probe(0, MPI_ANY_TAG, MPI_COMM_WORLD, &st), "MPI_Probe");
        std::string text = receive(st);
        if (st.MPI_TAG == k_stop) break;
        if (st.MPI_TAG != k_work) throw Error("sweep: rank {}: unexpected message (tag {}) from rank 0", world.rank(), st.MPI_TAG);
        Outcome o = child.run(json::parse(text));
        send(0, k_result, outcome_to_json(o).dump());
    }
}

}  // namespace rb::sweep::mpi
