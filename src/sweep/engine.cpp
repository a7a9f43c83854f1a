#include "sweep/engine.h"

#include <fmt/ranges.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <cstdlib>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "eval/lm.h"
#include "sweep/spec_json.h"
#include "util/error.h"
#include "util/hash.h"
#include "util/log.h"

using nlohmann::json;

namespace rb::sweep {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

std::string fmt_num(const json& v) {
    if (v.is_number_float()) {
        double d = v.get<double>();
        if (d == std::floor(d) && std::fabs(d) < 1e9) return fmt::format("{}", static_cast<int64_t>(d));
        return fmt::format("{:g}", d);
    }
    return v.dump();
}

// The status display: a redrawn bar on a TTY (with a ticker thread for elapsed time),
// otherwise one line per finished experiment.
class Progress {
public:
    // `parallel`: experiments running at once (the ETA divides by it).
    Progress(int total, int done, int failed, double flops_left, bool tty, int parallel)
        : m_total(total), m_done(done), m_failed(failed), m_parallel(std::max(1, parallel)), m_flops_left(flops_left), m_tty(tty),
          m_t0(Clock::now()) {
        if (m_tty) m_ticker = std::thread([this] { tick(); });
    }
    ~Progress() {
        {
            std::lock_guard<std::mutex> g(m_mu);
            m_stop = true;
        }
        m_cv.notify_all();
        if (m_ticker.joinable()) m_ticker.join();
        if (m_tty) std::fputs("\n", stderr);
    }
    void start(const std::string& label) {
        std::lock_guard<std::mutex> g(m_mu);
        m_current = label;
        m_cur_t0 = Clock::now();
        if (m_tty) draw();
    }
    void finish(const std::string& label, bool ok, double wall, double flops, int64_t tokens, const std::string& detail) {
        std::lock_guard<std::mutex> g(m_mu);
        (ok ? m_done : m_failed)++;
        m_flops_done += flops;
        m_flops_left = std::max(0.0, m_flops_left - flops);
        m_tokens += tokens;
        m_run_wall += wall;
        m_current.clear();
        if (m_tty) {
            std::fputs("\r\033[K", stderr);
            if (!ok) std::fprintf(stderr, "failed: %s: %s\n", label.c_str(), detail.c_str());
            draw();
        } else {
            std::fprintf(stderr, "[%d/%d] %s %s %.1fs%s%s\n", m_done + m_failed, m_total, ok ? "done" : "FAILED", label.c_str(), wall,
                         detail.empty() ? "" : " ", detail.c_str());
            std::fflush(stderr);
        }
    }

private:
    void tick() {
        std::unique_lock<std::mutex> g(m_mu);
        while (!m_stop) {
            m_cv.wait_for(g, std::chrono::seconds(1));
            if (!m_stop) draw();
        }
    }
    void draw() {
        int width = 24;
        int filled = m_total ? (m_done + m_failed) * width / m_total : width;
        std::string bar(filled, '#');
        bar += std::string(width - filled, '-');
        double el = seconds_since(m_t0);
        std::string rate = m_run_wall > 0 ? fmt::format("{:.0f} tok/s", m_tokens / m_run_wall) : "- tok/s";
        std::string eta = m_flops_done > 0 ? human_seconds(m_flops_left / (m_flops_done / std::max(1e-9, m_run_wall)) / m_parallel) : "?";
        std::string cur = m_current.empty() ? "" : fmt::format(" | {} ({})", m_current, human_seconds(seconds_since(m_cur_t0)));
        if (cur.size() > 70) cur = cur.substr(0, 67) + "...";
        std::fprintf(stderr, "\r\033[K[%s] %d/%d done, %d failed | %s | ETA %s | %s%s", bar.c_str(), m_done, m_total, m_failed,
                     rate.c_str(), eta.c_str(), human_seconds(el).c_str(), cur.c_str());
        std::fflush(stderr);
    }

