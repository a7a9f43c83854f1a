// Evaluation texts: a text file is one document; a .jsonl file holds one {"text": ...}
// document per line; a folder contributes its .txt and .jsonl files in name order.
#pragma once
#include <string>
#include <vector>

namespace rb {

struct Document {
    std::string source;  // "path" or "path:line" (jsonl)
    std::string text;
};

struct DataFile {
    std::string path;
    std::string sha256;
    int documents = 0;
};

/// Refuses text that is binary (a NUL byte), not UTF-8 (with the byte offset) or empty:
/// Error "<where>: ...".
void check_document_text(const std::string& text, const std::string& where);

/// Loads documents (at most max_docs when > 0). Throws Error naming the file (and line) for
/// a missing file, text that is not UTF-8 (with the byte offset), an empty text, or a
/// .jsonl line without a string "text" field. `files` receives each file's identity.
std::vector<Document> load_documents(const std::vector<std::string>& paths, int max_docs,
                                     std::vector<DataFile>* files = nullptr);

}  // namespace rb
