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
// re.search(r'\d+') + int comparison). This is protocol `grid` (the default).
//
// Protocol `yarn` reproduces the published script instead (jquesnelle/yarn
// eval/passkey.py, generate_prompt and the length search in main, itself from
// epfml/landmark-attention llama/run_test.py), with Python's `random` reproduced bit for
// bit (PyRandom) after random.seed(seed):
//   generate_prompt(n): n_prefix = randint(0, n); garbage_inf = the five sentences as one
//   string, repeated 2000 times joined by " "; prefix = garbage_inf[:n_prefix], suffix =
//   garbage_inf[:n − n_prefix] (the suffix restarts the filler); key = randint(1, 50000)
//   (1 to 5 digits); the same five lines joined by "\n".
//   Length rule for L (the script with --min-tokens L --max-tokens L): n = 0, then
//   n += 25 while the last drawn prompt had fewer than L tokens (BOS included, as
//   tokenizer.encode counts them); n_garbage = the n before the last step. Each step
//   draws a prompt (two draws), as the script does.
//   Then `trials` prompts generate_prompt(n_garbage), in order. The depth of a trial is
//   n_prefix / n_garbage (characters; 0 when n_garbage = 0); per_depth groups trials by
//   depth rounded to tenths. Prompts may end a few tokens past L − 1 (their draws differ
//   from the search's); the KV capacity is the longest prompt + max_new_tokens. Decoding
//   and scoring as above (the script's pipeline decodes under the checkpoint's generation
//   config; greedy is its deterministic case). The length search tokenizes one prompt per
//   25 characters, as the script does: its cost grows with L² (about 4 s of one core at
//   L = 8192 with a 512-piece vocabulary).
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "eval/lm.h"
#include "eval/py_random.h"
#include "tokenizer/tokenizer.h"

namespace rb {

/// "grid" (default) or "yarn"; FieldError "passkey.protocol" otherwise.
void check_passkey_protocol(const std::string& protocol);

struct PasskeyPrompt {
    double depth = 0;             // requested
    int trial = 0;
    std::string key;              // 5 digits
    std::string text;             // the prompt text (no BOS)
    std::vector<int> tokens;      // [BOS] + encode(text), BOS where the tokenizer adds one (leading_bos)
    int sentences = 0;            // n filler sentences in total
    int needle_sentence = 0;      // k: sentences before the needle
    int needle_token = 0;         // index in `tokens` of the first token covering the needle
    int n_garbage = 0;            // yarn: filler characters (prefix + suffix)
    int n_prefix = 0;             // yarn: filler characters before the needle
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

/// The YaRN/Landmark script's generate_prompt(n_garbage) (yarn protocol): draws
/// randint(0, n_garbage) then randint(1, 50000) from `rng`; `tokens` = BOS + encode(text).
/// Throws Error when n_garbage exceeds the script's filler string.
PasskeyPrompt yarn_passkey_prompt(PyRandom& rng, const Tokenizer& tok, int n_garbage);
/// The script's length search for `target` tokens (step 25 characters), drawing from `rng`.
int yarn_passkey_garbage(PyRandom& rng, const Tokenizer& tok, int target);

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
    int n_garbage = 0, n_prefix = 0;  // yarn
    std::string output;
    bool correct = false;
};

struct PasskeyDepth {
    double depth = 0;
    int trials = 0, correct = 0;
};

struct PasskeyResult {
    int ctx = 0;
    std::string protocol = "grid";
    int n_garbage = 0;                 // yarn: from the length search
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

/// The yarn protocol at L = ctx: random.seed(seed), the length search, `trials` prompts.
PasskeyResult run_passkey_yarn(LanguageModel& lm, const Tokenizer& tok, int ctx, int trials, uint64_t seed,
                               int max_new_tokens, const std::function<void(int64_t, int64_t)>& progress = {});

}  // namespace rb
