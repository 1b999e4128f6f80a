//! The kernel's fixed-point money against the exact decimals it replaced (`rust_decimal`, the
//! reference): every rate product, cap, limit and quotient the layers compute, over random
//! amounts (negative ones for reversals), rates of every precision a policy can hold (0 to
//! `RATE_DECIMALS` decimals) and both rounding modes, must give the same fen (D-01, S-01).

use super::basic::uncovered;
use crate::model::money::{Fixed, Fraction, RATE_DECIMALS};
use crate::model::{Money, RoundingMode};
use proptest::prelude::*;
use rust_decimal::Decimal;

/// The decimal reference of [`uncovered`]'s covered part, as the kernel computed it before
/// (S-14 / S-29): pieces paid in full, then room left ÷ rate (a 28-digit decimal quotient).
fn covered_cost_reference(pieces: &[(Money, Decimal)], room: Decimal) -> Decimal {
    let mut left = room;
    let mut covered = Decimal::ZERO;
    for &(len, rate) in pieces {
        let pay = len.times(rate);
        if pay <= left {
            covered += len.exact();
            left -= pay;
        } else {
            return covered + left / rate;
        }
    }
    covered
}

fn fx(r: Decimal) -> Fraction {
    Fraction::from_decimal(r).expect("the strategy makes rates of at most RATE_DECIMALS decimals")
}

/// Amounts up to 10¹² fen (10 billion yuan) either side of zero, small ones more often.
fn fen() -> impl Strategy<Value = Money> {
    prop_oneof![-1_000_000_000_000i64..=1_000_000_000_000, -100_000i64..=100_000, -200i64..=200].prop_map(Money::from_fen)
}

fn room() -> impl Strategy<Value = Money> {
    prop_oneof![0i64..=1_000_000_000_000, 0i64..=100_000].prop_map(Money::from_fen)
}

/// A policy rate in [0, 1] with 0 to 9 decimals, and the rates that make half-fen products.
fn rate() -> impl Strategy<Value = Decimal> {
    prop_oneof![
        (0u32..=RATE_DECIMALS).prop_flat_map(|dp| (0i64..=10i64.pow(dp)).prop_map(move |m| Decimal::new(m, dp))),
        prop::sample::select(vec![
            Decimal::new(5, 1),
            Decimal::new(25, 2),
            Decimal::new(125, 3),
            Decimal::new(5, 3),
            Decimal::new(85, 2),
            Decimal::new(88, 3),
            Decimal::new(1, 0),
            Decimal::ZERO,
            Decimal::new(1, 9),
            Decimal::new(999_999_999, 9),
        ]),
    ]
}

fn mode() -> impl Strategy<Value = RoundingMode> {
    prop_oneof![Just(RoundingMode::HalfAwayFromZero), Just(RoundingMode::HalfEven)]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, .. ProptestConfig::default() })]

    /// One product, the S-17 rate after points, and what explain shows of them.
    #[test]
    fn a_product_is_the_decimal_product(
        m in prop_oneof![fen(), (-Money::MAX.fen()..=Money::MAX.fen()).prop_map(Money::from_fen)],
        r in rate(),
        points in rate(),
        mode in mode(),
    ) {
        prop_assert_eq!(fx(r).to_decimal(), r);
        let adjusted = (r - points).max(Decimal::ZERO);
        let f = Fraction::of(r).less(Fraction::of(points));
        prop_assert_eq!(f.to_decimal(), adjusted);
        prop_assert_eq!(f.percent().to_string(), (adjusted * Decimal::ONE_HUNDRED).normalize().to_string());
        let exact = m.times(adjusted);
        let fixed = m.share(f);
        prop_assert_eq!(fixed.to_decimal(), exact);
        prop_assert_eq!(fixed.round(mode), mode.round(exact));
        prop_assert_eq!(fixed.shown().to_string(), exact.round_dp(4).normalize().to_string());
        prop_assert_eq!(m.fixed().to_decimal(), m.exact());
    }

    /// A bracket table walked and limited by a cap's room (inpatient brackets with D-10,
    /// outpatient scale, catastrophic with its cap, tilted assistance, assistance limits).
    #[test]
    fn bands_under_a_cap_round_as_decimals(
        pieces in prop::collection::vec((fen(), rate()), 1..6),
        cap in room(),
        paid in fen(),
        mode in mode(),
    ) {
        let room = (cap - paid).max0();
        let (mut fixed, mut exact) = (Fixed::ZERO, Decimal::ZERO);
        for &(len, r) in &pieces {
            fixed += len.share(fx(r));
            exact += len.times(r);
        }
        prop_assert_eq!(fixed.to_decimal(), exact);
        prop_assert_eq!(fixed > room.fixed(), exact > room.exact());
        prop_assert_eq!(fixed.round(mode), mode.round(exact));
        prop_assert_eq!(fixed.min(room.fixed()).round(mode), mode.round(exact.min(room.exact())));
    }

    /// S-01 one limit over two funds (employee special diseases): the lower brackets (hifp)
    /// use the room first, then `hifob = min(round(hifob), room − round(hifp))`; and D-11, the
    /// maternity floor share of inscp.
    #[test]
    fn one_limit_over_two_funds_and_the_maternity_floor(
        (a, ra) in (fen(), rate()),
        (b, rb) in (fen(), rate()),
        limit in room(),
        inscp in fen(),
        floor in rate(),
        mode in mode(),
    ) {
        let (hifp, hifob) = (a.share(fx(ra)), b.share(fx(rb)));
        let (hifp_d, hifob_d) = (a.times(ra), b.times(rb));
        prop_assert_eq!(hifp + hifob > limit.fixed(), hifp_d + hifob_d > limit.exact());
        let hifp = hifp.min(limit.fixed());
        let hifob = hifob.min(limit.fixed() - hifp);
        let hifp_d = hifp_d.min(limit.exact());
        let hifob_d = hifob_d.min(limit.exact() - hifp_d);
        let (p, p_d) = (hifp.round(mode), mode.round(hifp_d));
        prop_assert_eq!(p, p_d);
        prop_assert_eq!(hifob.round(mode).min((limit - p).max0()), mode.round(hifob_d).min((limit - p_d).max0()));
        let (min, min_d) = (inscp.share(fx(floor)), inscp.times(floor));
        prop_assert_eq!(hifp < min, hifp_d < min_d);
        prop_assert_eq!(hifp.max(min).round(mode), mode.round(hifp_d.max(min_d)));
    }

    /// S-14 / S-29: the cost a chronic or special-disease limit leaves to fall through, from
    /// the exact quotient room ÷ rate, rounded once.
    #[test]
    fn the_fall_through_quotient_rounds_as_decimals(
        pieces in prop::collection::vec((fen(), rate()), 1..5),
        tail in room(),
        limit in room(),
        mode in mode(),
    ) {
        let total = pieces.iter().map(|p| p.0).sum::<Money>() + tail;
        let fixed: Vec<(Money, Fraction)> = pieces.iter().map(|&(len, r)| (len, fx(r))).collect();
        let reference = mode.round(total.exact() - covered_cost_reference(&pieces, limit.exact()));
        prop_assert_eq!(uncovered(total, &fixed, limit.fixed(), mode), reference);
    }
}

