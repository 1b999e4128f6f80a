//! The settlement report for people (`report.html`, `report.xlsx`): what the funds spent by
//! benefit and month, income against expenditure (RULES.md §9), who reached the limits, how
//! the final personal burden is spread, what was not paid or rejected, and the run's manifest.

use super::doc::{Block, Cell, Chart, ChartKind, Doc, Section, Series, Table, ratio, yuan};
use super::fund::FundReport;
use super::i18n::Lang;
use super::markdown::ReportInput;
use crate::engine::catastrophic::{brackets_of, cap_of, poor};
use crate::model::{Money, Settlement, Status, time};
use rayon::prelude::*;
use std::collections::BTreeMap;

/// Expenditure funds in report order (RULES.md §1, §7).
pub const FUNDS: [&str; 5] = ["hifp", "hifob", "hifmi", "maf", "maf_tilt"];

fn fund_columns(l: Lang, first: Vec<(&'static str, String)>) -> Vec<(&'static str, String)> {
    let mut c = first;
    for f in FUNDS {
        c.push((f, l.term(f)));
    }
    c.push(("funds", l.term("funds")));
    c
}

fn fund_cells(v: &[Money; 5]) -> Vec<Cell> {
    let mut c: Vec<Cell> = v.iter().map(|m| Cell::Money(*m)).collect();
    c.push(Cell::Money(v.iter().copied().sum()));
    c
}

fn fund_series(l: Lang, rows: &[[Money; 5]]) -> Vec<Series> {
    FUNDS
        .iter()
        .enumerate()
        .filter(|(j, _)| rows.iter().any(|r| !r[*j].is_zero()))
        .map(|(j, f)| Series { name: l.term(f), values: rows.iter().map(|r| yuan(r[j])).collect() })
        .collect()
}

fn fund_index(f: &str) -> Option<usize> {
    FUNDS.iter().position(|x| *x == f)
}

/// Expenditure by year and benefit, each fund a column (from the fund report).
fn expenditure_by_benefit(r: &ReportInput, l: Lang) -> Section {
    let mut by: BTreeMap<(i32, &str), ([Money; 5], i64)> = BTreeMap::new();
    for (k, line) in r.fund {
        if k.flow != "expenditure" {
            continue;
        }
        let Some(j) = fund_index(k.fund) else { continue };
        let e = by.entry((k.year, k.benefit)).or_default();
        e.0[j] += line.amount;
        if k.fund == "hifp" {
            // every settled or reversal row has a hifp line: its count is the claims
            e.1 += line.count as i64;
        }
    }
    let mut t = Table::new(
        "expenditure_by_benefit",
        l.pick("各基金支出（按待遇类别）", "Fund expenditure by benefit"),
        fund_columns(l, vec![("year", l.pick("年度", "year").into()), ("benefit", l.pick("待遇类别", "benefit").into())]),
    );
    t.columns.push(super::doc::Column { key: "claims", head: l.pick("结算笔数", "claims").into() });
    for ((y, b), (v, n)) in &by {
        let mut row = vec![Cell::Year(*y), Cell::code(*b)];
        row.extend(fund_cells(v));
        row.push(Cell::Int(*n));
        t.rows.push(row);
    }
    t.add_totals(Cell::text(l.pick("合计", "total")));
    if let Some(tot) = t.totals.as_mut() {
        tot[1] = Cell::Empty;
    }
    t.note = l
        .pick(
            "单位：元。倾斜救助在年终按人年计算（待遇类别“年终”）。冲销以负数计入，与原结算相抵。",
            "CNY. Tilted assistance is computed once per person-year at year end (benefit “year end”). Reversals count negative and net out their originals.",
        )
        .into();
    let cats: Vec<String> =
        by.keys().map(|(y, b)| if by.len() > 1 && multi_year(&by) { format!("{y} {}", l.term(b)) } else { l.term(b) }).collect();
    let rows: Vec<[Money; 5]> = by.values().map(|v| v.0).collect();
    let chart = Chart {
        title: l.pick("各基金支出（按待遇类别）", "Fund expenditure by benefit").into(),
        kind: ChartKind::Bars { categories: cats, stacked: true },
        series: fund_series(l, &rows),
        money: true,
    };
    Section { title: l.pick("基金支出", "Fund expenditure").into(), blocks: vec![Block::Chart(chart), Block::Table(t)] }
}

fn multi_year<V>(by: &BTreeMap<(i32, &str), V>) -> bool {
    let mut ys = by.keys().map(|k| k.0);
    let first = ys.next();
    ys.any(|y| Some(y) != first)
}

/// Fund expenditure of the claims by settlement month: (year, month) → (hifp, hifob, hifmi,
/// maf, maf_tilt = 0; claims). Summed over the settled claims with the fund expenditure
/// ([`super::fund::claim_sums`]), a part of a run at a time ([`ByMonth::merge`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ByMonth(BTreeMap<(i32, u32), ([Money; 5], i64)>);

impl ByMonth {
    /// Adds a piece's months ([`Months`], summed by [`super::fund::claim_sums`] in the same
    /// pass as the fund expenditure).
    pub(crate) fn add_months(&mut self, m: Months) {
        for month in m.months {
            self.add(month.key, month.sums, month.claims);
        }
    }

    /// The months of another part of a run added to these.
    pub fn merge(&mut self, other: ByMonth) {
        for (key, (sums, claims)) in other.0 {
            self.add(key, sums, claims);
        }
    }

    fn add(&mut self, key: (i32, u32), sums: [Money; 5], claims: i64) {
        let e = self.0.entry(key).or_default();
        for (t, v) in e.0.iter_mut().zip(sums) {
            *t += v;
        }
        e.1 += claims;
    }
}

/// One piece's months: each with its first day and the first day of the next month, so that
/// a claim costs a comparison with the month of the claim before it, not a calendar
/// conversion and a map lookup.
#[derive(Default)]
pub(crate) struct Months {
    months: Vec<Month>,
    /// the month of the previous claim
    last: usize,
}

struct Month {
    key: (i32, u32),
    from: time::Date,
    until: time::Date,
    sums: [Money; 5],
    claims: i64,
}

impl Months {
    /// Adds a settled claim settled at `setl_time` (a not-covered one pays nothing and is
    /// left out).
    pub(crate) fn claim(&mut self, setl_time: time::Timestamp, s: &Settlement) {
        if s.status != Status::NotCovered {
            self.add(time::date_of(setl_time), [s.hifp_pay, s.hifob_pay, s.hifmi_pay, s.maf_pay]);
        }
    }

    /// The months of another piece appended (the same month twice is summed by
    /// [`ByMonth::add_months`]).
    pub(crate) fn append(&mut self, mut other: Months) {
        self.months.append(&mut other.months);
    }

    fn add(&mut self, day: time::Date, paid: [Money; 4]) {
        let hit = |m: &Month| (m.from..m.until).contains(&day);
        if !self.months.get(self.last).is_some_and(hit) {
            self.last = match self.months.iter().position(hit) {
                Some(i) => i,
                None => {
                    let (y, m, _) = time::civil_from_days(day);
                    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
                    let (from, until) = (time::days_from_civil(y, m, 1), time::days_from_civil(ny, nm, 1));
                    self.months.push(Month { key: (y, m), from, until, sums: [Money::ZERO; 5], claims: 0 });
                    self.months.len() - 1
                }
            };
        }
        let m = &mut self.months[self.last];
        for (t, v) in m.sums.iter_mut().zip(paid) {
            *t += v;
        }
        m.claims += 1;
    }
}

/// Expenditure by settlement month (claims only; tilted assistance is year-end).
fn expenditure_by_month(by: &ByMonth, l: Lang) -> Section {
    let by = &by.0;
    let mut t = Table::new(
        "expenditure_by_month",
        l.pick("各基金支出（按结算月份）", "Fund expenditure by month"),
        fund_columns(l, vec![("month", l.pick("月份", "month").into())]),
    );
    t.columns.push(super::doc::Column { key: "claims", head: l.pick("结算笔数", "claims").into() });
    for ((y, m), (v, n)) in by {
        let mut row = vec![Cell::text(format!("{y}-{m:02}"))];
        row.extend(fund_cells(v));
        row.push(Cell::Int(*n));
        t.rows.push(row);
    }
    t.add_totals(Cell::text(l.pick("合计", "total")));
    t.note = l
        .pick(
            "按结算时间（setl_time）所在月份；倾斜救助为年终支付，不在月度表内。",
            "By the month of setl_time; tilted assistance is paid at year end and is not in the monthly table.",
        )
        .into();
    let rows: Vec<[Money; 5]> = by.values().map(|v| v.0).collect();
    let chart = Chart {
        title: l.pick("月度基金支出", "Fund expenditure per month").into(),
        kind: ChartKind::Bars { categories: by.keys().map(|(y, m)| format!("{y}-{m:02}")).collect(), stacked: true },
        series: fund_series(l, &rows),
        money: true,
    };
    Section { title: l.pick("月度支出", "Expenditure by month").into(), blocks: vec![Block::Chart(chart), Block::Table(t)] }
}

/// Income, expenditure and balance per fund and year (RULES.md §9: balance = income − expenditure).
/// Contributions finance the basic fund (统筹基金, `hifp`); the other funds have no income in
/// the policies, so their balance is their expenditure, negative.
/// (year, fund) → (income, expenditure); basic-insurance income is the basic pooling fund's.
/// Funds in report order: the expenditure funds, then long-term care (income only).
pub fn fund_order(f: &str) -> usize {
    fund_index(f).unwrap_or(FUNDS.len())
}

pub fn by_fund(fr: &FundReport) -> BTreeMap<(i32, &'static str), (Money, Money)> {
    let mut by: BTreeMap<(i32, &'static str), (Money, Money)> = BTreeMap::new();
    for (k, line) in fr {
        let fund = if k.flow == "income" && k.fund == "basic" { "hifp" } else { k.fund };
        let e = by.entry((k.year, fund)).or_default();
        if k.flow == "income" {
            e.0 += line.amount;
        } else {
            e.1 += line.amount;
        }
    }
    by
}

fn balance(r: &ReportInput, l: Lang) -> Section {
    let mut by: Vec<_> = by_fund(r.fund).into_iter().collect();
    by.sort_by_key(|((y, f), _)| (*y, fund_order(f)));
    let mut t = Table::new(
        "income_expenditure_balance",
        l.pick("基金收入、支出与结余", "Fund income, expenditure and balance"),
        vec![
            ("year", l.pick("年度", "year").into()),
            ("fund", l.pick("基金", "fund").into()),
            ("income", l.pick("收入", "income").into()),
            ("expenditure", l.pick("支出", "expenditure").into()),
            ("balance", l.pick("结余", "balance").into()),
            ("expenditure_share", l.pick("支出占收入", "expenditure / income").into()),
        ],
    );
    for ((y, f), (inc, exp)) in &by {
        t.rows.push(vec![
            Cell::Year(*y),
            Cell::code(*f),
            Cell::Money(*inc),
            Cell::Money(*exp),
            Cell::Money(*inc - *exp),
            Cell::Ratio(ratio(*exp, *inc)),
        ]);
    }
    t.add_totals(Cell::text(l.pick("合计", "total")));
    if let Some(tot) = t.totals.as_mut() {
        tot[1] = Cell::Empty;
    }
    t.note = l
        .pick(
            "收入为缴费与财政补助（职工为基本医疗与生育保险合并缴费，RULES §9）；统筹基金行以基本医保收入对统筹基金支出。大额、大病、救助等在政策文件中无单独收入，结余为负的支出额。",
            "Income is contributions and subsidies (employees: basic medical and maternity together, RULES §9); the basic pooling fund row sets basic-insurance income against basic-fund spending. Large-amount, catastrophic and assistance funds have no income in the policies, so their balance is minus their spending.",
        )
        .into();
    let cats: Vec<String> = by.iter().map(|((y, f), _)| format!("{y} {}", l.term(f))).collect();
    let chart = Chart {
        title: l.pick("收入、支出与结余", "Income, expenditure and balance").into(),
        kind: ChartKind::Bars { categories: cats, stacked: false },
        series: vec![
            Series { name: l.pick("收入", "income").into(), values: by.iter().map(|(_, v)| yuan(v.0)).collect() },
            Series { name: l.pick("支出", "expenditure").into(), values: by.iter().map(|(_, v)| yuan(v.1)).collect() },
            Series { name: l.pick("结余", "balance").into(), values: by.iter().map(|(_, v)| yuan(v.0 - v.1)).collect() },
        ],
        money: true,
    };
    let mut blocks = vec![Block::Chart(chart), Block::Table(t)];
    if r.missing_contribution_base > 0 {
        blocks.push(Block::Text(format!(
            "{} {}",
            r.missing_contribution_base,
            l.pick(
                "个职工人年缺少缴费基数（contribution_base），未计入收入。",
                "employee person-years have no contribution_base and are not in the income."
            )
        )));
    }
    Section { title: l.pick("收支与结余", "Income, expenditure and balance").into(), blocks }
}

/// Whole yuan without the ".00", grouped: 20000.00 → 20,000.
fn yuan_label(m: Money) -> String {
    let s = super::doc::group_digits(&m.to_string());
    s.strip_suffix(".00").map(str::to_string).unwrap_or(s)
}

fn band_label(lo: Money, hi: Option<Money>, rate: rust_decimal::Decimal, who: &str, l: Lang) -> String {
    let pct = (rate * rust_decimal::Decimal::ONE_HUNDRED).normalize();
    let range = match hi {
        Some(h) => format!("({}, {}]", yuan_label(lo), yuan_label(h)),
        None => format!("> {}", yuan_label(lo)),
    };
    match l {
        Lang::Zh => format!("大病保险（{who}）累计 {range} 段 {pct}%"),
        Lang::En => format!("catastrophic ({who}) base {range} at {pct}%"),
    }
}

/// Person-years that reached the basic cap, each catastrophic band and cap, the assistance
/// limits, and that received tilted assistance.
fn limits<'a>(r: &ReportInput<'a>, l: Lang) -> Section {
    // (year, policy id, order) → (limit label, threshold, person-years reaching, eligible).
    // A policy's order names one limit, so its label is spelled once, when the row is first
    // met, not for every person-year.
    type Limits<'a> = BTreeMap<(i32, &'a str, usize), (String, Option<Money>, i64, i64)>;
    let mut by = Limits::new();
    let mut bump = |y: i32, pid: &'a str, order: usize, label: &dyn Fn() -> String, thr: Option<Money>, reached: bool| {
        let e = by.entry((y, pid, order)).or_insert_with(|| (label(), thr, 0, 0));
        e.2 += reached as i64;
        e.3 += 1;
    };
    for y in r.years {
        let p = &r.persons.persons[y.psn as usize];
        let pol = r.policies.get(y.policy);
        // What the year reached, found when it was closed (`engine::close_year`).
        let reached = y.limits;
        if let Some(cap) = pol.inpatient.as_ref().and_then(|i| i.cap) {
            let label = || l.pick("基本医保年度最高支付限额", "basic fund annual cap").to_string();
            bump(y.year, &pol.id, 0, &label, Some(cap.0), reached.cap());
        }
        if let Some(cat) = &pol.catastrophic {
            let is_poor = poor(p);
            let who = if is_poor { l.pick("困难群众", "low-income") } else { l.pick("一般人员", "general") };
            let mut lo = Money::ZERO;
            for (i, b) in brackets_of(cat, p).iter().enumerate() {
                let hi = b.upto.map(|a| a.0);
                let label = || band_label(lo, hi, b.rate.0, who, l);
                bump(y.year, &pol.id, 1 + i + if is_poor { 10 } else { 0 }, &label, Some(lo), i < reached.cat_bands as usize);
                lo = hi.unwrap_or(lo);
            }
            if let Some(cap) = cap_of(pol, p) {
                let label = || l.pick("大病保险年度封顶（含2026激励）", "catastrophic annual cap (with 2026 incentives)").to_string();
                bump(y.year, &pol.id, 30, &label, Some(cat.cap.map(|c| c.0).unwrap_or(cap)), reached.cat_cap());
            }
        }
        if p.assistance != crate::model::Assistance::None
            && let Some(a) = &pol.assistance
        {
            for (g, lim) in a.limits.iter().enumerate().take(crate::model::LimitsReached::ASSIST_GROUPS) {
                let label = || format!("{}{}", l.pick("医疗救助年度限额：", "assistance annual limit: "), lim.name);
                bump(y.year, &pol.id, 40 + g, &label, Some(lim.limit.0), reached.assist(g));
            }
            bump(y.year, &pol.id, 50, &|| l.term("maf_tilt"), None, y.maf_tilt_pay.is_positive());
        }
    }
    let mut t = Table::new(
        "limits",
        l.pick("达到封顶线、大病各段与救助限额的人年", "Person-years reaching the caps, catastrophic bands and assistance limits"),
        vec![
            ("year", l.pick("年度", "year").into()),
            ("policy_id", l.pick("政策", "policy").into()),
            ("limit", l.pick("限额或分段", "limit or band").into()),
            ("threshold", l.pick("起点或限额（元）", "threshold (CNY)").into()),
            ("person_years_reaching", l.pick("达到的人年", "person-years reaching").into()),
            ("person_years", l.pick("适用的人年", "person-years it applies to").into()),
            ("share", l.pick("占比", "share").into()),
        ],
    );
    for ((y, pid, _), (label, thr, n, of)) in &by {
        t.rows.push(vec![
            Cell::Year(*y),
            Cell::text(*pid),
            Cell::text(label),
            thr.map(Cell::Money).unwrap_or(Cell::Empty),
            Cell::Int(*n),
            Cell::Int(*of),
            Cell::Ratio((*of > 0).then(|| *n as f64 / *of as f64)),
        ]);
    }
    t.note = l
        .pick(
            "按年终累计额判断：统筹基金计入封顶的支付额、大病保险累计合规费用（超过某段起点即“达到”该段）与支付额、各救助限额组已付额。大病封顶含零报销与连续参保激励（2026）。",
            "From the year-end running totals: basic-fund payment counted against the cap, the cumulative catastrophic base (a band is reached once the base passes its start) and payment, assistance paid per limit group. The catastrophic cap includes the zero-claim and loyalty incentives (2026).",
        )
        .into();
    let chart = Chart {
        title: l.pick("达到各限额的人年", "Person-years reaching each limit").into(),
        kind: ChartKind::HBars { categories: by.iter().map(|(k, v)| format!("{} · {}", k.1, v.0)).collect() },
        series: vec![Series { name: l.pick("人年", "person-years").into(), values: by.values().map(|v| v.2 as f64).collect() }],
        money: false,
    };
    Section { title: l.pick("封顶与限额", "Caps and limits").into(), blocks: vec![Block::Chart(chart), Block::Table(t)] }
}

