//! `medsettle policy list | show ID|FILE [--set K=V]... | check FILE | diff A B [--sources]`.
//!
//! `diff` compares the effective policies (defaults filled in) leaf by leaf over the TOML tree;
//! paths are the ones `--set` takes (`inpatient.bands.0.rate.adult`). Citations (`source`,
//! `*_source`, `title`) are left out of the list by default and only counted, because two
//! years of a policy cite different documents in nearly every section; `--sources` lists them
//! too. A section or list entry that only one side has is shown whole, as an inline table.

use crate::policy::{BUILTIN, LoadedPolicy};
use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use std::fmt::Write as _;

pub const EXAMPLE: &str = "Example:
  medsettle policy list
  medsettle policy show changzhou-resident-2026
  medsettle policy show changzhou-resident-2026 --set inpatient.cap=400000 > my-policy.toml
  medsettle policy check my-policy.toml
  medsettle policy diff changzhou-resident-2024 changzhou-resident-2026
  medsettle policy diff changzhou-resident-2026 my-policy.toml";

/// Inspect, check and compare policies.
#[derive(Args, Debug)]
#[command(after_help = EXAMPLE)]
pub struct PolicyArgs {
    #[command(subcommand)]
    pub action: PolicyAction,
}

#[derive(Subcommand, Debug)]
pub enum PolicyAction {
    /// List the built-in policies.
    List,
    /// Print a policy (built-in id or file) as effective TOML, with --set applied.
    Show {
        policy: String,
        /// KEY=VALUE override by TOML path, as for settle (repeatable).
        #[arg(long = "set")]
        sets: Vec<String>,
    },
    /// Validate a policy file (or built-in id); exit 1 with the TOML path of each problem.
    Check { file: String },
    /// Show the parameters that differ between two policies (built-in ids or files).
    Diff {
        a: String,
        b: String,
        /// Also list differing citations (source, *_source, title) instead of counting them.
        #[arg(long)]
        sources: bool,
    },
}

pub fn run(a: &PolicyArgs) -> Result<()> {
    match &a.action {
        PolicyAction::List => list(),
        PolicyAction::Show { policy, sets } => show(policy, sets),
        PolicyAction::Check { file } => check(file),
        PolicyAction::Diff { a, b, sources } => diff(a, b, *sources),
    }
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}

fn list() -> Result<()> {
    let mut rows: Vec<[String; 7]> = vec![["id", "region", "scheme", "year", "settles", "sha256", "source"].map(String::from)];
    let mut broken = Vec::new();
    for (id, _) in BUILTIN {
        match LoadedPolicy::builtin(id, &[]) {
            Ok(lp) => {
                let p = &lp.policy;
                rows.push([
                    p.id.clone(),
                    p.region.clone(),
                    p.scheme.as_str().to_string(),
                    p.year.to_string(),
                    if p.settles { "yes" } else { "no (financing only)" }.to_string(),
                    short(&lp.text_sha256).to_string(),
                    p.source.clone(),
                ]);
            }
            Err(e) => {
                rows.push([id.to_string(), "-".into(), "-".into(), "-".into(), "-".into(), "-".into(), "INVALID (see below)".into()]);
                broken.push(format!("{e:#}"));
            }
        }
    }
    // The last column (free text, often Chinese) is not padded.
    let widths: Vec<usize> = (0..6).map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
    let mut s = String::new();
    for r in &rows {
        for (c, w) in widths.iter().enumerate() {
            let _ = write!(s, "{:<w$}  ", r[c]);
        }
        let _ = writeln!(s, "{}", r[6]);
    }
    print!("{s}");
    eprintln!("medsettle policy list: {} built-in policies (sha256: first 12 hex digits of the policy file)", BUILTIN.len());
    if !broken.is_empty() {
        bail!("{} built-in policies do not load:\n{}", broken.len(), broken.join("\n"));
    }
    Ok(())
}

/// A header comment line: one line, whatever the text holds.
fn comment(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}

fn show(spec: &str, sets: &[String]) -> Result<()> {
    let lp = LoadedPolicy::load(spec, sets)?;
    let body = toml::to_string(&lp.policy)?;
    let mut s = String::new();
    let _ =
        writeln!(s, "# {} — effective policy, written by `medsettle policy show` (medsettle {})", lp.policy.id, env!("CARGO_PKG_VERSION"));
    let _ = writeln!(s, "# origin:           {}", comment(&lp.origin));
    let _ = writeln!(s, "# text sha256:      {}  (the policy file as read)", lp.text_sha256);
    let _ = writeln!(s, "# effective sha256: {}  (this policy after --set: manifest.json effective_sha256)", lp.effective_sha256);
    if lp.overrides.is_empty() {
        let _ = writeln!(s, "# --set:            none");
    }
    for o in &lp.overrides {
        let _ = writeln!(s, "# --set:            {}", comment(o));
    }
    let _ = writeln!(s, "# Every parameter as the engine reads it, defaults filled in; each section keeps its `source`");
    let _ = writeln!(s, "# (the comments of the original file are not kept). Check with `medsettle policy check`.");
    s.push('\n');
    s.push_str(&body);
    print!("{s}");
    Ok(())
}

