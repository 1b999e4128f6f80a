//! Layer 1 (and the employee large-amount fund, layer 2): the basic fund (统筹) per benefit.
//! Resident rules RULES.md §4–5, employee rules §8; semantics §11. Every number comes from the
//! policy; this module holds only the shape of each rule.

use super::bands::{Span, split};
use super::classify::offsite_class;
use super::state::{Admission, Contribution, YearState};
use super::trace::{Detail, Tracer};
use crate::model::money::{Fixed, Fraction};
use crate::model::{Benefit, Claim, ClaimTable, Disease, DiseaseSet, Money, Offsite, Person, Rate, RoundingMode, Strings, time};
use crate::policy::{CapBasis, Column, Fund, Group, LimitBasis, OutpatientBand, Policy, SpecialRate};

/// The claim being settled, with what the layers need to know about it.
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    pub claim: &'a Claim,
    /// The claim's `rare_fund_pay` ([`crate::model::ClaimTable::rare_fund_pay`], S-27).
    pub rare_fund_pay: Money,
    /// The claim table's text ids (the claim's mdtrt_id is looked up only for an admission:
    /// a random read per claim otherwise).
    pub strings: &'a Strings,
    pub person: &'a Person,
    pub policy: &'a Policy,
    pub year: i32,
    pub group: Group,
    pub benefit: Benefit,
}

/// The basic layer's result on one claim (already rounded, S-01).
#[derive(Clone, Copy, Debug, Default)]
pub struct BasicPay {
    pub hifp: Money,
    pub hifob: Money,
    pub act_pay_dedc: Money,
}

