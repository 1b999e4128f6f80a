//! Consistency checks of a policy that serde cannot express, each naming the TOML path of
//! the problem (the same paths `--set` takes: `inpatient.bands.1.upto`).
//!
//! What serde already enforces when the file is read: the sections and keys of the format
//! (unknown keys are errors), a `source` on every section, rates as fractions in [0, 1] with at
//! most nine decimals (`RATE_DECIMALS`), amounts ≥ 0 with at most two decimals, three values
//! for a per-level list.

use super::types::*;
use crate::model::{Benefit, Disease, DiseaseKind, District, Money, PsnType};
use anyhow::{Result, bail};
use std::fmt;

/// One problem of a policy, at a TOML path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// dotted TOML path (`inpatient.bands.1.upto`); empty for the whole file
    pub path: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() { f.write_str(&self.message) } else { write!(f, "{}: {}", self.path, self.message) }
    }
}

/// The problems of a policy, in file order; empty when it is consistent.
pub fn problems(p: &Policy) -> Vec<Problem> {
    let mut c = Checker { out: Vec::new() };
    c.header(p);
    c.sources(p);
    c.groups(p);
    c.brackets(p);
    c.diseases(p);
    c.benefit_lists(p);
    c.financing(p);
    c.out
}

/// All problems of a policy as one error (one per line when there are several).
pub fn validate(p: &Policy) -> Result<()> {
    match problems(p).as_slice() {
        [] => Ok(()),
        [one] => bail!("{one}"),
        many => bail!("{} problems:\n  {}", many.len(), many.iter().map(Problem::to_string).collect::<Vec<_>>().join("\n  ")),
    }
}

/// The benefit-table groups of a scheme's persons (RULES.md §2).
pub fn scheme_groups(s: SchemeName) -> &'static [Group] {
    match s {
        SchemeName::Resident => &[Group::Adult, Group::Child],
        SchemeName::Employee => &[Group::InService, Group::Retired, Group::Veteran],
    }
}

/// The regions persons can belong to (by their district).
fn regions() -> Vec<&'static str> {
    let mut r: Vec<&str> = District::ALL.iter().map(|d| d.region()).collect();
    r.sort();
    r.dedup();
    r
}

struct Checker {
    out: Vec<Problem>,
}

impl Checker {
    fn err(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.out.push(Problem { path: path.into(), message: message.into() });
    }

