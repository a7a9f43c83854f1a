#include <gtest/gtest.h>

#include "sweep/expr.h"
#include "util/error.h"

using rb::sweep::eval_expression;

TEST(Expr, ArithmeticAndPrecedence) {
    std::map<std::string, double> v{{"ctx", 8192}, {"original", 2048}};
    EXPECT_DOUBLE_EQ(eval_expression("ctx / original", v), 4.0);
    EXPECT_DOUBLE_EQ(eval_expression("1 + 2 * 3", v), 7.0);
    EXPECT_DOUBLE_EQ(eval_expression("(1 + 2) * 3", v), 9.0);
    EXPECT_DOUBLE_EQ(eval_expression("-ctx / -original + 0.5", v), 4.5);
    EXPECT_DOUBLE_EQ(eval_expression("2 * ctx / original - 1", v), 7.0);
    EXPECT_DOUBLE_EQ(eval_expression("8 / 4 / 2", v), 1.0);  // left-associative
    EXPECT_DOUBLE_EQ(eval_expression("1.5e1", v), 15.0);
    EXPECT_DOUBLE_EQ(eval_expression("  ctx  ", v), 8192.0);
}

TEST(Expr, Errors) {
    std::map<std::string, double> v{{"ctx", 8192}, {"original", 2048}};
    auto msg = [&](const std::string& s) {
        try {
            eval_expression(s, v);
        } catch (const rb::Error& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    EXPECT_NE(msg("ctx / orig").find("unknown name 'orig'"), std::string::npos) << msg("ctx / orig");
    EXPECT_NE(msg("ctx / (original - 2048)").find("division by zero"), std::string::npos);
    EXPECT_NE(msg("(ctx").find("expected ')'"), std::string::npos);
    EXPECT_NE(msg("ctx original").find("unexpected 'o'"), std::string::npos);
    EXPECT_NE(msg("").find("unexpected end"), std::string::npos);
    EXPECT_NE(msg("ctx ** 2").find("column"), std::string::npos);
    EXPECT_NE(msg("system(1)").find("unknown name 'system'"), std::string::npos);
}