impl<'a> Ctx<'a> {
    /// Claim `ci` of `table` settled under `policy` as `benefit`, in its person's own group.
    pub fn of(table: &'a ClaimTable, ci: usize, person: &'a Person, policy: &'a Policy, year: i32, benefit: Benefit) -> Ctx<'a> {
        let group = Group::of(person.psn_type);
        Ctx {
            claim: &table.claims[ci],
            rare_fund_pay: table.rare_fund_pay(ci),
            strings: &table.strings,
            person,
            policy,
            year,
            group,
            benefit,
        }
    }

    /// S-17: points off every basic and large-amount rate for the claim's out-of-area situation.
    fn points(&self) -> Fraction {
        let Some(o) = &self.policy.offsite else { return Fraction::ZERO };
        Fraction::of(match self.claim.offsite {
            Offsite::Local | Offsite::NonDesignated => return Fraction::ZERO,
            Offsite::Resident => o.points.resident.0,
            Offsite::Referral => o.points.referral.0,
            Offsite::Emergency => o.points.emergency.0,
            Offsite::Unreferred => o.points.unreferred.0,
        })
    }
    /// The policy key of the out-of-area points taken off (`None` when local).
    fn points_key(&self) -> Option<String> {
        let kind = match self.claim.offsite {
            Offsite::Local | Offsite::NonDesignated => return None,
            Offsite::Resident => "resident",
            Offsite::Referral => "referral",
            Offsite::Emergency => "emergency",
            Offsite::Unreferred => "unreferred",
        };
        self.policy.offsite.as_ref().map(|_| format!("offsite.points.{kind}"))
    }
    /// A step's record of a rate after out-of-area points: the rate, the points and its keys.
    fn rate_detail(&self, d: Detail, rate: Fraction, key: String) -> Detail {
        let d = d.value("rate", rate.to_decimal().normalize()).param(key);
        match self.points_key() {
            Some(k) => d.value("offsite_points", self.points().to_decimal().normalize()).param(k),
            None => d,
        }
    }
    /// A policy rate after out-of-area points, floored at 0 (S-17).
    fn adjusted(&self, rate: Rate) -> Fraction {
        Fraction::of(rate).less(self.points())
    }
    fn round(&self, x: Fixed) -> Money {
        x.round(self.policy.rounding.mode)
    }
    fn inpatient_rate(&self, band: &crate::policy::InpatientBand) -> Rate {
        band.rate.get(self.group).map(|l| l.at(self.claim.hosp_lv()).0).unwrap_or(Rate::ZERO)
    }
    /// S-10: the outpatient column of the claim.
    fn column(&self) -> Column {
        if self.benefit == Benefit::Pharmacy {
            return self.policy.outpatient.as_ref().map(|o| o.pharmacy_column).unwrap_or(Column::Level2);
        }
        if self.claim.primary_care() {
            Column::Primary
        } else if self.claim.hosp_lv() == 3 {
            Column::Level3
        } else {
            Column::Level2
        }
    }
    /// D-16: drug payments inside the resident annual cap (employees have none, S-15).
    fn drugs_inside_cap(&self) -> bool {
        self.policy.scheme == crate::policy::SchemeName::Resident && self.policy.drugs.as_ref().is_some_and(|d| d.inside_cap == Some(true))
    }
}

fn pct(r: Fraction) -> String {
    format!("{}%", r.percent())
}

/// Pays the paying part of a segment on the inpatient axis by the inpatient brackets
/// (D-22): returns exact (hifp, hifob).
fn inpatient_brackets(ctx: &Ctx, pay: Span, t: &mut Tracer) -> (Fixed, Fixed) {
    let Some(inp) = &ctx.policy.inpatient else { return (Fixed::ZERO, Fixed::ZERO) };
    let mut hifp = Fixed::ZERO;
    let mut hifob = Fixed::ZERO;
    for (i, (band, part)) in inp.bands.iter().zip(split(pay, inp.bands.iter().map(|b| b.upto.map(|a| a.0)))).enumerate() {
        if part.is_empty() {
            continue;
        }
        let rate = ctx.adjusted(ctx.inpatient_rate(band));
        let x = part.len().share(rate);
        match band.fund {
            Fund::Hifp => hifp += x,
            Fund::Hifob => hifob += x,
        }
        t.detail("basic", || {
            let d = Detail::new(
                format!(
                    "{} × {} on the cumulative in-scope cost ({}, {}] = {} ({})",
                    part.len(),
                    pct(rate),
                    part.lo,
                    part.hi,
                    x.shown(),
                    match band.fund {
                        Fund::Hifp => "统筹 hifp",
                        Fund::Hifob => "大额 hifob",
                    }
                ),
                band.source.clone().unwrap_or_else(|| inp.source.clone()),
            )
            .value("cumulative_from", part.lo)
            .value("cumulative_to", part.hi)
            .value("amount", part.len());
            let key = format!("inpatient.bands[{i}].rate.{}", band.rate.key(ctx.group));
            ctx.rate_detail(d, rate, key)
                .value(
                    match band.fund {
                        Fund::Hifp => "hifp_exact",
                        Fund::Hifob => "hifob_exact",
                    },
                    x.shown(),
                )
                .param(format!("inpatient.bands[{i}].upto"))
        });
    }
    (hifp, hifob)
}

/// S-04/S-05: the admission of the claim's mdtrt_id (opened when first settled) and the
/// deductible still to charge on it.
fn admission_deductible<'a>(ctx: &Ctx<'a>, st: &mut YearState, is_admission: bool, t: &mut Tracer) -> (usize, Money) {
    let mdtrt_id = ctx.strings.get(ctx.claim.mdtrt_id);
    let idx = match st.find_admission(mdtrt_id, is_admission) {
        Some(i) => i,
        None => {
            let first = !st.any_live_admission();
            st.admissions.push(Admission { mdtrt_id: mdtrt_id.to_string(), first, deductible_charged: Money::ZERO, live: 0, is_admission });
            st.admissions.len() - 1
        }
    };
    let Some(inp) = &ctx.policy.inpatient else { return (idx, Money::ZERO) };
    let adm = &st.admissions[idx];
    // D-21: veteran workers take another group's deductibles.
    let group = match (ctx.group, inp.veteran_deductible_as) {
        (Group::Veteran, Some(g)) => g,
        (g, _) => g,
    };
    let table = match (&inp.deductible_later, adm.first) {
        (Some(later), false) => later,
        _ => &inp.deductible,
    };
    let full = table.get(group).map(|l| l.at(ctx.claim.hosp_lv()).0).unwrap_or(Money::ZERO);
    let ded = (full - adm.deductible_charged).max0().min(ctx.claim.inscp_scp_amt.max0());
    let table_key = || match (&inp.deductible_later, adm.first) {
        (Some(later), false) => format!("inpatient.deductible_later.{}", later.key(group)),
        _ => format!("inpatient.deductible.{}", inp.deductible.key(group)),
    };
    t.detail("basic", || {
        Detail::new(
            format!(
                "deductible (起付标准) {} for {} at level {} ({}), {} already charged on {} → {} charged",
                full,
                // only policies with a first / later rule (employees, 003 §四) say which
                match (&inp.deductible_later, adm.first) {
                    (Some(_), true) => "the first admission of the year",
                    (Some(_), false) => "a later admission of the year",
                    (None, _) => "the admission",
                },
                ctx.claim.hosp_lv(),
                group.as_str(),
                adm.deductible_charged,
                mdtrt_id,
                ded
            ),
            inp.deductible_source.clone().unwrap_or_else(|| inp.source.clone()),
        )
        .value("deductible", full)
        .value("charged_before", adm.deductible_charged)
        .value("inscp_scp_amt", ctx.claim.inscp_scp_amt)
        .value("act_pay_dedc", ded)
        .param(table_key())
    });
    (idx, ded)
}