fn check(file: &str) -> Result<()> {
    let lp = LoadedPolicy::load(file, &[])?;
    let p = &lp.policy;
    println!("ok: {} ({} {} {})", p.id, p.region, p.scheme.as_str(), p.year);
    Ok(())
}

/// Citation keys: compared only with `--sources`.
fn is_citation(path: &str) -> bool {
    let last = path.rsplit('.').next().unwrap_or(path);
    last == "source" || last.ends_with("_source") || path == "title"
}

#[derive(Default)]
struct Differences {
    changed: Vec<(String, String, String)>,
    only_a: Vec<(String, String)>,
    only_b: Vec<(String, String)>,
    citations: usize,
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_string() } else { format!("{path}.{key}") }
}

fn has_tables(a: &[toml::Value]) -> bool {
    a.iter().any(|v| v.is_table())
}

/// Walks both trees; leaves and lists of plain values compare whole, tables and lists of
/// tables entry by entry.
fn compare(path: &str, a: Option<&toml::Value>, b: Option<&toml::Value>, sources: bool, d: &mut Differences) {
    use toml::Value::{Array, Table};
    if path == "id" {
        return;
    }
    if !path.is_empty() && is_citation(path) && a != b {
        if sources {
            match (a, b) {
                (Some(x), Some(y)) => d.changed.push((path.to_string(), render(x, true), render(y, true))),
                (Some(x), None) => d.only_a.push((path.to_string(), render(x, true))),
                (None, Some(y)) => d.only_b.push((path.to_string(), render(y, true))),
                (None, None) => {}
            }
        } else {
            d.citations += 1;
        }
        return;
    }
    match (a, b) {
        (Some(Table(ta)), Some(Table(tb))) => {
            let mut keys: Vec<&String> = ta.keys().chain(tb.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                compare(&join(path, k), ta.get(k), tb.get(k), sources, d);
            }
        }
        (Some(Array(xa)), Some(Array(xb))) if has_tables(xa) || has_tables(xb) => {
            for i in 0..xa.len().max(xb.len()) {
                compare(&join(path, &i.to_string()), xa.get(i), xb.get(i), sources, d);
            }
        }
        (Some(x), Some(y)) if x != y => d.changed.push((path.to_string(), render(x, sources), render(y, sources))),
        (Some(x), None) => d.only_a.push((path.to_string(), render(x, sources))),
        (None, Some(y)) => d.only_b.push((path.to_string(), render(y, sources))),
        _ => {}
    }
}

fn key_text(k: &str) -> String {
    if !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        k.to_string()
    } else {
        toml::Value::String(k.to_string()).to_string()
    }
}

/// A value as inline TOML; citations inside tables are left out unless `sources`.
fn render(v: &toml::Value, sources: bool) -> String {
    match v {
        toml::Value::Table(t) => {
            let items: Vec<String> = t
                .iter()
                .filter(|(k, _)| sources || !is_citation(k))
                .map(|(k, v)| format!("{} = {}", key_text(k), render(v, sources)))
                .collect();
            if items.is_empty() { "{}".to_string() } else { format!("{{ {} }}", items.join(", ")) }
        }
        toml::Value::Array(a) => format!("[{}]", a.iter().map(|v| render(v, sources)).collect::<Vec<_>>().join(", ")),
        other => other.to_string(),
    }
}

fn diff(a: &str, b: &str, sources: bool) -> Result<()> {
    let pa = LoadedPolicy::load(a, &[])?;
    let pb = LoadedPolicy::load(b, &[])?;
    let va = toml::Value::try_from(&pa.policy)?;
    let vb = toml::Value::try_from(&pb.policy)?;
    let mut d = Differences::default();
    compare("", Some(&va), Some(&vb), sources, &mut d);
    let mut s = String::new();
    for (tag, lp) in [("a", &pa), ("b", &pb)] {
        let _ = writeln!(s, "{tag}: {} ({}, sha256 {})", lp.policy.id, lp.origin, short(&lp.effective_sha256));
    }
    if !d.changed.is_empty() {
        let _ = writeln!(s, "\nchanged (a → b):");
        for (p, x, y) in &d.changed {
            let _ = writeln!(s, "  {p}: {x} → {y}");
        }
    }
    for (title, list) in [("only in a", &d.only_a), ("only in b", &d.only_b)] {
        if !list.is_empty() {
            let _ = writeln!(s, "\n{title}:");
            for (p, x) in list {
                let _ = writeln!(s, "  {p}: {x}");
            }
        }
    }
    let n = d.changed.len() + d.only_a.len() + d.only_b.len();
    let _ = write!(
        s,
        "\n{}",
        if n == 0 {
            "no parameter differs".to_string()
        } else {
            format!("{n} differences: {} changed, {} only in a, {} only in b", d.changed.len(), d.only_a.len(), d.only_b.len())
        }
    );
    if d.citations > 0 {
        let _ = write!(s, "; {} citations (source, title) also differ, not listed (--sources lists them)", d.citations);
    }
    s.push('\n');
    print!("{s}");
    Ok(())
}
