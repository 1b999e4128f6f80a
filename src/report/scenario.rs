//! Scenario comparison, as PolicyEngine reports a reform: the budget impact per fund, benefit
//! and year with the income side and the balance, winners and losers in five bands overall
//! and by group, the average change per decile of baseline burden, and the largest gains and
//! losses. "Person-years" are counted, since one person can appear in several years.

use super::doc::{Block, Cell, Chart, ChartKind, Column, Doc, Section, Series, Table, ratio, yuan};
use super::fund::FundReport;
use super::i18n::Lang;
use crate::engine::Settled;
use crate::io::write::{ColType, Format, OutputDir, Val, write_table};
use crate::model::{Money, PersonTable, PersonYear};
use crate::policy::PolicySet;
use crate::policy::overrides::Scenario;
use anyhow::Result;
use std::collections::BTreeMap;

/// One settled run (the baseline or a scenario) with its fund report (expenditure and income).
pub struct Run<'a> {
    pub name: &'a str,
    pub policies: &'a PolicySet,
    pub settled: &'a Settled,
    pub fund: &'a FundReport,
}

/// The five winner / loser bands, by change of the final personal burden relative to the
/// baseline burden (a "gain" is a lower burden).
pub const BANDS: [&str; 5] = ["lose_over_5pct", "lose_upto_5pct", "no_change", "gain_upto_5pct", "gain_over_5pct"];

fn band_heads(l: Lang) -> [&'static str; 5] {
    [
        l.pick("负担增加 >5%", "lose > 5%"),
        l.pick("负担增加 ≤5%", "lose ≤ 5%"),
        l.pick("不变", "no change"),
        l.pick("负担减少 ≤5%", "gain ≤ 5%"),
        l.pick("负担减少 >5%", "gain > 5%"),
    ]
}

/// The band of a change from `base` to `new` final burden. A rise from a zero burden is a
/// loss of more than 5 %; a fall is never from zero (burdens are not negative).
pub fn band_of(base: Money, new: Money) -> usize {
    let d = new.fen() - base.fen();
    if d == 0 {
        return 2;
    }
    // |d| > 5% × base  ⇔  20 × |d| > base (exact in fen)
    let big = 20 * (d.abs() as i128) > base.fen().abs() as i128;
    match (d > 0, big) {
        (true, true) => 0,
        (true, false) => 1,
        (false, false) => 3,
        (false, true) => 4,
    }
}

fn final_burden(y: &PersonYear) -> Money {
    y.psn_part_amt - y.maf_tilt_pay
}

/// Age bands (age = year − birth year, as the policies count it).
fn age_band(age: i32) -> &'static str {
    match age {
        i32::MIN..=17 => "0-17",
        18..=44 => "18-44",
        45..=59 => "45-59",
        60..=69 => "60-69",
        70..=79 => "70-79",
        _ => "80+",
    }
}