    int m_total, m_done, m_failed, m_parallel;
    double m_flops_left, m_flops_done = 0, m_run_wall = 0;
    int64_t m_tokens = 0;
    bool m_tty;
    Clock::time_point m_t0, m_cur_t0;
    std::string m_current;
    std::mutex m_mu;
    std::condition_variable m_cv;
    bool m_stop = false;
    std::thread m_ticker;
};

std::string short_result(const json& rec) {
    std::string s;
    if (!rec.contains("metrics")) return s;
    const auto& m = rec["metrics"];
    if (m.contains("ppl") && m["ppl"].contains("ppl") && m["ppl"]["ppl"].is_number())
        s += fmt::format("ppl={:.4g} ", m["ppl"]["ppl"].get<double>());
    if (m.contains("passkey") && m["passkey"].contains("accuracy") && m["passkey"]["accuracy"].is_number())
        s += fmt::format("passkey={:.3g} ", m["passkey"]["accuracy"].get<double>());
    if (m.contains("longppl") && m["longppl"].contains("longppl") && m["longppl"]["longppl"].is_number())
        s += fmt::format("longppl={:.4g} ", m["longppl"]["longppl"].get<double>());
    if (!s.empty()) s.pop_back();
    return s;
}

}  // namespace

Outcome run_experiment(const Runner& runner, const EvalSpec& spec) {
    Outcome o;
    auto t = Clock::now();
    try {
        o.record = runner.run(spec);
        auto bad = find_non_finite(o.record);
        if (!bad.empty()) o.error = fmt::format("non-finite value (NaN/inf) in the result at {}", bad);
    } catch (const std::bad_alloc&) {
        o.error = "out of memory (std::bad_alloc)";
    } catch (const std::exception& e) {
        o.error = e.what();
    }
    o.wall_s = seconds_since(t);
    o.ok = o.error.empty();
    if (!o.ok) o.record = json();
    return o;
}

json outcome_to_json(const Outcome& o) {
    json j{{"ok", o.ok}, {"died", o.died}, {"wall_s", o.wall_s}};
    if (o.ok) j["record"] = o.record;
    else j["error"] = o.error;
    return j;
}

Outcome outcome_from_json(const json& j) {
    Outcome o;
    try {
        o.ok = j.at("ok").get<bool>();
        o.died = j.value("died", false);
        o.wall_s = j.at("wall_s").get<double>();
        if (o.ok) o.record = j.at("record");
        else o.error = j.at("error").get<std::string>();
    } catch (const json::exception& e) {
        throw Error("sweep: malformed result from a worker: {}", e.what());
    }
    if (o.ok && !o.record.is_object()) throw Error("sweep: malformed result from a worker: record is not an object");
    return o;
}

std::string find_non_finite(const json& j, const std::string& path) {
    if (j.is_number_float() && !std::isfinite(j.get<double>())) return path.empty() ? "(root)" : path;
    if (j.is_object()) {
        for (auto& [k, v] : j.items()) {
            auto p = find_non_finite(v, path.empty() ? k : path + "." + k);
            if (!p.empty()) return p;
        }
    } else if (j.is_array()) {
        for (size_t i = 0; i < j.size(); ++i) {
            auto p = find_non_finite(j[i], fmt::format("{}[{}]", path, i));
            if (!p.empty()) return p;
        }
    }
    return "";
}

Runner eval_runner(ModelCache& cache) {
    Runner r;
    r.identity = [&cache](const EvalSpec& s) { return eval_identity(s, cache); };
    r.run = [&cache](const EvalSpec& s) { return run_eval(s, cache); };
    return r;
}

Shard parse_shard(const std::string& text) {
    int i = 0, n = 0;
    char extra = 0;
    if (std::sscanf(text.c_str(), "%d/%d%c", &i, &n, &extra) != 2 || n < 1 || i < 1 || i > n)
        throw FieldError("shard", "expected I/N with 1 <= I <= N, got '{}'", text);
    return Shard{i - 1, n};
}

