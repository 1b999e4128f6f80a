//! `report.html`: one self-contained page (inline CSS and SVG, no script, no external file or
//! font), readable offline and printable. Codes appear under their labels in small type.

use super::doc::{Block, Cell, Doc, Table};
use super::svg::{self, escape};
use std::fmt::Write;

const CSS: &str = "body{font-family:system-ui,-apple-system,'Segoe UI','PingFang SC','Hiragino Sans GB','Microsoft YaHei',\
'Noto Sans CJK SC','Noto Sans SC','WenQuanYi Micro Hei',sans-serif;margin:0;color:#222;background:#f6f7f9}\
main{max-width:1040px;margin:0 auto;padding:24px}h1{font-size:26px;margin:0 0 4px}h2{font-size:20px;margin:32px 0 8px;\
border-bottom:2px solid #5470c6;padding-bottom:4px}h3{font-size:15px;margin:18px 0 6px}.sub{color:#666;margin:0 0 16px}\
nav{background:#fff;border:1px solid #e3e5e8;border-radius:6px;padding:8px 14px;columns:2;font-size:14px}nav a{display:block;\
color:#3556b8;text-decoration:none;padding:2px 0}section{background:#fff;border:1px solid #e3e5e8;border-radius:6px;padding:4px 18px 14px;\
margin-top:18px}table{border-collapse:collapse;font-size:13px;margin:6px 0;width:100%}th,td{border-bottom:1px solid #eceef1;padding:4px 8px;\
text-align:left;vertical-align:top}th{background:#f1f3f7;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums;\
white-space:nowrap}tr.total td{font-weight:700;border-top:2px solid #999}small{color:#888;font-size:11px;display:block}\
.note{color:#555;font-size:13px}.chart{margin:8px 0}pre{background:#f4f5f7;padding:10px;font-size:12px;overflow:auto;max-height:360px}\
.scroll{max-height:480px;overflow:auto}@media print{section{break-inside:avoid}nav{display:none}.scroll{max-height:none}}";

fn cell(s: &mut String, c: &Cell, d: &Doc) {
    let class = if c.is_numeric() { " class=\"n\"" } else { "" };
    match c {
        Cell::Code(code) => {
            let label = d.lang.term(code);
            if &label == code {
                let _ = write!(s, "<td>{}</td>", escape(code));
            } else {
                let _ = write!(s, "<td>{}<small>{}</small></td>", escape(&label), escape(code));
            }
        }
        _ => {
            let _ = write!(s, "<td{class}>{}</td>", escape(&c.human(d.lang)));
        }
    }
}

fn table(s: &mut String, t: &Table, d: &Doc) {
    let _ = write!(s, "<h3>{}</h3>", escape(&t.title));
    if t.rows.len() > 25 {
        s.push_str("<div class=\"scroll\">");
    }
    s.push_str("<table><thead><tr>");
    for c in &t.columns {
        let _ = write!(s, "<th title=\"{}\">{}</th>", escape(c.key), escape(&c.head));
    }
    s.push_str("</tr></thead><tbody>");
    for r in &t.rows {
        s.push_str("<tr>");
        for c in r {
            cell(s, c, d);
        }
        s.push_str("</tr>");
    }
    if let Some(tot) = &t.totals {
        s.push_str("<tr class=\"total\">");
        for c in tot {
            cell(s, c, d);
        }
        s.push_str("</tr>");
    }
    s.push_str("</tbody></table>");
    if t.rows.len() > 25 {
        s.push_str("</div>");
    }
    if !t.note.is_empty() {
        let _ = write!(s, "<p class=\"note\">{}</p>", escape(&t.note));
    }
}

/// The whole page.
pub fn render(d: &Doc) -> String {
    let mut s = String::with_capacity(64 << 10);
    let _ = write!(
        s,
        "<!DOCTYPE html><html lang=\"{}\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
<title>{}</title><style>{CSS}</style></head><body><main><h1>{}</h1><p class=\"sub\">{}</p><nav>",
        d.lang.html(),
        escape(&d.title),
        escape(&d.title),
        escape(&d.subtitle)
    );
    for (i, sec) in d.sections.iter().enumerate() {
        let _ = write!(s, "<a href=\"#s{i}\">{}. {}</a>", i + 1, escape(&sec.title));
    }
    s.push_str("</nav>");
    for (i, sec) in d.sections.iter().enumerate() {
        let _ = write!(s, "<section id=\"s{i}\"><h2>{}. {}</h2>", i + 1, escape(&sec.title));
        for b in &sec.blocks {
            match b {
                Block::Table(t) => table(&mut s, t, d),
                Block::Chart(c) => {
                    let _ = write!(s, "<h3>{}</h3><div class=\"chart\">{}</div>", escape(&c.title), svg::render(c, d.lang));
                }
                Block::Text(t) => {
                    let _ = write!(s, "<p>{}</p>", escape(t));
                }
                Block::Code(t) => {
                    let _ = write!(s, "<pre>{}</pre>", escape(t));
                }
            }
        }
        s.push_str("</section>");
    }
    s.push_str("</main></body></html>\n");
    s
}