/// D-10: applies the annual cap to an exact hifp; returns the limited amount.
fn apply_cap(ctx: &Ctx, st: &YearState, hifp: Fixed, t: &mut Tracer) -> Fixed {
    let Some(inp) = &ctx.policy.inpatient else { return hifp };
    let (Some(cap), CapBasis::FundPaid) = (inp.cap, inp.cap_basis) else { return hifp };
    let room = (cap.0 - st.cap_paid).max0();
    if hifp > room.fixed() {
        t.detail("basic", || {
            Detail::new(
                format!("annual cap {}: {} paid so far, room {} → hifp limited to {}", cap.0, st.cap_paid, room, room),
                inp.cap_source.clone().unwrap_or_else(|| inp.source.clone()),
            )
            .value("cap", cap.0)
            .value("cap_paid_before", st.cap_paid)
            .value("room", room.exact().normalize())
            .value("hifp_before_cap", hifp.shown())
            .value("hifp_exact", room.exact().normalize())
            .param("inpatient.cap")
            .param("inpatient.cap_basis")
        });
        room.fixed()
    } else {
        hifp
    }
}

/// D-10 eligible-cost reading: the paying part of the segment must lie below the cap.
fn cap_clip(ctx: &Ctx, pay: Span) -> Span {
    match &ctx.policy.inpatient {
        Some(inp) if inp.cap_basis == CapBasis::EligibleCost => match inp.cap {
            Some(cap) => pay.below(cap.0),
            None => pay,
        },
        _ => pay,
    }
}

/// 住院 / 生育住院 (RULES.md §4.1, §8.1, D-09, D-11, D-22, S-03, S-04, S-05).
fn inpatient<'a>(ctx: &Ctx<'a>, st: &mut YearState, c: &mut Contribution, t: &mut Tracer) -> BasicPay {
    let inscp = ctx.claim.inscp_scp_amt;
    let (adm, ded) = admission_deductible(ctx, st, true, t);
    let seg = Span::at(st.inpatient_axis, inscp);
    let pay = cap_clip(ctx, Span::new(seg.lo + ded, seg.hi));
    let (mut hifp, hifob) = inpatient_brackets(ctx, pay, t);
    // D-11: a maternity admission is topped up to the floor share of inscp (no out-of-area
    // points off the floor, S-17).
    if ctx.benefit == Benefit::Maternity
        && let Some((floor, source)) =
            ctx.policy.maternity.as_ref().and_then(|m| m.floor_rate.map(|r| (Fraction::of(r.0), m.source.clone())))
        && hifp < inscp.share(floor)
    {
        let min = inscp.share(floor);
        t.detail("basic", || {
            Detail::new(
                format!("maternity top-up: {} < {} × {} → hifp = {}", hifp.shown(), pct(floor), inscp, min.to_decimal().normalize()),
                source,
            )
            .value("hifp_before", hifp.shown())
            .value("inscp_scp_amt", inscp)
            .value("floor_rate", floor.to_decimal().normalize())
            .value("hifp_exact", min.to_decimal().normalize())
            .param("maternity.floor_rate")
        });
        hifp = min;
    }
    let hifp = apply_cap(ctx, st, hifp, t);
    let (hifp, hifob) = (ctx.round(hifp), ctx.round(hifob));
    c.inpatient_axis = inscp;
    c.cap_paid = hifp;
    c.admission = Some((adm, ded, true));
    BasicPay { hifp, hifob, act_pay_dedc: ded }
}

