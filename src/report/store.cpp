#include "report/store.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>

#include "util/error.h"
#include "util/sqlite.h"

namespace rb::report {

const char* status_name(Status s) {
    switch (s) {
        case Status::pending: return "pending";
        case Status::running: return "running";
        case Status::done: return "done";
        case Status::failed: return "failed";
    }
    return "?";
}

std::string config_label(const std::string& method, const nlohmann::json& params) {
    std::string s = method;
    if (!params.is_object()) return s;
    for (auto it = params.begin(); it != params.end(); ++it) {  // nlohmann keeps keys sorted
        if (it.key() == "rope_type" || it.key() == "type") continue;
        std::string v;
        if (it->is_array())
            v = fmt::format("[{} values]", it->size());
        else if (it->is_number_float()) {
            v = fmt::format("{:g}", it->get<double>());
        } else if (it->is_string())
            v = it->get<std::string>();
        else
            v = it->dump();
        s += fmt::format(" {}={}", it.key(), v);
    }
    return s;
}

namespace {

// Field access with errors that name where and what.
struct Reader {
    const std::string& where;

    const nlohmann::json* opt(const nlohmann::json& obj, const char* key) const {
        auto it = obj.find(key);
        if (it == obj.end()) return nullptr;
        return &*it;
    }
    const nlohmann::json& req_obj(const nlohmann::json& obj, const std::string& path, const char* key) const {
        auto* v = opt(obj, key);
        if (!v) throw Error("{}: {}{}: required field missing", where, path, key);
        if (!v->is_object()) throw Error("{}: {}{}: expected an object, got {}", where, path, key, v->type_name());
        return *v;
    }
    // A number that may be null (undefined); absent is allowed unless `required`.
    Num num(const nlohmann::json& obj, const std::string& path, const char* key, bool required) const {
        auto* v = opt(obj, key);
        if (!v) {
            if (required) throw Error("{}: {}{}: required field missing", where, path, key);
            return std::nullopt;
        }
        if (v->is_null()) return std::nullopt;
        if (!v->is_number()) throw Error("{}: {}{}: expected a number, got {}", where, path, key, v->dump());
        double d = v->get<double>();
        if (!std::isfinite(d)) throw Error("{}: {}{}: expected a finite number", where, path, key);
        return d;
    }
    std::optional<int64_t> integer(const nlohmann::json& obj, const std::string& path, const char* key,
                                   bool required) const {
        auto* v = opt(obj, key);
        if (!v || v->is_null()) {
            if (required) throw Error("{}: {}{}: required field missing", where, path, key);
            return std::nullopt;
        }
        if (!v->is_number_integer() || v->get<int64_t>() < 0)
            throw Error("{}: {}{}: expected a non-negative integer, got {}", where, path, key, v->dump());
        return v->get<int64_t>();
    }
    std::string str(const nlohmann::json& obj, const char* key) const {
        auto* v = opt(obj, key);
        return v && v->is_string() ? v->get<std::string>() : std::string();
    }
    void interval(const nlohmann::json& obj, const std::string& path, const char* key, Num& lo, Num& hi) const {
        auto* v = opt(obj, key);
        if (!v || v->is_null()) return;
        if (!v->is_array() || v->size() != 2 || !(*v)[0].is_number() || !(*v)[1].is_number())
            throw Error("{}: {}{}: expected [lo, hi] numbers or null, got {}", where, path, key, v->dump());
        lo = (*v)[0].get<double>();
        hi = (*v)[1].get<double>();
        if (*lo > *hi) throw Error("{}: {}{}: lo {} > hi {}", where, path, key, *lo, *hi);
    }
};

}  // namespace

// Long by nature: one record's fields in schema order (docs/record-schema.md), each check beside its field.
Record parse_record(const nlohmann::json& j, const std::string& where) {
    Reader r{where};
    if (!j.is_object()) throw Error("{}: record: expected a JSON object, got {}", where, j.type_name());
    Record rec;
    rec.raw = j;
    auto* schema = r.opt(j, "schema");
    if (!schema || !schema->is_string()) throw Error("{}: record.schema: required string missing", where);
    if (schema->get<std::string>() != "ropebench.eval/1")
        throw Error("{}: record.schema: expected \"ropebench.eval/1\", got {}", where, schema->dump());
    r.integer(j, "record.", "ctx", true);
    if (auto* m = r.opt(j, "model")) {
        if (!m->is_object()) throw Error("{}: record.model: expected an object", where);
        rec.model_path = r.str(*m, "path");
        rec.dtype = r.str(*m, "dtype");
        rec.config_hash = r.str(*m, "config_hash");
        rec.quantisation = r.str(*m, "quantisation");
        rec.trained_ctx = r.integer(*m, "record.model.", "trained_ctx", false);
        if (!rec.trained_ctx) rec.trained_ctx = r.integer(*m, "record.model.", "max_position_embeddings", false);
        rec.head_dim = r.integer(*m, "record.model.", "head_dim", false);
        rec.rope_theta = r.num(*m, "record.model.", "rope_theta", false);
        rec.partial_rotary_factor = r.num(*m, "record.model.", "partial_rotary_factor", false);
    }
    rec.rope_resolved = nullptr;
    if (auto* ro = r.opt(j, "rope")) {
        if (!ro->is_object()) throw Error("{}: record.rope: expected an object", where);
        if (auto* res = r.opt(*ro, "resolved"); res && res->is_object()) {
            rec.rope_resolved = *res;
            if (!rec.rope_theta) rec.rope_theta = r.num(*res, "record.rope.resolved.", "rope_theta", false);
        }
        rec.attention_factor = r.num(*ro, "record.rope.", "attention_factor", false);
    }
    rec.wall_s = r.num(j, "record.", "wall_s", false);
    const auto& metrics = r.req_obj(j, "record.", "metrics");
    if (auto* p = r.opt(metrics, "ppl")) {
        if (!p->is_object()) throw Error("{}: record.metrics.ppl: expected an object", where);
        const std::string path = "record.metrics.ppl.";
        PplResult pr;
        pr.ppl = r.num(*p, path, "ppl", true);
        if (pr.ppl && !(*pr.ppl > 0)) throw Error("{}: {}ppl: expected a positive number, got {}", where, path, *pr.ppl);
        pr.mean_nll = r.num(*p, path, "mean_nll", false);
        pr.tokens_scored = *r.integer(*p, path, "tokens_scored", true);
        r.interval(*p, path, "ci95", pr.ci_lo, pr.ci_hi);
        pr.protocol = r.str(*p, "protocol");
        pr.documents_used = r.integer(*p, path, "documents_used", false);
        pr.documents_skipped = r.integer(*p, path, "documents_skipped", false);
        pr.wall_s = r.num(*p, path, "wall_s", false);
        if (auto* b = r.opt(*p, "buckets"); b && !b->is_null()) {
            if (!b->is_object()) throw Error("{}: {}buckets: expected an object", where, path);
            PplBuckets bk;
            bk.size = *r.integer(*b, path + "buckets.", "size", true);
            auto* s = r.opt(*b, "nll_sum");
            auto* c = r.opt(*b, "count");
            if (!s || !c || !s->is_array() || !c->is_array() || s->size() != c->size())
                throw Error("{}: {}buckets: expected nll_sum and count arrays of equal length", where, path);
            for (size_t i = 0; i < s->size(); i++) {
                if (!(*s)[i].is_number() || !(*c)[i].is_number())
                    throw Error("{}: {}buckets: element {} is not a number", where, path, i);
                bk.nll_sum.push_back((*s)[i].get<double>());
                bk.count.push_back((*c)[i].get<double>());
            }
            if (bk.size <= 0) throw Error("{}: {}buckets.size: expected a positive integer", where, path);
            pr.buckets = std::move(bk);
        }
        if (auto* sp = r.opt(*p, "split"); sp && sp->is_object()) pr.split = true;
        if (auto* pd = r.opt(*p, "per_doc"); pd && pd->is_array()) {
            for (size_t i = 0; i < pd->size(); i++) {
                const auto& d = (*pd)[i];
                std::string dp = fmt::format("{}per_doc[{}].", path, i);
                if (!d.is_object()) throw Error("{}: {}: expected an object", where, dp);
                pr.doc_nll.push_back(*r.num(d, dp, "nll_sum", true));
                pr.doc_tokens.push_back(*r.integer(d, dp, "tokens", true));
            }
        }
        rec.ppl = std::move(pr);
    }
    if (auto* p = r.opt(metrics, "passkey")) {
        if (!p->is_object()) throw Error("{}: record.metrics.passkey: expected an object", where);
        const std::string path = "record.metrics.passkey.";
        PasskeyResult pk;
        pk.trials = *r.integer(*p, path, "trials", true);
        pk.correct = *r.integer(*p, path, "correct", true);
        if (pk.correct > pk.trials)
            throw Error("{}: {}correct: {} exceeds trials {}", where, path, pk.correct, pk.trials);
        Num acc = r.num(*p, path, "accuracy", true);
        if (acc && (*acc < 0 || *acc > 1)) throw Error("{}: {}accuracy: expected 0..1, got {}", where, path, *acc);
        pk.accuracy = acc ? *acc : (pk.trials ? static_cast<double>(pk.correct) / static_cast<double>(pk.trials) : 0.0);
        r.interval(*p, path, "ci95", pk.ci_lo, pk.ci_hi);
        if (!pk.ci_lo) {
            Interval w = wilson(pk.correct, pk.trials);
            pk.ci_lo = w.lo;
            pk.ci_hi = w.hi;
        }
        pk.wall_s = r.num(*p, path, "wall_s", false);
        if (auto* pd = r.opt(*p, "per_depth"); pd && !pd->is_null()) {
            if (!pd->is_array()) throw Error("{}: {}per_depth: expected an array", where, path);
            for (size_t i = 0; i < pd->size(); i++) {
                const auto& e = (*pd)[i];
                std::string ep = fmt::format("{}per_depth[{}].", path, i);
                if (!e.is_object()) throw Error("{}: {}: expected an object", where, ep);
                PasskeyDepth d;
                d.depth = *r.num(e, ep, "depth", true);
                d.trials = *r.integer(e, ep, "trials", true);
                d.correct = *r.integer(e, ep, "correct", true);
                if (d.correct > d.trials) throw Error("{}: {}correct: exceeds trials", where, ep);
                pk.per_depth.push_back(d);
            }
        }
        rec.passkey = std::move(pk);
    }
    if (auto* p = r.opt(metrics, "longppl")) {
        if (!p->is_object()) throw Error("{}: record.metrics.longppl: expected an object", where);
        const std::string path = "record.metrics.longppl.";
        LongPplResult lp;
        lp.longppl = r.num(*p, path, "longppl", true);
        if (lp.longppl && !(*lp.longppl > 0))
            throw Error("{}: {}longppl: expected a positive number, got {}", where, path, *lp.longppl);
        lp.n_key = r.integer(*p, path, "n_key", false);
        if (auto* d = r.opt(*p, "documents"); d && d->is_number_integer()) lp.documents = d->get<int64_t>();
        lp.wall_s = r.num(*p, path, "wall_s", false);
        rec.longppl = std::move(lp);
    }
    return rec;
}

Store read_store(const std::string& path) {
    if (!std::filesystem::is_regular_file(path)) throw Error("{}: no such file (expected a results store)", path);
    // Read-only, so a store in a read-only folder (or on read-only media) can be reported.
    sqlite::Db db(path, sqlite::Open::read_only, 5000);
    Store st;
    st.path = path;
    auto prepare = [&](const char* sql) {
        try {
            return std::make_unique<sqlite::Stmt>(db, sql);
        } catch (const Error&) {
            throw Error("{}: not a results store (schema version 1): {}", path, db.last_error());
        }
    };
    if (db.immutable()) {
        std::error_code ec;
        if (std::filesystem::file_size(path + "-wal", ec) > 0 && !ec)
            st.warnings.push_back("the folder is read-only, so the store's -wal file was not read: rows committed "
                                  "since the last checkpoint may be missing");
    }
    {
        auto m = prepare("SELECT key, value FROM meta");
        while (m->step()) st.meta[m->str(0)] = m->str(1);
        auto it = st.meta.find("schema_version");
        if (it == st.meta.end()) st.warnings.push_back("meta.schema_version missing; read as schema version 1");
        else if (it->second != "1") throw Error("{}: meta.schema_version: expected 1, got {}", path, it->second);
    }
    auto q = prepare(
        "SELECT id, method, ctx, params, status, record, error, attempts, started_at, finished_at, wall_s, worker, "
        "version FROM experiments");
    while (q->step()) {
        Experiment e;
        e.id = q->str(0);
        std::string where = fmt::format("{}: row {}", path, e.id);
        e.method = q->str(1);
        if (e.method.empty()) throw Error("{}: method: empty", where);
        if (!q->is_integer(2)) throw Error("{}: ctx: expected an integer", where);
        e.ctx = q->integer(2);
        try {
            e.params = nlohmann::json::parse(q->str(3));
        } catch (const nlohmann::json::exception& ex) {
            throw Error("{}: params: invalid JSON: {}", where, ex.what());
        }
        e.config = config_label(e.method, e.params);
        std::string status = q->str(4);
        if (status == "pending") e.status = Status::pending;
        else if (status == "running") e.status = Status::running;
        else if (status == "done") e.status = Status::done;
        else if (status == "failed") e.status = Status::failed;
        else throw Error("{}: status: expected pending|running|done|failed, got '{}'", where, status);
        e.error = q->str(6);
        e.attempts = q->integer(7);
        e.started_at = q->str(8);
        e.finished_at = q->str(9);
        e.wall_s = q->real(10);
        e.worker = q->str(11);
        e.version = q->str(12);
        if (e.status == Status::done) {
            if (q->is_null(5)) throw Error("{}: record: missing for a done row", where);
            nlohmann::json j;
            try {
                j = nlohmann::json::parse(q->str(5));
            } catch (const nlohmann::json::exception& ex) {
                throw Error("{}: record: invalid JSON: {}", where, ex.what());
            }
            e.record = parse_record(j, where);
            if (j["ctx"].get<int64_t>() != e.ctx)
                throw Error("{}: record.ctx: {} differs from the row's ctx {}", where, j["ctx"].get<int64_t>(), e.ctx);
            if (!e.wall_s) e.wall_s = e.record->wall_s;
        }
        st.experiments.push_back(std::move(e));
    }
    std::stable_sort(st.experiments.begin(), st.experiments.end(), [](const Experiment& a, const Experiment& b) {
        return std::tie(a.method, a.ctx, a.config, a.id) < std::tie(b.method, b.ctx, b.config, b.id);
    });
    return st;
}

}  // namespace rb::report
