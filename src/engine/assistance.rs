//! Layer 4: 医疗救助 (medical assistance) per claim, and layer 5: 倾斜救助 (tilted
//! assistance) at year end. RULES.md §7, D-03, S-18, S-19.

use super::bands::{Span, split};
use super::basic::Ctx;
use super::state::{Contribution, YearState};
use super::trace::{Detail, Tracer};
use crate::model::money::{Fixed, Fraction};
use crate::model::{Assistance, Benefit, Money, Person};
use crate::policy::Policy;

/// maf of one claim after basic, large-amount and catastrophic (`paid_before`).
pub fn settle(ctx: &Ctx, st: &YearState, paid_before: Money, c: &mut Contribution, t: &mut Tracer) -> Money {
    let Some(a) = &ctx.policy.assistance else { return Money::ZERO };
    let rate = Fraction::of(match ctx.person.assistance {
        Assistance::None => return Money::ZERO,
        // D-24 / S-27: resident 2024/2025 rare-disease drugs at 50% for both classes.
        _ if ctx.benefit == Benefit::RareDrug && a.rare_drug_rate.is_some() => a.rare_drug_rate.map(|r| r.0).unwrap_or_default(),
        Assistance::Destitute => a.destitute.0,
        Assistance::Other => a.other.0,
    });
    let Some(group) = a.limits.iter().position(|l| l.benefits.contains(&ctx.benefit)) else { return Money::ZERO };
    let limit = a.limits[group].limit.0;
    // S-27: what the provincial rare-disease drug fund paid is not the person's share.
    let base = (ctx.claim.in_catalogue() - paid_before - ctx.rare_fund_pay).max0();
    let room = (limit - st.assist_paid[group]).max0();
    let maf = base.share(rate).min(room.fixed()).round(ctx.policy.rounding.mode);
    t.detail("assistance", || {
        let rate_key = match ctx.person.assistance {
            _ if ctx.benefit == Benefit::RareDrug && a.rare_drug_rate.is_some() => "assistance.rare_drug_rate",
            Assistance::Destitute => "assistance.destitute",
            _ => "assistance.other",
        };
        Detail::new(
            format!(
                "base {base} × {}% ({}), {} limit {limit} with {} used → maf {maf}",
                rate.percent(),
                ctx.person.assistance,
                a.limits[group].name,
                st.assist_paid[group]
            ),
            a.source.clone(),
        )
        .value("in_catalogue", ctx.claim.in_catalogue())
        .value("paid_before", paid_before)
        .value("rare_fund_pay", ctx.rare_fund_pay)
        .value("base", base)
        .value("rate", rate.to_decimal().normalize())
        .value("limit", limit)
        .value("used_before", st.assist_paid[group])
        .value("room", room)
        .value("maf_pay", maf)
        .param(rate_key)
        .param(format!("assistance.limits[{group}].limit"))
        .param(format!("assistance.limits[{group}].benefits"))
    });
    c.assist = Some((group, maf));
    maf
}

/// S-19: tilted assistance of a person-year from its base, rounded once.
pub fn tilted(policy: &Policy, person: &Person, base: Money, t: &mut Tracer) -> Money {
    let Some(tl) = &policy.tilted else { return Money::ZERO };
    if person.assistance == Assistance::None || !base.is_positive() {
        return Money::ZERO;
    }
    let mut exact = Fixed::ZERO;
    // (bracket, part of the base in it, exact amount) for explain
    let mut pieces = Vec::new();
    for (i, (b, part)) in
        tl.brackets.iter().zip(split(Span::at(Money::ZERO, base), tl.brackets.iter().map(|b| b.upto.map(|a| a.0)))).enumerate()
    {
        let rate = Fraction::of(b.rate.0);
        let x = part.len().share(rate);
        exact += x;
        if t.enabled() && !part.is_empty() {
            pieces.push((i, part, rate, x));
        }
    }
    let tilt = exact.round(policy.rounding.mode);
    t.detail("year_end", || {
        let mut d =
            Detail::new(format!("tilted assistance on the year's in-scope self-pay {base} → maf_tilt_pay {tilt}"), tl.source.clone())
                .value("base", base);
        for (i, part, rate, x) in pieces {
            d = d
                .value(format!("bracket.{i}.from"), part.lo)
                .value(format!("bracket.{i}.to"), part.hi)
                .value(format!("bracket.{i}.rate"), rate.to_decimal().normalize())
                .value(format!("bracket.{i}.amount"), x.shown())
                .param(format!("tilted.brackets[{i}]"));
        }
        d.value("maf_tilt_pay", tilt).param("rounding.mode")
    });
    tilt
}

/// S-19: the part of a settled or reversal row that enters the tilted base: in-scope cost
/// less the funds and `oth_pay` (先行自付 is not 政策范围内 cost, 003 §四 note; 000 §五2).
pub fn tilt_part(st: &mut YearState, inscp: Money, funds: Money, oth_pay: Money) {
    st.tilt_base += inscp - funds - oth_pay;
}