/// 门诊特殊病 (RULES.md §4.4, §8.1, D-14, D-15, S-01, S-06, S-15).
fn special<'a>(ctx: &Ctx<'a>, st: &mut YearState, c: &mut Contribution, t: &mut Tracer) -> BasicPay {
    let (Some(sp), Some(d)) = (&ctx.policy.special, ctx.claim.disease) else { return BasicPay::default() };
    let Some(rule) = sp.diseases.get(&d) else { return BasicPay::default() };
    // D-30: college students take another group's special-disease rates (2024/2025: adults').
    let ctx = &match sp.student_group {
        Some(g) if ctx.person.psn_type == crate::model::PsnType::Student => Ctx { group: g, ..*ctx },
        _ => *ctx,
    };
    let inscp = ctx.claim.inscp_scp_amt;
    let source = rule.source.clone().unwrap_or_else(|| sp.source.clone());
    let mut ded = Money::ZERO;
    if sp.deductible {
        let (adm, charged) = admission_deductible(ctx, st, false, t);
        ded = charged;
        c.admission = Some((adm, charged, false));
    }
    let seg = Span::at(st.inpatient_axis, inscp);
    let pay = cap_clip(ctx, Span::new(seg.lo + ded, seg.hi));
    // The (part, rate) pieces of the paying segment, for the overflow quotient (S-29).
    let pieces = || -> Vec<(Money, Fraction)> {
        match rule.rate {
            SpecialRate::Inpatient => match &ctx.policy.inpatient {
                Some(inp) => inp
                    .bands
                    .iter()
                    .zip(split(pay, inp.bands.iter().map(|b| b.upto.map(|a| a.0))))
                    .map(|(b, part)| (part.len(), ctx.adjusted(ctx.inpatient_rate(b))))
                    .collect(),
                None => Vec::new(),
            },
            SpecialRate::Fixed(r) => vec![(pay.len(), ctx.adjusted(r))],
        }
    };
    let (mut hifp, mut hifob) = match rule.rate {
        SpecialRate::Inpatient => inpatient_brackets(ctx, pay, t),
        SpecialRate::Fixed(r) => {
            let rate = ctx.adjusted(r);
            let x = pay.len().share(rate);
            t.detail("basic", || {
                let dt = Detail::new(format!("{} ({}) × {} = {}", pay.len(), d, pct(rate), x.shown()), source.clone())
                    .value("cumulative_from", pay.lo)
                    .value("cumulative_to", pay.hi)
                    .value("amount", pay.len());
                ctx.rate_detail(dt, rate, format!("special.diseases.{d}.rate")).value("hifp_exact", x.shown())
            });
            (x, Fixed::ZERO)
        }
    };
    let mut overflow = Money::ZERO;
    // S-06: the transplant limit is the first-year one until a year after the surgery.
    let limit = match (rule.first_year_limit, ctx.person.transplant_date) {
        (Some(first), Some(td)) if ctx.claim.setl_time < time::add_years(td, 1) as i64 * 86400 => Some(first.0),
        _ => rule.limit.map(|a| a.0),
    };
    let mut room_after_hifp = None;
    if let Some(limit) = limit {
        let room = (limit - st.special_paid[d.index()]).max0();
        // Payment runs up the axis: the lower (hifp) brackets use the room first (S-15).
        if hifp + hifob > room.fixed() {
            let first_year = rule.first_year_limit.is_some_and(|f| f.0 == limit) && ctx.person.transplant_date.is_some();
            t.detail("basic", || {
                Detail::new(format!("{d} annual limit {limit}: {} paid so far, room {room}", st.special_paid[d.index()]), source.clone())
                    .value("limit", limit)
                    .value("paid_before", st.special_paid[d.index()])
                    .value("room", room)
                    .value("funds_before_limit", (hifp + hifob).shown())
                    .param(format!("special.diseases.{d}.{}", if first_year { "first_year_limit" } else { "limit" }))
            });
        }
        if sp.fall_through && hifp + hifob > room.fixed() {
            // S-29: the cost the limit leaves unpaid, from the exact quotient room ÷ rate.
            overflow = uncovered(pay.len(), &pieces(), room.fixed(), ctx.policy.rounding.mode).max0();
        }
        hifp = hifp.min(room.fixed());
        hifob = hifob.min(room.fixed() - hifp);
        room_after_hifp = Some(room);
    }
    let hifp_exact = apply_cap(ctx, st, hifp, t);
    let sp_hifp = ctx.round(hifp_exact);
    let mut sp_hifob = ctx.round(hifob);
    if let Some(room) = room_after_hifp {
        // S-01: one limit over two funds.
        sp_hifob = sp_hifob.min((room - sp_hifp).max0());
    }
    c.inpatient_axis = inscp;
    c.cap_paid = sp_hifp;
    c.special = Some((d, sp_hifp + sp_hifob));
    if overflow.is_positive() {
        let (p, o, dedc) = fall_through(ctx, st, overflow, c, "special-disease limit", "RULES.md D-26, S-29", t);
        // S-01: each fund rounded once on the claim.
        return BasicPay { hifp: ctx.round(hifp_exact + p), hifob: ctx.round(hifob + o), act_pay_dedc: ded + dedc };
    }
    BasicPay { hifp: sp_hifp, hifob: sp_hifob, act_pay_dedc: ded }
}