std::optional<Shard> shard_from_env() {
    const char* id = std::getenv("SLURM_ARRAY_TASK_ID");
    const char* count = std::getenv("SLURM_ARRAY_TASK_COUNT");
    if (!id || !count) return std::nullopt;
    const char* min = std::getenv("SLURM_ARRAY_TASK_MIN");
    char* end = nullptr;
    long i = std::strtol(id, &end, 10);
    if (*end) throw UsageError("SLURM_ARRAY_TASK_ID: expected an integer, got '{}'", id);
    long n = std::strtol(count, &end, 10);
    if (*end) throw UsageError("SLURM_ARRAY_TASK_COUNT: expected an integer, got '{}'", count);
    long m = min ? std::strtol(min, nullptr, 10) : 0;
    if (n < 1 || i - m < 0 || i - m >= n)
        throw UsageError("SLURM_ARRAY_TASK_ID {} (min {}) is outside 0..SLURM_ARRAY_TASK_COUNT-1 ({})", i, m, n);
    return Shard{static_cast<int>(i - m), static_cast<int>(n)};
}

bool in_shard(const std::string& id, const Shard& shard) {
    if (shard.count <= 1) return true;
    uint64_t v = std::strtoull(id.substr(0, 15).c_str(), nullptr, 16);
    return static_cast<int>(v % static_cast<uint64_t>(shard.count)) == shard.index;
}

std::string experiment_label(const Experiment& e) {
    std::string s = fmt::format("{} ctx={}", e.method, e.ctx);
    int lists = 0;
    if (e.params.is_object())
        for (auto& [k, v] : e.params.items()) {
            if (k == "rope_type") continue;
            if (v.is_array()) {
                ++lists;
                continue;
            }
            std::string key = k == "original_max_position_embeddings" ? "orig" : k;
            s += fmt::format(" {}={}", key, fmt_num(v));
        }
    if (lists) s += fmt::format(" (+{} list{})", lists, lists > 1 ? "s" : "");
    return s;
}

std::vector<Planned> plan_experiments(const SweepConfig& cfg, const std::vector<Experiment>& exps, const Runner& runner,
                                      const Estimator& est) {
    std::vector<Planned> out;
    std::set<std::string> seen;
    for (const auto& e : exps) {
        Planned p;
        p.exp = e;
        p.estimate = est(e);
        p.group = share_group(cfg, e);
        if (e.invalid.empty()) {
            try {
                p.identity = runner.identity(e.spec);
            } catch (const std::exception& err) {
                p.identity_error = err.what();
            }
        }
        if (!e.invalid.empty() || !p.identity_error.empty())
            p.identity = json{{"unresolved_spec", spec_to_json(e.spec)}};  // still stable and unique
        p.id = sha256_hex(p.identity.dump());
        if (!seen.insert(p.id).second) {
            log_warn("{}:{}: experiment '{}' duplicates an earlier one (same identity); kept once", cfg.path, e.line,
                     experiment_label(e));
            continue;
        }
        out.push_back(std::move(p));
    }
    return out;
}

