//! `report.html`: the matrix as one self-contained page (no server, no network).
//!
//! The table is rendered here, so the page reads without JavaScript: a cell links to its run's
//! panel (`#run-N`, opened by CSS `:target`), a scenario to its section. A small script adds the
//! filters (unexpected only, implementations disagree, CPython versions disagree, area, clause,
//! search). For tests, `report.html?click=SEL|SEL` clicks the elements the CSS selectors name,
//! in order, once the page has loaded (`?search=TEXT` types into the search box, `?scroll=Y`
//! scrolls, for screenshots), and the page
//! writes what it shows to `body` data attributes (`data-shown`: visible rows; `data-open`: the
//! open run; `data-open-display`: its panel's CSS display).

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;

use conformance::Outcome;

use crate::report::{cell, family, Column, Links, Matrix, OUTCOMES};
use crate::results::{Record, RunInfo};
use crate::workspace;

/// HTML text escaping (the five characters that matter in text and attribute values).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The Markdown of SPEC.md clause text that matters here: `**bold**` and `` `code` ``.
fn markdown(text: &str) -> String {
    let mut out = String::new();
    let escaped = escape(text);
    let mut code = false;
    for (i, part) in escaped.split('`').enumerate() {
        if i > 0 {
            out.push_str(if code { "</code>" } else { "<code>" });
            code = !code;
        }
        if code {
            out.push_str(part);
        } else {
            let mut bold = false;
            for (j, p) in part.split("**").enumerate() {
                if j > 0 {
                    out.push_str(if bold { "</b>" } else { "<b>" });
                    bold = !bold;
                }
                out.push_str(p);
            }
            if bold {
                out.push_str("</b>");
            }
        }
    }
    if code {
        out.push_str("</code>");
    }
    out
}

/// A run's message for the page: its diff lines coloured, without the `expected:` and
/// `actual:` paragraphs (the panel shows both traces side by side).
fn message_html(message: &str) -> String {
    let mut out = String::new();
    for line in crate::report::without_traces(message) {
        let class = if line.starts_with("- ") {
            "del"
        } else if line.starts_with("+ ") {
            "ins"
        } else {
            ""
        };
        let _ = write!(out, "<span class=\"{class}\">{}</span>", escape(line));
    }
    out
}

/// What a cell says about behaviour, for comparing columns: whether the scenario applied (a
/// scenario written for other Python versions is skipped), the outcome's class (as expected or
/// not), the expected-outcome variant it was judged against, and the trace the program printed.
fn behaviour(r: &Record) -> (bool, bool, Option<&str>, Option<&str>) {
    (
        r.outcome == Outcome::Skip,
        r.outcome == Outcome::Pass,
        r.variant.as_deref(),
        r.actual.as_deref(),
    )
}

fn run_info_table(out: &mut String, run: &RunInfo) {
    let revision = match (&run.suite.revision, run.suite.dirty) {
        (Some(r), Some(true)) => format!("{r} (with uncommitted changes)"),
        (Some(r), _) => r.clone(),
        (None, _) => "(not a git checkout)".into(),
    };
    let o = &run.options;
    let options = if !run.parts.is_empty() {
        format!("a merge of {} runs: see each below", run.parts.len())
    } else {
        format!(
            "jobs {}; shard {}; scenarios {}; start methods {}{}",
            o.jobs,
            o.shard.as_deref().unwrap_or("all"),
            if o.scenarios.is_empty() {
                "all".into()
            } else {
                o.scenarios.join(" ")
            },
            if o.start_methods.is_empty() {
                "all".into()
            } else {
                o.start_methods.join(" ")
            },
            if o.fail_fast { "; fail-fast" } else { "" }
        )
    };
    out.push_str("<table class=meta>");
    for (k, v) in [
        ("suite revision", revision),
        ("date", run.date.clone()),
        ("host", run.host.clone()),
        ("operating system", run.os.clone()),
        ("kernel", run.kernel.clone()),
        ("command", run.command.join(" ")),
        ("options", options),
        ("wall time", format!("{:.1} s", run.seconds)),
    ] {
        let _ = write!(out, "<tr><th>{k}</th><td>{}</td></tr>", escape(&v));
    }
    out.push_str("</table><table class=meta><tr><th>implementation</th><th>version</th><th>executable</th><th>profile</th><th>methods</th><th>manifest</th><th>SHA-256</th></tr>");
    for i in &run.implementations {
        let path = |p: &Option<std::path::PathBuf>| {
            p.as_ref()
                .map_or("(built in)".to_owned(), |p| p.display().to_string())
        };
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td title=\"{}\">{}</td></tr>",
            escape(&i.name),
            escape(i.version.as_deref().unwrap_or("")),
            escape(&path(&i.executable).replace("(built in)", "")),
            escape(&i.profile),
            escape(&i.methods.join(" ")),
            escape(&path(&i.manifest)),
            escape(&i.manifest_sha256),
            escape(&i.manifest_sha256[..i.manifest_sha256.len().min(12)])
        );
    }
    out.push_str("</table>");
}

