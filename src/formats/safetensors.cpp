#include "formats/safetensors.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "util/error.h"

namespace rb {

size_t dtype_size(DType t) {
    switch (t) {
        case DType::f32: return 4;
        case DType::f16: return 2;
        case DType::bf16: return 2;
        default: return 0;  // GGUF block formats
    }
    return 0;
}

static bool parse_st_dtype(const std::string& s, DType& out) {
    if (s == "F32") { out = DType::f32; return true; }
    if (s == "F16") { out = DType::f16; return true; }
    if (s == "BF16") { out = DType::bf16; return true; }
    return false;
}

static bool known_st_dtype(const std::string& s) {
    static const char* k[] = {"BOOL", "U8", "I8", "I16", "U16", "I32", "U32", "I64", "U64", "F64",
                              "F8_E4M3", "F8_E5M2", "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4", "C64"};
    for (const char* x : k)
        if (s == x) return true;
    return false;
}

// Long by nature: the safetensors header in file order, each bound checked where it is read.
SafetensorsHeader parse_safetensors(const uint8_t* data, size_t size, const std::string& file) {
    using json = nlohmann::json;
    if (size < 8) throw Error("{}: truncated: {} bytes, expected at least the 8-byte header length", file, size);
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | data[i];
    if (n > size - 8)
        throw Error("{}: header length {} runs past the end of the file ({} bytes after the length field)", file, n,
                    size - 8);
    SafetensorsHeader h;
    h.data_start = 8 + n;
    const uint64_t data_size = size - h.data_start;
    json j;
    // A JSON object keeps the last of two equal keys: catch a tensor named twice while parsing.
    std::set<std::string> names;
    std::string duplicate;
    const json::parser_callback_t note_keys = [&](int depth, json::parse_event_t ev, json& parsed) {
        if (depth == 1 && ev == json::parse_event_t::key && parsed.is_string() && duplicate.empty() &&
            !names.insert(parsed.get<std::string>()).second)
            duplicate = parsed.get<std::string>();
        return true;
    };
    try {
        j = json::parse(reinterpret_cast<const char*>(data + 8), reinterpret_cast<const char*>(data + 8 + n), note_keys);
    } catch (const json::parse_error& e) {
        throw Error("{}: header: invalid JSON at byte {} of the header: {}", file, e.byte, e.what());
    } catch (const json::exception& e) {  // e.g. a number too large for a double
        throw Error("{}: header: invalid JSON: {}", file, e.what());
    }
    if (!j.is_object()) throw Error("{}: header: expected a JSON object, got {}", file, j.type_name());
    if (!duplicate.empty()) throw Error("{}: tensor '{}': named twice in the header", file, duplicate);

    for (auto it = j.begin(); it != j.end(); ++it) {
        const std::string& name = it.key();
        if (name == "__metadata__") continue;
        const json& t = it.value();
        auto fail = [&](const std::string& what) -> void { throw Error("{}: tensor '{}': {}", file, name, what); };
        if (!t.is_object()) fail(fmt::format("expected an object, got {}", t.type_name()));
        auto dt = t.find("dtype");
        if (dt == t.end() || !dt->is_string()) fail("field 'dtype': missing or not a string");
        SafetensorsTensor st;
        st.name = name;
        const std::string ds = dt->get<std::string>();
        if (!parse_st_dtype(ds, st.dtype)) {
            if (known_st_dtype(ds)) fail(fmt::format("unsupported dtype {}, expected F32, F16 or BF16", ds));
            fail(fmt::format("unknown dtype '{}', expected F32, F16 or BF16", ds));
        }
        auto sh = t.find("shape");
        if (sh == t.end() || !sh->is_array()) fail("field 'shape': missing or not a list");
        if (sh->size() > 8) fail(fmt::format("field 'shape': {} dimensions, expected at most 8", sh->size()));
        uint64_t count = 1;
        for (const auto& d : *sh) {
            if (!d.is_number_integer() || d.get<int64_t>() < 0)
                fail(fmt::format("field 'shape': expected non-negative integers, got {}", sh->dump()));
            uint64_t dv = d.get<uint64_t>();
            if (__builtin_mul_overflow(count, dv, &count) || count > (uint64_t(1) << 62))
                fail(fmt::format("field 'shape': {} has too many elements", sh->dump()));
            st.shape.push_back(static_cast<int64_t>(dv));
        }
        auto off = t.find("data_offsets");
        if (off == t.end() || !off->is_array() || off->size() != 2 || !(*off)[0].is_number_integer() ||
            !(*off)[1].is_number_integer() || (*off)[0].get<int64_t>() < 0 || (*off)[1].get<int64_t>() < 0)
            fail("field 'data_offsets': expected [begin, end] with non-negative integers");
        st.begin = (*off)[0].get<uint64_t>();
        st.end = (*off)[1].get<uint64_t>();
        if (st.begin > st.end) fail(fmt::format("data_offsets [{}, {}]: begin > end", st.begin, st.end));
        if (st.end > data_size)
            fail(fmt::format("data_offsets [{}, {}] run past the end of the data section ({} bytes; file truncated?)",
                             st.begin, st.end, data_size));
        const uint64_t want = count * dtype_size(st.dtype);
        if (st.end - st.begin != want)
            fail(fmt::format("data_offsets [{}, {}] hold {} bytes, expected {} for shape {} of {}", st.begin, st.end,
                             st.end - st.begin, want, sh->dump(), ds));
        h.tensors.push_back(std::move(st));
    }

    std::vector<const SafetensorsTensor*> by_begin;
    for (const auto& t : h.tensors) by_begin.push_back(&t);
    std::sort(by_begin.begin(), by_begin.end(), [](auto* a, auto* b) {
        return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
    });
    const SafetensorsTensor* reach = nullptr;  // non-empty tensor with the largest end so far
    for (const auto* b : by_begin) {
        if (b->begin == b->end) continue;
        if (reach && b->begin < reach->end)
            throw Error("{}: tensor '{}': data_offsets [{}, {}] overlap tensor '{}' [{}, {}]", file, b->name, b->begin,
                        b->end, reach->name, reach->begin, reach->end);
        if (!reach || b->end > reach->end) reach = b;
    }
    return h;
}

}  // namespace rb
