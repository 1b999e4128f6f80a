//! Layer 3: 大病保险 (catastrophic insurance), RULES.md §6, D-03, D-04, D-05, D-20, S-20.

use super::bands::{Span, split};
use super::basic::Ctx;
use super::state::{Contribution, YearState};
use super::trace::{Detail, Tracer};
use crate::model::money::{Fixed, Fraction};
use crate::model::{Assistance, Money, Person};
use crate::policy::{Bracket, Catastrophic, Policy, PoorCap};

/// D-04: anyone with medical assistance counts as 困难群众 for the catastrophic insurance.
pub fn poor(person: &Person) -> bool {
    person.assistance != Assistance::None
}

/// The catastrophic brackets that apply to `person`: the poor-person table, or the general
/// one (D-04).
pub fn brackets_of<'a>(cat: &'a Catastrophic, person: &Person) -> &'a [Bracket] {
    if poor(person) { &cat.poor } else { &cat.general }
}

/// S-20: the person-year's catastrophic cap (with the 2026 incentives); `None` = no cap.
pub fn cap_of(policy: &Policy, person: &Person) -> Option<Money> {
    let cat = policy.catastrophic.as_ref()?;
    cat.cap?;
    if poor(person) && cat.poor_cap == PoorCap::None {
        return None;
    }
    let (cap, zero, loyalty) = cap_parts(policy, person);
    Some(cap + zero + loyalty)
}

/// S-20: (cap, zero-claim incentive, loyalty incentive) of a person-year; zeros without a cap.
pub fn cap_parts(policy: &Policy, person: &Person) -> (Money, Money, Money) {
    let Some(cat) = policy.catastrophic.as_ref() else { return (Money::ZERO, Money::ZERO, Money::ZERO) };
    let cap = cat.cap.map(|c| c.0).unwrap_or(Money::ZERO);
    let zero = if person.prior_zero_claim { cat.zero_claim_bonus.map(|a| a.0).unwrap_or(Money::ZERO) } else { Money::ZERO };
    let years = u32::from(person.consecutive_years).saturating_sub(cat.loyalty_after_years) as i64;
    let loyalty = cat.loyalty_bonus.map(|a| Money::from_fen(a.0.fen() * years)).unwrap_or(Money::ZERO);
    (cap, zero, loyalty)
}

/// hifmi of one claim after the basic funds (`hifp + hifob`).
pub fn settle(ctx: &Ctx, st: &YearState, paid_before: Money, c: &mut Contribution, t: &mut Tracer) -> Money {
    let Some(cat) = &ctx.policy.catastrophic else { return Money::ZERO };
    if !cat.benefits.contains(&ctx.benefit) {
        return Money::ZERO;
    }
    // D-03: the in-catalogue burden left after the earlier layers.
    let base = (ctx.claim.in_catalogue() - paid_before - ctx.rare_fund_pay).max0();
    let is_poor = poor(ctx.person);
    let table = brackets_of(cat, ctx.person);
    let seg = Span::at(st.cat_base, base);
    let mut exact = Fixed::ZERO;
    // (piece start, piece end on the cumulative base, rate, exact amount) for explain
    let mut pieces: Vec<(Money, Option<Money>, Fraction, Fixed)> = Vec::new();
    for (b, part) in table.iter().zip(split(seg, table.iter().map(|b| b.upto.map(|a| a.0)))) {
        if !part.is_empty() {
            let rate = Fraction::of(b.rate.0);
            let piece = part.len().share(rate);
            exact += piece;
            if t.enabled() {
                pieces.push((part.lo, Some(part.hi), rate, piece));
            }
        }
    }
    let cap = cap_of(ctx.policy, ctx.person);
    if let Some(cap) = cap {
        exact = exact.min((cap - st.cat_paid).max0().fixed());
    }
    let hifmi = exact.round(ctx.policy.rounding.mode);
    t.detail("catastrophic", || {
        let band = |lo: Money, hi: Option<Money>| hi.map(|h| format!("({lo}, {h}]")).unwrap_or_else(|| format!("above {lo}"));
        let shown: Vec<String> = pieces
            .iter()
            .map(|(lo, hi, rate, piece)| {
                format!("band {} at {}%: {}", band(*lo, *hi), rate.percent(), piece.shown())
            })
            .collect();
        let cap_text = match cap {
            Some(c) => {
                let (base_cap, zero, loyalty) = cap_parts(ctx.policy, ctx.person);
                format!(
                    "; annual cap {c} = {base_cap} + zero-claim incentive {zero} + loyalty incentive {loyalty} ({} consecutive years), {} paid so far",
                    ctx.person.consecutive_years, st.cat_paid
                )
            }
            None => "; no annual cap".into(),
        };
        let mut d = Detail::new(
            format!(
                "base {} (in catalogue {} − basic {}) on the cumulative base ({}, {}] by the {} table: {}{} → hifmi {}",
                base,
                ctx.claim.in_catalogue(),
                paid_before,
                seg.lo,
                seg.hi,
                if is_poor { "困难群众" } else { "general" },
                if shown.is_empty() { "no band pays".to_string() } else { shown.join("; ") },
                cap_text,
                hifmi
            ),
            cat.source.clone(),
        )
        .value("base", base)
        .value("cumulative_from", seg.lo)
        .value("cumulative_to", seg.hi)
        .param(if is_poor { "catastrophic.poor" } else { "catastrophic.general" })
        .param("catastrophic.benefits");
        for (i, (lo, hi, rate, piece)) in pieces.iter().enumerate() {
            d = d
                .value(format!("band.{i}.from"), lo)
                .value(format!("band.{i}.to"), hi.map(|h| h.to_string()).unwrap_or_default())
                .value(format!("band.{i}.rate"), rate.to_decimal().normalize())
                .value(format!("band.{i}.amount"), piece.shown());
        }
        if let Some(c) = cap {
            let (base_cap, zero, loyalty) = cap_parts(ctx.policy, ctx.person);
            d = d
                .value("cap", c)
                .value("cap.base", base_cap)
                .value("cap.zero_claim_incentive", zero)
                .value("cap.loyalty_incentive", loyalty)
                .value("cap.paid_before", st.cat_paid)
                .param("catastrophic.cap")
                .param("catastrophic.zero_claim_bonus")
                .param("catastrophic.loyalty_bonus");
        }
        d.value("hifmi_pay", hifmi)
    });
    c.cat_base = base;
    c.cat_paid = hifmi;
    hifmi
}
