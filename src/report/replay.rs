//! Replay: the recomputed settlement against the amounts the platform recorded. Differences
//! are summed as absolute values (so +0.01 and −0.01 do not cancel) and signed; a recorded
//! row whose own amounts do not add up to its total is reported as such; the largest
//! discrepancies get a one-line explanation naming the first layer that differs.

use super::doc::{Block, Cell, Chart, ChartKind, Doc, Section, Series, Table, yuan};
use super::i18n::Lang;
use crate::engine::Settled;
use crate::model::{Benefit, ClaimTable, Money, Recorded, Settlement, Status};
use anyhow::Result;
use std::collections::BTreeMap;

/// The compared amounts (the funds in layer order, the personal part, then the other payers'
/// `oth_pay`, compared where the platform recorded it) and the code each is labelled with.
pub const FIELDS: [&str; 6] = ["hifp_pay", "hifob_pay", "hifmi_pay", "maf_pay", "psn_part_amt", "oth_pay"];
const FIELD_FUNDS: [&str; 6] = ["hifp", "hifob", "hifmi", "maf", "psn_part", "oth"];
/// Index of `oth_pay` in [`FIELDS`].
const OTH: usize = 5;

/// The recorded amounts in [`FIELDS`] order; `oth` is the row's recorded `oth_pay`.
pub fn recorded_of(r: &Recorded) -> [Option<Money>; 6] {
    [r.hifp_pay, r.hifob_pay, r.hifmi_pay, r.maf_pay, r.psn_part_amt, r.oth_pay]
}

pub fn computed_of(s: &Settlement) -> [Money; 6] {
    [s.hifp_pay, s.hifob_pay, s.hifmi_pay, s.maf_pay, s.psn_part_amt, s.oth_pay]
}

/// One amount of one claim beyond the tolerance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Discrepancy {
    pub claim: u32,
    pub field: usize,
    pub recorded: Money,
    pub computed: Money,
}

/// Per amount and benefit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Agg {
    pub compared: u64,
    pub off: u64,
    pub signed: Money,
    pub abs: Money,
}

#[derive(Debug, Default)]
pub struct ReplayResult {
    pub tolerance: Money,
    pub compared: u64,
    pub not_recorded: u64,
    pub claims_off: u64,
    /// per field: recorded total, recomputed total, sum of absolute differences
    pub totals: [(Money, Money, Money); 6],
    pub by: BTreeMap<(usize, Benefit), Agg>,
    /// in input order
    pub discrepancies: Vec<Discrepancy>,
    /// recorded rows with all five amounts whose sum (with a recorded oth_pay) is not
    /// medfee_sumamt: (claim, sum)
    pub identity_broken: Vec<(u32, Money)>,
}

fn abs(m: Money) -> Money {
    Money::from_fen(m.fen().abs())
}

/// Compares every settled claim that carries recorded amounts. No recorded amount in the whole
/// input is an error: there is nothing to replay against.
pub fn compare(t: &ClaimTable, settled: &Settled, tolerance: Money) -> Result<ReplayResult> {
    let mut r = ReplayResult { tolerance, ..ReplayResult::default() };
    // Both the settled claims and the table's recorded amounts are in ascending claim order:
    // one walk along the recorded list, not a search per claim (an audited year records
    // every claim).
    let mut recorded = t.recorded.iter().peekable();
    for ci in settled.input_order() {
        let Some(s) = settled.get(ci as usize) else { continue };
        let c = &t.claims[ci as usize];
        while recorded.next_if(|(j, _)| *j < ci).is_some() {}
        let Some((_, rec)) = recorded.next_if(|(j, _)| *j == ci) else {
            r.not_recorded += 1;
            continue;
        };
        r.compared += 1;
        let recorded = recorded_of(rec);
        if let [Some(a), Some(b), Some(cc), Some(d), Some(e), oth] = recorded {
            // A recorded `oth_pay` (2026 childbirth subsidy, rare-disease fund; RULES S-28) is
            // part of the row's identity: medfee = funds + oth_pay + psn_part (CONTRACT §4).
            let sum = a + b + cc + d + e + oth.unwrap_or(Money::ZERO);
            if sum != c.medfee_sumamt() {
                r.identity_broken.push((ci, sum));
            }
        }
        let mut off = false;
        for (i, (rv, v)) in recorded.iter().zip(computed_of(s)).enumerate() {
            let Some(rv) = *rv else { continue };
            let d = v - rv;
            r.totals[i].0 += rv;
            r.totals[i].1 += v;
            r.totals[i].2 += abs(d);
            let a = r.by.entry((i, s.benefit)).or_default();
            a.compared += 1;
            a.signed += d;
            a.abs += abs(d);
            if abs(d) > tolerance {
                a.off += 1;
                off = true;
                r.discrepancies.push(Discrepancy { claim: ci, field: i, recorded: rv, computed: v });
            }
        }
        r.claims_off += off as u64;
    }
    if r.compared == 0 {
        return Err(nothing_to_replay());
    }
    Ok(r)
}

