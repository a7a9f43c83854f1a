// util/plot (used by `rope --plot` and the report): ticks and file output.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "common/test_util.h"
#include "util/error.h"
#include "util/plot.h"

namespace {

TEST(Plot, LinearTicksAreNice) {
    auto t = rb::plot::axis_ticks(0, 31, false);
    ASSERT_GE(t.size(), 3u);
    EXPECT_EQ(t.front(), 0);
    for (size_t i = 1; i < t.size(); i++) EXPECT_NEAR(t[i] - t[i - 1], 5.0, 1e-12);
}

TEST(Plot, LogTicksAreDecades) {
    auto t = rb::plot::axis_ticks(0.9, 1100, true);
    EXPECT_EQ(t, (std::vector<double>{1, 10, 100, 1000}));
    auto t2 = rb::plot::axis_ticks(0.9, 40, true);  // < 3 decades: 1, 2, 5 steps
    EXPECT_EQ(t2, (std::vector<double>{1, 2, 5, 10, 20}));
}

TEST(Plot, WritesPngAndSvg) {
    rb::plot::LineChart c;
    c.title = "test";
    c.x_label = "x";
    c.y_label = "y";
    c.log_y = true;
    for (int k = 0; k < 3; k++) {
        rb::plot::Series s;
        s.label = "series " + std::to_string(k);
        for (int i = 0; i < 32; i++) {
            s.x.push_back(i);
            s.y.push_back(std::pow(1.1 + k, i / 8.0));
            s.y_lo.push_back(s.y.back() * 0.9);
            s.y_hi.push_back(s.y.back() * 1.1);
        }
        c.series.push_back(s);
    }
    c.vlines.push_back({16, "mark"});
    std::string dir = rb::test::temp_dir();
    rb::plot::save_line_chart(c, dir + "/a.png");
    rb::plot::save_line_chart(c, dir + "/a.SVG");
    std::ifstream f(dir + "/a.png", std::ios::binary);
    std::string head(8, '\0');
    f.read(head.data(), 8);
    EXPECT_EQ(head, std::string("\x89PNG\r\n\x1a\n", 8));
    EXPECT_GT(std::filesystem::file_size(dir + "/a.SVG"), 1000u);
    EXPECT_THROW(rb::plot::save_line_chart(c, dir + "/a.jpg"), rb::Error);
    std::filesystem::remove_all(dir);
}

}  // namespace
