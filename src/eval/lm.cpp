#include "eval/lm.h"

#include "util/error.h"

namespace rb {

void ModelLm::score(const int* tokens, int n, const int* targets, double* lp) {
    RB_CHECK(n > 0);
    auto s = m_model.new_session(n, m_rope);
    m_model.forward(*s, tokens, n, targets, lp, nullptr, nullptr);
    m_tokens_processed += n;
}

std::vector<int> ModelLm::generate(const std::vector<int>& prompt, int max_new) {
    RB_CHECK(!prompt.empty() && max_new >= 0);
    auto s = m_model.new_session(static_cast<int>(prompt.size()) + max_new, m_rope);
    std::vector<int> out = m_model.generate_greedy(*s, prompt, max_new, true);
    m_tokens_processed += static_cast<int64_t>(prompt.size() + out.size());
    return out;
}

}  // namespace rb