/// The error of a replay whose claims carry no recorded amount.
pub fn nothing_to_replay() -> anyhow::Error {
    anyhow::anyhow!(
        "the claims carry no recorded amounts (columns {}): there is nothing to replay against; \
         add the platform's amounts to the extract or use `medsettle settle`",
        FIELDS.join(", ")
    )
}

/// One line on why a claim differs: the first layer (in settlement order) that differs, or
/// the recorded row's own identity.
pub fn explain(c_medfee: Money, rec: &Recorded, s: &Settlement, tol: Money, l: Lang) -> String {
    let recorded = recorded_of(rec);
    let computed = computed_of(s);
    if let [Some(a), Some(b), Some(c), Some(d), Some(e), oth] = recorded {
        let sum = a + b + c + d + e + oth.unwrap_or(Money::ZERO);
        if sum != c_medfee {
            return format!(
                "{} {} ≠ medfee_sumamt {} ({} {})",
                l.pick("平台记录的各项之和", "the recorded amounts add up to"),
                sum,
                c_medfee,
                l.pick("差", "off by"),
                sum - c_medfee
            );
        }
    }
    if s.status == Status::NotCovered {
        return format!(
            "{}: {}",
            l.pick("重算为不予支付", "recomputed as not covered"),
            s.reason.map(|r| l.term(r.as_str())).unwrap_or_default()
        );
    }
    for (i, rv) in recorded.iter().enumerate().take(4) {
        let Some(rv) = *rv else { continue };
        let d = computed[i] - rv;
        if abs(d) > tol {
            let layer = match i {
                0 => l.pick("统筹基金层（起付线、分段比例或封顶线）", "the basic-fund layer (deductible, band rates or the cap)"),
                1 => l.pick("大额医疗补助层", "the large-amount layer"),
                2 => l.pick("大病保险层（累计合规费用分段或封顶）", "the catastrophic layer (cumulative base bands or the cap)"),
                _ => l.pick("医疗救助层（救助比例或年度限额）", "the assistance layer (rate or annual limit)"),
            };
            let rounding = if abs(d) <= Money::from_fen(5) {
                l.pick("，差额在几分以内，可能是舍入（D-01）", "; a few fen: likely rounding (D-01)")
            } else {
                ""
            };
            return format!(
                "{} {}: {} {rv}, {} {}{rounding}; {}",
                l.pick("首先不同的是", "first difference in"),
                layer,
                l.pick("记录", "recorded"),
                l.pick("重算", "recomputed"),
                computed[i],
                l.pick("后续各层随之变化", "later layers follow from it")
            );
        }
    }
    if let Some(rv) = recorded[OTH]
        && abs(computed[OTH] - rv) > tol
    {
        return format!(
            "{}: {} {rv}, {} {}",
            l.pick(
                "各基金一致，其他支付不同（生育财政补助 S-28 或罕见病用药保障 S-27）",
                "the funds agree; the other payers differ (childbirth subsidy S-28 or rare-disease fund S-27)"
            ),
            l.pick("记录", "recorded"),
            l.pick("重算", "recomputed"),
            computed[OTH]
        );
    }
    l.pick("各基金一致，只有个人负担不同", "the funds agree; only the personal part differs").to_string()
}

