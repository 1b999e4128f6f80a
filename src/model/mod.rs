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

/// Starts loading the value at `p` into the cache: every cache line it spans (a hint only;
/// a 72-byte settlement or a 104-byte claim mostly straddles two or three lines, and a
/// prefetch of its first line alone leaves the fields beyond it to miss). A city-year's tables
/// are walked in one order and looked up in another (claims in input order, their persons and
/// settlements in person order); starting a lookup a few rows ahead hides its cache miss.
#[inline]
pub fn prefetch<T>(p: *const T) {
    const LINE: usize = 64;
    let first = p as usize & !(LINE - 1);
    let lines = (p as usize - first + std::mem::size_of::<T>().max(1)).div_ceil(LINE);
    for k in 0..lines {
        let line = first.wrapping_add(k * LINE);
        #[cfg(target_arch = "x86_64")]
        // SAFETY: a prefetch never faults and changes nothing, whatever the address.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(line as *const i8)
        };
        #[cfg(not(target_arch = "x86_64"))]
        let _ = line;
    }
}
