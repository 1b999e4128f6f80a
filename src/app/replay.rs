//! Replay a past year: recompute under that year's rules and compare with the amounts the
//! platform recorded. The comparison, the discrepancy list and the reports are committed with
//! the recomputed settlement and hashed in its manifest.

use crate::io::source;
use crate::io::write::{Format, OutputDir};
use crate::model::{Money, time};
use crate::pipeline;
use crate::policy::PolicySet;
use crate::report::i18n::Lang;
use crate::report::markdown::{Counts, render_doc};
use crate::report::replay::{self, FIELDS, ReplayResult};
use crate::report::{html, xlsx};
use anyhow::Result;
use std::path::{Path, PathBuf};

pub struct ReplayInput<'a> {
    pub claims: &'a [PathBuf],
    pub persons: &'a Path,
    pub out: &'a Path,
    pub tolerance: Money,
    pub policies: &'a PolicySet,
    pub format: Format,
    pub lang: Lang,
}

/// Runs the replay and writes its outputs; returns the settle counts and the comparison.
pub fn replay(a: &ReplayInput) -> Result<(Counts, ReplayResult)> {
    // Said before the input is read and settled (minutes for a city-year) when no claims file
    // has a column of recorded amounts; a file whose header cannot be read is left to the
    // read, which says why.
    let unrecorded = |f: &PathBuf| source::header(f).is_ok_and(|h| !h.iter().any(|c| FIELDS.contains(&c.trim())));
    if !a.claims.is_empty() && a.claims.iter().all(unrecorded) {
        return Err(replay::nothing_to_replay());
    }
    let loaded = pipeline::load(a.claims, a.persons, a.policies)?;
    let settled = pipeline::settle(&loaded, a.policies);
    let t = &loaded.claims.table;
    let persons = &loaded.persons.table;
    let r = replay::compare(t, &settled, a.tolerance)?;

    let mut out = OutputDir::new(a.out)?;
    let mut w = out.create("discrepancies.csv")?;
    {
        let mut cw = csv::Writer::from_writer(&mut w);
        cw.write_record([
            "setl_id",
            "psn_no",
            "setl_time",
            "policy_id",
            "benefit",
            "status",
            "field",
            "recorded",
            "computed",
            "difference",
        ])?;
        for d in &r.discrepancies {
            let c = &t.claims[d.claim as usize];
            let Some(s) = settled.get(d.claim as usize) else { continue };
            cw.write_record([
                t.strings.get(c.setl_id),
                persons.persons[c.psn as usize].psn_no.as_str(),
                time::format_datetime(c.setl_time).as_str(),
                a.policies.get(s.policy).id.as_str(),
                s.benefit.as_str(),
                s.status.as_str(),
                FIELDS[d.field],
                d.recorded.to_string().as_str(),
                d.computed.to_string().as_str(),
                (d.computed - d.recorded).to_string().as_str(),
            ])?;
        }
        cw.flush()?;
    }
    w.finish()?;
    let psn_no = |p: u32| persons.persons[p as usize].psn_no.to_string();
    let doc = replay::document(&r, t, &settled, &psn_no, a.lang);
    out.write_file("replay_report.md", render_doc(&doc).as_bytes())?;
    out.write_file("replay_report.html", html::render(&doc).as_bytes())?;
    out.write_file("replay_report.xlsx", &xlsx::render(&doc)?)?;
    // The recomputed settlement next to the comparison, for drill-down, in the same commit.
    let c = pipeline::write_outputs_into(
        &mut out,
        None,
        a.format,
        &loaded,
        a.policies,
        &settled,
        "replay",
        "Replay: recomputed settlement",
        a.lang,
    )?;
    out.commit()?;
    Ok((c, r))
}