/// S-14 / S-29: the part of `total` (a paying segment whose `pieces` of cost at a rate lie in
/// axis order) whose payment does not fit in `room`, rounded once: the cost beyond the pieces
/// paid in full and the exact quotient room left ÷ rate of the first that does not fit.
pub(crate) fn uncovered(total: Money, pieces: &[(Money, Fraction)], room: Fixed, mode: RoundingMode) -> Money {
    let mut left = room;
    let mut covered = Money::ZERO;
    for &(len, rate) in pieces {
        let pay = len.share(rate);
        if pay <= left {
            covered += len;
            left -= pay;
        } else {
            // total − covered − left ÷ rate = ((total − covered) × rate − left) ÷ rate; pay > left
            // ≥ 0 here, so the rate is not 0.
            return ((total - covered).share(rate) - left).per(rate, mode);
        }
    }
    total - covered
}

/// S-14 / S-29: `overflow` in-scope cost of a chronic or special claim settles as general
/// outpatient on the same claim (deductible, ceiling, large-amount band); returns exact
/// (hifp, hifob) and the deductible part, and moves the outpatient axis.
fn fall_through(
    ctx: &Ctx,
    st: &YearState,
    overflow: Money,
    c: &mut Contribution,
    what: &str,
    source: &str,
    t: &mut Tracer,
) -> (Fixed, Fixed, Money) {
    t.detail("basic", || {
        Detail::new(format!("{overflow} beyond the {what} falls through to general outpatient"), source.to_string())
            .value("overflow", overflow)
            .param(if what.starts_with("chronic") { "chronic.fall_through" } else { "special.fall_through" })
    });
    if ctx.policy.outpatient.is_none() {
        return (Fixed::ZERO, Fixed::ZERO, Money::ZERO);
    }
    c.outpatient_axis = overflow;
    outpatient_scale(ctx, st, overflow, ctx.column(), false, t)
}