namespace {

// One store, one model: the model part of the identities (config, weights, tokenizer, dtype,
// quantisation) is kept in the store's meta the first time, and a sweep of another model is
// refused before it adds a row.
void check_one_model(Store& store, const SweepConfig& cfg, const std::vector<Planned>& planned) {
    json model;
    for (const auto& p : planned)
        if (p.identity.is_object() && p.identity.contains("model")) {
            model = p.identity["model"];
            break;
        }
    if (model.is_null()) return;  // fake runners, or no experiment could be identified
    const std::string describe = fmt::format("{} ({})", cfg.model, cfg.dtype);
    if (auto stored = store.meta("model_identity")) {
        if (json::parse(*stored) == model) return;
        throw Error("{}: this store holds the experiments of {}; this sweep is for {}, a different model, dtype or "
                    "quantisation: give it its own --db",
                    store.path(), store.meta("model").value_or("another model"), describe);
    }
    store.set_meta("model_identity", model.dump());
    store.set_meta("model", describe);
}

// This shard's experiments, planned (identities, estimates, share groups).
std::vector<Planned> plan_shard(const SweepConfig& cfg, const Runner& runner, const Estimator& est, const Shard& shard) {
    auto all = plan_experiments(cfg, expand_experiments(cfg), runner, est);
    std::vector<Planned> mine;
    for (auto& p : all)
        if (in_shard(p.shard_id(), shard)) mine.push_back(std::move(p));
    return mine;
}

void write_sweep_meta(Store& store, const SweepConfig& cfg, const SweepOptions& opts) {
    store.set_meta("config", cfg.text);
    store.set_meta("config_path", cfg.path);
    store.set_meta("tool_version", opts.version);
    store.set_meta("shard", fmt::format("{}/{}", opts.shard.index + 1, opts.shard.count));
}

std::vector<StoreRow> store_rows(const std::vector<Planned>& mine) {
    std::vector<StoreRow> rows;
    for (const auto& p : mine) {
        StoreRow r;
        r.id = p.id;
        r.method = p.exp.method;
        r.ctx = p.exp.ctx;
        r.params = p.exp.params.dump();
        r.spec = spec_to_json(p.exp.spec).dump();
        r.identity = p.identity.dump();
        rows.push_back(std::move(r));
    }
    return rows;
}

// The shard's rows in the store (new ones pending); experiments left running by a dead process,
// and with --retry-failed the failed ones, back to pending. Returns the number of rows added.
int add_to_store(Store& store, const std::vector<Planned>& mine, bool retry_failed) {
    int added = store.add(store_rows(mine));
    int stale = store.reset_stale_running();
    if (stale) log_info("sweep: {} experiment(s) left running by a dead process go back to pending", stale);
    if (retry_failed) {
        std::vector<std::string> ids;
        for (auto& p : mine) ids.push_back(p.id);
        int n = store.reset_failed(ids);
        if (n) log_info("sweep: --retry-failed: {} failed experiment(s) back to pending", n);
    }
    return added;
}

// The shard's experiments by their status in the store before this invocation runs any.
struct StoreState {
    std::vector<const Planned*> pending;
    int done = 0, failed = 0;
};

StoreState store_state(Store& store, const std::vector<Planned>& mine) {
    StoreState s;
    for (const auto& p : mine) {
        auto row = store.get(p.id);
        if (row->status == "done") ++s.done;
        else if (row->status == "failed") ++s.failed;
        else if (row->status == "pending") s.pending.push_back(&p);
    }
    return s;
}

using Unit = std::vector<const Planned*>;

// Units of work: the pending members of a share group together, largest L first (it
// computes the windows the others reuse); an experiment without a group alone.
struct WorkPlan {
    std::vector<Unit> units;
    std::map<const Planned*, double> cost;  // FLOPs with sharing, for progress and ETA
    double flops_left = 0;
};

WorkPlan plan_units(const std::vector<const Planned*>& todo) {
    WorkPlan w;
    std::vector<std::string> groups;
    std::vector<int> ctxs;
    std::vector<Estimate> ests;
    for (const Planned* p : todo) {
        groups.push_back(p->group);
        ctxs.push_back(p->exp.ctx);
        ests.push_back(p->estimate);
    }
    const auto shared = group_shared_flops(groups, ctxs, ests);
    std::map<std::string, size_t> unit_of;
    for (size_t i = 0; i < todo.size(); i++) {
        w.cost[todo[i]] = shared[i];
        w.flops_left += shared[i];
        const Planned* p = todo[i];
        if (!p->group.empty() && unit_of.count(p->group)) {
            w.units[unit_of[p->group]].push_back(p);
            continue;
        }
        if (!p->group.empty()) unit_of[p->group] = w.units.size();
        w.units.push_back({p});
    }
    for (auto& u : w.units)
        std::stable_sort(u.begin(), u.end(), [](const Planned* a, const Planned* b) { return a->exp.ctx > b->exp.ctx; });
    return w;
}

// Runs the units (here or through a WorkerPool) and records each outcome in the store and
// the progress display.
class Executor {
public:
    Executor(Store& store, const Runner& runner, const SweepOptions& opts, const Estimator& est, WorkPlan& plan,
             Progress& progress, SweepSummary& sum)
        : m_store(store), m_runner(runner), m_opts(opts), m_est(est), m_plan(plan), m_progress(progress), m_sum(sum),
          m_worker(opts.worker.empty() ? this_worker() : opts.worker) {}