    fn header(&mut self, p: &Policy) {
        if p.id.is_empty() || !p.id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
            self.err("id", format!("`{}` is not an id: use letters, digits, `-`, `_` or `.` (it is written into CSV outputs)", p.id));
        }
        if p.title.trim().is_empty() {
            self.err("title", "is empty");
        }
        let known = regions();
        if !known.contains(&p.region.as_str()) {
            self.err(
                "region",
                format!("`{}` is not a region any district belongs to ({}): no claim would use it", p.region, known.join(", ")),
            );
        }
        if !(1990..=2100).contains(&p.year) {
            self.err("year", format!("{} is not a plausible policy year", p.year));
        }
        let benefit_sections = [
            ("inpatient", p.inpatient.is_some()),
            ("maternity", p.maternity.is_some()),
            ("outpatient", p.outpatient.is_some()),
            ("chronic", p.chronic.is_some()),
            ("special", p.special.is_some()),
            ("drugs", p.drugs.is_some()),
            ("pku", p.pku.is_some()),
            ("offsite", p.offsite.is_some()),
            ("catastrophic", p.catastrophic.is_some()),
            ("assistance", p.assistance.is_some()),
            ("tilted", p.tilted.is_some()),
        ];
        if p.settles {
            if p.inpatient.is_none() {
                self.err("inpatient", "a policy that settles claims needs an [inpatient] section");
            }
            if p.no_benefit_reason.is_some() {
                self.err("no_benefit_reason", "only for a financing-only policy (settles = false)");
            }
        } else {
            match &p.no_benefit_reason {
                None => self.err("no_benefit_reason", "settles = false needs a no_benefit_reason (the reject reason of its claims)"),
                Some(r) if r.trim().is_empty() => self.err("no_benefit_reason", "is empty"),
                Some(_) => {}
            }
            for (name, present) in benefit_sections {
                if present {
                    self.err(name, "settles = false: a financing-only policy has no benefit sections (this one would never be used)");
                }
            }
        }
    }

    /// Every `source` present says something (the format requires one on every section).
    fn sources(&mut self, p: &Policy) {
        let mut s: Vec<(String, Option<&str>)> =
            vec![("source".into(), Some(&p.source)), ("rounding.source".into(), Some(&p.rounding.source))];
        if let Some(i) = &p.inpatient {
            s.push(("inpatient.source".into(), Some(&i.source)));
            s.push(("inpatient.deductible_source".into(), i.deductible_source.as_deref()));
            s.push(("inpatient.cap_source".into(), i.cap_source.as_deref()));
            for (k, b) in i.bands.iter().enumerate() {
                s.push((format!("inpatient.bands.{k}.source"), b.source.as_deref()));
            }
        }
        if let Some(m) = &p.maternity {
            s.push(("maternity.source".into(), Some(&m.source)));
        }
        if let Some(o) = &p.outpatient {
            s.push(("outpatient.source".into(), Some(&o.source)));
            for (g, bands) in by_group_entries(&o.bands) {
                for (k, b) in bands.iter().enumerate() {
                    s.push((format!("outpatient.bands.{g}.{k}.source"), b.source.as_deref()));
                }
            }
        }
        if let Some(c) = &p.chronic {
            s.push(("chronic.source".into(), Some(&c.source)));
        }
        if let Some(sp) = &p.special {
            s.push(("special.source".into(), Some(&sp.source)));
            for (d, sd) in &sp.diseases {
                s.push((format!("special.diseases.{d}.source"), sd.source.as_deref()));
            }
        }
        for (name, src) in [
            ("drugs", p.drugs.as_ref().map(|x| &x.source)),
            ("pku", p.pku.as_ref().map(|x| &x.source)),
            ("offsite", p.offsite.as_ref().map(|x| &x.source)),
            ("catastrophic", p.catastrophic.as_ref().map(|x| &x.source)),
            ("assistance", p.assistance.as_ref().map(|x| &x.source)),
            ("tilted", p.tilted.as_ref().map(|x| &x.source)),
            ("financing", p.financing.as_ref().map(|x| &x.source)),
        ] {
            if let Some(src) = src {
                s.push((format!("{name}.source"), Some(src)));
            }
        }
        for (path, src) in s {
            if src.is_some_and(|t| t.trim().is_empty()) {
                self.err(path, "is empty: cite the seed section or RULES.md decision the values come from");
            }
        }
    }

    /// A per-group table has a value for every group of the scheme and none for other groups
    /// (the kernel reads a missing group as zero: no deductible, no rate).
    fn by_group<T>(&mut self, path: &str, scheme: SchemeName, t: &ByGroup<T>, veteran_as: Option<Group>) {
        let groups = scheme_groups(scheme);
        for (g, _) in by_group_entries(t) {
            if g != "all" && !groups.iter().any(|x| x.as_str() == g) {
                self.err(
                    format!("{path}.{g}"),
                    format!(
                        "`{g}` is not a group of the {} scheme ({})",
                        scheme.as_str(),
                        groups.iter().map(|x| x.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                );
            }
        }
        for &g in groups {
            let looked_up = match (g, veteran_as) {
                (Group::Veteran, Some(other)) => other,
                _ => g,
            };
            if t.get(looked_up).is_none() {
                self.err(path, format!("no value for group `{}` and no `all`", looked_up.as_str()));
            }
        }
    }

    fn groups(&mut self, p: &Policy) {
        let s = p.scheme;
        if let Some(i) = &p.inpatient {
            if let Some(v) = i.veteran_deductible_as
                && !scheme_groups(s).contains(&v)
            {
                self.err("inpatient.veteran_deductible_as", format!("`{}` is not a group of the {} scheme", v.as_str(), s.as_str()));
            }
            self.by_group("inpatient.deductible", s, &i.deductible, i.veteran_deductible_as);
            if let Some(l) = &i.deductible_later {
                self.by_group("inpatient.deductible_later", s, l, i.veteran_deductible_as);
            }
            for (k, b) in i.bands.iter().enumerate() {
                self.by_group(&format!("inpatient.bands.{k}.rate"), s, &b.rate, None);
            }
        }
        if let Some(o) = &p.outpatient {
            self.by_group("outpatient.bands", s, &o.bands, None);
        }
        if let Some(c) = &p.chronic {
            self.by_group("chronic.rates", s, &c.rates, None);
            self.by_group("chronic.limits", s, &c.limits, None);
        }
        // D-16: the drug-cap switch belongs to the resident 350,000 cap; employees have none.
        if s == SchemeName::Employee && p.drugs.as_ref().is_some_and(|d| d.inside_cap.is_some()) {
            self.err("drugs.inside_cap", "a resident key (D-16, the 350,000 cap): employees have no overall annual cap (S-15)");
        }
        if let Some(sp) = &p.special
            && let Some(g) = sp.student_group
            && !scheme_groups(s).contains(&g)
        {
            self.err("special.student_group", format!("`{}` is not a group of the {} scheme", g.as_str(), s.as_str()));
        }
    }

    /// Brackets ascend by `upto`; only the last is open-ended.
    fn scale(&mut self, path: &str, uppers: Vec<Option<Money>>) {
        if uppers.is_empty() {
            self.err(path, "needs at least one bracket");
            return;
        }
        let mut prev = Money::ZERO;
        let last = uppers.len() - 1;
        for (i, u) in uppers.iter().enumerate() {
            match u {
                Some(u) if *u <= prev => {
                    self.err(
                        format!("{path}.{i}.upto"),
                        format!("{u} is not above the previous bracket's upto ({prev}): brackets must be in ascending order"),
                    );
                    return;
                }
                Some(u) if i == last => self
                    .err(format!("{path}.{i}.upto"), format!("the last bracket must have no upto (it covers everything above), not {u}")),
                Some(u) => prev = *u,
                None if i != last => {
                    self.err(format!("{path}.{i}.upto"), "missing: only the last bracket may be open-ended");
                    return;
                }
                None => {}
            }
        }
    }

    fn brackets(&mut self, p: &Policy) {
        if let Some(i) = &p.inpatient {
            self.scale("inpatient.bands", i.bands.iter().map(|b| b.upto.map(|a| a.0)).collect());
        }
        if let Some(o) = &p.outpatient {
            for (g, bands) in by_group_entries(&o.bands) {
                let path = format!("outpatient.bands.{g}");
                self.scale(&path, bands.iter().map(|b| b.upto.map(|a| a.0)).collect());
                let mut paying_seen = false;
                for (k, b) in bands.iter().enumerate() {
                    if b.deductible {
                        if [b.rate, b.primary, b.level2, b.level3, b.pharmacy].iter().any(Option::is_some) {
                            self.err(format!("{path}.{k}"), "a deductible bracket pays nothing: remove its rates");
                        }
                        if paying_seen {
                            self.err(format!("{path}.{k}.deductible"), "the deductible brackets must come first (from 0)");
                        }
                    } else {
                        paying_seen = true;
                    }
                }
            }
        }
        if let Some(c) = &p.catastrophic {
            self.scale("catastrophic.general", c.general.iter().map(|b| b.upto.map(|a| a.0)).collect());
            self.scale("catastrophic.poor", c.poor.iter().map(|b| b.upto.map(|a| a.0)).collect());
        }
        if let Some(t) = &p.tilted {
            self.scale("tilted.brackets", t.brackets.iter().map(|b| b.upto.map(|a| a.0)).collect());
        }
        if let Some(k) = &p.pku {
            if k.bands.is_empty() {
                self.err("pku.bands", "needs at least one band");
            }
            let last = k.bands.len().saturating_sub(1);
            let mut prev: Option<i32> = None;
            for (i, b) in k.bands.iter().enumerate() {
                match (b.max_age, prev) {
                    (None, _) if i != last => self.err(format!("pku.bands.{i}.max_age"), "missing: only the last band may have no max_age"),
                    (Some(a), _) if a < 0 => self.err(format!("pku.bands.{i}.max_age"), format!("{a} is negative")),
                    (Some(a), Some(p)) if a <= p => self.err(
                        format!("pku.bands.{i}.max_age"),
                        format!("{a} is not above the previous band's max_age ({p}): ages must ascend"),
                    ),
                    _ => {}
                }
                prev = b.max_age.or(prev);
            }
        }
    }

    fn diseases(&mut self, p: &Policy) {
        if let Some(c) = &p.chronic {
            for (i, d) in c.diseases.iter().enumerate() {
                if d.kind() != DiseaseKind::Chronic {
                    self.err(format!("chronic.diseases.{i}"), format!("`{d}` is not a chronic disease key (CONTRACT.md §5)"));
                }
                if c.diseases[..i].contains(d) {
                    self.err(format!("chronic.diseases.{i}"), format!("`{d}` is listed twice"));
                }
            }
        }
        if let Some(s) = &p.special {
            for (d, sd) in &s.diseases {
                if d.kind() != DiseaseKind::Special {
                    self.err(format!("special.diseases.{d}"), format!("`{d}` is not a special disease key (CONTRACT.md §5)"));
                }
                if let Some(a) = sd.max_age
                    && a < 0
                {
                    self.err(format!("special.diseases.{d}.max_age"), format!("{a} is negative"));
                }
            }
        }
        for k in p.aliases.keys() {
            if k.trim().is_empty() {
                self.err("aliases", "an alias is empty");
            } else if Disease::parse(k).is_some() {
                self.err(format!("aliases.{k}"), "is already a disease key; an alias must be another code");
            }
        }
    }

    fn benefit_lists(&mut self, p: &Policy) {
        let mut lists: Vec<(String, &[Benefit])> = Vec::new();
        if let Some(c) = &p.catastrophic {
            lists.push(("catastrophic.benefits".into(), &c.benefits));
        }
        if let Some(o) = &p.offsite {
            lists.push(("offsite.unreferred_not_covered".into(), &o.unreferred_not_covered));
        }
        if let Some(a) = &p.assistance {
            for (i, l) in a.limits.iter().enumerate() {
                lists.push((format!("assistance.limits.{i}.benefits"), &l.benefits));
            }
        }
        for (path, list) in lists {
            for (i, b) in list.iter().enumerate() {
                if list[..i].contains(b) {
                    self.err(format!("{path}.{i}"), format!("`{b}` is listed twice"));
                }
            }
        }
        if let Some(a) = &p.assistance {
            let mut seen: Vec<(Benefit, usize)> = Vec::new();
            for (i, l) in a.limits.iter().enumerate() {
                if a.limits[..i].iter().any(|o| o.name == l.name) {
                    self.err(format!("assistance.limits.{i}.name"), format!("`{}` names two limit groups", l.name));
                }
                for b in &l.benefits {
                    match seen.iter().find(|(x, _)| x == b) {
                        Some((_, j)) if *j != i => self.err(
                            format!("assistance.limits.{i}.benefits"),
                            format!("benefit `{b}` is also in limit group {j} (`{}`): a benefit has one limit", a.limits[*j].name),
                        ),
                        Some(_) => {}
                        None => seen.push((*b, i)),
                    }
                }
            }
        }
    }

    fn financing(&mut self, p: &Policy) {
        let Some(f) = &p.financing else { return };
        match p.scheme {
            SchemeName::Resident => {
                if f.employee.is_some() {
                    self.err("financing.employee", "a resident policy has no employee contributions");
                }
                for t in PsnType::ALL.iter().filter(|t| t.scheme() == crate::model::Scheme::Resident) {
                    if !f.resident.contains_key(t) {
                        self.err("financing.resident", format!("no contribution for the resident category `{t}`"));
                    }
                }
            }
            SchemeName::Employee => {
                if f.employee.is_none() {
                    self.err("financing.employee", "an employee policy with [financing] needs its employee rates");
                }
            }
        }
        for (t, c) in &f.resident {
            if t.scheme() != crate::model::Scheme::Resident || p.scheme != SchemeName::Resident {
                self.err(
                    format!("financing.resident.{t}"),
                    format!("`{t}` is not a resident category of this {} policy", p.scheme.as_str()),
                );
            }
            for d in c.personal_by_district.keys().chain(c.subsidy_by_district.keys()) {
                if d.region() != p.region {
                    self.err(
                        format!("financing.resident.{t}.personal_by_district.{d}"),
                        format!("district `{d}` is in region {}, not {}", d.region(), p.region),
                    );
                }
            }
        }
    }
}

/// The groups a per-group table lists, with their values, in the file's order of keys.
fn by_group_entries<T>(t: &ByGroup<T>) -> Vec<(&'static str, &T)> {
    [
        ("all", &t.all),
        ("adult", &t.adult),
        ("child", &t.child),
        ("in_service", &t.in_service),
        ("retired", &t.retired),
        ("veteran_worker", &t.veteran_worker),
    ]
    .into_iter()
    .filter_map(|(g, v)| v.as_ref().map(|v| (g, v)))
    .collect()
}
