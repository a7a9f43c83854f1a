// The coordinator side of distributed sweeps (engine.h WorkerPool) with an in-process pool:
// longest first, one experiment per idle worker, a dead worker's experiment requeued once,
// a second death recorded as failed, and the same store as a local run.
#include <gtest/gtest.h>

#include <deque>
#include <set>

#include "sweep/exec_child.h"
#include "sweep_test_util.h"
#include "util/error.h"

using namespace rb::sweep;
using namespace rb::sweep::testing;
using nlohmann::json;
using rb::EvalSpec;

namespace {

SweepOptions options(const std::string& db) { return test_options(db); }

const char* k_grid = k_small_grid;

// Simulates `n` workers taking turns: wait() returns the next event in a round robin; a
// worker's experiment "dies" when `die` says so.
class FakePool : public WorkerPool {
public:
    FakePool(int n, Runner runner, std::function<bool(const EvalSpec&, int attempt)> die)
        : m_n(n), m_runner(std::move(runner)), m_die(std::move(die)) {
        for (int w = 1; w <= n; ++w) m_events.push_back({w, std::nullopt});
    }
    int size() const override { return m_n; }
    Event wait() override {
        EXPECT_FALSE(m_events.empty()) << "the coordinator waits with no worker busy";
        Event e = m_events.front();
        m_events.pop_front();
        if (e.result) m_busy.erase(e.worker);
        return e;
    }
    void send(int worker, const std::string& id, const EvalSpec& spec) override {
        EXPECT_FALSE(m_busy.count(worker)) << "two experiments sent to worker " << worker;
        m_busy.insert(worker);
        sent.push_back({id, spec.ctx});
        int attempt = ++m_attempts[id];
        Outcome o;
        if (m_die && m_die(spec, attempt)) {
            o.died = true;
            o.error = "killed by signal 9 (SIGKILL)";
        } else {
            o = run_experiment(m_runner, spec);
        }
        m_events.push_back({worker, o});
    }
    void stop(int worker) override { stopped.insert(worker); }
    std::string describe(int worker) const override { return fmt::format("worker {}", worker); }

    std::vector<std::pair<std::string, int>> sent;  // (id, ctx) in dispatch order
    std::set<int> stopped;

private:
    int m_n;
    Runner m_runner;
    std::function<bool(const EvalSpec&, int)> m_die;
    std::deque<Event> m_events;
    std::set<int> m_busy;
    std::map<std::string, int> m_attempts;
};

std::map<std::string, std::pair<std::string, json>> contents(const std::string& db) {
    Store s(db);
    std::map<std::string, std::pair<std::string, json>> out;
    for (auto& r : s.rows()) out[r.id] = {r.status, r.record ? record_fingerprint(json::parse(*r.record)) : json()};
    return out;
}

}  // namespace

TEST(SweepPool, LongestFirstAndSameStoreAsLocal) {
    std::string dir = rb::test::temp_dir();
    auto cfg = parse_sweep_config(small_config(k_grid), dir + "/c.toml");
    run_sweep(cfg, fake_runner(), options(dir + "/local.db"));
    FakePool pool(3, fake_runner(), nullptr);
    auto sum = run_sweep(cfg, fake_runner(), options(dir + "/pool.db"), &pool);
    EXPECT_EQ(sum.total, 8);
    EXPECT_EQ(sum.done, 8);
    EXPECT_EQ(sum.ran, 8);
    EXPECT_EQ(contents(dir + "/pool.db"), contents(dir + "/local.db"));
    EXPECT_EQ(pool.stopped, (std::set<int>{1, 2, 3}));
    ASSERT_EQ(pool.sent.size(), 8u);
    // Units longest first: each of the three workers starts with a ctx 1024 experiment (a
    // share group's lead or the lone linear one); a group's 256 goes out after its 1024.
    for (int i = 0; i < 3; ++i) EXPECT_EQ(pool.sent[i].second, 1024) << i;
    int sent_1024 = 0;
    for (const auto& [id, ctx] : pool.sent) {
        sent_1024 += ctx == 1024;
        if (ctx == 256) EXPECT_GE(sent_1024, 3) << id;
    }
    Store s(dir + "/pool.db");
    for (auto& r : s.rows()) {
        EXPECT_EQ(r.attempts, 1);
        EXPECT_NE(r.worker.value_or("").find("(worker "), std::string::npos) << r.worker.value_or("");
    }
}