    // One experiment after the other in this process, in unit order.
    void run_here() {
        std::vector<const Planned*> order;
        for (const auto& u : m_plan.units) order.insert(order.end(), u.begin(), u.end());
        for (const Planned* p : order) {
            if (!m_store.claim(p->id, m_worker)) continue;  // another process on this store took it
            ++m_sum.ran;
            if (fail_up_front(p)) continue;
            m_progress.start(experiment_label(p->exp));
            record(p, run_experiment(m_runner, p->exp.spec));
        }
    }

    // Units longest first (the stragglers at the end are then the short ones); ties keep
    // the config's order. A worker takes a whole unit, one experiment at a time.
    void run_pool(WorkerPool& pool) {
        auto unit_cost = [&](const Unit& u) {
            double f = 0;
            for (const Planned* p : u) f += m_plan.cost[p];
            return f;
        };
        std::stable_sort(m_plan.units.begin(), m_plan.units.end(),
                         [&](const auto& a, const auto& b) { return unit_cost(a) > unit_cost(b); });
        PoolState st;
        for (const auto& u : m_plan.units) st.queue.emplace_back(u.begin(), u.end());
        int active = pool.size();
        while (active > 0) {
            auto ev = pool.wait();
            if (ev.result) take_result(pool, st, ev.worker, *ev.result);
            if (!send_next(pool, st, ev.worker)) {
                pool.stop(ev.worker);
                --active;
            }
        }
    }

private:
    using Queued = std::deque<const Planned*>;
    struct PoolState {
        std::deque<Queued> queue;
        std::map<int, Queued> assigned;  // the rest of each worker's unit
        std::map<int, const Planned*> in_flight;
        std::map<std::string, int> deaths;
    };

    // Failures known before running: invalid parameters, unresolvable identity, memory.
    std::string up_front_error(const Planned* p) const {
        if (!p->exp.invalid.empty()) return "invalid rope parameters: " + p->exp.invalid;
        if (!p->identity_error.empty()) return p->identity_error;
        if (m_opts.check_memory && m_est.memory_limit() > 0 && p->estimate.memory > m_est.memory_limit())
            return fmt::format("estimated memory {} exceeds the limit {} ({})", human_bytes(p->estimate.memory),
                               human_bytes(m_est.memory_limit()), m_est.memory_limit_source());
        return "";
    }

    // Records `p` failed without running when it has an up-front error; true if it did.
    bool fail_up_front(const Planned* p) {
        auto err = up_front_error(p);
        if (err.empty()) return false;
        m_store.fail(p->id, err, 0, m_opts.version);
        m_progress.finish(experiment_label(p->exp), false, 0, 0, 0, err);
        return true;
    }

    void record(const Planned* p, const Outcome& o) {
        std::string label = experiment_label(p->exp);
        if (o.ok) {
            m_store.finish(p->id, o.record.dump(), o.wall_s, m_opts.version);
            int64_t tokens = o.record.value("tokens_processed", p->estimate.tokens);
            m_progress.finish(label, true, o.wall_s, m_plan.cost[p], tokens, short_result(o.record));
        } else {
            m_store.fail(p->id, o.error, o.wall_s, m_opts.version);
            m_progress.finish(label, false, o.wall_s, m_plan.cost[p], 0, o.error);
        }
    }