/// The replay report document.
pub fn document(r: &ReplayResult, t: &ClaimTable, settled: &Settled, psn_no: &dyn Fn(u32) -> String, l: Lang) -> Doc {
    let mut by = Table::new(
        "by_fund_benefit",
        l.pick("差异（按基金与待遇类别）", "Differences by fund and benefit"),
        vec![
            ("field", l.pick("金额", "amount").into()),
            ("benefit", l.pick("待遇类别", "benefit").into()),
            ("compared", l.pick("比对笔数", "compared").into()),
            ("discrepancies", l.pick("超出容差笔数", "beyond tolerance").into()),
            ("abs_difference", l.pick("绝对差额合计", "sum of absolute differences").into()),
            ("signed_difference", l.pick("差额合计（重算 − 记录）", "signed sum (recomputed − recorded)").into()),
        ],
    );
    for ((f, b), a) in &r.by {
        by.rows.push(vec![
            Cell::code(FIELD_FUNDS[*f]),
            Cell::code(b.as_str()),
            Cell::Int(a.compared as i64),
            Cell::Int(a.off as i64),
            Cell::Money(a.abs),
            Cell::Money(a.signed),
        ]);
    }
    by.add_totals(Cell::text(l.pick("合计", "total")));
    let mut tot = Table::new(
        "totals",
        l.pick("记录与重算合计", "Recorded and recomputed totals"),
        vec![
            ("field", l.pick("金额", "amount").into()),
            ("recorded", l.pick("记录合计", "recorded").into()),
            ("recomputed", l.pick("重算合计", "recomputed").into()),
            ("signed_difference", l.pick("差额", "difference").into()),
            ("abs_difference", l.pick("绝对差额合计", "sum of absolute differences").into()),
        ],
    );
    for (i, (rv, v, a)) in r.totals.iter().enumerate() {
        tot.rows.push(vec![Cell::code(FIELD_FUNDS[i]), Cell::Money(*rv), Cell::Money(*v), Cell::Money(*v - *rv), Cell::Money(*a)]);
    }
    let mut idt = Table::new(
        "identity_broken",
        l.pick("平台记录自身不平衡的结算", "Recorded rows whose own amounts do not add up"),
        vec![
            ("setl_id", "setl_id".into()),
            ("medfee_sumamt", l.pick("医疗费用总额", "total cost").into()),
            ("recorded_sum", l.pick("记录各项之和", "sum of recorded amounts").into()),
            ("difference", l.pick("差额", "difference").into()),
        ],
    );
    for (ci, sum) in &r.identity_broken {
        let c = &t.claims[*ci as usize];
        idt.rows.push(vec![
            Cell::text(t.strings.get(c.setl_id)),
            Cell::Money(c.medfee_sumamt()),
            Cell::Money(*sum),
            Cell::Money(*sum - c.medfee_sumamt()),
        ]);
    }
    idt.note = l
        .pick(
            "记录行应满足 medfee_sumamt = hifp_pay + hifob_pay + hifmi_pay + maf_pay + oth_pay + psn_part_amt（D-02，S-28）。",
            "A recorded row should satisfy medfee_sumamt = hifp_pay + hifob_pay + hifmi_pay + maf_pay + oth_pay + psn_part_amt (D-02, S-28).",
        )
        .into();
    // Largest discrepancies: claims by their total absolute difference.
    let mut per_claim: BTreeMap<u32, Money> = BTreeMap::new();
    for d in &r.discrepancies {
        *per_claim.entry(d.claim).or_default() += abs(d.computed - d.recorded);
    }
    let mut top: Vec<(Money, u32)> = per_claim.into_iter().map(|(c, m)| (m, c)).collect();
    top.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut big = Table::new(
        "largest",
        l.pick("最大的差异（前20笔）", "The largest discrepancies (top 20 claims)"),
        vec![
            ("setl_id", "setl_id".into()),
            ("psn_no", l.pick("人员编号", "person").into()),
            ("benefit", l.pick("待遇类别", "benefit").into()),
            ("abs_difference", l.pick("绝对差额", "absolute difference").into()),
            ("explanation", l.pick("说明", "explanation").into()),
        ],
    );
    for (m, ci) in top.iter().take(20) {
        let c = &t.claims[*ci as usize];
        let (Some(s), Some(rec)) = (settled.get(*ci as usize), t.recorded(*ci as usize)) else { continue };
        big.rows.push(vec![
            Cell::text(t.strings.get(c.setl_id)),
            Cell::text(psn_no(c.psn)),
            Cell::code(s.benefit.as_str()),
            Cell::Money(*m),
            Cell::text(explain(c.medfee_sumamt(), rec, s, r.tolerance, l)),
        ]);
    }
    let chart = Chart {
        title: l.pick("各项金额的绝对差额合计", "Sum of absolute differences per amount").into(),
        kind: ChartKind::Bars { categories: FIELD_FUNDS.iter().map(|f| l.term(f)).collect(), stacked: false },
        series: vec![Series {
            name: l.pick("绝对差额", "absolute difference").into(),
            values: r.totals.iter().map(|x| yuan(x.2)).collect(),
        }],
        money: true,
    };
    let summary = format!(
        "{} {} {}. {} {}; {} {}; {} {}; {} {}.",
        l.pick("容差", "Tolerance"),
        r.tolerance,
        l.pick("元/每项金额", "CNY per amount"),
        l.pick("比对的结算", "claims compared"),
        r.compared,
        l.pick("无记录金额", "without recorded amounts"),
        r.not_recorded,
        l.pick("有差异的结算", "with a discrepancy"),
        r.claims_off,
        l.pick("记录自身不平衡", "recorded rows that do not add up"),
        r.identity_broken.len()
    );
    Doc {
        title: l.pick("重算比对报告", "Replay report").into(),
        subtitle: format!("medsettle {}", env!("CARGO_PKG_VERSION")),
        lang: l,
        sections: vec![
            Section { title: l.pick("概览", "Overview").into(), blocks: vec![Block::Text(summary), Block::Chart(chart), Block::Table(tot)] },
            Section { title: l.pick("按基金与待遇类别", "By fund and benefit").into(), blocks: vec![Block::Table(by)] },
            Section {
                title: l.pick("最大的差异", "Largest discrepancies").into(),
                blocks: vec![
                    Block::Table(big),
                    Block::Text(l.pick("每行说明首先出现差异的结算层；`medsettle explain --setl-id ID` 给出逐步计算。", "Each line names the first layer that differs; `medsettle explain --setl-id ID` shows the computation step by step.").into()),
                ],
            },
            Section { title: l.pick("记录自身不平衡", "Recorded rows that do not add up").into(), blocks: vec![Block::Table(idt)] },
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Beside;

    /// A 2026 childbirth claim as settled (hifp 6,000.00, oth_pay 1,500.00, psn_part
    /// 2,500.00 of medfee 10,000.00) and as recorded with personal part `recorded_psn_part`.
    fn childbirth(recorded_psn_part: i64) -> (Recorded, Settlement) {
        let m = Money::from_yuan;
        let rec = Recorded {
            hifp_pay: Some(m(6000)),
            hifob_pay: Some(m(0)),
            hifmi_pay: Some(m(0)),
            maf_pay: Some(m(0)),
            psn_part_amt: Some(m(recorded_psn_part)),
            oth_pay: None,
        };
        let s = Settlement {
            benefit: Benefit::Maternity,
            status: Status::Settled,
            hifp_pay: m(6000),
            psn_part_amt: m(2500),
            oth_pay: m(1500),
            ..Settlement::EMPTY
        };
        (rec, s)
    }

    /// A 2026 childbirth claim: medfee 10,000.00 is hifp 6,000.00 plus oth_pay (subsidy)
    /// 1,500.00 plus psn_part 2,500.00 (S-28). Recorded exactly so, the row adds up once its
    /// oth_pay is counted; without it, the five fund/person amounts are 1,500.00 short.
    #[test]
    fn a_recorded_oth_pay_is_part_of_the_rows_identity() {
        let m = Money::from_yuan;
        let (rec, s) = childbirth(2500);
        let with = explain(m(10000), &Recorded { oth_pay: Some(m(1500)), ..rec }, &s, Money::ZERO, Lang::En);
        assert!(!with.contains("add up to"), "{with}");
        let without = explain(m(10000), &rec, &s, Money::ZERO, Lang::En);
        assert!(without.contains("add up to 8500.00") && without.contains("-1500.00"), "{without}");
    }

    /// `oth_pay` is compared as its own amount. The same childbirth claim settles as hifp
    /// 6,000.00 + oth_pay 1,500.00 + psn_part 2,500.00 = 10,000.00. The platform recorded
    /// oth_pay 1,000.00 and psn_part 3,000.00 (6,000 + 1,000 + 3,000 = 10,000: the row adds up):
    /// oth_pay differs by 1,500.00 − 1,000.00 = +500.00 and psn_part by 2,500.00 − 3,000.00 =
    /// −500.00; the funds agree. A row recording no oth_pay (B) is not compared on it.
    #[test]
    fn oth_pay_is_compared_as_its_own_field() -> anyhow::Result<()> {
        use crate::model::{Claim, ClaimTable, MedType};
        let m = Money::from_yuan;
        let (rec, s) = childbirth(3000);
        let mut t = ClaimTable::default();
        for (id, oth) in [("A", Some(m(1000))), ("B", None)] {
            let setl_id = t.strings.push(id);
            let claim = Claim { med_type: MedType(52), level: Claim::level_of(2, false), ..Claim::plain(setl_id, 0, 0, m(10000)) };
            t.push(claim, Beside { recorded: Some(Recorded { oth_pay: oth, ..rec }), ..Beside::default() });
        }
        let settled = Settled { claim: std::sync::Arc::new(vec![0, 1]), sorted: vec![s, s], pos: vec![0, 1], person_years: Vec::new() };
        let r = compare(&t, &settled, Money::ZERO)?;
        // B records no oth_pay, so its row adds up to 6,000 + 3,000 = 9,000.00 ≠ 10,000.00.
        assert_eq!(r.identity_broken, [(1, m(9000))]);
        // A: psn_part and oth_pay off; B: psn_part off only.
        let off: Vec<(u32, &str, Money, Money)> =
            r.discrepancies.iter().map(|d| (d.claim, FIELDS[d.field], d.recorded, d.computed)).collect();
        assert_eq!(off, [(0, "psn_part_amt", m(3000), m(2500)), (0, "oth_pay", m(1000), m(1500)), (1, "psn_part_amt", m(3000), m(2500))]);
        // oth_pay: recorded 1,000.00 (A only), recomputed 1,500.00, |difference| 500.00.
        assert_eq!(r.totals[OTH], (m(1000), m(1500), m(500)));
        let a = r.by[&(OTH, Benefit::Maternity)];
        assert_eq!((a.compared, a.off, a.signed, a.abs), (1, 1, m(500), m(500)));
        let why = explain(m(10000), &Recorded { oth_pay: Some(m(1000)), ..rec }, &s, Money::ZERO, Lang::En);
        assert!(why.contains("other payers differ") && why.contains("recorded 1000.00, recomputed 1500.00"), "{why}");
        Ok(())
    }

    /// The walk along the recorded amounts: a rejected claim's recorded amounts are passed
    /// over, a claim without any is counted as such, and the claims after it still meet theirs.
    #[test]
    fn recorded_amounts_meet_their_claims_past_rejected_and_unrecorded_ones() -> anyhow::Result<()> {
        use crate::model::{Claim, ClaimTable, MedType};
        let m = Money::from_yuan;
        let (rec, s) = childbirth(2500);
        let mut t = ClaimTable::default();
        // 0: rejected, recorded; 1: not recorded; 2 and 3: recorded, 3 off by 1.00 on psn_part.
        for (id, recorded) in
            [("R", Some(rec)), ("N", None), ("A", Some(rec)), ("B", Some(Recorded { psn_part_amt: Some(m(2501)), ..rec }))]
        {
            let setl_id = t.strings.push(id);
            let claim = Claim { med_type: MedType(52), level: Claim::level_of(2, false), ..Claim::plain(setl_id, 0, 0, m(10000)) };
            t.push(claim, Beside { recorded: recorded.map(|r| Recorded { oth_pay: Some(m(1500)), ..r }), ..Beside::default() });
        }
        assert_eq!(t.recorded.iter().map(|r| r.0).collect::<Vec<_>>(), [0, 2, 3]);
        assert!(t.recorded(1).is_none() && t.recorded(3).is_some_and(|r| r.psn_part_amt == Some(m(2501))));
        let settled = Settled {
            claim: std::sync::Arc::new(vec![1, 2, 3]),
            sorted: vec![s, s, s],
            pos: vec![u32::MAX, 0, 1, 2],
            person_years: Vec::new(),
        };
        let r = compare(&t, &settled, Money::ZERO)?;
        assert_eq!((r.compared, r.not_recorded), (2, 1));
        let off: Vec<(u32, &str)> = r.discrepancies.iter().map(|d| (d.claim, FIELDS[d.field])).collect();
        assert_eq!(off, [(3, "psn_part_amt")]);
        Ok(())
    }
}
