//! Plain domain types: claims, persons, settlements, money. No IO, no rules.

pub mod claim;
pub mod codes;
pub mod money;
pub mod person;
pub mod settlement;
pub mod strings;
pub mod time;

pub use claim::{Claim, ClaimTable, NO_ORIGINAL, PRIOR_ORIGINAL, Recorded};
pub use codes::*;
pub use money::{Exact, Money, Rate, RoundingMode};
pub use person::{Person, PersonTable};
pub use settlement::{PersonYear, Settlement, YearTotals};
pub use strings::{StrId, Strings};