/// The general-outpatient scale on a segment of `amount` at the current outpatient axis
/// (RULES.md §4.2, §8.2, S-12, S-13, S-15, S-16). Returns exact (hifp, hifob) and the
/// deductible part.
fn outpatient_scale(ctx: &Ctx, st: &YearState, amount: Money, column: Column, pharmacy: bool, t: &mut Tracer) -> (Fixed, Fixed, Money) {
    let Some(op) = &ctx.policy.outpatient else { return (Fixed::ZERO, Fixed::ZERO, Money::ZERO) };
    let Some(bands) = op.bands.get(ctx.group) else { return (Fixed::ZERO, Fixed::ZERO, Money::ZERO) };
    let seg = Span::at(st.outpatient_axis, amount);
    // S-13: the head of the claim that lies within the year's first N of pharmacy cost.
    let pharmacy_head = |b: &OutpatientBand| -> Option<Span> {
        let limit = b.pharmacy_cost_limit?;
        if !pharmacy {
            return None;
        }
        let q = (limit.0 - st.pharmacy_axis).max0().min(amount);
        Some(Span::at(seg.lo, q))
    };
    // S-12: unreferred general outpatient (2026) is paid only below the counted ceiling.
    let counted_upto = match ctx.claim.offsite {
        Offsite::Unreferred => ctx.policy.offsite.as_ref().and_then(|o| o.unreferred_outpatient_counted_upto.map(|a| a.0)),
        _ => None,
    };
    let (mut hifp, mut hifob, mut dedc) = (Fixed::ZERO, Fixed::ZERO, Money::ZERO);
    // Parameter names are spelled out only when a trace is kept.
    let table = || format!("outpatient.bands.{}", op.bands.key(ctx.group));
    for (i, (band, part)) in bands.iter().zip(split(seg, bands.iter().map(|b| b.upto.map(|a| a.0)))).enumerate() {
        if part.is_empty() {
            continue;
        }
        let band_detail = |text: String| {
            Detail::new(text, band.source.clone().unwrap_or_else(|| op.source.clone()))
                .value("cumulative_from", part.lo)
                .value("cumulative_to", part.hi)
                .value("amount", part.len())
                .param(format!("{}[{i}].upto", table()))
        };
        if band.deductible {
            dedc += part.len();
            t.detail("basic", || {
                band_detail(format!(
                    "{} in the outpatient deductible band (up to {})",
                    part.len(),
                    band.upto.map(|a| a.0).unwrap_or(Money::MAX)
                ))
                .value("act_pay_dedc", part.len())
                .param(format!("{}[{i}].deductible", table()))
            });
            continue;
        }
        let mut paid = part;
        if let Some(head) = pharmacy_head(band) {
            paid = paid.intersect(head);
        }
        if let Some(upto) = counted_upto {
            paid = paid.below(upto);
        }
        let rate = ctx.adjusted(band.rate_for(column));
        let x = paid.len().share(rate);
        // the band's own column rate, else its one rate
        let column_key = match column {
            Column::Primary if band.primary.is_some() => "primary",
            Column::Level2 if band.level2.is_some() => "level2",
            Column::Level3 if band.level3.is_some() => "level3",
            Column::Pharmacy if band.pharmacy.is_some() => "pharmacy",
            _ => "rate",
        };
        let rate_key = || format!("{}[{i}].{column_key}", table());
        if x.is_zero() && paid.len() == part.len() && rate.is_zero() {
            t.detail("basic", || {
                let d = band_detail(format!("{} on the cumulative outpatient cost ({}, {}] pays nothing", part.len(), part.lo, part.hi));
                ctx.rate_detail(d, rate, rate_key()).value("hifp_exact", "0")
            });
            continue;
        }
        match band.fund {
            Fund::Hifp => hifp += x,
            Fund::Hifob => hifob += x,
        }
        t.detail("basic", || {
            let d = band_detail(format!(
                "{} of {} on the cumulative outpatient cost ({}, {}] × {} ({:?} column) = {}",
                paid.len(),
                part.len(),
                part.lo,
                part.hi,
                pct(rate),
                column,
                x.shown()
            ))
            .value("paid_part", paid.len());
            let d = match (pharmacy_head(band), band.pharmacy_cost_limit) {
                (Some(_), Some(l)) => d.value("pharmacy_cost_limit", l.0).param(format!("{}[{i}].pharmacy_cost_limit", table())),
                _ => d,
            };
            let d = match counted_upto {
                Some(u) => d.value("counted_upto", u).param("offsite.unreferred_outpatient_counted_upto"),
                None => d,
            };
            let fund = match band.fund {
                Fund::Hifp => "hifp_exact",
                Fund::Hifob => "hifob_exact",
            };
            ctx.rate_detail(d, rate, rate_key()).value(fund, x.shown())
        });
    }
    (hifp, hifob, dedc)
}

/// 普通门诊 and 药店购药.
fn outpatient(ctx: &Ctx, st: &YearState, c: &mut Contribution, t: &mut Tracer) -> BasicPay {
    let inscp = ctx.claim.inscp_scp_amt;
    let pharmacy = ctx.benefit == Benefit::Pharmacy;
    let (hifp, hifob, dedc) = outpatient_scale(ctx, st, inscp, ctx.column(), pharmacy, t);
    c.outpatient_axis = inscp;
    if pharmacy {
        c.pharmacy_axis = inscp;
    }
    BasicPay { hifp: ctx.round(hifp), hifob: ctx.round(hifob), act_pay_dedc: dedc }
}

