#include "eval/passkey.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>

#include "eval/documents.h"
#include "formats/model_config.h"
#include "util/error.h"
#include "util/log.h"

namespace rb {
namespace {

const char* k_task =
    "There is an important info hidden inside a lot of irrelevant text. Find it and memorize them. "
    "I will quiz you about the important information there.";
const char* k_question = "What is the pass key? The pass key is";

uint64_t splitmix64(uint64_t& x) {
    uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

std::string join_sentences(const std::vector<std::string>& filler, int from, int to) {
    std::string s;
    for (int i = from; i < to; i++) {
        if (i > from) s += ' ';
        s += filler[static_cast<size_t>(i) % filler.size()];
    }
    return s;
}

// The needle line of the Landmark / YaRN prompt.
std::string needle_line(const std::string& key) {
    return "The pass key is " + key + ". Remember it. " + key + " is the pass key.";
}

// p.tokens = BOS + encode(p.text); p.needle_token = the first token ending past byte `off`
// (where the needle line starts).
// The prompt's tokens (BOS by the tokenizer's own rule) and the first token covering the
// needle, which starts at byte `off` of the text.
void tokenize_prompt(const Tokenizer& tok, size_t off, PasskeyPrompt& p) {
    const int bos = tok.leading_bos();  // -1: the tokenizer adds no BOS
    const int n_bos = bos >= 0 ? 1 : 0;
    auto spans = tok.encode_with_spans(p.text);
    p.tokens.reserve(spans.size() + 1);
    if (bos >= 0) p.tokens.push_back(bos);
    p.needle_token = -1;
    for (size_t j = 0; j < spans.size(); j++) {
        p.tokens.push_back(spans[j].id);
        if (p.needle_token < 0 && spans[j].end > off) p.needle_token = static_cast<int>(j) + n_bos;
    }
    RB_CHECK(p.needle_token >= 0, "needle not found in the passkey prompt");
}

}  // namespace

void check_passkey_protocol(const std::string& protocol) {
    if (protocol != "grid" && protocol != "yarn")
        throw FieldError("passkey.protocol", "expected grid or yarn, got '{}'", protocol);
}

const std::vector<std::string>& passkey_filler_sentences() {
    static const std::vector<std::string> s = {"The grass is green.", "The sky is blue.", "The sun is yellow.",
                                               "Here we go.", "There and back again."};
    return s;
}

std::vector<std::string> split_sentences(const std::string& text, const std::string& source) {
    check_document_text(text, source);  // a binary file (NUL bytes, not UTF-8) is no haystack
    std::vector<std::string> out;
    std::string cur;
    bool pending_space = false;
    for (size_t i = 0; i < text.size(); i++) {
        char c = text[i];
        if (std::isspace(static_cast<unsigned char>(c))) {
            if (!cur.empty()) pending_space = true;
            continue;
        }
        if (pending_space) cur += ' ';
        pending_space = false;
        cur += c;
        bool end = (c == '.' || c == '!' || c == '?') &&
                   (i + 1 == text.size() || std::isspace(static_cast<unsigned char>(text[i + 1])));
        if (end) {
            out.push_back(cur);
            cur.clear();
        }
    }
    if (out.empty()) throw Error("{}: no sentences (text ending in '.', '!' or '?') for the passkey haystack", source);
    return out;
}

std::string passkey_key(uint64_t seed, int ctx, double depth, int trial) {
    uint64_t x = seed;
    uint64_t h = splitmix64(x);
    x = h ^ static_cast<uint64_t>(ctx);
    h = splitmix64(x);
    x = h ^ static_cast<uint64_t>(std::llround(depth * 1e6));
    h = splitmix64(x);
    x = h ^ static_cast<uint64_t>(trial);
    h = splitmix64(x);
    return std::to_string(10000 + h % 90000);
}

PasskeyPrompt make_passkey_prompt(const Tokenizer& tok, int ctx, double depth, int trial, uint64_t seed,
                                  int max_new_tokens, const std::vector<std::string>& filler) {
    RB_CHECK(!filler.empty());
    check_context_length(ctx);
    if (!(depth >= 0 && depth <= 1)) throw FieldError("passkey.depths", "each depth must be in [0, 1], got {}", depth);
    PasskeyPrompt p;
    p.depth = depth;
    p.trial = trial;
    p.key = passkey_key(seed, ctx, depth, trial);
    const std::string needle = needle_line(p.key);
    const int budget = ctx - max_new_tokens;
    auto build = [&](int n, int* k, size_t* needle_off) {
        *k = static_cast<int>(std::llround(depth * n));
        std::string prefix = join_sentences(filler, 0, *k);
        std::string t = std::string(k_task) + "\n" + prefix + "\n";
        *needle_off = t.size();
        t += needle + "\n" + join_sentences(filler, *k, n) + "\n" + k_question;
        return t;
    };
    const int bos = tok.leading_bos();  // -1: the tokenizer adds no BOS
    const int n_bos = bos >= 0 ? 1 : 0;
    auto count = [&](int n) {
        int k;
        size_t off;
        return n_bos + static_cast<int>(tok.encode(build(n, &k, &off)).size());
    };
    if (count(0) > budget)
        throw Error("--ctx: {} is too short for a passkey prompt: the prompt without filler has {} tokens + {} new tokens",
                    ctx, count(0), max_new_tokens);
    // Largest n with count(n) <= budget (token count grows with n): bracket by doubling, then bisect.
    int lo = 0, hi = 1;
    while (count(hi) <= budget) {
        lo = hi;
        hi *= 2;
        RB_CHECK(hi <= 4 * ctx + 64, "filler sentences add no tokens");
    }
    while (hi - lo > 1) {
        int mid = lo + (hi - lo) / 2;
        (count(mid) <= budget ? lo : hi) = mid;
    }
    size_t off = 0;
    p.sentences = lo;
    p.text = build(lo, &p.needle_sentence, &off);
    tokenize_prompt(tok, off, p);
    RB_CHECK(static_cast<int>(p.tokens.size()) <= budget);
    return p;
}

PasskeyPrompt yarn_passkey_prompt(PyRandom& rng, const Tokenizer& tok, int n_garbage) {
    // garbage_inf = " ".join([garbage] * 2000), garbage = the five sentences joined by " ".
    static const std::string garbage_inf = [] {
        std::string g = join_sentences(passkey_filler_sentences(), 0, 5), s;
        for (int i = 0; i < 2000; i++) s += (i ? " " : "") + g;
        return s;
    }();
    if (n_garbage < 0 || static_cast<size_t>(n_garbage) > garbage_inf.size())
        throw Error("passkey (yarn): {} filler characters exceed the script's filler string ({} characters); L is "
                    "too long for the yarn protocol",
                    n_garbage, garbage_inf.size());
    PasskeyPrompt p;
    p.n_garbage = n_garbage;
    p.n_prefix = static_cast<int>(rng.randint(0, n_garbage));
    p.key = std::to_string(rng.randint(1, 50000));
    p.depth = n_garbage ? static_cast<double>(p.n_prefix) / n_garbage : 0.0;
    const std::string needle = needle_line(p.key);
    std::string t = std::string(k_task) + "\n" + garbage_inf.substr(0, static_cast<size_t>(p.n_prefix)) + "\n";
    const size_t off = t.size();
    t += needle + "\n" + garbage_inf.substr(0, static_cast<size_t>(n_garbage - p.n_prefix)) + "\n" + k_question;
    p.text = std::move(t);
    tokenize_prompt(tok, off, p);
    return p;
}

int yarn_passkey_garbage(PyRandom& rng, const Tokenizer& tok, int target) {
    // main(): for target in tokens: while num_tokens < target: last_n = n; n += length_step;
    // num_tokens = len(tokenizer.encode(generate_prompt(n)[0])).
    constexpr int length_step = 25;
    int last_n = 0, n = 0, num_tokens = 0;
    while (num_tokens < target) {
        last_n = n;
        n += length_step;
        num_tokens = static_cast<int>(yarn_passkey_prompt(rng, tok, n).tokens.size());
    }
    return last_n;
}

bool passkey_correct(const std::string& output, const std::string& key) {
    size_t i = 0;
    while (i < output.size() && !std::isdigit(static_cast<unsigned char>(output[i]))) i++;
    if (i == output.size()) return false;
    size_t j = i;
    while (j < output.size() && std::isdigit(static_cast<unsigned char>(output[j]))) j++;
    auto strip = [](std::string s) {
        size_t z = s.find_first_not_of('0');
        return z == std::string::npos ? std::string("0") : s.substr(z);
    };
    return strip(output.substr(i, j - i)) == strip(key);
}

std::vector<std::vector<int>> generate_passkey_outputs(LanguageModel& lm, const std::vector<PasskeyPrompt>& prompts,
                                                       int capacity, int max_new_tokens,
                                                       const std::function<void(int64_t, int64_t)>& progress) {
    // Run order: depth ascending (stable: trials in order), so the haystack before each
    // needle extends the prefix kept from the shallower depths.
    std::vector<size_t> order(prompts.size());
    for (size_t i = 0; i < order.size(); i++) order[i] = i;
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return prompts[a].depth < prompts[b].depth; });
    std::vector<std::vector<int>> out(prompts.size());
    for (size_t k = 0; k < order.size(); k++) {
        const std::vector<int>& p = prompts[order[k]].tokens;
        // Keep what the next prompt has in common with this one.
        size_t keep = 0;
        if (k + 1 < order.size()) {
            const std::vector<int>& q = prompts[order[k + 1]].tokens;
            while (keep < p.size() && keep < q.size() && p[keep] == q[keep]) keep++;
        }
        out[order[k]] = lm.generate_shared(p, max_new_tokens, static_cast<int>(keep), capacity);
        if (progress) progress(static_cast<int64_t>(k + 1), static_cast<int64_t>(order.size()));
    }
    lm.end_shared();
    return out;
}