    // A worker's result: recorded, or (its process died, the first time) the experiment goes
    // back to the front of the queue with the rest of its unit.
    void take_result(WorkerPool& pool, PoolState& st, int worker, const Outcome& o) {
        auto it = st.in_flight.find(worker);
        if (it == st.in_flight.end())
            throw Error("sweep: {} returned a result for no experiment (protocol error)", pool.describe(worker));
        const Planned* p = it->second;
        st.in_flight.erase(it);
        if (o.died && ++st.deaths[p->id] < 2) {
            log_warn("sweep: {} lost '{}' ({}); it goes back in the queue", pool.describe(worker), experiment_label(p->exp),
                     o.error);
            m_store.release(p->id);
            Queued back = std::move(st.assigned[worker]);  // with the rest of its unit
            st.assigned.erase(worker);
            back.push_front(p);
            st.queue.push_front(std::move(back));
        } else {
            Outcome final = o;
            if (o.died) final.error = fmt::format("{} (the second time; not retried, --retry-failed reruns it)", o.error);
            record(p, final);
        }
    }

    // Sends `worker` its next experiment (the rest of its unit, else the next unit); false
    // when nothing is left for it.
    bool send_next(WorkerPool& pool, PoolState& st, int worker) {
        while (true) {
            Queued& mine_left = st.assigned[worker];
            if (mine_left.empty()) {
                if (st.queue.empty()) return false;
                mine_left = std::move(st.queue.front());
                st.queue.pop_front();
            }
            const Planned* p = mine_left.front();
            mine_left.pop_front();
            if (!m_store.claim(p->id, fmt::format("{} ({})", m_worker, pool.describe(worker)))) continue;
            if (!st.deaths.count(p->id)) ++m_sum.ran;
            if (fail_up_front(p)) continue;
            pool.send(worker, p->id, p->exp.spec);
            st.in_flight[worker] = p;
            m_progress.start(experiment_label(p->exp));
            return true;
        }
    }

    Store& m_store;
    const Runner& m_runner;
    const SweepOptions& m_opts;
    const Estimator& m_est;
    WorkPlan& m_plan;
    Progress& m_progress;
    SweepSummary& m_sum;
    const std::string m_worker;
};

void count_final(Store& store, const std::vector<Planned>& mine, SweepSummary& sum) {
    for (const auto& p : mine) {
        auto row = store.get(p.id);
        if (row->status == "done") ++sum.done;
        else if (row->status == "failed") ++sum.failed;
    }
}

}  // namespace

SweepSummary run_sweep(const SweepConfig& cfg, const Runner& runner, const SweepOptions& opts, WorkerPool* pool) {
    auto t0 = Clock::now();
    Estimator est(cfg);
    const std::vector<Planned> mine = plan_shard(cfg, runner, est, opts.shard);

    Store store(opts.db);
    check_one_model(store, cfg, mine);
    write_sweep_meta(store, cfg, opts);
    int added = add_to_store(store, mine, opts.retry_failed);

    SweepSummary sum;
    sum.total = static_cast<int>(mine.size());
    const StoreState before = store_state(store, mine);
    WorkPlan plan = plan_units(before.pending);
    sum.skipped_done = before.done;
    log_info("sweep: {} experiments in {}{}: {} done, {} failed, {} to run ({} new); store {}", sum.total, cfg.path,
             opts.shard.count > 1 ? fmt::format(" (shard {}/{})", opts.shard.index + 1, opts.shard.count) : "", before.done,
             before.failed, before.pending.size(), added, opts.db);

    bool tty = opts.progress == 1 || (opts.progress < 0 && isatty(STDERR_FILENO) && log_level() >= LogLevel::info);
    {
        Progress progress(sum.total, before.done, before.failed, plan.flops_left, tty, pool ? pool->size() : 1);
        Executor exec(store, runner, opts, est, plan, progress, sum);
        if (pool) exec.run_pool(*pool);
        else exec.run_here();
    }
    count_final(store, mine, sum);
    sum.wall_s = seconds_since(t0);
    return sum;
}

