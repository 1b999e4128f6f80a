//! Plain domain types: claims, persons, settlements, money. No IO, no rules.

pub mod claim;
pub mod codes;
pub mod money;
pub mod person;
pub mod settlement;
pub mod strings;
pub mod time;

pub use claim::{Beside, Claim, ClaimTable, NO_ORIGINAL, PRIOR_ORIGINAL, PlacedRows, Recorded, Reversal, TableRest};
pub use codes::*;
pub use money::{Exact, Money, OptMoney, Rate, RoundingMode};
pub use person::{Person, PersonTable};
pub use settlement::{LimitsReached, PersonYear, Settlement};
pub use strings::{Spool, SpoolFile, SpoolWriter, StrId, Strings, TextBytes};

/// Advises the kernel to back the whole 2 MiB pages inside `memory` with huge pages as they
/// are first touched, where it leaves them to `madvise` (Debian's default). For a large table
/// looked up at random, where nearly every lookup would miss the TLB. Not for memory in
/// general: on the VM we measure on, a huge page's first touch costs more than its 512 small
/// pages', and advising the whole heap made runs slower (README, Performance).
pub fn advise_huge_pages<T>(memory: &mut [std::mem::MaybeUninit<T>]) {
    const HUGE: usize = 2 << 20;
    let start = memory.as_ptr() as usize;
    let end = start.saturating_add(std::mem::size_of_val(memory));
    let (first, last) = (start.next_multiple_of(HUGE), end & !(HUGE - 1));
    #[cfg(target_os = "linux")]
    if last > first {
        // SAFETY: the range lies inside `memory`, which this call borrows mutably; the advice
        // changes how its pages are backed, never their contents, and a refusal (a kernel
        // without huge pages) is no error.
        unsafe { libc::madvise(first as *mut libc::c_void, last - first, libc::MADV_HUGEPAGE) };
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (first, last);
}

/// Starts loading the value at `p` into the cache: every cache line it spans (a hint only;
/// a 72-byte settlement or a 104-byte claim mostly straddles two or three lines, and a
/// prefetch of its first line alone leaves the fields beyond it to miss). A city-year's tables
/// are walked in one order and looked up in another (claims in input order, their persons and
/// settlements in person order); starting a lookup a few rows ahead hides its cache miss.
#[inline]
pub fn prefetch<T>(p: *const T) {
    prefetch_span(p as usize, std::mem::size_of::<T>());
}

/// Starts loading every cache line of `bytes` (a hint only, as [`prefetch`]): a spilled record
/// read in another order than it lies.
#[inline]
pub fn prefetch_bytes(bytes: &[u8]) {
    prefetch_span(bytes.as_ptr() as usize, bytes.len());
}

#[inline(always)]
fn prefetch_span(at: usize, len: usize) {
    const LINE: usize = 64;
    let first = at & !(LINE - 1);
    let lines = (at - first + len.max(1)).div_ceil(LINE);
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

#[cfg(test)]
mod tests {
    /// Advised memory is memory like any other: what is written reads back, whether the range
    /// holds whole huge pages, only part of one, or nothing.
    #[test]
    fn advised_memory_holds_what_is_written() {
        for n in [0usize, 1, 1000, 3 << 20] {
            let mut v: Vec<u32> = Vec::with_capacity(n);
            super::advise_huge_pages(v.spare_capacity_mut());
            v.extend((0..n as u32).map(|i| i.wrapping_mul(2_654_435_761)));
            assert_eq!(v.len(), n);
            assert!(v.iter().enumerate().all(|(i, &x)| x == (i as u32).wrapping_mul(2_654_435_761)));
        }
    }
}
