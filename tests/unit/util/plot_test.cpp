// Figures decoded back from PNG: not blank, the expected colours present, and the heatmap's
// colours ordered like its values.
#include <cairo.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "util/plot.h"
#include "common/test_util.h"
#include "util/error.h"

namespace rb::plot {
namespace {

struct Png {
    cairo_surface_t* s = nullptr;
    int w = 0, h = 0, stride = 0;
    const unsigned char* data = nullptr;
    explicit Png(const std::string& path) {
        s = cairo_image_surface_create_from_png(path.c_str());
        if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS) return;
        cairo_surface_flush(s);
        w = cairo_image_surface_get_width(s);
        h = cairo_image_surface_get_height(s);
        stride = cairo_image_surface_get_stride(s);
        data = cairo_image_surface_get_data(s);
    }
    ~Png() { cairo_surface_destroy(s); }
    bool ok() const { return data != nullptr; }
    Rgb at(int x, int y) const {  // ARGB32, native-endian uint32 (opaque: not premultiplied in effect)
        uint32_t p = *reinterpret_cast<const uint32_t*>(data + y * stride + x * 4);
        return {((p >> 16) & 255) / 255.0, ((p >> 8) & 255) / 255.0, (p & 255) / 255.0};
    }
    // fraction of pixels that are not (near) white, and the number of distinct colours
    std::pair<double, size_t> ink() const {
        size_t n = 0;
        std::set<uint32_t> cols;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                uint32_t p = *reinterpret_cast<const uint32_t*>(data + y * stride + x * 4) & 0xffffff;
                if (p != 0xffffff) n++;
                if (cols.size() < 100000) cols.insert(p);
            }
        return {static_cast<double>(n) / (static_cast<double>(w) * h), cols.size()};
    }
    bool has_color(const Rgb& c, double tol = 2.5 / 255) const {
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                Rgb p = at(x, y);
                if (std::fabs(p.r - c.r) <= tol && std::fabs(p.g - c.g) <= tol && std::fabs(p.b - c.b) <= tol) return true;
            }
        return false;
    }
};