namespace {

void print_dry_run_header(const SweepConfig& cfg, const Estimator& est, std::FILE* out) {
    const auto& mc = cfg.model_config;
    fmt::print(out, "sweep {} (dry run: nothing is loaded or run)\n", cfg.path);
    fmt::print(out, "model {}{} | geometry from {}: layers {}, heads {}/{}, head_dim {}, hidden {}, trained ctx {}\n", cfg.model,
               cfg.model_is_hub ? " (hub id)" : "", cfg.geometry_source, mc.num_layers, mc.num_heads, mc.num_kv_heads, mc.head_dim,
               mc.hidden_size, trained_context(mc));
    fmt::print(out, "backend {} {} | {:.0f} GFLOP/s ({}) | memory limit {} ({})\n", cfg.backend, cfg.dtype, est.gflops(),
               est.gflops_source(), human_bytes(est.memory_limit()), est.memory_limit_source());
    fmt::print(out, "metrics {} | documents {} | params per token {:.4g}\n\n", fmt::join(cfg.metrics, ","), est.documents(),
               est.params());
    fmt::print(out, "{:>5}  {:<9} {:<13} {:>6}  {:>9}  {:>10}  {:>9}  {}\n", "#", "group", "method", "ctx", "FLOPs", "memory",
               "time", "parameters");
}

// The experiments the dry run lists (with --shard, this shard's), with their estimates and share groups.
struct DryRunList {
    std::vector<const Experiment*> exps;
    std::vector<Estimate> ests;
    std::vector<std::string> share_groups;
    std::vector<int> ctxs;
};

DryRunList dry_run_list(const SweepConfig& cfg, const std::vector<Experiment>& exps, const Estimator& est, const Shard& shard,
                        const Runner* runner) {
    DryRunList l;
    for (const auto& e : exps) {
        const std::string group = share_group(cfg, e);
        if (shard.count > 1 && runner) {
            json id;
            try {
                id = e.invalid.empty() ? runner->identity(e.spec) : json{{"unresolved_spec", spec_to_json(e.spec)}};
            } catch (const std::exception&) {
                id = json{{"unresolved_spec", spec_to_json(e.spec)}};
            }
            if (!in_shard(group.empty() ? sha256_hex(id.dump()) : group, shard)) continue;
        }
        l.exps.push_back(&e);
        l.ests.push_back(est(e));
        l.share_groups.push_back(group);
        l.ctxs.push_back(e.ctx);
    }
    return l;
}

// What the listed rows add up to.
struct DryRunTotals {
    std::map<std::string, int> by_method, by_group;
    std::map<int, int> by_ctx;
    std::map<std::string, std::map<int, int>> table;
    std::vector<std::string> method_order;
    int over = 0, invalid = 0, listed = 0;
    double flops = 0, seconds = 0;
    double unshared = 0, f_ppl = 0, f_passkey = 0, f_longppl = 0;
};

// One row per experiment, with the FLOPs it runs once sharing is counted; returns the totals.
DryRunTotals print_dry_run_rows(const SweepConfig& cfg, const DryRunList& l, const Estimator& est, std::FILE* out) {
    DryRunTotals t;
    // What will run: within each share group the largest L computes the windows.
    const std::vector<double> shared = group_shared_flops(l.share_groups, l.ctxs, l.ests);
    for (size_t i = 0; i < l.exps.size(); i++) {
        const Experiment& e = *l.exps[i];
        ++t.listed;
        Estimate x = l.ests[i];
        const double reused = x.flops - shared[i];  // windows a larger L of its group computes
        t.unshared += x.flops_unshared;
        t.f_passkey += x.flops_passkey;
        // The reused windows come off ppl (truncate) first, else off LongPPL.
        const double off_ppl = std::min(reused, cfg.protocol == "truncate" ? x.flops_ppl : 0.0);
        t.f_ppl += x.flops_ppl - off_ppl;
        t.f_longppl += x.flops_longppl - (reused - off_ppl);
        x.flops = shared[i];
        x.seconds = x.flops / (est.gflops() * 1e9);
        bool too_big = est.memory_limit() > 0 && x.memory > est.memory_limit();
        t.over += too_big;
        t.invalid += !e.invalid.empty();
        t.flops += x.flops;
        t.seconds += x.seconds;
        if (!t.by_method.count(e.method)) t.method_order.push_back(e.method);
        t.by_method[e.method]++;
        t.by_group[e.group]++;
        t.by_ctx[e.ctx]++;
        t.table[e.method][e.ctx]++;
        std::string label = experiment_label(e);
        std::string params = label.substr(label.find(' ', label.find("ctx=")) == std::string::npos ? label.size()
                                                                                                     : label.find(' ', label.find("ctx=")) + 1);
        std::string flag = too_big ? "  [EXCEEDS MEMORY]" : "";
        if (!e.invalid.empty()) flag += "  [INVALID: " + e.invalid + "]";
        fmt::print(out, "{:>5}  {:<9} {:<13} {:>6}  {:>9}  {:>10}  {:>9}  {}{}\n", t.listed, e.group, e.method, e.ctx,
                   human_flops(x.flops), human_bytes(x.memory), human_seconds(x.seconds), params, flag);
    }
    return t;
}

// Counts per group, method and context, and the method × context table.
void print_dry_run_counts(const SweepConfig& cfg, DryRunTotals& t, std::FILE* out) {
    fmt::print(out, "\nexperiments: {}\n", t.listed);
    std::string groups;
    for (auto& [g, n] : t.by_group) groups += fmt::format("{}{} {}", groups.empty() ? "" : ", ", g, n);
    fmt::print(out, "per group: {}\n", groups);
    fmt::print(out, "per method:");
    for (auto& m : t.method_order) fmt::print(out, " {} {}", m, t.by_method[m]);
    fmt::print(out, "\nper context:");
    for (int c : cfg.ctx)
        if (t.by_ctx.count(c)) fmt::print(out, " {} {}", c, t.by_ctx[c]);
    fmt::print(out, "\n\n{:<13}", "method\\ctx");
    for (int c : cfg.ctx) fmt::print(out, " {:>6}", c);
    fmt::print(out, " {:>6}\n", "total");
    for (auto& m : t.method_order) {
        fmt::print(out, "{:<13}", m);
        for (int c : cfg.ctx) fmt::print(out, " {:>6}", t.table[m][c]);
        fmt::print(out, " {:>6}\n", t.by_method[m]);
    }
}

// FLOPs and time with and without sharing, invalid and over-memory experiments.
void print_dry_run_totals(const DryRunTotals& t, const Estimator& est, std::FILE* out) {
    fmt::print(out, "\ntotal FLOPs {} | estimated time {} at {:.0f} GFLOP/s\n", human_flops(t.flops), human_seconds(t.seconds),
               est.gflops());
    fmt::print(out, "without sharing {} ({:.2f} x); per metric: ppl {}, passkey {}, longppl {}{}\n", human_flops(t.unshared),
               t.unshared > 0 ? t.flops / t.unshared : 1.0, human_flops(t.f_ppl), human_flops(t.f_passkey),
               human_flops(t.f_longppl), sharing_enabled() ? "" : " (sharing off: ROPEBENCH_NO_SHARING)");
    if (t.invalid) fmt::print(out, "invalid: {} experiment(s) will be recorded as failed without running\n", t.invalid);
    if (t.over)
        fmt::print(out, "memory: {} experiment(s) exceed the limit {} and will be recorded as failed\n", t.over,
                   human_bytes(est.memory_limit()));
    else
        fmt::print(out, "memory: every experiment fits in {}\n", human_bytes(est.memory_limit()));
}

}  // namespace

int print_dry_run(const SweepConfig& cfg, const std::vector<Experiment>& exps, const Estimator& est, std::FILE* out,
                  const Shard& shard, const Runner* runner) {
    print_dry_run_header(cfg, est, out);
    const DryRunList listed = dry_run_list(cfg, exps, est, shard, runner);
    DryRunTotals totals = print_dry_run_rows(cfg, listed, est, out);
    print_dry_run_counts(cfg, totals, out);
    print_dry_run_totals(totals, est, out);
    return totals.over;
}

}  // namespace rb::sweep