pub fn render(m: &Matrix<'_>, links: &Links) -> String {
    let file = m.file;
    let clause_texts: HashMap<String, String> = workspace::clause_texts().into_iter().collect();
    let columns: &[Column] = &m.columns;
    let is_cpython: Vec<bool> = columns
        .iter()
        .map(|c| family(&c.implementation) == "cpython")
        .collect();
    let mut page = String::from(HEAD);

    // Title, verdict, metadata, legend.
    let runs: Vec<&Record> = file.results.iter().filter(|r| !r.is_whole_run()).collect();
    let verdict = if file.setup_failed() {
        "<b class=bad>set-up errors</b>"
    } else if file.ok() {
        "every result as expected"
    } else {
        "<b class=bad>unexpected results</b>"
    };
    let _ = write!(
        page,
        "<header><h1>Conformance matrix</h1><p>{} runs: {} &middot; {verdict} &middot; {} \
         &middot; {}</p>",
        runs.len(),
        escape(&Matrix::counts(runs.iter().copied())),
        escape(&file.run.date),
        escape(&file.run.host)
    );
    page.push_str("<details id=meta><summary>Run metadata</summary>");
    run_info_table(&mut page, &file.run);
    for (i, part) in file.run.parts.iter().enumerate() {
        let _ = write!(page, "<h3>Part {} of the merge</h3>", i + 1);
        run_info_table(&mut page, part);
    }
    page.push_str("</details>");
    page.push_str("<p class=legend>");
    for (o, meaning) in [
        (Outcome::Pass, "as expected"),
        (Outcome::Xfail, "a listed deviation, failing as listed"),
        (Outcome::Skip, "does not apply (hover for why)"),
        (Outcome::Fail, "differs from the expected outcome"),
        (Outcome::Xpass, "a listed deviation that passes: remove it"),
        (Outcome::Timeout, "did not end in time"),
        (Outcome::Leak, "left processes or /dev/shm entries"),
        (Outcome::Error, "could not be run or judged"),
    ] {
        let _ = write!(
            page,
            "<span class=\"o-{}\">{}</span> {meaning} ",
            o.as_str(),
            cell(o)
        );
    }
    page.push_str("</p></header>");

    // Whole-run problems.
    for r in file.results.iter().filter(|r| r.is_whole_run()) {
        let _ = write!(
            page,
            "<div class=problem><b>{} {}</b> {}<pre>{}</pre></div>",
            cell(r.outcome),
            escape(&r.scenario),
            escape(&r.implementation),
            escape(&r.message)
        );
    }

    // Filters.
    let mut areas = BTreeSet::new();
    let mut clauses = BTreeSet::new();
    for row in &m.rows {
        for c in row_clauses(m, row) {
            areas.insert(area(&c).to_owned());
            clauses.insert(c);
        }
    }
    page.push_str(
        "<nav id=filters><label><input type=checkbox id=f-bad> unexpected only</label> \
         <label><input type=checkbox id=f-disagree> implementations disagree</label> \
         <label title=\"rows where CPython versions behave differently: the measured change log \
         of multiprocessing\"><input type=checkbox id=f-versions> versions view (CPython \
         versions disagree)</label> <select id=f-area><option value=\"\">every area</option>",
    );
    for a in &areas {
        let _ = write!(page, "<option>{}</option>", escape(a));
    }
    page.push_str("</select> <select id=f-clause><option value=\"\">every clause</option>");
    for c in &clauses {
        let _ = write!(page, "<option>{}</option>", escape(c));
    }
    let _ = write!(
        page,
        "</select> <input type=search id=f-search placeholder=\"search scenarios\"> \
         <span class=m>showing <span id=shown>{0}</span> of {0} scenarios</span></nav>",
        m.rows.len()
    );

    // The table: two header rows and the totals, sticky.
    page.push_str(
        "<div id=scroll><table id=matrix><thead><tr><th class=id rowspan=2>scenario</th>",
    );
    let mut i = 0;
    while i < columns.len() {
        let span = columns[i..]
            .iter()
            .take_while(|c| c.implementation == columns[i].implementation)
            .count();
        let _ = write!(
            page,
            "<th class=\"{}\" colspan={span}>{}</th>",
            if is_cpython[i] { "cp" } else { "other" },
            escape(&columns[i].implementation)
        );
        i += span;
    }
    page.push_str("</tr><tr>");
    for (c, cp) in columns.iter().zip(&is_cpython) {
        let _ = write!(
            page,
            "<th class=\"m {}\">{}</th>",
            if *cp { "cp" } else { "other" },
            escape(&c.method)
        );
    }
    page.push_str("</tr><tr class=totals><th class=id>as expected</th>");
    for (c, cp) in columns.iter().zip(&is_cpython) {
        let (ok, ran) = m.as_expected(c);
        let pct = if ran == 0 {
            100.0
        } else {
            100.0 * ok as f64 / ran as f64
        };
        let _ = write!(
            page,
            "<td class=\"{}{}\" title=\"{}\">{ok}/{ran}<br>{pct:.1}%</td>",
            if *cp { "cp" } else { "other" },
            if ok == ran { "" } else { " bad" },
            escape(&Matrix::counts(m.in_column(c)))
        );
    }
    page.push_str("</tr></thead><tbody>\n");

    let mut index: Vec<&Record> = Vec::new();
    for row in &m.rows {
        let cells: Vec<Option<&Record>> = columns.iter().map(|c| m.result(row, c)).collect();
        let bad = cells.iter().flatten().any(|r| !r.outcome.is_ok());
        let oks: BTreeSet<bool> = cells
            .iter()
            .flatten()
            .filter(|r| r.outcome != Outcome::Skip)
            .map(|r| r.outcome == Outcome::Pass)
            .collect();
        let disagree = oks.len() > 1;
        let mut versions = false;
        for method in ["fork", "spawn", "forkserver"] {
            let seen: BTreeSet<_> = cells
                .iter()
                .zip(&is_cpython)
                .filter(|(_, cp)| **cp)
                .filter_map(|(r, _)| *r)
                .filter(|r| r.start_method == method)
                .map(behaviour)
                .collect();
            versions |= seen.len() > 1;
        }
        let row_clauses = row_clauses(m, row);
        let statement = m
            .catalog
            .and_then(|c| c.get(row))
            .map_or("", |s| s.statement.as_str());
        let areas: BTreeSet<&str> = row_clauses.iter().map(|c| area(c)).collect();
        let _ = write!(
            page,
            "<tr data-id=\"{0}\" data-areas=\"{1}\" data-clauses=\"{2}\" data-text=\"{3}\"{4}{5}{6}>\
             <th class=id><a href=\"#s-{0}\" title=\"{7}\">{0}</a></th>",
            escape(row),
            escape(&areas.into_iter().collect::<Vec<_>>().join(" ")),
            escape(&row_clauses.join(" ")),
            escape(&format!("{row} {} {statement}", row_clauses.join(" ")).to_lowercase()),
            if bad { " data-bad=1" } else { "" },
            if disagree { " data-disagree=1" } else { "" },
            if versions { " data-versions=1" } else { "" },
            escape(statement)
        );
        for (r, cp) in cells.iter().zip(&is_cpython) {
            let class = if *cp { "cp" } else { "other" };
            match r {
                Some(r) => {
                    let n = index.len();
                    index.push(r);
                    let title = r.message.lines().next().unwrap_or("");
                    let _ = write!(
                        page,
                        "<td class=\"o-{} {class}\" title=\"{}\"><a href=\"#run-{n}\">{}</a></td>",
                        r.outcome.as_str(),
                        escape(title),
                        cell(r.outcome)
                    );
                }
                None => {
                    let _ = write!(page, "<td class={class}>-</td>");
                }
            }
        }
        page.push_str("</tr>\n");
    }
    page.push_str("</tbody></table></div>\n");

    // The run panels, opened by :target.
    for (n, r) in index.iter().enumerate() {
        let program = if family(&r.implementation) == "reference" {
            "scenarios/src/".to_owned()
        } else {
            format!("scenarios/python/{}.py", r.scenario.replace('-', "_"))
        };
        let _ = write!(
            page,
            "<section class=run id=\"run-{n}\"><a class=close href=\"#\" title=\"close\">&times;</a>\
             <h2><span class=\"o-{}\">{}</span> {} &middot; {} &middot; {}</h2>\
             <p>{:.2} s &middot; <a href=\"#s-{}\">scenario and clauses</a> &middot; \
             <a href=\"{}\">program</a>",
            r.outcome.as_str(),
            cell(r.outcome),
            escape(&r.scenario),
            escape(&r.implementation),
            escape(&r.start_method),
            r.seconds,
            escape(&r.scenario),
            escape(&links.to(&program))
        );
        if let Some(variant) = &r.variant {
            let _ = write!(
                page,
                " &middot; expected-outcome variant <b>{}</b>",
                escape(variant)
            );
        }
        if let Some(expected) = m.expected_file(&r.scenario, &r.start_method, r.variant.as_deref())
        {
            let _ = write!(
                page,
                " &middot; <a href=\"{}\">expected outcome</a>",
                escape(&links.to(&format!("scenarios/{expected}")))
            );
        }
        page.push_str("</p>");
        if let Some(left) = crate::report::stray_line(r) {
            let _ = write!(page, "<p class=stray>{}</p>", escape(&left));
        }
        if !r.message.is_empty() {
            let _ = write!(page, "<pre class=msg>{}</pre>", message_html(&r.message));
        }
        let expected = r.expected.as_deref().or(if r.outcome == Outcome::Pass {
            r.actual.as_deref()
        } else {
            None
        });
        if expected.is_some() || r.actual.is_some() {
            let _ = write!(
                page,
                "<div class=traces><div><h4>expected</h4><pre>{}</pre></div><div><h4>actual</h4><pre>{}</pre></div></div>",
                escape(expected.unwrap_or("(not read)")),
                escape(r.actual.as_deref().unwrap_or("(it did not end by itself)"))
            );
        }
        page.push_str("</section>\n");
    }

    // The scenarios: statement, clauses, files.
    page.push_str("<h2>Scenarios</h2>\n");
    for row in &m.rows {
        let statement = m
            .catalog
            .and_then(|c| c.get(row))
            .map(|s| s.statement.clone());
        let _ = write!(
            page,
            "<section class=scenario id=\"s-{0}\"><h3>{0}</h3><p>{1}</p><p>\
             <a href=\"{2}\">Python program</a> &middot; <a href=\"{3}\">Rust program</a>",
            escape(row),
            markdown(statement.as_deref().unwrap_or("")),
            escape(&links.to(&format!("scenarios/python/{}.py", row.replace('-', "_")))),
            escape(&links.to("scenarios/src/"))
        );
        let mut files = BTreeSet::new();
        for c in columns {
            if let Some(f) = m.expected_file(row, &c.method, None) {
                files.insert(f);
            }
        }
        for f in files {
            let _ = write!(
                page,
                " &middot; <a href=\"{}\">{}</a>",
                escape(&links.to(&format!("scenarios/{f}"))),
                escape(&f)
            );
        }
        page.push_str("</p>");
        for clause in row_clauses(m, row) {
            let text = clause_texts.get(&clause).map_or("", String::as_str);
            let _ = write!(
                page,
                "<p class=clause><a href=\"{}\"><b>{}</b></a> {}</p>",
                escape(&links.to("conformance/SPEC.md")),
                escape(&clause),
                markdown(text)
            );
        }
        page.push_str("</section>\n");
    }
    page.push_str(SCRIPT);
    page.push_str("</body></html>\n");
    debug_assert!(OUTCOMES.len() == 8);
    page
}