/// Worked quotients: room 0.01 at 40% covers 0.025 of cost (0.01 ÷ 0.4), so 0.10 of cost
/// leaves 0.075 → 0.08 half away from zero and half to even; 0.11 leaves 0.085 → 0.09 half
/// away from zero, 0.08 half to even. Nothing falls through when the payment fits the room.
#[test]
fn worked_fall_through_quotients() {
    let forty = fx(Decimal::new(4, 1));
    let (away, even) = (RoundingMode::HalfAwayFromZero, RoundingMode::HalfEven);
    let one_fen = Money::from_fen(1).fixed();
    assert_eq!(uncovered(Money::from_fen(10), &[(Money::from_fen(10), forty)], one_fen, away).fen(), 8);
    assert_eq!(uncovered(Money::from_fen(10), &[(Money::from_fen(10), forty)], one_fen, even).fen(), 8);
    assert_eq!(uncovered(Money::from_fen(11), &[(Money::from_fen(11), forty)], one_fen, away).fen(), 9);
    assert_eq!(uncovered(Money::from_fen(11), &[(Money::from_fen(11), forty)], one_fen, even).fen(), 8);
    // 1,000.00 at 40% pays 400.00 ≤ room 400.00: all covered
    let yuan = Money::from_yuan;
    assert_eq!(uncovered(yuan(1000), &[(yuan(1000), forty)], yuan(400).fixed(), away), Money::ZERO);
    // bands 500 at 90% (450) then 500 at 80%: room 600 covers 500 + 150 ÷ 0.8 = 687.50 → 312.50 left
    let pieces = [(yuan(500), fx(Decimal::new(9, 1))), (yuan(500), fx(Decimal::new(8, 1)))];
    assert_eq!(uncovered(yuan(1000), &pieces, yuan(600).fixed(), away).fen(), 31_250);
    // room 100 at 30%: 333.333… covered of 500.00 → 166.666… → 166.67
    assert_eq!(uncovered(yuan(500), &[(yuan(500), fx(Decimal::new(3, 1)))], yuan(100).fixed(), away).fen(), 16_667);
}

/// The precision a policy rate may have: nine decimals, trailing zeros aside.
#[test]
fn rates_beyond_nine_decimals_have_no_fixed_point_form() {
    assert_eq!(Fraction::from_decimal(Decimal::new(85, 2)).map(|f| f.to_decimal()), Some(Decimal::new(85, 2)));
    assert!(Fraction::from_decimal(Decimal::new(1, 9)).is_some());
    assert!(Fraction::from_decimal(Decimal::new(1, 10)).is_none());
    assert!(Fraction::from_decimal(Decimal::new(1_234_567_891, 10)).is_none());
    // 0.8500000000000 is 0.85
    assert_eq!(Fraction::from_decimal(Decimal::new(8_500_000_000_000, 13)), Some(fx(Decimal::new(85, 2))));
    // 12,345.67 × 85% = 10,493.8195 → 10,493.82 (half away from zero) in both
    let m = Money::from_fen(1_234_567);
    assert_eq!(m.share(fx(Decimal::new(85, 2))).round(RoundingMode::HalfAwayFromZero).fen(), 1_049_382);
    // −0.05 × 50% = −0.025 → −0.03 half away from zero, −0.02 half to even
    let m = Money::from_fen(-5);
    assert_eq!(m.share(fx(Decimal::new(5, 1))).round(RoundingMode::HalfAwayFromZero).fen(), -3);
    assert_eq!(m.share(fx(Decimal::new(5, 1))).round(RoundingMode::HalfEven).fen(), -2);
}
