// Read-only memory-mapped file. Model weights are mapped, never read into heap copies
// unless a dtype conversion needs one.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace rb {

class MappedFile {
public:
    MappedFile() = default;
    /// Maps `path` read-only; throws Error naming the path if it cannot be opened or is not
    /// a regular file (open_regular_file).
    explicit MappedFile(const std::string& path);
    ~MappedFile();
    MappedFile(MappedFile&& o) noexcept;
    MappedFile& operator=(MappedFile&& o) noexcept;
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;

    const uint8_t* data() const { return m_data; }
    size_t size() const { return m_size; }
    const std::string& path() const { return m_path; }
    /// Drops the resident pages of [p, p+n) (whole pages inside the range) from this
    /// process: they are re-read from the file if touched again. Loading calls it once a
    /// tensor is converted, so the mapped checkpoint does not add to peak memory.
    void release(const uint8_t* p, size_t n) const;

private:
    std::string m_path;
    const uint8_t* m_data = nullptr;
    size_t m_size = 0;
};

/// Opens `path` read-only as data: only a regular file (a symlink to one included). A FIFO, a
/// device or a socket is refused before anything could block on it (stat first; the open is
/// non-blocking and fstat checks the file again, so a swap in between is refused too); a
/// folder, a missing file or a symlink loop are refused naming the path. Returns the fd
/// (blocking again, close-on-exec); throws Error naming the path.
int open_regular_file(const std::string& path);
/// Reads a regular file (open_regular_file) in chunks, passing each to `chunk`; throws Error
/// naming the path.
void read_regular_file(const std::string& path, const std::function<void(const char*, size_t)>& chunk);
/// Whole file as a string (open_regular_file); throws Error naming the path.
std::string read_file(const std::string& path);
/// Writes atomically (temp file + rename); throws Error naming the path.
void write_file(const std::string& path, std::string_view content);
bool file_exists(const std::string& path);
bool is_directory(const std::string& path);
/// Throws Error naming `path` when it is a symbolic link that cannot be followed (a loop, or
/// a missing target): such a path must not be mistaken for something else (a hub id).
void check_symlink_resolves(const std::string& path);

/// True when `s` is well-formed UTF-8. `bad_offset` receives the first bad byte's offset.
bool is_valid_utf8(std::string_view s, size_t* bad_offset = nullptr);

}  // namespace rb
