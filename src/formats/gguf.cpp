#include "formats/gguf.h"

#include <algorithm>
#include <cstring>
#include <set>

#include "formats/dtype_convert.h"
#include "util/error.h"
#include "util/mapped_file.h"

namespace rb {

bool GgufValue::is_integer() const {
    switch (type) {
        case GgufType::u8: case GgufType::i8: case GgufType::u16: case GgufType::i16: case GgufType::u32:
        case GgufType::i32: case GgufType::u64: case GgufType::i64: return true;
        default: return false;
    }
}
bool GgufValue::is_number() const {
    return is_integer() || type == GgufType::f32 || type == GgufType::f64 || type == GgufType::boolean;
}

std::string ggml_type_name(uint32_t t) {
    static const char* names[] = {"F32",    "F16",    "Q4_0",    "Q4_1",  "Q4_2",  "Q4_3",   "Q5_0",  "Q5_1",
                                  "Q8_0",   "Q8_1",   "Q2_K",    "Q3_K",  "Q4_K",  "Q5_K",   "Q6_K",  "Q8_K",
                                  "IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S", "IQ4_NL", "IQ3_S", "IQ2_S", "IQ4_XS",
                                  "I8",     "I16",    "I32",     "I64",   "F64",   "IQ1_M",  "BF16",  "Q4_0_4_4",
                                  "Q4_0_4_8", "Q4_0_8_8", "TQ1_0", "TQ2_0", "IQ4_NL_4_4", "IQ4_NL_4_8",
                                  "IQ4_NL_8_8", "MXFP4"};
    if (t < sizeof(names) / sizeof(names[0])) return names[t];
    return fmt::format("type {}", t);
}

namespace {
constexpr GgmlTypeInfo k_ggml_types[] = {
    {k_ggml_f32, DType::f32, 1, 4},       {k_ggml_f16, DType::f16, 1, 2},
    {k_ggml_bf16, DType::bf16, 1, 2},     {k_ggml_q8_0, DType::q8_0, k_q8_0_block, k_q8_0_block_bytes},
    {k_ggml_q4_0, DType::q4_0, k_q4_0_block, k_q4_0_block_bytes},
    {k_ggml_q4_k, DType::q4_k, k_qk_k, k_q4_k_block_bytes},
    {k_ggml_q5_k, DType::q5_k, k_qk_k, k_q5_k_block_bytes},
    {k_ggml_q6_k, DType::q6_k, k_qk_k, k_q6_k_block_bytes},
};
}  // namespace

const GgmlTypeInfo* ggml_type_info(uint32_t type) {
    for (const auto& t : k_ggml_types)
        if (t.id == type) return &t;
    return nullptr;
}

std::string supported_ggml_types() {
    std::string s;
    for (const auto& t : k_ggml_types) s += (s.empty() ? "" : ", ") + ggml_type_name(t.id);
    return s;
}

uint64_t GgufTensor::elements() const {
    uint64_t n = 1;
    for (auto d : dims) n *= d;
    return n;
}

const GgufValue* GgufFile::find(const std::string& key) const {
    auto it = kv.find(key);
    return it == kv.end() ? nullptr : &it->second;
}

namespace {

const char* value_type_name(uint32_t t) {
    static const char* n[] = {"uint8", "int8", "uint16", "int16", "uint32", "int32", "float32",
                              "bool",  "string", "array", "uint64", "int64", "float64"};
    return t < 13 ? n[t] : "unknown";
}

class Reader {
public:
    Reader(const uint8_t* d, size_t n, const std::string& file) : m_d(d), m_n(n), m_file(file) {}
    size_t pos() const { return m_pos; }
    size_t left() const { return m_n - m_pos; }
    void need(uint64_t bytes, const std::string& what) const {
        if (bytes > left())
            throw Error("{}: truncated at offset {} reading {}: need {} bytes, {} left", m_file, m_pos, what, bytes,
                        left());
    }
    template <typename T>
    T get(const std::string& what) {
        need(sizeof(T), what);
        T v;
        std::memcpy(&v, m_d + m_pos, sizeof(T));  // GGUF is little-endian, as is every host we build for
        m_pos += sizeof(T);
        return v;
    }
    std::string str(const std::string& what) {
        uint64_t len = get<uint64_t>(what + " length");
        need(len, what);
        std::string s(reinterpret_cast<const char*>(m_d + m_pos), len);
        m_pos += len;
        return s;
    }
    void skip(uint64_t bytes, const std::string& what) {
        need(bytes, what);
        m_pos += bytes;
    }

private:
    const uint8_t* m_d;
    size_t m_n;
    size_t m_pos = 0;
    const std::string& m_file;
};

size_t scalar_size(uint32_t t) {
    switch (static_cast<GgufType>(t)) {
        case GgufType::u8: case GgufType::i8: case GgufType::boolean: return 1;
        case GgufType::u16: case GgufType::i16: return 2;
        case GgufType::u32: case GgufType::i32: case GgufType::f32: return 4;
        case GgufType::u64: case GgufType::i64: case GgufType::f64: return 8;
        default: return 0;
    }
}

// Reads one scalar of type t into v (num/u/i fields).
void read_scalar(Reader& r, uint32_t t, GgufValue& v, const std::string& what, const std::string& file) {
    switch (static_cast<GgufType>(t)) {
        case GgufType::u8: v.u = r.get<uint8_t>(what); v.i = int64_t(v.u); v.num = double(v.u); break;
        case GgufType::i8: v.i = r.get<int8_t>(what); v.u = uint64_t(v.i); v.num = double(v.i); break;
        case GgufType::u16: v.u = r.get<uint16_t>(what); v.i = int64_t(v.u); v.num = double(v.u); break;
        case GgufType::i16: v.i = r.get<int16_t>(what); v.u = uint64_t(v.i); v.num = double(v.i); break;
        case GgufType::u32: v.u = r.get<uint32_t>(what); v.i = int64_t(v.u); v.num = double(v.u); break;
        case GgufType::i32: v.i = r.get<int32_t>(what); v.u = uint64_t(v.i); v.num = double(v.i); break;
        case GgufType::u64: v.u = r.get<uint64_t>(what); v.i = int64_t(v.u); v.num = double(v.u); break;
        case GgufType::i64: v.i = r.get<int64_t>(what); v.u = uint64_t(v.i); v.num = double(v.i); break;
        case GgufType::f32: v.num = r.get<float>(what); break;
        case GgufType::f64: v.num = r.get<double>(what); break;
        case GgufType::boolean: {
            uint8_t b = r.get<uint8_t>(what);
            if (b > 1) throw Error("{}: {}: bool value {}, expected 0 or 1", file, what, b);
            v.u = b; v.i = b; v.num = b;
            break;
        }
        default: break;
    }
}

void read_value(Reader& r, uint32_t t, GgufValue& v, const std::string& what, const std::string& file, int depth) {
    if (t > 12) throw Error("{}: {}: unknown value type {}", file, what, t);
    v.type = static_cast<GgufType>(t);
    if (v.type == GgufType::string) {
        v.str = r.str(what);
        return;
    }
    if (v.type != GgufType::array) {
        read_scalar(r, t, v, what, file);
        return;
    }
    if (depth > 4) throw Error("{}: {}: arrays nested deeper than 4 levels", file, what);
    uint32_t et = r.get<uint32_t>(what + " element type");
    if (et > 12) throw Error("{}: {}: unknown array element type {}", file, what, et);
    uint64_t len = r.get<uint64_t>(what + " length");
    v.arr_type = static_cast<GgufType>(et);
    v.arr_len = len;
    if (static_cast<GgufType>(et) == GgufType::string) {
        if (len > r.left() / 8) r.need(len * 8 > len ? len * 8 : ~uint64_t(0), what + " (" + std::to_string(len) + " strings)");
        v.arr_str.reserve(len);
        for (uint64_t k = 0; k < len; ++k) v.arr_str.push_back(r.str(what));
    } else if (static_cast<GgufType>(et) == GgufType::array) {
        if (len > r.left() / 12) r.need(~uint64_t(0), what + " (" + std::to_string(len) + " arrays)");
        for (uint64_t k = 0; k < len; ++k) {
            GgufValue sub;
            read_value(r, et, sub, what, file, depth + 1);
        }
    } else {
        const size_t es = scalar_size(et);
        if (len > r.left() / es) r.need(~uint64_t(0), what + " (" + std::to_string(len) + " elements)");
        v.arr_num.reserve(len);
        GgufValue tmp;
        for (uint64_t k = 0; k < len; ++k) {
            read_scalar(r, et, tmp, what, file);
            v.arr_num.push_back(tmp.num);
        }
    }
}

uint64_t type_nbytes(const GgufTensor& t, const std::string& file) {
    const GgmlTypeInfo* ti = ggml_type_info(t.type);
    if (!ti)
        throw Error("{}: tensor '{}': unsupported quantisation {} (supported: {})", file, t.name,
                    ggml_type_name(t.type), supported_ggml_types());
    if (ti->block > 1 && (t.dims.empty() || t.dims[0] % ti->block != 0))
        throw Error("{}: tensor '{}': {} needs the innermost dimension to be a multiple of {}, got {}", file, t.name,
                    ggml_type_name(t.type), ti->block, t.dims.empty() ? 0 : t.dims[0]);
    return t.elements() / ti->block * ti->block_bytes;
}

}  // namespace

// Long by nature: the GGUF layout in file order (header, metadata, tensor infos, data), each bound checked where it is read.
GgufFile parse_gguf(const uint8_t* data, size_t size, const std::string& file) {
    GgufFile g;
    g.file = file;
    Reader r(data, size, file);
    r.need(4, "magic");
    if (std::memcmp(data, "GGUF", 4) != 0) {
        std::string got;
        for (int k = 0; k < 4; ++k) got += fmt::format("{:02x}", data[k]);
        throw Error("{}: bad magic 0x{}, expected \"GGUF\" (0x47475546)", file, got);
    }
    r.skip(4, "magic");
    g.version = r.get<uint32_t>("version");
    if (g.version != 2 && g.version != 3)
        throw Error("{}: unsupported GGUF version {}, expected 3 (or 2)", file, g.version);
    const uint64_t n_tensors = r.get<uint64_t>("tensor count");
    const uint64_t n_kv = r.get<uint64_t>("metadata kv count");
    // Every kv takes at least 12 bytes, every tensor info at least 24: bound the counts by the file.
    if (n_kv > r.left() / 12)
        throw Error("{}: metadata kv count {} cannot fit in the {} bytes left (truncated or corrupt)", file, n_kv,
                    r.left());
    for (uint64_t k = 0; k < n_kv; ++k) {
        const std::string what = fmt::format("metadata entry {}", k);
        std::string key = r.str(what + " key");
        uint32_t t = r.get<uint32_t>("metadata '" + key + "' type");
        GgufValue v;
        read_value(r, t, v, "metadata '" + key + "'", file, 0);
        if (g.kv.count(key)) throw Error("{}: metadata '{}': duplicate key", file, key);
        g.kv.emplace(std::move(key), std::move(v));
    }
    if (const GgufValue* a = g.find("general.alignment")) {
        if (a->type != GgufType::u32 || a->u == 0 || (a->u & (a->u - 1)) != 0)
            throw Error("{}: metadata 'general.alignment': expected a power-of-two uint32, got {} {}", file,
                        value_type_name(uint32_t(a->type)), a->num);
        g.alignment = a->u;
    }
    if (n_tensors > r.left() / 24)
        throw Error("{}: tensor count {} cannot fit in the {} bytes left (truncated or corrupt)", file, n_tensors,
                    r.left());
    std::set<std::string> names;
    for (uint64_t k = 0; k < n_tensors; ++k) {
        GgufTensor t;
        t.name = r.str(fmt::format("tensor info {} name", k));
        const std::string what = "tensor '" + t.name + "'";
        uint32_t nd = r.get<uint32_t>(what + " n_dims");
        if (nd == 0 || nd > 4) throw Error("{}: {}: n_dims {}, expected 1..4", file, what, nd);
        uint64_t count = 1;
        for (uint32_t d = 0; d < nd; ++d) {
            uint64_t dim = r.get<uint64_t>(what + " dims");
            if (dim == 0 || dim > (uint64_t(1) << 40) || __builtin_mul_overflow(count, dim, &count) ||
                count > (uint64_t(1) << 40))
                throw Error("{}: {}: dimension {} = {} is out of range", file, what, d, dim);
            t.dims.push_back(dim);
        }
        t.type = r.get<uint32_t>(what + " type");
        t.offset = r.get<uint64_t>(what + " offset");
        if (!names.insert(t.name).second) throw Error("{}: {}: duplicate tensor name", file, what);
        t.nbytes = type_nbytes(t, file);
        if (t.offset % g.alignment != 0)
            throw Error("{}: {}: data offset {} is not a multiple of the alignment {}", file, what, t.offset,
                        g.alignment);
        g.tensors.push_back(std::move(t));
    }
    uint64_t pos = r.pos();
    g.data_start = (pos + g.alignment - 1) / g.alignment * g.alignment;
    if (!g.tensors.empty() && g.data_start > size)
        throw Error("{}: truncated: data section would start at offset {}, file has {} bytes", file, g.data_start,
                    size);
    const uint64_t data_size = g.data_start <= size ? size - g.data_start : 0;
    for (const auto& t : g.tensors) {
        if (t.offset > data_size || t.nbytes > data_size - t.offset)
            throw Error("{}: tensor '{}': data [{}, {}) runs past the end of the data section ({} bytes; file "
                        "truncated?)",
                        file, t.name, t.offset, t.offset + t.nbytes, data_size);
    }
    std::vector<const GgufTensor*> by_off;
    for (const auto& t : g.tensors) by_off.push_back(&t);
    std::sort(by_off.begin(), by_off.end(), [](auto* a, auto* b) { return a->offset < b->offset; });
    for (size_t k = 1; k < by_off.size(); ++k)
        if (by_off[k]->offset < by_off[k - 1]->offset + by_off[k - 1]->nbytes)
            throw Error("{}: tensor '{}': data at offset {} overlaps tensor '{}' [{}, {})", file, by_off[k]->name,
                        by_off[k]->offset, by_off[k - 1]->name, by_off[k - 1]->offset,
                        by_off[k - 1]->offset + by_off[k - 1]->nbytes);
    return g;
}

namespace {

[[noreturn]] void key_error(const GgufFile& g, const std::string& key, const std::string& what) {
    throw Error("{}: metadata '{}': {}", g.file, key, what);
}

std::optional<int64_t> opt_int(const GgufFile& g, const std::string& key, int64_t min_value = 1) {
    const GgufValue* v = g.find(key);
    if (!v) return std::nullopt;
    if (!v->is_integer()) key_error(g, key, fmt::format("expected an integer, got {}", value_type_name(uint32_t(v->type))));
    const bool unsigned_type = v->type == GgufType::u64;
    if ((unsigned_type && v->u > uint64_t(INT32_MAX)) || (!unsigned_type && (v->i < min_value || v->i > INT32_MAX)))
        key_error(g, key, fmt::format("value {} out of range [{}, {}]", v->num, min_value, INT32_MAX));
    if (unsigned_type && int64_t(v->u) < min_value) key_error(g, key, fmt::format("value {} below {}", v->u, min_value));
    return unsigned_type ? int64_t(v->u) : v->i;
}

int64_t req_int(const GgufFile& g, const std::string& key) {
    auto v = opt_int(g, key);
    if (!v) key_error(g, key, "missing, expected an integer");
    return *v;
}

std::optional<double> opt_num(const GgufFile& g, const std::string& key) {
    const GgufValue* v = g.find(key);
    if (!v) return std::nullopt;
    if (!v->is_number() || v->type == GgufType::boolean)
        key_error(g, key, fmt::format("expected a number, got {}", value_type_name(uint32_t(v->type))));
    return v->num;
}

std::optional<bool> opt_bool(const GgufFile& g, const std::string& key) {
    const GgufValue* v = g.find(key);
    if (!v) return std::nullopt;
    if (v->type != GgufType::boolean) key_error(g, key, fmt::format("expected a bool, got {}", value_type_name(uint32_t(v->type))));
    return v->u != 0;
}

const GgufTensor* find_tensor(const GgufFile& g, const std::string& name) {
    for (const auto& t : g.tensors)
        if (t.name == name) return &t;
    return nullptr;
}

}  // namespace

// Long by nature: the GGUF metadata keys of the geometry one by one, each check beside its key.
ModelConfig gguf_model_config(const GgufFile& g) {
    ModelConfig c;
    c.source = g.file;
    const GgufValue* arch = g.find("general.architecture");
    if (!arch) key_error(g, "general.architecture", "missing, expected \"llama\"");
    if (arch->type != GgufType::string) key_error(g, "general.architecture", "expected a string");
    const std::string& A = arch->str;  // every model key is prefixed by the architecture name
    if (A != "llama" && A != "qwen2" && A != "qwen3" && A != "phi3")
        key_error(g, "general.architecture",
                  fmt::format("unsupported architecture '{}', expected llama, qwen2, qwen3 or phi3", A));
    c.architecture = A;
    c.model_type = A;
    c.qkv_bias = A == "qwen2";
    c.qk_norm = A == "qwen3";
    if (auto sw = opt_int(g, A + ".attention.sliding_window", 0); sw && *sw > 0) c.sliding_window = int(*sw);
    c.max_position_embeddings = int(req_int(g, A + ".context_length"));
    c.hidden_size = int(req_int(g, A + ".embedding_length"));
    c.num_layers = int(req_int(g, A + ".block_count"));
    c.intermediate_size = int(req_int(g, A + ".feed_forward_length"));
    c.num_heads = int(req_int(g, A + ".attention.head_count"));
    c.num_kv_heads = int(opt_int(g, A + ".attention.head_count_kv").value_or(c.num_heads));
    if (c.num_heads % c.num_kv_heads != 0)
        key_error(g, A + ".attention.head_count_kv",
                  fmt::format("{} does not divide attention.head_count {}", c.num_kv_heads, c.num_heads));
    if (auto kl = opt_int(g, A + ".attention.key_length")) {
        c.head_dim = int(*kl);
    } else {
        if (c.hidden_size % c.num_heads != 0)
            key_error(g, A + ".embedding_length",
                      fmt::format("{} is not a multiple of attention.head_count {}", c.hidden_size, c.num_heads));
        c.head_dim = c.hidden_size / c.num_heads;
    }
    if (c.head_dim % 2 != 0) key_error(g, A + ".attention.key_length", fmt::format("head dim {} is odd", c.head_dim));
    if (auto rd = opt_int(g, A + ".rope.dimension_count")) {
        if (*rd > c.head_dim || *rd % 2 != 0)
            key_error(g, A + ".rope.dimension_count",
                      fmt::format("{} must be even and at most the head dim {}", *rd, c.head_dim));
        if (*rd != c.head_dim) c.partial_rotary_factor = double(*rd) / c.head_dim;
    }
    if (auto th = opt_num(g, A + ".rope.freq_base")) {
        if (!(*th > 0)) key_error(g, A + ".rope.freq_base", fmt::format("expected > 0, got {}", *th));
        c.rope_theta = *th;
    }
    if (auto eps = opt_num(g, A + ".attention.layer_norm_rms_epsilon")) {
        if (!(*eps > 0 && *eps < 1))
            key_error(g, A + ".attention.layer_norm_rms_epsilon", fmt::format("expected in (0, 1), got {}", *eps));
        c.rms_norm_eps = *eps;
    }
    if (auto vs = opt_int(g, A + ".vocab_size")) {
        c.vocab_size = int(*vs);
    } else if (const GgufValue* tok = g.find("tokenizer.ggml.tokens"); tok && tok->type == GgufType::array) {
        c.vocab_size = int(std::min<uint64_t>(tok->arr_len, INT32_MAX));
    } else if (const GgufTensor* e = find_tensor(g, "token_embd.weight"); e && e->dims.size() == 2) {
        c.vocab_size = int(std::min<uint64_t>(e->dims[1], INT32_MAX));
    }
    if (c.vocab_size <= 0) key_error(g, A + ".vocab_size", "missing, and no tokenizer.ggml.tokens to count");
    // Scaling keys as llama.cpp's converter writes them; kept in config.json's spelling.
    if (const GgufValue* st = g.find(A + ".rope.scaling.type")) {
        if (st->type != GgufType::string || !is_valid_utf8(st->str))
            key_error(g, A + ".rope.scaling.type", "expected a UTF-8 string");
        if (st->str != "none" && !st->str.empty()) {
            nlohmann::json rs = nlohmann::json::object();
            rs["rope_type"] = st->str;
            if (auto f = opt_num(g, A + ".rope.scaling.factor")) rs["factor"] = *f;
            if (auto o = opt_int(g, A + ".rope.scaling.original_context_length")) {
                rs["original_max_position_embeddings"] = *o;
                c.original_max_position_embeddings = int(*o);
            }
            c.rope_scaling = rs;
        }
    }
    // Phi-3 files carry the original context without a scaling type (the factors are tensors).
    if (auto o = opt_int(g, A + ".rope.scaling.original_context_length"))
        c.original_max_position_embeddings = int(*o);
    if (c.rope_scaling.is_null()) {
        // Older files carry only the linear factor.
        if (auto lin = opt_num(g, A + ".rope.scale_linear"); lin && *lin != 1.0)
            c.rope_scaling = {{"rope_type", "linear"}, {"factor", *lin}};
    }
    c.tie_word_embeddings = find_tensor(g, "output.weight") == nullptr;
    if (auto b = opt_int(g, "tokenizer.ggml.bos_token_id", 0)) c.bos_id = int(*b);
    if (auto e = opt_int(g, "tokenizer.ggml.eos_token_id", 0)) c.eos_id = int(*e);
    // general.file_type (llama_ftype, llama.h): the converter's label of the file as a whole.
    if (auto ft = opt_int(g, "general.file_type", 0)) {
        static const std::pair<int, const char*> k_ftypes[] = {
            {0, "float32"}, {1, "float16"}, {2, "Q4_0"},    {3, "Q4_1"},    {7, "Q8_0"},    {8, "Q5_0"},
            {9, "Q5_1"},    {10, "Q2_K"},   {11, "Q3_K_S"}, {12, "Q3_K_M"}, {13, "Q3_K_L"}, {14, "Q4_K_S"},
            {15, "Q4_K_M"}, {16, "Q5_K_S"}, {17, "Q5_K_M"}, {18, "Q6_K"},   {32, "bfloat16"}};
        c.torch_dtype = fmt::format("file_type {}", *ft);
        for (const auto& [id, name] : k_ftypes)
            if (id == *ft) c.torch_dtype = name;
    } else if (const GgufTensor* e = find_tensor(g, "blk.0.attn_q.weight")) {
        c.torch_dtype = e->type == k_ggml_f32 ? "float32" : e->type == k_ggml_f16 ? "float16"
                      : e->type == k_ggml_bf16 ? "bfloat16" : ggml_type_name(e->type);
    }
    check_geometry(c, [&](const std::string& f) {
        static const std::pair<const char*, const char*> k_keys[] = {
            {"hidden_size", "embedding_length"},          {"intermediate_size", "feed_forward_length"},
            {"num_hidden_layers", "block_count"},         {"num_attention_heads", "attention.head_count"},
            {"head_dim", "attention.key_length"},         {"vocab_size", "vocab_size"}};
        for (const auto& [hf, gg] : k_keys)
            if (f == hf) return fmt::format("metadata '{}.{}'", A, gg);
        return fmt::format("metadata for '{}'", f);
    });
    return c;
}

std::optional<GgufVocab> gguf_vocab(const GgufFile& g) {
    const GgufValue* tok = g.find("tokenizer.ggml.tokens");
    if (!tok) return std::nullopt;
    if (tok->type != GgufType::array || tok->arr_type != GgufType::string)
        key_error(g, "tokenizer.ggml.tokens", "expected an array of strings");
    GgufVocab v;
    v.tokens = tok->arr_str;
    if (const GgufValue* m = g.find("tokenizer.ggml.model")) {
        if (m->type != GgufType::string) key_error(g, "tokenizer.ggml.model", "expected a string");
        v.model = m->str;
    }
    if (const GgufValue* m = g.find("tokenizer.ggml.pre")) {
        if (m->type != GgufType::string) key_error(g, "tokenizer.ggml.pre", "expected a string");
        v.pre = m->str;
    }
    if (const GgufValue* m = g.find("tokenizer.ggml.merges")) {
        if (m->type != GgufType::array || m->arr_type != GgufType::string)
            key_error(g, "tokenizer.ggml.merges", "expected an array of strings");
        v.merges = m->arr_str;
    }
    auto num_array = [&](const char* key, auto& out) {
        const GgufValue* a = g.find(key);
        if (!a) return;
        if (a->type != GgufType::array || a->arr_str.size() || a->arr_type == GgufType::array)
            key_error(g, key, "expected an array of numbers");
        if (a->arr_len != v.tokens.size())
            key_error(g, key, fmt::format("{} entries, expected {} (one per token)", a->arr_len, v.tokens.size()));
        out.reserve(a->arr_num.size());
        for (double x : a->arr_num) out.push_back(static_cast<typename std::decay_t<decltype(out)>::value_type>(x));
    };
    num_array("tokenizer.ggml.scores", v.scores);
    num_array("tokenizer.ggml.token_type", v.token_types);
    const int64_t n = int64_t(v.tokens.size());
    auto id = [&](const char* key, int& out) {
        if (auto x = opt_int(g, key, 0)) {
            if (*x >= n) key_error(g, key, fmt::format("id {} out of range for {} tokens", *x, n));
            out = int(*x);
        }
    };
    id("tokenizer.ggml.bos_token_id", v.bos_id);
    id("tokenizer.ggml.eos_token_id", v.eos_id);
    id("tokenizer.ggml.unknown_token_id", v.unk_id);
    if (auto b = opt_bool(g, "tokenizer.ggml.add_bos_token")) v.add_bos = *b;
    v.add_space_prefix = opt_bool(g, "tokenizer.ggml.add_space_prefix");
    v.remove_extra_whitespaces = opt_bool(g, "tokenizer.ggml.remove_extra_whitespaces");
    return v;
}

std::string gguf_to_hf_name(const std::string& n, const std::string& arch) {
    static const std::pair<const char*, const char*> top[] = {
        {"token_embd.weight", "model.embed_tokens.weight"},
        {"output_norm.weight", "model.norm.weight"},
        {"output.weight", "lm_head.weight"},
    };
    for (auto& [g, h] : top)
        if (n == g) return h;
    static const std::pair<const char*, const char*> blk[] = {
        {"attn_norm", "input_layernorm"},      {"attn_q", "self_attn.q_proj"},   {"attn_k", "self_attn.k_proj"},
        {"attn_v", "self_attn.v_proj"},        {"attn_output", "self_attn.o_proj"},
        {"attn_qkv", "self_attn.qkv_proj"},    {"attn_q_norm", "self_attn.q_norm"}, {"attn_k_norm", "self_attn.k_norm"},
        {"ffn_norm", "post_attention_layernorm"}, {"ffn_gate", "mlp.gate_proj"}, {"ffn_up", "mlp.up_proj"},
        {"ffn_down", "mlp.down_proj"},
    };
    if (n.rfind("blk.", 0) != 0) return n;
    size_t dot = n.find('.', 4);
    if (dot == std::string::npos || dot == 4) return n;
    std::string layer = n.substr(4, dot - 4);
    if (!std::all_of(layer.begin(), layer.end(), [](char ch) { return ch >= '0' && ch <= '9'; })) return n;
    std::string rest = n.substr(dot + 1);
    std::string suffix;
    for (const char* s : {".weight", ".bias"})
        if (rest.size() > std::strlen(s) && rest.compare(rest.size() - std::strlen(s), std::strlen(s), s) == 0) suffix = s;
    if (suffix.empty()) return n;
    std::string base = rest.substr(0, rest.size() - suffix.size());
    // Phi-3's ffn_up holds the fused gate and up rows (llama.cpp: {n_embd, 2 * n_ff}).
    if (arch == "phi3" && base == "ffn_up") return "model.layers." + layer + ".mlp.gate_up_proj" + suffix;
    for (auto& [g, h] : blk)
        if (base == g) return "model.layers." + layer + "." + h + suffix;
    return n;
}

void unpermute_qk_rows(std::vector<float>& w, int64_t rows, int64_t cols, int n_head) {
    const int64_t hd = rows / n_head;  // rows per head
    const int64_t half = hd / 2;
    std::vector<float> out(w.size());
    // HF row (h, s, j) = h*hd + s*half + j comes from GGUF row h*hd + 2*j + s.
    for (int64_t h = 0; h < n_head; ++h)
        for (int64_t s = 0; s < 2; ++s)
            for (int64_t j = 0; j < half; ++j)
                std::memcpy(&out[size_t((h * hd + s * half + j) * cols)], &w[size_t((h * hd + 2 * j + s) * cols)],
                            size_t(cols) * sizeof(float));
    w.swap(out);
}

}  // namespace rb