/// Upper bounds of the burden histogram (CNY); the last bin is open.
const BINS: [i64; 9] = [0, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000];

/// Nearest-rank percentile of sorted values.
pub fn percentile(sorted: &[Money], q: f64) -> Money {
    if sorted.is_empty() {
        return Money::ZERO;
    }
    let rank = (q * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

/// The final personal burden (psn_part_amt − maf_tilt_pay): percentiles, histogram,
/// concentration (Lorenz) curve and Gini coefficient.
fn burden(r: &ReportInput, l: Lang) -> Section {
    let mut b: Vec<Money> = r.years.iter().map(|y| y.psn_part_amt - y.maf_tilt_pay).collect();
    b.par_sort_unstable();
    let total: Money = b.iter().copied().sum();
    let mut p = Table::new(
        "burden_percentiles",
        l.pick("个人最终负担分位数（每人年）", "Final personal burden per person-year: percentiles"),
        vec![("statistic", l.pick("统计量", "statistic").into()), ("amount", l.pick("金额（元）", "amount (CNY)").into())],
    );
    let mean = if b.is_empty() { Money::ZERO } else { Money::from_fen(total.fen() / b.len() as i64) };
    p.rows.push(vec![Cell::text(l.pick("人年数", "person-years")), Cell::Int(b.len() as i64)]);
    p.rows.push(vec![Cell::text(l.pick("合计", "total")), Cell::Money(total)]);
    p.rows.push(vec![Cell::text(l.pick("平均", "mean")), Cell::Money(mean)]);
    for (name, q) in [("P10", 0.10), ("P25", 0.25), ("P50", 0.50), ("P75", 0.75), ("P90", 0.90), ("P95", 0.95), ("P99", 0.99)] {
        p.rows.push(vec![Cell::text(name), Cell::Money(percentile(&b, q))]);
    }
    p.rows.push(vec![Cell::text(l.pick("最大", "max")), Cell::Money(b.last().copied().unwrap_or(Money::ZERO))]);
    p.note = l
        .pick(
            "个人最终负担 = psn_part_amt − maf_tilt_pay；分位数取最近秩；平均值截断到分。",
            "Final burden = psn_part_amt − maf_tilt_pay; nearest-rank percentiles; the mean is truncated to the fen.",
        )
        .into();

    let mut h = Table::new(
        "burden_histogram",
        l.pick("个人最终负担分布", "Distribution of the final personal burden"),
        vec![
            ("bin", l.pick("负担区间（元）", "burden (CNY)").into()),
            ("person_years", l.pick("人年", "person-years").into()),
            ("share", l.pick("占比", "share").into()),
            ("burden", l.pick("负担合计", "burden total").into()),
        ],
    );
    let mut counts = vec![(0i64, Money::ZERO); BINS.len() + 1];
    for &v in &b {
        let k = BINS.iter().position(|&hi| v.fen() <= hi * 100).unwrap_or(BINS.len());
        counts[k].0 += 1;
        counts[k].1 += v;
    }
    let labels: Vec<String> = (0..=BINS.len())
        .map(|k| match k {
            0 => "≤ 0".to_string(),
            k if k == BINS.len() => format!("> {}", super::doc::group_digits(&BINS[k - 1].to_string())),
            k => format!("{}–{}", super::doc::group_digits(&BINS[k - 1].to_string()), super::doc::group_digits(&BINS[k].to_string())),
        })
        .collect();
    for (lab, (n, m)) in labels.iter().zip(&counts) {
        h.rows.push(vec![
            Cell::text(lab),
            Cell::Int(*n),
            Cell::Ratio((!b.is_empty()).then(|| *n as f64 / b.len() as f64)),
            Cell::Money(*m),
        ]);
    }
    h.add_totals(Cell::text(l.pick("合计", "total")));
    let hist = Chart {
        title: l.pick("个人最终负担直方图", "Histogram of the final personal burden").into(),
        kind: ChartKind::Bars { categories: labels, stacked: false },
        series: vec![Series { name: l.pick("人年", "person-years").into(), values: counts.iter().map(|c| c.0 as f64).collect() }],
        money: false,
    };
    // Concentration curve: share of the burden borne by the lowest x share of person-years.
    let n = b.len();
    let mut xs = Vec::new();
    let mut ys = Vec::new();
    let mut cum = vec![0i128; n + 1];
    for (i, v) in b.iter().enumerate() {
        cum[i + 1] = cum[i] + v.fen() as i128;
    }
    for k in 0..=20 {
        let i = n * k / 20;
        xs.push(k as f64 / 20.0);
        ys.push(if cum[n] == 0 { k as f64 / 20.0 } else { cum[i] as f64 / cum[n] as f64 });
    }
    // Gini = 1 − Σ (x_i − x_{i−1})(y_i + y_{i−1}) over every person-year.
    let gini = if n == 0 || cum[n] == 0 {
        0.0
    } else {
        1.0 - (1..=n).map(|i| (cum[i] + cum[i - 1]) as f64 / cum[n] as f64).sum::<f64>() / n as f64
    };
    let curve = Chart {
        title: format!("{} (Gini {:.3})", l.pick("个人负担集中曲线", "Concentration curve of the personal burden"), gini),
        kind: ChartKind::Lines {
            x: xs.clone(),
            x_label: l.pick("人年累计占比（按负担从低到高）", "cumulative share of person-years (lowest burden first)").into(),
            y_label: l.pick("负担累计占比", "cumulative share of burden").into(),
            percent_axes: true,
        },
        series: vec![
            Series { name: l.pick("集中曲线", "concentration curve").into(), values: ys },
            Series { name: l.pick("均等线", "equality line").into(), values: xs },
        ],
        money: false,
    };
    Section {
        title: l.pick("个人负担分布", "Distribution of the personal burden").into(),
        blocks: vec![Block::Table(p), Block::Chart(hist), Block::Table(h), Block::Chart(curve)],
    }
}

fn reasons(r: &ReportInput, l: Lang) -> Section {
    let mut nc = Table::new(
        "not_covered",
        l.pick("不予支付（按原因）", "Not covered, by reason"),
        vec![("reason", l.pick("原因", "reason").into()), ("claims", l.pick("结算笔数", "claims").into())],
    );
    for (k, n) in &r.not_covered_reasons {
        nc.rows.push(vec![Cell::code(k.clone()), Cell::Int(*n as i64)]);
    }
    nc.add_totals(Cell::text(l.pick("合计", "total")));
    let mut rj = Table::new(
        "rejects",
        l.pick("拒绝的行（按原因代码，明细见 rejects.csv）", "Rejected rows, by code (details in rejects.csv)"),
        vec![("code", l.pick("原因代码", "code").into()), ("rows", l.pick("行数", "rows").into())],
    );
    for (k, n) in &r.reject_codes {
        rj.rows.push(vec![Cell::code(k.clone()), Cell::Int(*n as i64)]);
    }
    rj.add_totals(Cell::text(l.pick("合计", "total")));
    let cats: Vec<String> = r.not_covered_reasons.keys().map(|k| l.term(k)).chain(r.reject_codes.keys().cloned()).collect();
    let k = r.not_covered_reasons.len();
    let chart = Chart {
        title: l.pick("不予支付与拒绝", "Not covered and rejected").into(),
        kind: ChartKind::Bars { categories: cats, stacked: true },
        series: vec![
            Series {
                name: l.pick("不予支付", "not covered").into(),
                values: r.not_covered_reasons.values().map(|n| *n as f64).chain(r.reject_codes.values().map(|_| 0.0)).collect(),
            },
            Series {
                name: l.pick("拒绝", "rejected").into(),
                values: (0..k).map(|_| 0.0).chain(r.reject_codes.values().map(|n| *n as f64)).collect(),
            },
        ],
        money: false,
    };
    Section {
        title: l.pick("不予支付与拒绝", "Not covered and rejected").into(),
        blocks: vec![Block::Chart(chart), Block::Table(nc), Block::Table(rj)],
    }
}

fn overview(r: &ReportInput, l: Lang) -> Section {
    let c = r.counts;
    let mut t = Table::new(
        "claims",
        l.pick("结算笔数核对", "Claims reconciliation"),
        vec![("item", l.pick("项目", "item").into()), ("count", l.pick("数量", "count").into())],
    );
    for (zh, en, n) in [
        ("读入结算", "claims read", c.read),
        ("已结算", "settled", c.settled),
        ("不予支付", "not covered", c.not_covered),
        ("冲销", "reversals", c.reversal),
        ("拒绝", "rejected", c.rejected),
        ("读入人员", "persons read", c.persons_read),
        ("拒绝的人员", "persons rejected", c.persons_rejected),
        ("人年", "person-years", c.person_years),
    ] {
        t.rows.push(vec![Cell::text(l.pick(zh, en)), Cell::Int(n as i64)]);
    }
    let ok = if c.reconciles() {
        l.pick("读入 = 已结算 + 不予支付 + 冲销 + 拒绝：核对一致。", "read = settled + not covered + reversals + rejected: reconciles.")
    } else {
        l.pick("核对不一致！", "does NOT reconcile!")
    };
    Section { title: l.pick("概览", "Overview").into(), blocks: vec![Block::Table(t), Block::Text(ok.into())] }
}

fn manifest(m: &serde_json::Value, l: Lang) -> Section {
    let mut inputs = Table::new(
        "inputs",
        l.pick("输入文件", "Input files"),
        vec![
            ("path", l.pick("文件", "file").into()),
            ("bytes", l.pick("字节", "bytes").into()),
            ("rows", l.pick("行数", "rows").into()),
            ("sha256", "SHA-256".into()),
        ],
    );
    for f in m["inputs"].as_array().into_iter().flatten() {
        inputs.rows.push(vec![
            Cell::text(f["path"].as_str().unwrap_or_default()),
            Cell::Int(f["bytes"].as_i64().unwrap_or_default()),
            Cell::Int(f["rows"].as_i64().unwrap_or_default()),
            Cell::text(f["sha256"].as_str().unwrap_or_default()),
        ]);
    }
    let mut pols = Table::new(
        "policies",
        l.pick("使用的政策", "Policies used"),
        vec![
            ("policy_id", l.pick("政策", "policy").into()),
            ("origin", l.pick("来源", "origin").into()),
            ("overrides", l.pick("参数覆盖", "overrides").into()),
            ("effective_sha256", "SHA-256".into()),
        ],
    );
    for p in m["policies"].as_array().into_iter().flatten() {
        let ov: Vec<&str> = p["overrides"].as_array().into_iter().flatten().filter_map(|v| v.as_str()).collect();
        pols.rows.push(vec![
            Cell::text(p["id"].as_str().unwrap_or_default()),
            Cell::text(p["origin"].as_str().unwrap_or_default()),
            Cell::text(ov.join("; ")),
            Cell::text(p["effective_sha256"].as_str().unwrap_or_default()),
        ]);
    }
    Section {
        title: l.pick("运行清单", "Run manifest").into(),
        blocks: vec![
            Block::Table(inputs),
            Block::Table(pols),
            Block::Text(
                l.pick(
                    "manifest.json 记录本报告及其他输出文件的哈希。",
                    "manifest.json records the hash of this report and of every other output.",
                )
                .into(),
            ),
            Block::Code(serde_json::to_string_pretty(m).unwrap_or_default()),
        ],
    }
}

/// The settlement report document.
pub fn document(r: &ReportInput, manifest_json: &serde_json::Value, lang: Lang) -> Doc {
    let l = lang;
    let years: std::collections::BTreeSet<i32> = r.years.iter().map(|y| y.year).collect();
    let ids: Vec<&str> = r.policies.policies.iter().map(|p| p.policy.id.as_str()).collect();
    Doc {
        title: match r.title {
            "Settlement report" => l.pick("医保结算报告", "Settlement report").to_string(),
            other => format!("{} · {other}", l.pick("医保结算报告", "Settlement report")),
        },
        subtitle: format!(
            "{} {} · {} {} · medsettle {}",
            l.pick("年度", "years"),
            years.iter().map(|y| y.to_string()).collect::<Vec<_>>().join(", "),
            l.pick("政策", "policies"),
            ids.join(", "),
            env!("CARGO_PKG_VERSION")
        ),
        lang,
        sections: vec![
            overview(r, l),
            expenditure_by_benefit(r, l),
            expenditure_by_month(r.by_month, l),
            balance(r, l),
            limits(r, l),
            burden(r, l),
            reasons(r, l),
            manifest(manifest_json, l),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<Money> = (1..=10).map(|i| Money::from_fen(i * 100)).collect();
        // P50 of 10 values: rank ⌈0.5 × 10⌉ = 5 → 5.00; P90: rank 9 → 9.00; P99: rank 10 → 10.00
        assert_eq!(percentile(&v, 0.5), Money::from_fen(500));
        assert_eq!(percentile(&v, 0.9), Money::from_fen(900));
        assert_eq!(percentile(&v, 0.99), Money::from_fen(1000));
        assert_eq!(percentile(&[], 0.5), Money::ZERO);
    }

    #[test]
    fn months_by_day_ranges_equal_the_calendar() {
        // Days back and forth across month and year ends (1969–1970, 2023–2025 with a leap
        // February), each paying its day number into hifp: every month gets the sums and
        // counts that a calendar conversion of each day gives.
        let days: Vec<time::Date> = (-400..400).chain(19_300..20_200).map(|d| if d % 3 == 0 { d } else { 39_500 - d }).collect();
        let mut m = Months::default();
        let mut want: BTreeMap<(i32, u32), (Money, i64)> = BTreeMap::new();
        for &d in &days {
            let paid = Money::from_fen(d as i64);
            m.add(d, [paid, Money::ZERO, Money::ZERO, Money::from_fen(1)]);
            let (y, mo, _) = time::civil_from_days(d);
            let e = want.entry((y, mo)).or_default();
            e.0 += paid;
            e.1 += 1;
        }
        let got: BTreeMap<(i32, u32), (Money, i64)> = m.months.iter().map(|x| (x.key, (x.sums[0], x.claims))).collect();
        assert_eq!(got, want);
        assert_eq!(m.months.len(), want.len(), "one entry per month");
        assert!(m.months.iter().all(|x| x.sums[3] == Money::from_fen(x.claims)));
    }
}