/// 门诊慢性病 (RULES.md §4.3, §8.2, D-13, D-23, S-07, S-14).
fn chronic(ctx: &Ctx, st: &YearState, c: &mut Contribution, t: &mut Tracer) -> BasicPay {
    let Some(ch) = &ctx.policy.chronic else { return BasicPay::default() };
    let inscp = ctx.claim.inscp_scp_amt;
    let rates = ch.rates.get(ctx.group);
    let base_rate = rates.map(|r| if ctx.claim.primary_care() { r.primary.0 } else { r.other.0 }).unwrap_or(Rate::ZERO);
    let rate = ctx.adjusted(base_rate);
    // The annual limit by the person's approved diseases (tumour rows where the policy has them).
    let approved: DiseaseSet = ctx.person.chronic_diseases.iter().filter(|d| ch.diseases.contains(d)).collect();
    let tumour = approved.contains(Disease::MalignantTumor);
    let limit = ch.limits.get(ctx.group).map(|l| match (tumour, l.tumour, l.tumour_plus) {
        (true, Some(alone), _) if approved.len() == 1 => alone.0,
        (true, _, Some(plus)) if approved.len() > 1 => plus.0,
        _ if approved.len() <= 1 => l.one.0,
        _ => l.two_or_more.0,
    });
    let limit = limit.unwrap_or(Money::ZERO);
    let room = (limit - st.chronic_used).max0();
    // Exact chronic payment and the in-scope cost the limit does not cover (S-14: from the
    // exact quotient, so no cent lost to rounding falls through).
    let (exact, beyond) = match ch.limit_basis {
        LimitBasis::EligibleCost => {
            let counted = inscp.min(room).max0();
            c.chronic_used = counted;
            (counted.share(rate), inscp - counted)
        }
        LimitBasis::FundPaid => {
            let exact = inscp.share(rate).min(room.fixed());
            c.chronic_used = ctx.round(exact);
            (exact, uncovered(inscp, &[(inscp, rate)], room.fixed(), ctx.policy.rounding.mode))
        }
    };
    let hifp = ctx.round(exact);
    t.detail("basic", || {
        let limit_key = match ch.limits.get(ctx.group) {
            Some(l) if tumour && approved.len() == 1 && l.tumour.is_some() => "tumour",
            Some(l) if tumour && approved.len() > 1 && l.tumour_plus.is_some() => "tumour_plus",
            _ if approved.len() <= 1 => "one",
            _ => "two_or_more",
        };
        let d = Detail::new(
            format!(
                "chronic ({} approved disease(s){}): limit {} on {:?}, {} used so far; {} × {} → hifp {}",
                approved.len(),
                if tumour { ", malignant tumour" } else { "" },
                limit,
                ch.limit_basis,
                st.chronic_used,
                inscp,
                pct(rate),
                hifp
            ),
            ch.source.clone(),
        )
        .value("approved_diseases", approved.len())
        .value("limit", limit)
        .value("used_before", st.chronic_used)
        .value("room", room)
        .value("inscp_scp_amt", inscp)
        .param(format!("chronic.limits.{}.{limit_key}", ch.limits.key(ctx.group)))
        .param("chronic.limit_basis");
        let rate_key = format!("chronic.rates.{}.{}", ch.rates.key(ctx.group), if ctx.claim.primary_care() { "primary" } else { "other" });
        ctx.rate_detail(d, rate, rate_key).value("hifp_exact", exact.shown()).value("hifp_pay", hifp)
    });
    // S-14: cost beyond the exhausted limit settles as general outpatient on the same claim;
    // each fund is rounded once on the claim (S-01).
    let overflow = if ch.fall_through { beyond.max0() } else { Money::ZERO };
    if overflow.is_positive() {
        let (p, o, dedc) = fall_through(ctx, st, overflow, c, "chronic limit", "RULES.md D-23, S-14", t);
        return BasicPay { hifp: ctx.round(exact + p), hifob: ctx.round(o), act_pay_dedc: dedc };
    }
    BasicPay { hifp, hifob: Money::ZERO, act_pay_dedc: Money::ZERO }
}

/// The drug rate of a med_type 15 claim after out-of-area points (RULES.md §4.5, §8.2, S-17).
fn drug_rate(ctx: &Ctx) -> Fraction {
    let Some(dr) = &ctx.policy.drugs else { return Fraction::ZERO };
    ctx.adjusted(if ctx.benefit == Benefit::RareDrug { dr.rare.0 } else { dr.dual_channel.0 })
}

/// S-27: the in-catalogue personal share a drug claim leaves after the basic fund
/// (`preselfpay + inscp − hifp`), the most `rare_fund_pay` may be. Outside the cap (D-16) the
/// drug payment depends on no accumulator; inside it, this is the share before the cap (the
/// cap can only raise it).
pub fn drug_share(ctx: &Ctx) -> Money {
    let hifp = ctx.round(ctx.claim.inscp_scp_amt.share(drug_rate(ctx)));
    ctx.claim.preselfpay_amt + ctx.claim.inscp_scp_amt - hifp
}