std::string slurp(const std::string& p) {
    std::ifstream f(p);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

void expect_svg(const std::string& path) {
    std::string s = slurp(path);
    EXPECT_NE(s.find("<svg"), std::string::npos) << path;
    EXPECT_NE(s.find("</svg>"), std::string::npos) << path;
}

TEST(Charts, ViridisIsMonotoneInLuminanceAndInvertible) {
    double prev = -1;
    for (int i = 0; i <= 100; i++) {
        double t = i / 100.0, l = luminance(viridis(t));
        EXPECT_GT(l, prev) << "t=" << t;
        prev = l;
        // nearest-colour lookup recovers t to the table resolution (1/1024) plus rounding
        EXPECT_NEAR(viridis_position(viridis(t)), t, 2.0 / 1024) << t;
    }
}

TEST(Charts, TicksAreNice) {
    auto t = axis_ticks(0, 10, false, 5);
    ASSERT_FALSE(t.empty());
    EXPECT_EQ(t.front(), 0);
    EXPECT_EQ(t.back(), 10);
    auto lg = axis_ticks(1, 1000, true);
    EXPECT_NE(std::find(lg.begin(), lg.end(), 100.0), lg.end());
}

// Heatmap: values in a scrambled order; the decoded cell colours must sort the same way.
TEST(Charts, HeatmapColoursOrderedLikeValues) {
    std::string dir = rb::test::temp_dir();
    HeatmapFigure f;
    f.title = "test heatmap";
    f.value_label = "PPL";
    f.log_scale = true;
    std::vector<double> vals = {12, 3.5, 800, 40, 7, 150, 2.1, 25, 60, 9.5, 300, 18};  // 3 x 4, spans 2.1..800
    Heatmap h;
    h.row_labels = {"a", "b", "c"};
    h.col_labels = {"256", "512", "1024", "2048"};
    for (int r = 0; r < 3; r++) {
        std::vector<Num> row;
        for (int c = 0; c < 4; c++) row.push_back(vals[static_cast<size_t>(r * 4 + c)]);
        h.values.push_back(row);
    }
    Heatmap h2 = h;  // second panel with annotations (text must not break the sampling)
    f.panels = {h, h2};
    save_png_svg(dir + "/hm", f.width, f.height, [&](cairo_t* cr) { draw_heatmap(cr, f); });
    expect_svg(dir + "/hm.svg");
    Png png(dir + "/hm.png");
    ASSERT_TRUE(png.ok());
    ASSERT_EQ(png.w, f.width);
    auto [ink, ncol] = png.ink();
    EXPECT_GT(ink, 0.2);
    EXPECT_GT(ncol, 20u);
    HeatmapLayout l = heatmap_layout(f);
    EXPECT_DOUBLE_EQ(l.vmin, 2.1);
    EXPECT_DOUBLE_EQ(l.vmax, 800);
    for (size_t p = 0; p < 2; p++) {
        std::vector<std::pair<double, double>> vt;  // (value, decoded colour position)
        for (int r = 0; r < 3; r++)
            for (int c = 0; c < 4; c++) {
                const Rect& q = l.cells[p][static_cast<size_t>(r)][static_cast<size_t>(c)];
                // sample near the top-left corner of the cell, away from the centred annotation
                Rgb col = png.at(static_cast<int>(q.x + q.w * 0.12), static_cast<int>(q.y + q.h * 0.15));
                double t = viridis_position(col);
                double v = vals[static_cast<size_t>(r * 4 + c)];
                // colour maps back to where the value sits on the log scale; 0.01 = PNG 8-bit rounding
                EXPECT_NEAR(t, heatmap_t(f, l, v), 0.01) << "panel " << p << " cell " << r << "," << c;
                vt.push_back({v, t});
            }
        std::sort(vt.begin(), vt.end());
        for (size_t i = 1; i < vt.size(); i++) {
            EXPECT_GT(vt[i].second, vt[i - 1].second) << "value " << vt[i].first;
            EXPECT_GT(luminance(viridis(vt[i].second)), luminance(viridis(vt[i - 1].second)));
        }
    }
}

TEST(Charts, HeatmapMissingCellsAndConstantValues) {
    std::string dir = rb::test::temp_dir();
    HeatmapFigure f;
    f.value_label = "accuracy";
    Heatmap h;
    h.row_labels = {"0%", "50%"};
    h.col_labels = {"256"};
    h.values = {{0.5}, {std::nullopt}};
    f.panels = {h};
    save_png_svg(dir + "/c", 600, 300, [&](cairo_t* cr) { draw_heatmap(cr, f); });
    Png png(dir + "/c.png");
    ASSERT_TRUE(png.ok());
    HeatmapLayout l = heatmap_layout(f);
    EXPECT_GT(l.vmax, l.vmin);  // a constant value still gets a usable scale
    const Rect& q = l.cells[0][1][0];
    Rgb miss = png.at(static_cast<int>(q.x + 5), static_cast<int>(q.y + 5));
    EXPECT_NEAR(miss.r, 0.93, 0.01);  // the "no data" grey
}

TEST(Charts, LinesBoxesScatterNotBlank) {
    std::string dir = rb::test::temp_dir();
    LineFigure lf;
    lf.title = "lines";
    LinePanel p;
    p.log_x = p.log_y = true;
    p.x_label = "L";
    p.y_label = "PPL";
    LineSeries s{"yarn", {256, 512, 1024}, {10, 11, 14}, {9.0, 10.0, 12.0}, {11.0, 12.0, 16.0}, {9.5, 10.5, 13.0}, {10.5, 11.5, 15.0}, std::nullopt};
    p.series = {s};
    p.vlines = {{256, "trained"}};
    lf.panels = {p, p};
    save_png_svg(dir + "/l", lf.width, lf.height, [&](cairo_t* cr) { draw_lines(cr, lf); });
    Png lp(dir + "/l.png");
    ASSERT_TRUE(lp.ok());
    EXPECT_GT(lp.ink().first, 0.02);
    EXPECT_TRUE(lp.has_color(category_color(0)));  // the series colour was drawn
    expect_svg(dir + "/l.svg");

    BoxFigure bf;
    bf.panels = {{"PPL", "PPL", true, {"a", "b"}, {{1, 2, 3, 4, 50}, {5, 6, 7}}}};
    save_png_svg(dir + "/b", 600, 400, [&](cairo_t* cr) { draw_boxes(cr, bf); });
    Png bp(dir + "/b.png");
    ASSERT_TRUE(bp.ok());
    EXPECT_GT(bp.ink().first, 0.02);
    EXPECT_GT(bp.ink().second, 10u);

    ScatterMatrix sm;
    sm.var_labels = {"PPL", "LongPPL", "passkey"};
    sm.log_axis = {true, true, false};
    sm.data = {{10, 20, 40, 80}, {12, 30, 50, 100}, {1, 0.75, 0.5, std::nan("")}};
    sm.category = {0, 0, 1, 1};
    sm.category_labels = {"L=256", "L=512"};
    save_png_svg(dir + "/s", sm.width, sm.height, [&](cairo_t* cr) { draw_scatter_matrix(cr, sm); });
    Png sp(dir + "/s.png");
    ASSERT_TRUE(sp.ok());
    EXPECT_GT(sp.ink().first, 0.05);
    EXPECT_TRUE(sp.has_color(category_color(1)));
    expect_svg(dir + "/s.svg");
}

TEST(Charts, WriteFailureIsAnError) {
    EXPECT_THROW(save_png_svg("/nonexistent-dir/x", 100, 100, [](cairo_t*) {}), std::exception);
    EXPECT_THROW(save_figure("/tmp/x.jpg", 100, 100, [](cairo_t*) {}), rb::Error);
}

TEST(Charts, FailedDrawLeavesNoFileAndNoTemporary) {
    std::string dir = rb::test::temp_dir();
    EXPECT_THROW(save_figure(dir + "/a.png", 50, 50, [](cairo_t*) { throw rb::Error("boom"); }), rb::Error);
    EXPECT_THROW(save_figure(dir + "/a.svg", 50, 50, [](cairo_t*) { throw rb::Error("boom"); }), rb::Error);
    EXPECT_TRUE(std::filesystem::is_empty(dir));
    save_figure(dir + "/b.SVG", 50, 50, [](cairo_t*) {});  // extension case-insensitive
    EXPECT_TRUE(std::filesystem::is_regular_file(dir + "/b.SVG"));
    std::filesystem::remove_all(dir);
}

TEST(Charts, LogTicksAreDecadesThenOneTwoFive) {
    EXPECT_EQ(axis_ticks(0.9, 1100, true), (std::vector<double>{1, 10, 100, 1000}));
    EXPECT_EQ(axis_ticks(0.9, 40, true), (std::vector<double>{1, 2, 5, 10, 20}));  // < 3 decades
    auto t = axis_ticks(0, 31, false);
    for (size_t i = 1; i < t.size(); i++) EXPECT_NEAR(t[i] - t[i - 1], 5.0, 1e-12);
}

}  // namespace
}  // namespace rb::plot