namespace {

// Scores the outputs (prompts and outputs in order); per_depth is left to the caller.
PasskeyResult score_passkey(const Tokenizer& tok, const std::vector<PasskeyPrompt>& prompts,
                            const std::vector<std::vector<int>>& outputs) {
    PasskeyResult r;
    for (size_t j = 0; j < prompts.size(); j++) {
        const PasskeyPrompt& p = prompts[j];
        PasskeyTrial tr;
        tr.depth = p.depth;
        tr.trial = p.trial;
        tr.key = p.key;
        tr.prompt_tokens = static_cast<int>(p.tokens.size());
        tr.needle_token = p.needle_token;
        tr.sentences = p.sentences;
        tr.needle_sentence = p.needle_sentence;
        tr.n_garbage = p.n_garbage;
        tr.n_prefix = p.n_prefix;
        tr.output = tok.decode(outputs[j]);
        tr.correct = passkey_correct(tr.output, p.key);
        r.n_trials++;
        r.n_correct += tr.correct;
        r.trials.push_back(std::move(tr));
    }
    return r;
}

void check_trials(int trials, int max_new_tokens) {
    if (trials < 1) throw FieldError("passkey.trials", "must be at least 1, got {}", trials);
    if (max_new_tokens < 1) throw FieldError("passkey.max_new_tokens", "must be at least 1, got {}", max_new_tokens);
}

}  // namespace

