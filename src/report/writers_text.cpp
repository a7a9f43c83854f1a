// Human-readable outputs: REPORT.md, report.html, detailed_statistics.txt, and results.csv.
#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <regex>
#include <set>

#include "report/tables.h"
#include "report/writers.h"
#include "util/mapped_file.h"

namespace rb::report {

namespace {

std::string csv_field(const std::string& s) {
    if (s.find_first_of(",\"\n") == std::string::npos) return s;
    std::string o = "\"";
    for (char c : s) o += c == '"' ? std::string("\"\"") : std::string(1, c);
    return o + "\"";
}


// Parameter columns of the tidy CSV: every rope_scaling key (but rope_type/type) of any row.
std::vector<std::string> param_keys(const Store& st) {
    std::set<std::string> k;
    for (auto& e : st.experiments)
        if (e.params.is_object())
            for (auto it = e.params.begin(); it != e.params.end(); ++it)
                if (it.key() != "rope_type" && it.key() != "type") k.insert(it.key());
    return {k.begin(), k.end()};
}

std::string param_cell(const nlohmann::json& p, const std::string& k) {
    if (!p.is_object() || !p.contains(k)) return "";
    const auto& v = p[k];
    if (v.is_number()) return fmt::format("{:.10g}", v.get<double>());
    if (v.is_string()) return v.get<std::string>();
    return v.dump();
}

std::string n10(Num v) { return v ? fmt::format("{:.10g}", *v) : std::string(); }

// The entry an experiment belongs to, and the representative's id when it is an alias.
std::map<const Experiment*, const Entry*> entry_index(const Analysis& a) {
    std::map<const Experiment*, const Entry*> m;
    for (auto* e : a.all_entries())
        for (auto* x : e->members) m[x] = e;
    return m;
}

}  // namespace

void write_csv(const Analysis& a, Output& out) {
    const Store& st = *a.store;
    auto keys = param_keys(st);
    std::string s = "id,status,model,dtype,quantisation,protocol,L,method";
    for (auto& k : keys) s += "," + csv_field(k);
    s += ",metric,n,value,ci_lo,ci_hi,ci_method,alias_of,error\n";
    auto idx = entry_index(a);
    for (auto& e : st.experiments) {
        const Record* r = e.record && e.status == Status::done ? &*e.record : nullptr;
        std::vector<std::string> head{e.id, status_name(e.status), r ? r->model_path : "", r ? r->dtype : "",
                                      r ? r->quantisation : "", r && r->ppl ? r->ppl->protocol : "", std::to_string(e.ctx), e.method};
        for (auto& k : keys) head.push_back(param_cell(e.params, k));
        const Entry* en = r ? idx[&e] : nullptr;
        std::string alias = en && en->rep != &e ? en->rep->id : "";
        auto row = [&](const std::string& metric, const std::string& n, Num v, const Interval& ci, const std::string& how) {
            std::vector<std::string> f = head;
            for (auto& x : {metric, n, n10(v), n10(ci.lo), n10(ci.hi), how, alias, e.error}) f.push_back(x);
            for (size_t i = 0; i < f.size(); i++) s += (i ? "," : "") + csv_field(f[i]);
            s += "\n";
        };
        if (!r) {
            row("", "", std::nullopt, {}, "");
            continue;
        }
        if (r->ppl) row("ppl", std::to_string(en->ppl_ci.n), r->ppl->ppl, en->ppl_ci.ci, en->ppl_ci.method);
        if (r->longppl) row("longppl", r->longppl->n_key ? std::to_string(*r->longppl->n_key) : "", r->longppl->longppl, {}, "");
        if (r->passkey) row("passkey_accuracy", std::to_string(r->passkey->trials), r->passkey->accuracy, en->passkey_ci.ci, "wilson");
    }
    out.save("results.csv", s);
}

void write_txt(const Analysis& a, const ReportOptions& o, Output& out) {
    std::string s = fmt::format("ropebench detailed statistics\nsource: {}\n", a.store->path);
    s += fmt::format("experiments: {} done, {} failed, {} pending, {} running; {} distinct configurations at their L\n",
                     a.done.size(), a.failed.size(), a.pending.size(), a.running.size(), a.all_entries().size());
    s += "Only done experiments enter the statistics. Quantiles are type 7 (linear). std is the sample standard deviation.\n";
    s += fmt::format("PPL intervals: {} bootstrap resamples over documents (>= {} needed), mt19937_64 seed {}; moving blocks "
                     "of round(n^(1/3)) when documents were split.\n",
                     o.bootstrap_resamples, k_min_bootstrap_units, o.seed);
    auto summ = [](const std::string& name, const std::vector<double>& xs) {
        Summary q = summarize(xs);
        return fmt::format("    {:<8} n={:<4} mean={:<10} std={:<10} min={:<10} median={:<10} max={:<10} geomean={}\n", name, q.n,
                           format(q.mean), format(q.std), format(q.min), format(q.median), format(q.max), format(geomean(xs)));
    };
    for (auto& [L, es] : a.entries) {
        s += fmt::format("\n=== L={} ({} distinct configurations) ===\n", L, es.size());
        std::vector<double> ppl, lp, pk;
        for (auto& e : es) {
            if (auto v = entry_value(&e, Metric::ppl)) ppl.push_back(*v);
            if (auto v = entry_value(&e, Metric::longppl)) lp.push_back(*v);
            if (auto v = entry_value(&e, Metric::passkey)) pk.push_back(*v);
        }
        s += summ("PPL", ppl) + summ("LongPPL", lp) + summ("passkey", pk);
        for (auto& e : es) {
            s += fmt::format("    {:<60} PPL {}", e.label() + (e.baseline ? " [plain]" : ""), fvalue_ci(entry_value(&e, Metric::ppl), &e.ppl_ci));
            if (e.nll_within) s += fmt::format("  NLL<T {:.4f}", *e.nll_within);
            if (e.nll_beyond) s += fmt::format("  NLL>=T {:.4f}", *e.nll_beyond);
            if (e.rep->record->passkey) s += "  passkey " + fvalue_ci(entry_value(&e, Metric::passkey), &e.passkey_ci, 3, true);
            s += "\n";
        }
    }
    s += "\n=== correlations (within L, distinct configurations) ===\n";
    for (auto& c : a.corr)
        s += fmt::format("  {:<24} L={:<6} n={:<4} pearson r={} CI {}  spearman rho={} CI {}  {}\n", c.pair, c.ctx, c.pearson.n,
                         fnum(c.pearson.r), fci({c.pearson.lo, c.pearson.hi}), fnum(c.spearman.r),
                         fci({c.spearman.lo, c.spearman.hi}), c.pearson.note.empty() ? c.spearman.note : c.pearson.note);
    out.save("detailed_statistics.txt", s);
}

namespace {

// The sections shared by REPORT.md and report.html, as (heading, tables, bullet lists).
struct Section {
    std::string heading;
    std::vector<Table> tables;
    std::vector<std::string> bullets;
};

std::vector<Section> sections(const Analysis& a) {
    std::vector<Section> v;
    v.push_back({"Method ranking", {t_overall(a)}, {}});
    v.push_back({"Context extension", {t_extension(a)}, {}});
    v.push_back({"Rankings at each context length", t_per_l(a), {}});
    v.push_back({"Best configuration per method and length", {t_context(a)}, {}});
    v.push_back({"Aliases (configurations computing the same thing)", {t_aliases(a)}, {}});
    v.push_back({"Passkey by depth x length", t_passkey_depth(a), {}});
    v.push_back({"Correlations between metrics", {t_corr(a)}, {}});
    return v;
}

std::vector<std::string> all_notes(const Analysis& a, const FigureSet& figs) {
    std::vector<std::string> n = a.notes;
    n.insert(n.end(), figs.notes.begin(), figs.notes.end());
    return n;
}

}  // namespace

void write_md(const Analysis& a, const FigureSet& figs, Output& out) {
    std::string s = "# ropebench report\n\n";
    s += fmt::format("Source: `{}`", a.store->path);
    for (auto& k : {"created", "tool_version"})
        if (auto it = a.store->meta.find(k); it != a.store->meta.end()) s += fmt::format(" · {} {}", k, it->second);
    s += "\n\n## Executive summary\n\n";
    for (auto& l : executive_summary(a)) s += "- " + l + "\n";
    s += "\n";
    for (auto& sec : sections(a)) {
        s += "## " + sec.heading + "\n\n";
        for (auto& t : sec.tables) s += to_md(t);
    }
    s += "## Recommendations\n\nEach rule is applied mechanically to the numbers above.\n\n";
    for (auto& [rule, findings] : recommendations(a)) {
        s += "- **" + rule + "**\n";
        for (auto& f : findings) s += "  - " + f + "\n";
        if (findings.empty()) s += "  - no data for this rule.\n";
    }
    s += "\n## Failed, pending and running experiments\n\n" + to_md(t_problems(a));
    s += "## Figures\n\n";
    for (auto& f : figs.figures)
        s += fmt::format("![{}](figures/{}.png)\n\n*{}* ([SVG](figures/{}.svg))\n\n", f.name, f.name, f.caption, f.name);
    auto notes = all_notes(a, figs);
    if (!notes.empty()) {
        s += "## Notes\n\n";
        for (auto& n : notes) s += "- " + n + "\n";
        s += "\n";
    }
    s += "## Definitions\n\n";
    for (auto& d : definitions()) s += "- " + d + "\n";
    out.save("REPORT.md", s);
}

namespace {

size_t count_of(const std::string& s, const std::string& what) {
    size_t n = 0;
    for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) n++;
    return n;
}

// Cairo's SVG uses ids like "glyph-0-1" and "clip-3" in every file: prefix them so several
// SVGs can live in one HTML document without one figure's glyphs replacing another's.
std::string inline_svg(const std::string& svg, const std::string& prefix) {
    std::string s = svg;
    auto start = s.find("<svg");
    if (start != std::string::npos) s = s.substr(start);
    s = std::regex_replace(s, std::regex(R"re(id="([^"]+)")re"), "id=\"" + prefix + "$1\"");
    s = std::regex_replace(s, std::regex(R"re(href="#([^"]+)")re"), "href=\"#" + prefix + "$1\"");
    s = std::regex_replace(s, std::regex(R"re(url\(#([^)]+)\))re"), "url(#" + prefix + "$1)");
    // scale with the page
    s = std::regex_replace(s, std::regex("<svg "), "<svg class=\"fig\" ", std::regex_constants::format_first_only);
    return s;
}


std::string html_body(const Analysis& a, const FigureSet& figs, const std::string& dir) {
    std::string h = "<p>Source: <code>" + html_escape(a.store->path) + "</code></p>\n<h2>Executive summary</h2><ul>";
    for (auto& l : executive_summary(a)) h += "<li>" + html_escape(l) + "</li>";
    h += "</ul>\n" + to_html(t_counts(a));
    for (auto& sec : sections(a)) {
        h += "<h2>" + html_escape(sec.heading) + "</h2>";
        for (auto& t : sec.tables) h += to_html(t);
    }
    h += "<h2>Recommendations</h2><ul>";
    for (auto& [rule, findings] : recommendations(a)) {
        h += "<li><b>" + html_escape(rule) + "</b><ul>";
        for (auto& f : findings) h += "<li>" + html_escape(f) + "</li>";
        h += "</ul></li>";
    }
    h += "</ul><h2>Failed, pending and running experiments</h2>" + to_html(t_problems(a));
    h += "<h2>Figures</h2>\n";
    for (size_t i = 0; i < figs.figures.size(); i++) {
        auto& f = figs.figures[i];
        std::string svg = read_file((std::filesystem::path(dir) / "figures" / (f.name + ".svg")).string());
        h += fmt::format("<figure id=\"fig-{}\">{}<figcaption>{}</figcaption></figure>\n", html_escape(f.name),
                         inline_svg(svg, fmt::format("f{}-", i)), html_escape(f.caption));
    }
    auto notes = all_notes(a, figs);
    if (!notes.empty()) {
        h += "<h2>Notes</h2><ul>";
        for (auto& n : notes) h += "<li>" + html_escape(n) + "</li>";
        h += "</ul>";
    }
    h += "<h2>Definitions</h2><ul>";
    for (auto& d : definitions()) h += "<li>" + html_escape(d) + "</li>";
    return h + "</ul>\n";
}

}  // namespace

// Longer than ~80 lines only because it holds the page's fixed CSS and script text.
void write_html(const Analysis& a, const FigureSet& figs, Output& out) {
    std::string h = R"(<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>ropebench report</title>
<style>
body{font-family:sans-serif;max-width:1400px;margin:1em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:0.5em 0 1.5em;font-size:13px}
th,td{border:1px solid #ccc;padding:3px 6px;text-align:right}
td:first-child,th:first-child{text-align:left}
th{background:#eef;cursor:pointer;user-select:none}
th.asc::after{content:" \25B2"} th.desc::after{content:" \25BC"}
caption{text-align:left;font-weight:bold;padding:4px 0}
svg.fig{max-width:100%;height:auto;border:1px solid #ddd}
figure{margin:1em 0 2em} figcaption{font-size:13px;color:#444}
</style></head><body>
<h1>ropebench report</h1>
)";
    h += html_body(a, figs, out.dir);
    h += fmt::format("<div id=\"report-meta\" data-tables=\"{}\" data-figures=\"{}\"></div>\n",
                     count_of(h, "<table class=\"sortable\""), figs.figures.size());
    h += R"(<script>
(function(){
  function key(td){var t=td.textContent.trim();var m=t.match(/^[-+]?\d*\.?\d+(e[-+]?\d+)?/i);return m?parseFloat(m[0]):null;}
  function sortBy(table,col,th){
    var tb=table.tBodies[0];var rows=Array.prototype.slice.call(tb.rows);
    var asc=!th.classList.contains('asc');
    Array.prototype.forEach.call(table.tHead.rows[0].cells,function(c){c.classList.remove('asc','desc');});
    th.classList.add(asc?'asc':'desc');
    rows.sort(function(a,b){
      var x=a.cells[col],y=b.cells[col];if(!x||!y)return 0;
      var kx=key(x),ky=key(y),r;
      if(kx!==null&&ky!==null)r=kx-ky;else if(kx!==null)r=-1;else if(ky!==null)r=1;
      else r=x.textContent.localeCompare(y.textContent);
      return asc?r:-r;});
    rows.forEach(function(r){tb.appendChild(r);});
  }
  var tables=document.querySelectorAll('table.sortable');
  Array.prototype.forEach.call(tables,function(t){
    Array.prototype.forEach.call(t.tHead.rows[0].cells,function(th,i){th.addEventListener('click',function(){sortBy(t,i,th);});});
  });
  // self-check on a detached copy of the first table: an ascending sort orders column 0
  var check='none';
  if(tables.length){
    var c=tables[0].cloneNode(true);sortBy(c,0,c.tHead.rows[0].cells[0]);
    var ks=Array.prototype.map.call(c.tBodies[0].rows,function(r){return key(r.cells[0]);});
    check='ok';for(var i=1;i<ks.length;i++){if(ks[i]!==null&&ks[i-1]!==null&&ks[i]<ks[i-1])check='unsorted';}
  }
  var ok=document.createElement('div');ok.id='report-ready';
  ok.setAttribute('data-sortcheck',check);
  ok.setAttribute('data-tables',String(tables.length));
  ok.setAttribute('data-svgs',String(document.querySelectorAll('svg.fig').length));
  ok.textContent='report script ok';document.body.appendChild(ok);
})();
</script>
</body></html>
)";
    out.save("report.html", h);
}

}  // namespace rb::report