/// 双通道 / 单独支付 / 特定病 and 罕见病药品 (RULES.md §4.5, §8.2, D-16).
fn drugs(ctx: &Ctx, st: &YearState, c: &mut Contribution, t: &mut Tracer) -> BasicPay {
    let Some(dr) = &ctx.policy.drugs else { return BasicPay::default() };
    let inscp = ctx.claim.inscp_scp_amt;
    let rate = drug_rate(ctx);
    let mut hifp = inscp.share(rate);
    t.detail("basic", || {
        let d = Detail::new(format!("{} × {} = {}", inscp, pct(rate), hifp.shown()), dr.source.clone()).value("inscp_scp_amt", inscp);
        let key = if ctx.benefit == Benefit::RareDrug { "drugs.rare" } else { "drugs.dual_channel" };
        ctx.rate_detail(d, rate, key.into()).value("hifp_exact", hifp.shown()).param("drugs.inside_cap")
    });
    if ctx.drugs_inside_cap() {
        hifp = apply_cap(ctx, st, hifp, t);
        c.inpatient_axis = inscp;
    }
    let hifp = ctx.round(hifp);
    if ctx.drugs_inside_cap() {
        c.cap_paid = hifp;
    }
    BasicPay { hifp, hifob: Money::ZERO, act_pay_dedc: Money::ZERO }
}

/// 苯丙酮尿症 (RULES.md §4.6, D-17, S-09).
fn pku(ctx: &Ctx, st: &YearState, c: &mut Contribution, t: &mut Tracer) -> BasicPay {
    let Some(p) = &ctx.policy.pku else { return BasicPay::default() };
    let age = ctx.person.age_in(ctx.year);
    let Some((bi, band)) = p.bands.iter().enumerate().find(|(_, b)| b.max_age.is_none_or(|m| age <= m)) else { return BasicPay::default() };
    let rate = ctx.adjusted(band.rate.0);
    let room = (band.limit.0 - st.pku_paid).max0();
    let x = ctx.claim.inscp_scp_amt.share(rate);
    // S-09: 2024/2025 limit eligible cost (医疗费用支付限额), 2026 the fund payment.
    let (hifp, used) = match p.limit_basis {
        LimitBasis::EligibleCost => {
            let counted = ctx.claim.inscp_scp_amt.min(room).max0();
            (ctx.round(counted.share(rate)), counted)
        }
        LimitBasis::FundPaid => {
            let hifp = ctx.round(x.min(room.fixed()));
            (hifp, hifp)
        }
    };
    t.detail("basic", || {
        let d = Detail::new(
            format!(
                "PKU age {age}: {} × {} = {}, annual limit {} ({:?}) with {} used → {}",
                ctx.claim.inscp_scp_amt,
                pct(rate),
                x.shown(),
                band.limit.0,
                p.limit_basis,
                st.pku_paid,
                hifp
            ),
            p.source.clone(),
        )
        .value("age", age)
        .value("inscp_scp_amt", ctx.claim.inscp_scp_amt)
        .value("limit", band.limit.0)
        .value("used_before", st.pku_paid)
        .value("room", room)
        .param(format!("pku.bands[{bi}].limit"))
        .param("pku.limit_basis");
        ctx.rate_detail(d, rate, format!("pku.bands[{bi}].rate")).value("hifp_exact", x.shown()).value("hifp_pay", hifp)
    });
    c.pku_paid = used;
    BasicPay { hifp, hifob: Money::ZERO, act_pay_dedc: Money::ZERO }
}

/// Layer 1 and 2 for one covered claim.
pub fn settle<'a>(ctx: &Ctx<'a>, st: &mut YearState, c: &mut Contribution, t: &mut Tracer) -> BasicPay {
    if ctx.claim.offsite != Offsite::Local {
        t.detail("basic", || {
            let d = Detail::new(
                format!(
                    "out of area ({}): {} points off every basic rate ({} rules)",
                    ctx.claim.offsite,
                    ctx.points().percent(),
                    offsite_class(ctx.benefit)
                ),
                ctx.policy.offsite.as_ref().map(|o| o.source.clone()).unwrap_or_default(),
            )
            .value("offsite_points", ctx.points().to_decimal().normalize());
            match ctx.points_key() {
                Some(k) => d.param(k),
                None => d,
            }
        });
    }
    match ctx.benefit {
        Benefit::Inpatient | Benefit::Maternity => inpatient(ctx, st, c, t),
        Benefit::Special => special(ctx, st, c, t),
        Benefit::Outpatient | Benefit::Pharmacy => outpatient(ctx, st, c, t),
        Benefit::Chronic => chronic(ctx, st, c, t),
        Benefit::DualChannel | Benefit::RareDrug => drugs(ctx, st, c, t),
        Benefit::Pku => pku(ctx, st, c, t),
        Benefit::None => BasicPay::default(),
    }
}
