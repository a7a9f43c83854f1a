// Checks shared by the tokenizer tests: id lists with the first difference, and the span
// contract of Tokenizer::encode_with_spans.
#pragma once
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace rb {

inline std::string strip_ws(std::string_view s) {
    std::string out;
    for (char c : s)
        if (c != ' ' && c != '\n' && c != '\t' && c != '\r') out.push_back(c);
    return out;
}

/// Index of the first difference, for readable failures on long id lists.
inline ::testing::AssertionResult same_ids(const std::vector<int>& got, const std::vector<int>& want) {
    size_t n = std::min(got.size(), want.size());
    for (size_t i = 0; i < n; ++i)
        if (got[i] != want[i])
            return ::testing::AssertionFailure() << "first difference at token " << i << ": got " << got[i]
                                                 << ", want " << want[i] << " (sizes " << got.size() << " vs "
                                                 << want.size() << ")";
    if (got.size() != want.size())
        return ::testing::AssertionFailure() << "sizes differ: got " << got.size() << ", want " << want.size();
    return ::testing::AssertionSuccess();
}

/// Spans: ids equal encode(); begin <= end <= text size; begin and end never decrease;
/// the concatenated slices, whitespace removed, equal the text with whitespace removed.
inline void check_spans(const Tokenizer& t, const std::string& text) {
    auto spans = t.encode_with_spans(text);
    auto ids = t.encode(text);
    ASSERT_EQ(spans.size(), ids.size());
    std::string joined;
    size_t prev_begin = 0, prev_end = 0;
    for (size_t i = 0; i < spans.size(); ++i) {
        const auto& s = spans[i];
        ASSERT_EQ(s.id, ids[i]) << "token " << i;
        ASSERT_LE(s.begin, s.end) << "token " << i;
        ASSERT_LE(s.end, text.size()) << "token " << i;
        ASSERT_GE(s.begin, prev_begin) << "token " << i;
        ASSERT_GE(s.end, prev_end) << "token " << i;
        ASSERT_GE(s.begin, prev_end) << "token " << i << " overlaps the previous one";
        joined += text.substr(s.begin, s.end - s.begin);
        prev_begin = s.begin;
        prev_end = s.end;
    }
    EXPECT_EQ(strip_ws(joined), strip_ws(text));
}

}  // namespace rb
