//! The command's allocator: the system's, asking the kernel to back large blocks with 2 MiB
//! pages (transparent huge pages, where the system leaves them to `madvise`, as Debian does).
//!
//! A city-year's run holds a few GiB in a few hundred large vectors (claim columns, string
//! arenas, orderings) and reads them in person order, far from input order. With 4 KiB pages
//! every first touch is a page fault and most random reads miss the TLB, both dearer under
//! virtualization; with 2 MiB pages there are 512 times fewer of each. Measured on the
//! 2-core VM (README, Performance), medians of 3 alternated runs on 9.47M claims: a batch
//! settle 24.7 → 22.0 s, a first state build 45.3 → 43.0 s, system time a quarter lower;
//! glibc's own `GLIBC_TUNABLES=glibc.malloc.hugetlb=1` gave about the same.
//! Only the hint is added; the memory and its contents are the system allocator's.

use std::alloc::{GlobalAlloc, Layout, System};

/// Blocks from this size on are advised (a smaller one would hold at most one huge page).
const LARGE: usize = 4 << 20;
const HUGE_PAGE: usize = 2 << 20;

pub struct HugePages;

// SAFETY: every call goes to `System` unchanged; `advise` only gives the kernel a hint about
// pages inside the block just returned.
unsafe impl GlobalAlloc for HugePages {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        let p = unsafe { System.alloc(layout) };
        advise(p, layout.size());
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as above.
        let p = unsafe { System.alloc_zeroed(layout) };
        advise(p, layout.size());
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as above.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if new_size > layout.size() {
            advise(p, new_size);
        }
        p
    }
}

/// Marks the whole 2 MiB pages inside `[p, p + size)` for huge pages (Linux; a no-op
/// elsewhere and when the kernel refuses).
fn advise(p: *mut u8, size: usize) {
    #[cfg(target_os = "linux")]
    if size >= LARGE && !p.is_null() {
        let start = (p as usize).next_multiple_of(HUGE_PAGE);
        let end = (p as usize + size) & !(HUGE_PAGE - 1);
        if end > start {
            // SAFETY: the range lies inside the block the allocator just returned; MADV_HUGEPAGE
            // changes neither the mapping nor its contents.
            unsafe {
                libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (p, size, LARGE, HUGE_PAGE);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_of_every_size_keep_what_is_written_through_growth() {
        let a = HugePages;
        for size in [1, 4096, LARGE - 1, LARGE, 3 * LARGE + 12_345] {
            let layout = Layout::from_size_align(size, 8).unwrap();
            // SAFETY: a non-zero layout; the block is written within its size, grown, read
            // within its old size and freed with its final layout.
            unsafe {
                let p = a.alloc_zeroed(layout);
                assert!(!p.is_null());
                assert!(std::slice::from_raw_parts(p, size).iter().all(|&b| b == 0));
                for i in (0..size).step_by(4093) {
                    *p.add(i) = (i % 251) as u8;
                }
                let q = a.realloc(p, layout, 2 * size + LARGE);
                assert!(!q.is_null());
                for i in (0..size).step_by(4093) {
                    assert_eq!(*q.add(i), (i % 251) as u8);
                }
                a.dealloc(q, Layout::from_size_align(2 * size + LARGE, 8).unwrap());
            }
        }
    }
}
