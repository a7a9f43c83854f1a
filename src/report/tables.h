// The report's tables and rule-based text, shared by REPORT.md and report.html.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "report/analysis.h"

namespace rb::report {

struct Table {
    std::string id, caption;
    std::vector<std::string> head;
    std::vector<std::vector<std::string>> rows;
};

std::string to_md(const Table& t);
std::string to_html(const Table& t);
std::string html_escape(const std::string& s);

std::string fnum(Num v, int sig = 4);
std::string fpct(Num v);
/// "[lo, hi]" or "[no CI]".
std::string fci(const Interval& i, int sig = 4);
/// "41.2 [38.0, 44.9] (n=12 docs, bootstrap)" / "41.2 (no CI: n = 2)".
std::string fvalue_ci(Num v, const CiValue* c, int sig = 4, bool pct = false);

Table t_counts(const Analysis& a);
Table t_overall(const Analysis& a);
std::vector<Table> t_per_l(const Analysis& a);
Table t_extension(const Analysis& a);
Table t_context(const Analysis& a);
std::vector<Table> t_passkey_depth(const Analysis& a);
Table t_corr(const Analysis& a);
Table t_problems(const Analysis& a);
Table t_aliases(const Analysis& a);

std::vector<std::string> executive_summary(const Analysis& a);
/// Each rule as stated, then what the numbers give.
std::vector<std::pair<std::string, std::vector<std::string>>> recommendations(const Analysis& a);
/// The rules and definitions printed at the end of REPORT.md and the HTML.
const std::vector<std::string>& definitions();

}  // namespace rb::report