PasskeyResult run_passkey(LanguageModel& lm, const Tokenizer& tok, int ctx, const std::vector<double>& depths,
                          int trials, uint64_t seed, int max_new_tokens, const std::vector<std::string>& filler,
                          const std::function<void(int64_t, int64_t)>& progress) {
    if (depths.empty()) throw FieldError("passkey.depths", "at least one depth is needed");
    check_trials(trials, max_new_tokens);
    std::vector<PasskeyPrompt> prompts;  // depth-major, the order of the result
    for (double depth : depths)
        for (int t = 0; t < trials; t++)
            prompts.push_back(make_passkey_prompt(tok, ctx, depth, t, seed, max_new_tokens, filler));
    const std::vector<std::vector<int>> outputs = generate_passkey_outputs(lm, prompts, ctx, max_new_tokens, progress);
    PasskeyResult r = score_passkey(tok, prompts, outputs);
    for (size_t k = 0; k < depths.size(); k++) {  // one entry per requested depth, in order
        PasskeyDepth pd{depths[k], trials, 0};
        for (int t = 0; t < trials; t++) pd.correct += r.trials[k * static_cast<size_t>(trials) + t].correct;
        r.per_depth.push_back(pd);
    }
    r.ctx = ctx;
    r.protocol = "grid";
    return r;
}

PasskeyResult run_passkey_yarn(LanguageModel& lm, const Tokenizer& tok, int ctx, int trials, uint64_t seed,
                               int max_new_tokens, const std::function<void(int64_t, int64_t)>& progress) {
    check_trials(trials, max_new_tokens);
    check_context_length(ctx);
    PyRandom rng(seed);
    const int n_garbage = yarn_passkey_garbage(rng, tok, ctx);
    std::vector<PasskeyPrompt> prompts;
    int capacity = 0;
    for (int t = 0; t < trials; t++) {
        prompts.push_back(yarn_passkey_prompt(rng, tok, n_garbage));
        prompts.back().trial = t;
        capacity = std::max(capacity, static_cast<int>(prompts.back().tokens.size()) + max_new_tokens);
    }
    const std::vector<std::vector<int>> outputs =
        generate_passkey_outputs(lm, prompts, capacity, max_new_tokens, progress);
    PasskeyResult r = score_passkey(tok, prompts, outputs);
    std::map<double, PasskeyDepth> bins;  // depth rounded to tenths, ascending
    for (const auto& t : r.trials) {
        const double g = std::round(t.depth * 10) / 10;
        PasskeyDepth& pd = bins.try_emplace(g, PasskeyDepth{g, 0, 0}).first->second;
        pd.trials++;
        pd.correct += t.correct;
    }
    for (const auto& [g, pd] : bins) r.per_depth.push_back(pd);
    r.ctx = ctx;
    r.protocol = "yarn";
    r.n_garbage = n_garbage;
    return r;
}

}  // namespace rb
