#include "util/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "util/error.h"

namespace rb {

MappedFile::MappedFile(const std::string& path) : m_path(path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw Error("{}: cannot open: {}", path, std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        int e = errno;
        ::close(fd);
        throw Error("{}: cannot stat: {}", path, std::strerror(e));
    }
    if (S_ISDIR(st.st_mode)) {
        ::close(fd);
        throw Error("{}: is a directory, expected a file", path);
    }
    m_size = static_cast<size_t>(st.st_size);
    if (m_size > 0) {
        void* p = ::mmap(nullptr, m_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            int e = errno;
            ::close(fd);
            throw Error("{}: cannot mmap: {}", path, std::strerror(e));
        }
        m_data = static_cast<const uint8_t*>(p);
    }
    ::close(fd);
}

MappedFile::~MappedFile() {
    if (m_data) ::munmap(const_cast<uint8_t*>(m_data), m_size);
}

MappedFile::MappedFile(MappedFile&& o) noexcept { *this = std::move(o); }

MappedFile& MappedFile::operator=(MappedFile&& o) noexcept {
    if (this != &o) {
        if (m_data) ::munmap(const_cast<uint8_t*>(m_data), m_size);
        m_path = std::move(o.m_path);
        m_data = o.m_data;
        m_size = o.m_size;
        o.m_data = nullptr;
        o.m_size = 0;
    }
    return *this;
}

std::string read_file(const std::string& path) {
    if (is_directory(path)) throw Error("{}: is a directory, expected a file", path);
    std::ifstream f(path, std::ios::binary);
    if (!f) throw Error("{}: cannot open: {}", path, std::strerror(errno));
    std::ostringstream ss;
    ss << f.rdbuf();
    if (f.bad()) throw Error("{}: read failed", path);
    return ss.str();
}

void write_file(const std::string& path, std::string_view content) {
    std::string tmp = path + ".tmp" + std::to_string(::getpid());
    std::error_code ec;
    auto fail = [&](const std::string& why) {
        std::filesystem::remove(tmp, ec);  // never leave the temporary behind
        return Error("{}: {}", path, why);
    };
    {
        std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
        if (!f) throw fail(fmt::format("cannot write: {}", std::strerror(errno)));
        f.write(content.data(), static_cast<std::streamsize>(content.size()));
        f.flush();
        if (!f) throw fail("write failed");
    }
    std::filesystem::rename(tmp, path, ec);
    if (ec) throw fail("cannot rename into place: " + ec.message());
}

bool file_exists(const std::string& path) {
    std::error_code ec;
    return std::filesystem::exists(path, ec);
}

bool is_directory(const std::string& path) {
    std::error_code ec;
    return std::filesystem::is_directory(path, ec);
}

bool is_valid_utf8(std::string_view s, size_t* bad_offset) {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    size_t n = s.size(), i = 0;
    while (i < n) {
        unsigned c = p[i];
        size_t len;
        uint32_t cp;
        if (c < 0x80) { i++; continue; }
        else if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; }
        else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; }
        else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; }
        else { if (bad_offset) *bad_offset = i; return false; }
        if (i + len > n) { if (bad_offset) *bad_offset = i; return false; }
        for (size_t k = 1; k < len; k++) {
            if ((p[i + k] & 0xC0) != 0x80) { if (bad_offset) *bad_offset = i; return false; }
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        bool overlong = (len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000);
        if (overlong || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
            if (bad_offset) *bad_offset = i;
            return false;
        }
        i += len;
    }
    return true;
}

void MappedFile::release(const uint8_t* p, size_t n) const {
    if (!m_data || p < m_data || p + n > m_data + m_size) return;
    const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
    uintptr_t b = (reinterpret_cast<uintptr_t>(p) + page - 1) / page * page;
    uintptr_t e = (reinterpret_cast<uintptr_t>(p) + n) / page * page;
    if (e > b) madvise(reinterpret_cast<void*>(b), e - b, MADV_DONTNEED);
}

}  // namespace rb
