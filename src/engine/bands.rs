//! The one generic walk over a bracket table (OpenFisca-style scale): a claim occupies the
//! segment `[pos, pos + amount)` of a cumulative annual axis, and each bracket pays its rate on
//! the part of the segment inside it (RULES.md D-22, §4.2, §6, §7).

use crate::model::Money;

/// `[lo, hi)` on a cumulative axis (fen).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub lo: Money,
    pub hi: Money,
}

impl Span {
    pub fn new(lo: Money, hi: Money) -> Span {
        Span { lo, hi: hi.max(lo) }
    }
    pub fn at(pos: Money, amount: Money) -> Span {
        Span::new(pos, pos + amount.max0())
    }
    pub fn len(self) -> Money {
        self.hi - self.lo
    }
    pub fn is_empty(self) -> bool {
        self.hi <= self.lo
    }
    pub fn intersect(self, o: Span) -> Span {
        Span::new(self.lo.max(o.lo), self.hi.min(o.hi))
    }
    /// Everything below `limit`.
    pub fn below(self, limit: Money) -> Span {
        self.intersect(Span::new(Money::ZERO, limit))
    }
}

/// The bracket spans of a table given each bracket's upper bound (`None` = unbounded).
pub fn bracket_spans(uppers: impl Iterator<Item = Option<Money>>) -> impl Iterator<Item = Span> {
    let mut lo = Money::ZERO;
    uppers.map(move |u| {
        let s = Span::new(lo, u.unwrap_or(Money::MAX));
        lo = s.hi;
        s
    })
}

/// For each bracket, the part of `seg` inside it (possibly empty), in bracket order.
pub fn split(seg: Span, uppers: impl Iterator<Item = Option<Money>>) -> impl Iterator<Item = Span> {
    bracket_spans(uppers).map(move |b| seg.intersect(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    fn y(v: i64) -> Money {
        Money::from_yuan(v)
    }
    #[test]
    fn splits_a_segment_across_brackets() {
        let uppers = [Some(y(20000)), Some(y(100000)), None];
        let parts: Vec<Money> = split(Span::at(y(15000), y(90000)), uppers.into_iter()).map(Span::len).collect();
        assert_eq!(parts, vec![y(5000), y(80000), y(5000)]);
        let parts: Vec<Money> = split(Span::at(y(0), y(200)), uppers.into_iter()).map(Span::len).collect();
        assert_eq!(parts, vec![y(200), y(0), y(0)]);
    }
}
