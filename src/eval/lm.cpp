#include "eval/lm.h"

#include <algorithm>
#include <atomic>

#include "util/error.h"

namespace rb {
namespace {

std::atomic<bool> g_sharing{true};

}  // namespace

bool sharing_enabled() { return g_sharing.load(); }
void set_sharing_enabled(bool on) { g_sharing.store(on); }

RopeTables tables_for_length(const RopeConfig& rope, int seq_len) {
    RopeState st(rope);
    return st.for_call(seq_len);
}

bool ScoreCache::lookup(const RopeTables& t, const int* tokens, int n, const int* targets, double* lp) const {
    for (auto it = m_entries.rbegin(); it != m_entries.rend(); ++it) {
        const Entry& e = *it;
        const int m = static_cast<int>(e.tokens.size());
        if (m < n || !(e.tables == t) || !std::equal(tokens, tokens + n, e.tokens.begin())) continue;
        bool covered = true;
        for (int i = 0; i < n && covered; i++)
            if (targets[i] >= 0) covered = i + 1 < m && e.tokens[i + 1] == targets[i];
        if (!covered) continue;
        for (int i = 0; i < n; i++)
            if (targets[i] >= 0) lp[i] = e.next_lp[i];
        return true;
    }
    return false;
}

void ScoreCache::store(const RopeTables& t, const int* tokens, int n, const double* next_lp) {
    if (n < 2 || n > m_max_tokens) return;
    // A stored window that is a prefix of this one (same tables) adds nothing any more.
    for (auto it = m_entries.begin(); it != m_entries.end();) {
        if (static_cast<int>(it->tokens.size()) <= n && it->tables == t &&
            std::equal(it->tokens.begin(), it->tokens.end(), tokens)) {
            m_tokens -= static_cast<int64_t>(it->tokens.size());
            it = m_entries.erase(it);
        } else {
            ++it;
        }
    }
    while (!m_entries.empty() && m_tokens + n > m_max_tokens) {
        m_tokens -= static_cast<int64_t>(m_entries.front().tokens.size());
        m_entries.pop_front();
    }
    m_entries.push_back({t, std::vector<int>(tokens, tokens + n), std::vector<double>(next_lp, next_lp + n - 1)});
    m_tokens += n;
}

ModelLm::~ModelLm() = default;

void ModelLm::score(const int* tokens, int n, const int* targets, double* lp) {
    RB_CHECK(n > 0);
    // The cache holds next-token log-probs only: other targets go straight to the model.
    bool next_only = true;
    for (int i = 0; i + 1 < n && next_only; i++) next_only = targets[i] < 0 || targets[i] == tokens[i + 1];
    ScoreCache* cache = m_cache && sharing_enabled() && next_only ? m_cache : nullptr;
    auto s = m_model.new_session(n, m_rope);
    if (!cache) {
        m_model.forward(*s, tokens, n, targets, lp, nullptr, nullptr);
        m_tokens_processed += n;
        return;
    }
    const RopeTables t = tables_for_length(m_rope, n);
    if (cache->lookup(t, tokens, n, targets, lp)) return;
    // Every next token scored (the LM head computes each row anyway), so the window serves
    // any later request.
    std::vector<int> tg(tokens + 1, tokens + n);
    tg.push_back(targets[n - 1]);
    std::vector<double> all(n);
    m_model.forward(*s, tokens, n, tg.data(), all.data(), nullptr, nullptr);
    m_tokens_processed += n;
    for (int i = 0; i < n; i++)
        if (targets[i] >= 0) lp[i] = all[i];
    cache->store(t, tokens, n, all.data());
}

std::vector<int> ModelLm::generate(const std::vector<int>& prompt, int max_new) {
    RB_CHECK(!prompt.empty() && max_new >= 0);
    auto s = m_model.new_session(static_cast<int>(prompt.size()) + max_new, m_rope);
    std::vector<int> out = m_model.generate_greedy(*s, prompt, max_new, true);
    m_tokens_processed += static_cast<int64_t>(prompt.size() + out.size());
    return out;
}

std::vector<int> ModelLm::generate_shared(const std::vector<int>& prompt, int max_new, int keep, int capacity) {
    if (!sharing_enabled()) return generate(prompt, max_new);
    RB_CHECK(!prompt.empty() && max_new >= 0);
    const int P = static_cast<int>(prompt.size());
    // One call over the whole prompt would run with these tables and leave this state.
    RopeState at_prompt(m_rope);
    const RopeTables tables = at_prompt.for_call(P);
    if (!m_shared || m_shared->capacity() < P + max_new) {
        m_shared = m_model.new_session(std::max(P + max_new, capacity), m_rope);
        m_kept.clear();
    }
    // Kept tokens this prompt starts with (under equal tables), leaving at least one prompt
    // token to run: its argmax is the first new token.
    int common = 0;
    if (m_kept_tables == tables) {
        const int lim = std::min(static_cast<int>(m_kept.size()), P - 1);
        while (common < lim && m_kept[common] == prompt[common]) common++;
    }
    Session& s = *m_shared;
    s.truncate(common, at_prompt);
    keep = std::clamp(keep, 0, P - 1);
    if (keep > common) {  // extend the shared prefix, with the tables of the full prompt
        m_model.forward_with_rope_len(s, P, prompt.data() + common, keep - common, nullptr, nullptr, nullptr, nullptr);
        m_tokens_processed += keep - common;
    }
    const int kept = std::max(keep, common);
    const std::vector<int> rest(prompt.begin() + kept, prompt.end());
    std::vector<int> out = m_model.generate_greedy(s, rest, max_new, true);  // its first call: tables of P
    m_tokens_processed += static_cast<int64_t>(rest.size() + out.size());
    s.truncate(kept, at_prompt);
    m_kept.assign(prompt.begin(), prompt.begin() + kept);
    m_kept_tables = tables;
    return out;
}

void ModelLm::end_shared() {
    m_shared.reset();
    m_kept.clear();
}

}  // namespace rb