/// A row's clauses: from its records, else the catalog.
fn row_clauses(m: &Matrix<'_>, row: &str) -> Vec<String> {
    m.file
        .results
        .iter()
        .find(|r| r.scenario == row && !r.clauses.is_empty())
        .map(|r| r.clauses.clone())
        .or_else(|| {
            m.catalog
                .and_then(|c| c.get(row))
                .map(|s| s.clauses.clone())
        })
        .unwrap_or_default()
}

/// A clause's area: `START-7` is in `START`.
fn area(clause: &str) -> &str {
    clause.rsplit_once('-').map_or(clause, |(a, _)| a)
}

const HEAD: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>multiprocessing conformance matrix</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:0 1.5em 2em;color:#222}
h1{margin:.4em 0 0}.bad{color:#b00}.m{font-weight:normal;color:#666}
.legend span{display:inline-block;padding:0 6px;border-radius:3px;font-size:12px;margin-left:.8em}
#filters{position:sticky;top:0;background:#fff;padding:6px 0;z-index:3;border-bottom:1px solid #ddd}
#filters label{margin-right:1em;white-space:nowrap}
#scroll{overflow:auto;max-height:calc(100vh - 3em);border:1px solid #ddd}
table#matrix{border-collapse:separate;border-spacing:0}
#matrix th,#matrix td{border-right:1px solid #ddd;border-bottom:1px solid #ddd;padding:2px 6px;text-align:center;white-space:nowrap}
#matrix thead{position:sticky;top:0;z-index:2}
#matrix thead th,#matrix thead td{background:#f4f4f4}
#matrix .id{position:sticky;left:0;z-index:1;background:#fff}#matrix thead .id{background:#f4f4f4}
#matrix .id{text-align:left;font-weight:normal;font-family:ui-monospace,monospace}
#matrix .id a{color:#225}.totals td{font-size:12px}.totals td.bad{color:#b00;font-weight:bold}
td a{color:inherit;text-decoration:none;display:block}
.o-pass{background:#c8f0c8}.o-fail,.o-error{background:#f4b4b4;font-weight:bold}
.o-xfail{background:#f0e6a8}.o-xpass{background:#f4c8f4;font-weight:bold}
.o-timeout{background:#f4c890;font-weight:bold}.o-leak{background:#e0b0f0;font-weight:bold}
.o-skip{background:#eee;color:#888}
body.versions .other{display:none}
.problem{border:2px solid #b00;background:#fee;padding:4px 10px;margin:6px 0}
pre{background:#f7f7f7;border:1px solid #ddd;padding:6px;overflow:auto;white-space:pre-wrap;word-break:break-word}
pre.msg span{display:block;min-height:1.3em}pre .del{background:#fdd;color:#900}pre .ins{background:#dfd;color:#060}
.run{display:none}
.run:target{display:block;position:fixed;top:0;right:0;bottom:0;width:min(46em,60%);overflow:auto;
 background:#fff;border-left:3px solid #888;box-shadow:-4px 0 16px #0003;padding:0 1.2em;z-index:10}
.run h2 span{padding:0 6px;border-radius:3px}.close{float:right;font-size:28px;text-decoration:none;color:#444}
.traces{display:flex;gap:1em}.traces div{flex:1;min-width:0}
.scenario{border-top:1px solid #ddd}.clause{color:#444}
table.meta{border-collapse:collapse;margin:.5em 0}table.meta th,table.meta td{border:1px solid #ddd;padding:2px 6px;text-align:left;font-size:13px}
</style></head><body>
"#;

const SCRIPT: &str = r#"<script>
(() => {
  const $ = s => document.querySelector(s);
  const rows = [...document.querySelectorAll('#matrix tbody tr')];
  function apply() {
    const bad = $('#f-bad').checked, dis = $('#f-disagree').checked, ver = $('#f-versions').checked;
    const area = $('#f-area').value, clause = $('#f-clause').value;
    const q = $('#f-search').value.trim().toLowerCase();
    let shown = 0;
    for (const tr of rows) {
      const d = tr.dataset;
      const ok = (!bad || d.bad) && (!dis || d.disagree) && (!ver || d.versions)
        && (!area || d.areas.split(' ').includes(area))
        && (!clause || d.clauses.split(' ').includes(clause))
        && (!q || d.text.includes(q));
      tr.hidden = !ok;
      const section = document.getElementById('s-' + d.id);
      if (section) section.hidden = !ok;
      if (ok) shown++;
    }
    document.body.classList.toggle('versions', ver);
    $('#shown').textContent = shown;
    document.body.dataset.shown = shown;
  }
  for (const id of ['#f-bad', '#f-disagree', '#f-versions', '#f-area', '#f-clause'])
    $(id).addEventListener('change', apply);
  $('#f-search').addEventListener('input', apply);
  const opened = () => {
    const id = location.hash.slice(1), target = id && document.getElementById(id);
    document.body.dataset.open = id;
    document.body.dataset.openDisplay = target ? getComputedStyle(target).display : '';
  };
  window.addEventListener('hashchange', opened);
  document.addEventListener('keydown', e => { if (e.key === 'Escape' && location.hash) location.hash = ''; });
  apply();
  opened();
  // Test hooks: ?search=TEXT types into the search box; ?click=SEL|SEL clicks these elements.
  const params = new URLSearchParams(location.search);
  if (params.get('search')) {
    $('#f-search').value = params.get('search');
    $('#f-search').dispatchEvent(new Event('input'));
  }
  const clicks = params.get('click');
  if (clicks) for (const sel of clicks.split('|')) {
    const el = $(sel);
    if (!el) { document.body.dataset.missing = sel; break; }
    el.click();
    opened();
  }
  if (params.get('scroll')) $('#scroll').scrollTop = +params.get('scroll');
})();
</script>
"#;
