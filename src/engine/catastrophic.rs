//! Layer 3: 大病保险 (catastrophic insurance), RULES.md §6, D-03, D-04, D-05, D-20, S-20.

use super::bands::{Span, split};
use super::basic::Ctx;
use super::state::{Contribution, YearState};
use super::trace::Tracer;
use crate::model::{Assistance, Money};
use crate::policy::PoorCap;
use rust_decimal::Decimal;

/// S-20: the person-year's catastrophic cap (with the 2026 incentives); `None` = no cap.
pub fn cap_of(ctx: &Ctx) -> Option<Money> {
    let cat = ctx.policy.catastrophic.as_ref()?;
    let cap = cat.cap?.0;
    if ctx.person.assistance != Assistance::None && cat.poor_cap == PoorCap::None {
        return None;
    }
    let zero = if ctx.person.prior_zero_claim { cat.zero_claim_bonus.map(|a| a.0).unwrap_or(Money::ZERO) } else { Money::ZERO };
    let years = ctx.person.consecutive_years.saturating_sub(cat.loyalty_after_years) as i64;
    let loyalty = cat.loyalty_bonus.map(|a| Money::from_fen(a.0.fen() * years)).unwrap_or(Money::ZERO);
    Some(cap + zero + loyalty)
}

/// hifmi of one claim after the basic funds (`hifp + hifob`).
pub fn settle(ctx: &Ctx, st: &YearState, paid_before: Money, c: &mut Contribution, t: &mut Tracer) -> Money {
    let Some(cat) = &ctx.policy.catastrophic else { return Money::ZERO };
    if !cat.benefits.contains(&ctx.benefit) {
        return Money::ZERO;
    }
    // D-03: the in-catalogue burden left after the earlier layers.
    let base = (ctx.claim.in_catalogue() - paid_before - ctx.claim.rare_fund_pay).max0();
    let poor = ctx.person.assistance != Assistance::None;
    let table = if poor { &cat.poor } else { &cat.general };
    let seg = Span::at(st.cat_base, base);
    let mut exact = Decimal::ZERO;
    for (b, part) in table.iter().zip(split(seg, table.iter().map(|b| b.upto.map(|a| a.0)))) {
        if !part.is_empty() {
            exact += part.len().times(b.rate.0);
        }
    }
    let cap = cap_of(ctx);
    if let Some(cap) = cap {
        exact = exact.min((cap - st.cat_paid).max0().exact());
    }
    let hifmi = ctx.policy.rounding.mode.round(exact);
    t.step("catastrophic", || {
        (
            format!(
                "base {} (in catalogue {} − basic {}) on the cumulative base ({}, {}] by the {} table{} → hifmi {}",
                base,
                ctx.claim.in_catalogue(),
                paid_before,
                seg.lo,
                seg.hi,
                if poor { "困难群众" } else { "general" },
                cap.map(|c| format!(", cap {c} with {} paid", st.cat_paid)).unwrap_or_else(|| ", no cap".into()),
                hifmi
            ),
            cat.source.clone(),
        )
    });
    c.cat_base = base;
    c.cat_paid = hifmi;
    hifmi
}