/// (year, policy id, flow, fund, benefit) → amount.
type Budget = BTreeMap<(i32, String, &'static str, &'static str, &'static str), Money>;

fn budget(r: &Run) -> Budget {
    let mut b = Budget::new();
    for (k, line) in r.fund {
        let id = r.policies.get(k.policy).id.clone();
        *b.entry((k.year, id.clone(), k.flow, k.fund, k.benefit)).or_default() += line.amount;
        // the year's total of each flow
        *b.entry((k.year, id, k.flow, "total", "")).or_default() += line.amount;
    }
    // the persons' side: what they pay, and after tilted assistance
    for y in &r.settled.person_years {
        let id = r.policies.get(y.policy).id.clone();
        *b.entry((y.year, id.clone(), "burden", "psn_part", "")).or_default() += y.psn_part_amt;
        *b.entry((y.year, id, "burden", "final_burden", "")).or_default() += final_burden(y);
    }
    b
}

/// Builds the comparison tables over any number of scenarios.
pub struct Comparison {
    lang: Lang,
    pub budget: Table,
    pub balance: Table,
    pub bands: Table,
    pub deciles: Table,
    pub largest: Table,
    charts: Vec<(String, Chart, Chart)>,
    notes: Vec<(String, String)>,
}

impl Comparison {
    pub fn new(l: Lang) -> Comparison {
        let amounts = |first: Vec<(&'static str, String)>| {
            let mut c = first;
            c.extend([
                ("baseline", l.pick("基线", "baseline").to_string()),
                ("reform", l.pick("情景", "scenario").to_string()),
                ("difference", l.pick("差额", "difference").to_string()),
                ("percent", l.pick("变化率", "change").to_string()),
            ]);
            c
        };
        let sc = ("scenario", l.pick("情景", "scenario").to_string());
        let year = ("year", l.pick("年度", "year").to_string());
        let mut bands_cols = vec![
            sc.clone(),
            ("group", l.pick("分组", "grouping").to_string()),
            ("value", l.pick("组别", "group").to_string()),
            ("person_years", l.pick("人年", "person-years").to_string()),
        ];
        for (k, h) in BANDS.into_iter().zip(band_heads(l)) {
            bands_cols.push((k, h.to_string()));
        }
        bands_cols.push(("average_change", l.pick("人均负担变化（元）", "average change (CNY)").to_string()));
        Comparison {
            lang: l,
            budget: Table::new(
                "comparison",
                l.pick("预算影响：各基金收支（按年度、基金、待遇类别）", "Budget impact by year, fund and benefit"),
                amounts(vec![
                    sc.clone(),
                    year.clone(),
                    ("policy_id", l.pick("政策", "policy").to_string()),
                    ("flow", l.pick("收支", "flow").to_string()),
                    ("fund", l.pick("基金", "fund").to_string()),
                    ("benefit", l.pick("待遇类别", "benefit").to_string()),
                ]),
            ),
            balance: Table::new(
                "balance_change",
                l.pick("基金结余变化", "Change of the fund balance"),
                vec![
                    sc.clone(),
                    year,
                    ("fund", l.pick("基金", "fund").to_string()),
                    ("baseline_income", l.pick("基线收入", "baseline income").to_string()),
                    ("reform_income", l.pick("情景收入", "scenario income").to_string()),
                    ("baseline_expenditure", l.pick("基线支出", "baseline expenditure").to_string()),
                    ("reform_expenditure", l.pick("情景支出", "scenario expenditure").to_string()),
                    ("baseline_balance", l.pick("基线结余", "baseline balance").to_string()),
                    ("reform_balance", l.pick("情景结余", "scenario balance").to_string()),
                    ("balance_change", l.pick("结余变化", "balance change").to_string()),
                ],
            ),
            bands: Table::new(
                "winners_losers",
                l.pick("受益与受损的人年（五档）", "Winners and losers, person-years in five bands"),
                bands_cols,
            ),
            deciles: Table::new(
                "deciles",
                l.pick("按基线负担十分位的平均变化", "Average change by decile of baseline burden"),
                vec![
                    sc.clone(),
                    ("decile", l.pick("十分位", "decile").to_string()),
                    ("person_years", l.pick("人年", "person-years").to_string()),
                    ("baseline_burden", l.pick("基线负担合计", "baseline burden").to_string()),
                    ("reform_burden", l.pick("情景负担合计", "scenario burden").to_string()),
                    ("average_change", l.pick("人均变化", "average change").to_string()),
                    ("percent", l.pick("变化率", "change").to_string()),
                ],
            ),
            largest: Table::new(
                "largest_changes",
                l.pick("负担变化最大的人年（各10个）", "The 10 largest gains and losses (person-years)"),
                vec![
                    sc,
                    ("kind", l.pick("类型", "kind").to_string()),
                    ("psn_no", l.pick("人员编号", "person").to_string()),
                    ("year", l.pick("年度", "year").to_string()),
                    ("psn_type", l.pick("人员类别", "category").to_string()),
                    ("baseline_burden", l.pick("基线负担", "baseline burden").to_string()),
                    ("reform_burden", l.pick("情景负担", "scenario burden").to_string()),
                    ("change", l.pick("变化", "change").to_string()),
                ],
            ),
            charts: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Adds one scenario against the baseline.
    pub fn add(&mut self, base: &Run, sc: &Run, persons: &PersonTable, description: String) {
        let l = self.lang;
        let name = sc.name.to_string();
        self.notes.push((name.clone(), description));
        // Budget: every key of either run.
        let (bb, sb) = (budget(base), budget(sc));
        let mut keys: Vec<_> = bb.keys().chain(sb.keys()).cloned().collect();
        keys.sort();
        keys.dedup();
        for k in &keys {
            let (b, s) = (bb.get(k).copied().unwrap_or_default(), sb.get(k).copied().unwrap_or_default());
            self.budget.rows.push(vec![
                Cell::text(&name),
                Cell::Year(k.0),
                Cell::text(&k.1),
                Cell::code(k.2),
                Cell::code(if k.3 == "total" { if k.2 == "income" { "income_total" } else { "funds" } } else { k.3 }),
                if k.4.is_empty() { Cell::Empty } else { Cell::code(k.4) },
                Cell::Money(b),
                Cell::Money(s),
                Cell::Money(s - b),
                Cell::Ratio(ratio(s - b, b)),
            ]);
        }
        // Balance per fund and year (RULES.md §9).
        let (b_bal, s_bal) = (super::settlement::by_fund(base.fund), super::settlement::by_fund(sc.fund));
        let mut fkeys: Vec<_> = b_bal.keys().chain(s_bal.keys()).copied().collect();
        fkeys.sort_by_key(|(y, f)| (*y, super::settlement::fund_order(f)));
        fkeys.dedup();
        let mut chart_cats = Vec::new();
        let (mut cb, mut cs) = (Vec::new(), Vec::new());
        for k in fkeys {
            let (bi, be) = b_bal.get(&k).copied().unwrap_or_default();
            let (si, se) = s_bal.get(&k).copied().unwrap_or_default();
            self.balance.rows.push(vec![
                Cell::text(&name),
                Cell::Year(k.0),
                Cell::code(k.1),
                Cell::Money(bi),
                Cell::Money(si),
                Cell::Money(be),
                Cell::Money(se),
                Cell::Money(bi - be),
                Cell::Money(si - se),
                Cell::Money((si - se) - (bi - be)),
            ]);
            chart_cats.push(format!("{} {}", k.0, l.term(k.1)));
            cb.push(yuan(be));
            cs.push(yuan(se));
        }
        let spend = Chart {
            title: format!("{name}: {}", l.pick("各基金支出，基线与情景", "fund expenditure, baseline and scenario")),
            kind: ChartKind::Bars { categories: chart_cats, stacked: false },
            series: vec![
                Series { name: l.pick("基线", "baseline").into(), values: cb },
                Series { name: l.pick("情景", "scenario").into(), values: cs },
            ],
            money: true,
        };
        // Winners and losers: baseline and scenario person-years are the same set, both sorted
        // by (psn_no, year).
        let pairs: Vec<(&PersonYear, &PersonYear)> = base.settled.person_years.iter().zip(&sc.settled.person_years).collect();
        debug_assert!(pairs.iter().all(|(a, b)| (a.psn, a.year) == (b.psn, b.year)));
        let n = pairs.len();
        // deciles of baseline burden: rank by (baseline burden, position)
        let mut rank: Vec<usize> = (0..n).collect();
        rank.sort_by_key(|&i| (final_burden(pairs[i].0), i));
        let mut decile = vec![0usize; n];
        for (r, &i) in rank.iter().enumerate() {
            decile[i] = r * 10 / n.max(1);
        }
        type Acc = ([i64; 5], i64, i128);
        let mut groups: BTreeMap<(usize, &'static str, String), Acc> = BTreeMap::new();
        let mut dec: [(i64, Money, Money); 10] = [(0, Money::ZERO, Money::ZERO); 10];
        let mut changes: Vec<(i64, usize)> = Vec::with_capacity(n);
        for (i, (b, s)) in pairs.iter().enumerate() {
            let (fb, fs) = (final_burden(b), final_burden(s));
            let band = band_of(fb, fs);
            let p = &persons.persons[b.psn as usize];
            let d = decile[i];
            let keys: [(usize, &'static str, String); 6] = [
                (0, "all", String::new()),
                (1, "psn_type", p.psn_type.as_str().to_string()),
                (
                    2,
                    "assistance",
                    if p.assistance == crate::model::Assistance::None { "no_assistance".into() } else { p.assistance.as_str().into() },
                ),
                (3, "district", p.district.map(|x| x.as_str()).unwrap_or("").to_string()),
                (4, "age_band", age_band(p.age_in(b.year)).to_string()),
                (5, "decile", format!("{:02}", d + 1)),
            ];
            for k in keys {
                let e = groups.entry(k).or_default();
                e.0[band] += 1;
                e.1 += 1;
                e.2 += (fs.fen() - fb.fen()) as i128;
            }
            dec[d].0 += 1;
            dec[d].1 += fb;
            dec[d].2 += fs;
            if fs != fb {
                changes.push((fs.fen() - fb.fen(), i));
            }
        }
        let mut decile_shares: Vec<Vec<f64>> = vec![Vec::new(); 5];
        for ((_, g, v), (counts, total, sum)) in &groups {
            let mut row = vec![
                Cell::text(&name),
                Cell::code(*g),
                if *g == "age_band" || *g == "decile" || v.is_empty() { Cell::text(v) } else { Cell::code(v.clone()) },
                Cell::Int(*total),
            ];
            row.extend(counts.iter().map(|c| Cell::Int(*c)));
            row.push(Cell::Money(Money::from_fen((*sum / (*total).max(1) as i128) as i64)));
            self.bands.rows.push(row);
            if *g == "decile" {
                for (j, c) in counts.iter().enumerate() {
                    decile_shares[j].push(*c as f64 / (*total).max(1) as f64 * 100.0);
                }
            }
        }
        let mut avg = Vec::new();
        for (d, (k, fb, fs)) in dec.iter().enumerate() {
            if *k == 0 {
                continue;
            }
            let change = Money::from_fen((fs.fen() - fb.fen()) / *k);
            avg.push(yuan(change));
            self.deciles.rows.push(vec![
                Cell::text(&name),
                Cell::Int(d as i64 + 1),
                Cell::Int(*k),
                Cell::Money(*fb),
                Cell::Money(*fs),
                Cell::Money(change),
                Cell::Ratio(ratio(*fs - *fb, *fb)),
            ]);
        }
        let dec_cats: Vec<String> = (1..=avg.len()).map(|d| d.to_string()).collect();
        let bands_chart = Chart {
            title: format!(
                "{name}: {}",
                l.pick("各十分位受益与受损人年占比（%）", "winners and losers by decile of baseline burden (% of person-years)")
            ),
            kind: ChartKind::Bars { categories: dec_cats.clone(), stacked: true },
            series: band_heads(l).iter().zip(decile_shares).map(|(h, v)| Series { name: h.to_string(), values: v }).collect(),
            money: false,
        };
        let avg_chart = Chart {
            title: format!("{name}: {}", l.pick("各十分位人均负担变化（元）", "average burden change per decile (CNY)")),
            kind: ChartKind::Bars { categories: dec_cats, stacked: false },
            series: vec![Series { name: l.pick("人均变化", "average change").into(), values: avg }],
            money: true,
        };
        // 10 largest gains (most negative change) and losses; ties by position (psn_no, year).
        changes.sort();
        let psn_type = |y: &PersonYear| persons.persons[y.psn as usize].psn_type.as_str();
        let gains = changes.iter().filter(|c| c.0 < 0).take(10);
        let losses = changes.iter().rev().filter(|c| c.0 > 0).take(10);
        for (kind, (_, i)) in gains.map(|c| ("gain", c)).chain(losses.map(|c| ("loss", c))) {
            let (b, s) = pairs[*i];
            self.largest.rows.push(vec![
                Cell::text(&name),
                Cell::code(kind),
                Cell::text(persons.persons[b.psn as usize].psn_no.as_str()),
                Cell::Year(b.year),
                Cell::code(psn_type(b)),
                Cell::Money(final_burden(b)),
                Cell::Money(final_burden(s)),
                Cell::Money(final_burden(s) - final_burden(b)),
            ]);
        }
        self.charts.push((name, spend, bands_chart));
        self.charts.push((String::new(), avg_chart.clone(), avg_chart));
    }

    /// Every machine table, in file order.
    pub fn tables(&self) -> [&Table; 5] {
        [&self.budget, &self.balance, &self.bands, &self.deciles, &self.largest]
    }

    /// The human report.
    pub fn document(&self, baseline: &str, cost_curve: Option<(Table, Chart)>) -> Doc {
        let l = self.lang;
        let mut overview = vec![Block::Text(format!("{}: {baseline}", l.pick("基线政策", "Baseline policies")))];
        for (name, desc) in &self.notes {
            overview.push(Block::Text(format!("{name}: {desc}")));
        }
        overview.push(Block::Text(
            l.pick(
                "个人最终负担 = psn_part_amt − maf_tilt_pay。五档按负担变化占基线负担的比例划分；基线负担为 0 而情景负担增加的记为“增加 >5%”。人年：同一人不同年度分别计数。",
                "Final personal burden = psn_part_amt − maf_tilt_pay. The five bands are the change relative to the baseline burden; a rise from a zero baseline counts as “lose > 5%”. Person-years: one person in two years counts twice.",
            )
            .into(),
        ));
        let mut charts = Vec::new();
        for (name, a, b) in &self.charts {
            charts.push(Block::Chart(a.clone()));
            if !name.is_empty() {
                charts.push(Block::Chart(b.clone()));
            }
        }
        let mut budget = self.budget.clone();
        budget.note = l
            .pick(
                "“合计”行是该年度、该收支方向的全部基金。变化率 = 差额 / 基线。",
                "The “total” lines are all funds of that year and flow. Change = difference / baseline.",
            )
            .into();
        let mut sections = vec![
            Section { title: l.pick("概览", "Overview").into(), blocks: overview },
            Section {
                title: l.pick("预算影响", "Budget impact").into(),
                blocks: vec![Block::Table(budget), Block::Table(self.balance.clone())],
            },
            Section {
                title: l.pick("受益与受损", "Winners and losers").into(),
                blocks: charts
                    .into_iter()
                    .chain([Block::Table(self.bands.clone()), Block::Table(self.deciles.clone()), Block::Table(self.largest.clone())])
                    .collect(),
            },
        ];
        if self.budget.rows.is_empty() {
            // a sweep alone: no scenario to compare
            sections.truncate(1);
        }
        if let Some((t, c)) = cost_curve {
            sections.push(Section {
                title: l.pick("参数扫描：成本曲线", "Parameter sweep: cost curve").into(),
                blocks: vec![Block::Chart(c), Block::Table(t)],
            });
        }
        Doc {
            title: l.pick("情景测算报告", "Scenario report").into(),
            subtitle: format!("medsettle {}", env!("CARGO_PKG_VERSION")),
            lang: l,
            sections,
        }
    }
}

/// One point of a parameter sweep: the value and the run's totals.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SweepPoint {
    pub value: String,
    /// hifp, hifob, hifmi, maf, maf_tilt
    pub funds: [Money; 5],
    /// final personal burden (psn_part_amt − maf_tilt_pay)
    pub burden: Money,
    pub person_years: u64,
}

impl SweepPoint {
    pub fn add(&mut self, y: &PersonYear) {
        for (j, v) in [y.hifp_pay, y.hifob_pay, y.hifmi_pay, y.maf_pay, y.maf_tilt_pay].into_iter().enumerate() {
            self.funds[j] += v;
        }
        self.burden += final_burden(y);
        self.person_years += 1;
    }
    pub fn merge(&mut self, o: &SweepPoint) {
        for j in 0..5 {
            self.funds[j] += o.funds[j];
        }
        self.burden += o.burden;
        self.person_years += o.person_years;
    }
}

/// The cost curve: fund spending and personal burden against the swept parameter.
pub fn cost_curve(key: &str, points: &[SweepPoint], l: Lang) -> (Table, Chart) {
    let mut cols = vec![("value", key.to_string())];
    for f in super::settlement::FUNDS {
        cols.push((f, l.term(f)));
    }
    cols.push(("funds", l.term("funds")));
    cols.push(("final_burden", l.term("final_burden")));
    cols.push(("person_years", l.pick("人年", "person-years").into()));
    let mut t = Table::new("cost_curve", format!("{}: {key}", l.pick("成本曲线", "Cost curve")), cols);
    for p in points {
        let mut row = vec![Cell::text(&p.value)];
        row.extend(p.funds.iter().map(|m| Cell::Money(*m)));
        row.push(Cell::Money(p.funds.iter().copied().sum()));
        row.push(Cell::Money(p.burden));
        row.push(Cell::Int(p.person_years as i64));
        t.rows.push(row);
    }
    let xs: Vec<f64> = points.iter().map(|p| p.value.parse().unwrap_or(f64::NAN)).collect();
    let chart = Chart {
        title: format!("{}: {key}", l.pick("成本曲线", "Cost curve")),
        kind: ChartKind::Lines { x: xs, x_label: key.to_string(), y_label: l.pick("元", "CNY").into(), percent_axes: false },
        series: vec![
            Series { name: l.term("funds"), values: points.iter().map(|p| yuan(p.funds.iter().copied().sum())).collect() },
            Series { name: l.term("final_burden"), values: points.iter().map(|p| yuan(p.burden)).collect() },
        ],
        money: true,
    };
    (t, chart)
}

/// (scenario index, person, year, baseline funds, scenario funds, baseline burden, scenario burden)
pub type DeltaRow = (usize, u32, i32, Money, Money, Money, Money);

/// Funds paid for a person-year, tilted assistance included.
pub fn funds(y: &PersonYear) -> Money {
    y.hifp_pay + y.hifob_pay + y.hifmi_pay + y.maf_pay + y.maf_tilt_pay
}

/// The columns of persons_delta.csv: every person-year whose final burden changes.
pub const PERSONS_DELTA_COLUMNS: &[(&str, ColType)] = &[
    ("scenario", ColType::Text),
    ("psn_no", ColType::Text),
    ("year", ColType::Int),
    ("psn_type", ColType::Text),
    ("baseline_funds", ColType::Money),
    ("scenario_funds", ColType::Money),
    ("funds_difference", ColType::Money),
    ("baseline_burden", ColType::Money),
    ("scenario_burden", ColType::Money),
    ("burden_difference", ColType::Money),
];

/// Row `i` of persons_delta ([`PERSONS_DELTA_COLUMNS`]); `names[k]` is scenario k's name.
pub fn persons_delta_row<'a>(
    rows: &'a [DeltaRow],
    names: &'a [String],
    persons: &'a PersonTable,
) -> impl Fn(usize, &mut Vec<Val<'a>>) + Sync + 'a {
    move |i: usize, v: &mut Vec<Val<'a>>| {
        let (k, psn, year, bf, sf, bb, sb) = rows[i];
        let p = &persons.persons[psn as usize];
        v.extend([
            Val::Text(&names[k]),
            Val::Text(&p.psn_no),
            Val::Int(year as i64),
            Val::Text(p.psn_type.as_str()),
            Val::Money(bf),
            Val::Money(sf),
            Val::Money(sf - bf),
            Val::Money(bb),
            Val::Money(sb),
            Val::Money(sb - bb),
        ]);
    }
}

/// Writes persons_delta.csv.
pub fn write_persons_delta(out: &mut OutputDir, rows: &[DeltaRow], scenarios: &[Scenario], persons: &PersonTable) -> Result<()> {
    let names: Vec<String> = scenarios.iter().map(|s| s.name.clone()).collect();
    write_table(out, "persons_delta", Format::Csv, PERSONS_DELTA_COLUMNS, rows.len(), &persons_delta_row(rows, &names, persons), &|_| {})
}

/// Column keys must be unique in every machine table (comparison.csv had two `scenario`).
pub fn unique_columns(t: &Table) -> bool {
    let mut k: Vec<&str> = t.columns.iter().map(|c: &Column| c.key).collect();
    k.sort();
    let n = k.len();
    k.dedup();
    k.len() == n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_bands_split_at_five_percent_of_the_baseline_burden() {
        let m = Money::from_fen;
        // baseline 1000.00: +50.00 is exactly 5% → lose ≤ 5%; +50.01 → lose > 5%
        assert_eq!(band_of(m(100_000), m(105_000)), 1);
        assert_eq!(band_of(m(100_000), m(105_001)), 0);
        assert_eq!(band_of(m(100_000), m(100_000)), 2);
        // −50.00 → gain ≤ 5%; −50.01 → gain > 5%
        assert_eq!(band_of(m(100_000), m(95_000)), 3);
        assert_eq!(band_of(m(100_000), m(94_999)), 4);
        // from zero any rise is more than 5%
        assert_eq!(band_of(m(0), m(1)), 0);
        assert_eq!(BANDS[band_of(m(0), m(0))], "no_change");
    }
}
