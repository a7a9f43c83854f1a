#include "hub/sha1.h"

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

#include "util/error.h"

namespace rb::hub {
namespace {

struct Sha1 {
    uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
    uint8_t buf[64];
    size_t buf_len = 0;
    uint64_t total = 0;

    static uint32_t rotl(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

    void block(const uint8_t* p) {
        uint32_t w[80];
        for (int i = 0; i < 16; i++)
            w[i] = (uint32_t(p[4 * i]) << 24) | (uint32_t(p[4 * i + 1]) << 16) | (uint32_t(p[4 * i + 2]) << 8) | p[4 * i + 3];
        for (int i = 16; i < 80; i++) w[i] = rotl(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
        uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
        for (int i = 0; i < 80; i++) {
            uint32_t f, k;
            if (i < 20) f = (b & c) | (~b & d), k = 0x5A827999;
            else if (i < 40) f = b ^ c ^ d, k = 0x6ED9EBA1;
            else if (i < 60) f = (b & c) | (b & d) | (c & d), k = 0x8F1BBCDC;
            else f = b ^ c ^ d, k = 0xCA62C1D6;
            uint32_t t = rotl(a, 5) + f + e + k + w[i];
            e = d, d = c, c = rotl(b, 30), b = a, a = t;
        }
        h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e;
    }
    void update(const void* data, size_t n) {
        auto* p = static_cast<const uint8_t*>(data);
        total += n;
        while (n > 0) {
            size_t take = std::min(n, 64 - buf_len);
            std::memcpy(buf + buf_len, p, take);
            buf_len += take, p += take, n -= take;
            if (buf_len == 64) block(buf), buf_len = 0;
        }
    }
    std::string hex() {
        uint64_t bits = total * 8;
        uint8_t pad = 0x80;
        update(&pad, 1);
        uint8_t zero = 0;
        while (buf_len != 56) update(&zero, 1);
        uint8_t len[8];
        for (int i = 0; i < 8; i++) len[i] = uint8_t(bits >> (56 - 8 * i));
        update(len, 8);
        char out[41];
        for (int i = 0; i < 5; i++) std::snprintf(out + 8 * i, 9, "%08x", h[i]);
        return std::string(out, 40);
    }
};

std::string blob_header(uint64_t size) { return "blob " + std::to_string(size) + std::string(1, '\0'); }

}  // namespace

std::string sha1_hex(std::string_view data) {
    Sha1 s;
    s.update(data.data(), data.size());
    return s.hex();
}

std::string git_blob_sha1(std::string_view data) {
    Sha1 s;
    std::string hdr = blob_header(data.size());
    s.update(hdr.data(), hdr.size());
    s.update(data.data(), data.size());
    return s.hex();
}

std::string git_blob_sha1_file(const std::string& path) {
    std::error_code ec;
    uint64_t size = std::filesystem::file_size(path, ec);
    std::ifstream f(path, std::ios::binary);
    if (ec || !f) throw Error("{}: cannot read file", path);
    Sha1 s;
    std::string hdr = blob_header(size);
    s.update(hdr.data(), hdr.size());
    std::vector<char> buf(1 << 20);
    uint64_t got = 0;
    while (f) {
        f.read(buf.data(), std::streamsize(buf.size()));
        s.update(buf.data(), size_t(f.gcount()));
        got += uint64_t(f.gcount());
    }
    if (got != size) throw Error("{}: file changed while hashing (expected {} bytes, read {})", path, size, got);
    return s.hex();
}

}  // namespace rb::hub
