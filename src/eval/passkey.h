// Passkey retrieval (Landmark-attention prompt; DESIGN.md, methodology.md §3).
//
// Prompt (Landmark / YaRN / LongRoPE assembly: five parts joined by "\n"):
//   task \n prefix \n needle \n suffix \n question
// with task = "There is an important info hidden inside a lot of irrelevant text. Find it
// and memorize them. I will quiz you about the important information there.", needle =
// "The pass key is K. Remember it. K is the pass key.", question = "What is the pass key?
// The pass key is". Unlike the reference (which cuts the garbage string at a character
// count, mid-sentence), the garbage here is n whole filler sentences joined by single
// spaces ("The grass is green." "The sky is blue." "The sun is yellow." "Here we go."
// "There and back again.", cycled; or the sentences of a haystack file); the needle goes
// after sentence k = round(depth · n), so the depth is exact in sentences; the suffix
// continues the cycle. n is the largest count whose prompt ([BOS] + tokens) leaves room for
// max_new_tokens within L. Keys are 5-digit (10000–99999, the papers' "five-digit number").
// Everything random comes from (seed, L, depth, trial), so every method/config sees the
// same prompts. Decoding: greedy with the KV cache; correct when the first run of ASCII
// digits in the decoded output equals the key as an integer (the reference's
// re.search(r'\d+') + int comparison).
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "eval/lm.h"
#include "tokenizer/tokenizer.h"

namespace rb {

struct PasskeyPrompt {
    double depth = 0;             // requested
    int trial = 0;
    std::string key;              // 5 digits
    std::string text;             // the prompt text (no BOS)
    std::vector<int> tokens;      // [BOS] + encode(text), BOS where the tokenizer adds one (leading_bos)
    int sentences = 0;            // n filler sentences in total
    int needle_sentence = 0;      // k: sentences before the needle
    int needle_token = 0;         // index in `tokens` of the first token covering the needle
};

/// The canonical filler sentences, in cycle order.
const std::vector<std::string>& passkey_filler_sentences();
/// Splits a haystack text into sentences (runs ending in '.', '!' or '?' followed by
/// whitespace; whitespace collapsed to single spaces). Throws Error when there are none.
std::vector<std::string> split_sentences(const std::string& text, const std::string& source);

/// The deterministic key for (seed, L, depth, trial).
std::string passkey_key(uint64_t seed, int ctx, double depth, int trial);

/// Builds the prompt for one trial. Throws Error when even a prompt without filler does
/// not fit (BOS + prompt + max_new_tokens > ctx).
PasskeyPrompt make_passkey_prompt(const Tokenizer& tok, int ctx, double depth, int trial, uint64_t seed,
                                  int max_new_tokens, const std::vector<std::string>& filler);

/// True when the first run of ASCII digits in `output` equals `key` as an integer.
bool passkey_correct(const std::string& output, const std::string& key);

struct PasskeyTrial {
    double depth = 0;
    int trial = 0;
    std::string key;
    int prompt_tokens = 0;
    int needle_token = 0;
    int sentences = 0;
    int needle_sentence = 0;
    std::string output;
    bool correct = false;
};

struct PasskeyDepth {
    double depth = 0;
    int trials = 0, correct = 0;
};

struct PasskeyResult {
    int ctx = 0;
    std::vector<PasskeyTrial> trials;
    std::vector<PasskeyDepth> per_depth;
    int n_trials = 0, n_correct = 0;
    double accuracy() const { return n_trials ? static_cast<double>(n_correct) / n_trials : 0; }
};

/// Greedy outputs (max_new_tokens, stop at EOS) of every prompt, in the order given, run
/// depth by depth (ascending) through lm.generate_shared so that prompts sharing the
/// haystack before a needle compute it once; the same outputs as lm.generate per prompt.
/// `capacity` bounds prompt + max_new_tokens (the passkey L).
std::vector<std::vector<int>> generate_passkey_outputs(LanguageModel& lm, const std::vector<PasskeyPrompt>& prompts,
                                                       int capacity, int max_new_tokens,
                                                       const std::function<void(int64_t, int64_t)>& progress = {});

/// Runs every (depth, trial). Depths must lie in [0, 1]; trials ≥ 1.
PasskeyResult run_passkey(LanguageModel& lm, const Tokenizer& tok, int ctx, const std::vector<double>& depths,
                          int trials, uint64_t seed, int max_new_tokens, const std::vector<std::string>& filler,
                          const std::function<void(int64_t, int64_t)>& progress = {});

}  // namespace rb
