#include "eval/documents.h"

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "util/error.h"
#include "util/hash.h"
#include "util/mapped_file.h"

namespace rb {
namespace {

bool ends_with(const std::string& s, const std::string& suf) {
    return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}

void load_file(const std::string& path, std::vector<Document>& out, std::vector<DataFile>* files) {
    std::string content = read_file(path);
    DataFile df{path, sha256_hex(content), 0};
    if (ends_with(path, ".jsonl")) {
        std::istringstream ss(content);
        std::string line;
        int lineno = 0;
        while (std::getline(ss, line)) {
            lineno++;
            if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
            std::string where = path + ":" + std::to_string(lineno);
            nlohmann::json j;
            try {
                j = nlohmann::json::parse(line);
            } catch (const nlohmann::json::exception& e) {
                throw Error("{}: not valid JSON: {}", where, e.what());
            }
            if (!j.is_object() || !j.contains("text") || !j["text"].is_string())
                throw Error("{}: field 'text': missing or not a string", where);
            std::string text = j["text"].get<std::string>();
            check_document_text(text, where);
            out.push_back({where, std::move(text)});
            df.documents++;
        }
        if (df.documents == 0) throw Error("{}: no documents (empty .jsonl)", path);
    } else {
        check_document_text(content, path);
        out.push_back({path, std::move(content)});
        df.documents = 1;
    }
    if (files) files->push_back(df);
}

}  // namespace

void check_document_text(const std::string& text, const std::string& where) {
    if (const size_t nul = text.find('\0'); nul != std::string::npos)
        throw Error("{}: binary data, not text (NUL byte at offset {})", where, nul);
    size_t off = 0;
    if (!is_valid_utf8(text, &off)) throw Error("{}: not valid UTF-8 (first bad byte at offset {})", where, off);
    if (text.find_first_not_of(" \t\r\n") == std::string::npos) throw Error("{}: empty text", where);
}

std::vector<Document> load_documents(const std::vector<std::string>& paths, int max_docs,
                                     std::vector<DataFile>* files) {
    std::vector<Document> docs;
    for (const auto& p : paths) {
        if (is_directory(p)) {
            std::vector<std::string> names;
            for (const auto& e : std::filesystem::directory_iterator(p)) {
                std::string n = e.path().string();
                if (e.is_regular_file() && (ends_with(n, ".txt") || ends_with(n, ".jsonl"))) names.push_back(n);
            }
            std::sort(names.begin(), names.end());
            if (names.empty()) throw Error("{}: folder holds no .txt or .jsonl files", p);
            for (const auto& n : names) load_file(n, docs, files);
        } else {
            load_file(p, docs, files);
        }
    }
    if (max_docs > 0 && static_cast<int>(docs.size()) > max_docs) docs.resize(max_docs);
    return docs;
}

}  // namespace rb