TEST(SweepPool, ADeadWorkersExperimentIsRequeuedOnceThenFailed) {
    std::string dir = rb::test::temp_dir();
    auto cfg = parse_sweep_config(small_config(k_grid), dir + "/c.toml");
    run_sweep(cfg, fake_runner(), options(dir + "/local.db"));
    auto local = contents(dir + "/local.db");
    // yarn factor 4 at 1024 dies once (then succeeds); linear at 256 dies every time.
    auto die = [](const EvalSpec& s, int attempt) {
        const std::string rs = s.model.rope.scaling.value_or(nlohmann::json(nullptr)).dump();
        bool yarn4 = rs.find("yarn") != std::string::npos && rs.find("\"factor\":4") != std::string::npos && s.ctx == 1024;
        bool linear256 = rs.find("linear") != std::string::npos && s.ctx == 256;
        return (yarn4 && attempt == 1) || linear256;
    };
    FakePool pool(2, fake_runner(), die);
    auto sum = run_sweep(cfg, fake_runner(), options(dir + "/pool.db"), &pool);
    EXPECT_EQ(sum.total, 8);
    EXPECT_EQ(sum.done, 7);
    EXPECT_EQ(sum.failed, 1);
    EXPECT_EQ(sum.ran, 8);
    EXPECT_EQ(pool.sent.size(), 10u);  // 8 + one retry of each experiment that died
    Store s(dir + "/pool.db");
    int retried = 0;
    for (auto& r : s.rows()) {
        if (r.status == "done") {
            EXPECT_EQ(record_fingerprint(json::parse(*r.record)), local[r.id].second) << r.method << " " << r.ctx;
            retried += r.attempts == 2;
        } else {
            EXPECT_EQ(r.method, "linear");
            EXPECT_EQ(r.ctx, 256);
            EXPECT_EQ(r.attempts, 2);
            EXPECT_NE(r.error.value_or("").find("killed by signal 9 (SIGKILL) (the second time; not retried"),
                      std::string::npos)
                << r.error.value_or("");
        }
    }
    EXPECT_EQ(retried, 1);
    // --retry-failed locally completes the store: equal to the local run.
    auto opts = options(dir + "/pool.db");
    opts.retry_failed = true;
    run_sweep(cfg, fake_runner(), opts);
    EXPECT_EQ(contents(dir + "/pool.db"), local);
}

TEST(SweepPool, OutcomeJsonRoundTrip) {
    Outcome ok;
    ok.ok = true;
    ok.record = json{{"ctx", 64}};
    ok.wall_s = 1.5;
    auto back = outcome_from_json(outcome_to_json(ok));
    EXPECT_TRUE(back.ok);
    EXPECT_EQ(back.record, ok.record);
    EXPECT_EQ(back.wall_s, 1.5);
    Outcome died;
    died.died = true;
    died.error = "gone";
    back = outcome_from_json(outcome_to_json(died));
    EXPECT_FALSE(back.ok);
    EXPECT_TRUE(back.died);
    EXPECT_EQ(back.error, "gone");
    EXPECT_THROW(outcome_from_json(json{{"ok", true}}), rb::Error);
    EXPECT_THROW(outcome_from_json(json{{"ok", true}, {"wall_s", 1}, {"record", 3}}), rb::Error);
}

TEST(SweepPool, ExecChildReportsHowItsProcessDied) {
    // /bin/sh as the "experiment process": answers one request, then kills itself.
    ExecChild child({"/bin/sh", "-c",
                     "read line <&3; echo '{\"ok\":true,\"died\":false,\"wall_s\":0.5,\"record\":{\"x\":1}}' >&4; "
                     "read line <&3; kill -9 $$"});
    auto a = child.run(json{{"id", "a"}});
    EXPECT_TRUE(a.ok);
    EXPECT_EQ(a.record, (json{{"x", 1}}));
    auto b = child.run(json{{"id", "b"}});
    EXPECT_FALSE(b.ok);
    EXPECT_TRUE(b.died);
    EXPECT_NE(b.error.find("killed by signal 9 (SIGKILL)"), std::string::npos) << b.error;
    EXPECT_EQ(child.pid(), -1);
    // The next request starts a fresh process.
    auto c = child.run(json{{"id", "c"}});
    EXPECT_TRUE(c.ok) << c.error;
    ExecChild exits({"/bin/sh", "-c", "exit 3"});
    auto d = exits.run(json{{"id", "d"}});
    EXPECT_TRUE(d.died);
    EXPECT_NE(d.error.find("exited with status 3"), std::string::npos) << d.error;
}
