//! A compact arena for the text ids of tens of millions of claims (setl_id, mdtrt_id): one
//! buffer and one offset per string instead of a heap allocation each.

/// Index of a string in a [`Strings`] arena.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default, serde::Serialize, serde::Deserialize)]
pub struct StrId(pub u32);

impl StrId {
    pub const NONE: StrId = StrId(u32::MAX);
    pub fn is_none(self) -> bool {
        self == StrId::NONE
    }
}

/// Bits of a string's end held in [`Strings`]' `ends` (the rest is counted by `wraps`); small
/// in unit tests, so that they cross many boundaries with short strings.
const SEG: u32 = if cfg!(test) { 6 } else { 32 };
const LOW: u64 = (1 << SEG) - 1;

#[derive(Clone, Debug, Default)]
pub struct Strings {
    buf: String,
    /// each string's end in `buf`, its low [`SEG`] bits (4 bytes a string, not 8)
    ends: Vec<u32>,
    /// for each 2^SEG bytes (4 GiB) of `buf`, the first string that ends at or beyond them:
    /// string i ends at `ends[i] + 2^SEG × (entries ≤ i)`; empty below 4 GiB of text
    wraps: Vec<u32>,
}

impl Strings {
    pub fn new() -> Strings {
        Strings::default()
    }
    pub fn with_capacity(n: usize, bytes: usize) -> Strings {
        Strings { buf: String::with_capacity(bytes), ends: Vec::with_capacity(n), wraps: Vec::new() }
    }
    /// Records that the next string ends at `end`.
    #[inline]
    fn push_end(&mut self, end: u64) {
        let i = self.ends.len() as u32;
        while end >> SEG > self.wraps.len() as u64 {
            self.wraps.push(i);
        }
        self.ends.push((end & LOW) as u32);
    }
    /// Where string `i` ends in `buf`.
    #[inline]
    fn end(&self, i: usize) -> usize {
        let high = if self.wraps.is_empty() { 0 } else { self.wraps.partition_point(|&w| w as usize <= i) as u64 };
        (u64::from(self.ends[i]) + (high << SEG)) as usize
    }
    pub fn push(&mut self, s: &str) -> StrId {
        self.buf.push_str(s);
        self.push_end(self.buf.len() as u64);
        StrId(self.ends.len() as u32 - 1)
    }
    pub fn get(&self, id: StrId) -> &str {
        if id.is_none() {
            return "";
        }
        let i = id.0 as usize;
        let start = if i == 0 { 0 } else { self.end(i - 1) };
        &self.buf[start..self.end(i)]
    }
    /// Room for `n` more strings of `bytes` bytes in all (a hint: a refused reservation is
    /// no error).
    pub fn reserve(&mut self, n: usize, bytes: usize) {
        let _ = self.ends.try_reserve_exact(n);
        let _ = self.buf.try_reserve_exact(bytes);
    }
    /// Empties the arena, keeping its memory for the next strings.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.ends.clear();
        self.wraps.clear();
    }
    /// Bytes of text held.
    pub fn text_len(&self) -> usize {
        self.buf.len()
    }
    pub fn len(&self) -> usize {
        self.ends.len()
    }
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }
    /// Appends another arena; returns the offset to add to its ids.
    pub fn append(&mut self, other: Strings) -> u32 {
        let base = self.ends.len() as u32;
        let shift = self.buf.len() as u64;
        self.buf.push_str(&other.buf);
        if other.wraps.is_empty() && shift >> SEG == self.buf.len() as u64 >> SEG {
            // No boundary crossed (every run below 4 GiB of text): the ends only shift.
            let low = (shift & LOW) as u32;
            self.ends.extend(other.ends.iter().map(|&e| low + e));
        } else {
            self.ends.reserve(other.ends.len());
            for j in 0..other.ends.len() {
                self.push_end(shift + other.end(j) as u64);
            }
        }
        base
    }
    pub fn bytes(&self) -> usize {
        self.buf.len() + (self.ends.len() + self.wraps.len()) * 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn push_get_append() {
        let mut a = Strings::new();
        let x = a.push("S1");
        let e = a.push("");
        let mut b = Strings::new();
        let y = b.push("M-22");
        let base = a.append(b);
        assert_eq!(a.get(x), "S1");
        assert_eq!(a.get(e), "");
        assert_eq!(a.get(StrId(y.0 + base)), "M-22");
        assert_eq!(a.get(StrId::NONE), "");
    }

    /// A cleared arena (reused from one partition to the next) holds nothing of its past:
    /// ids start again at 0, also after its text crossed the ends' boundaries (64 bytes here).
    #[test]
    fn a_cleared_arena_starts_again() {
        let mut a = Strings::new();
        for k in 0..20 {
            a.push(&"x".repeat(k * 7));
        }
        assert!(a.text_len() > 1 << SEG);
        a.clear();
        assert_eq!((a.len(), a.text_len(), a.wraps.len()), (0, 0, 0));
        let s = a.push("S1");
        let long = a.push(&"y".repeat(100));
        assert_eq!((s, a.get(s), a.get(long).len()), (StrId(0), "S1", 100));
    }

    proptest::proptest! {
        /// Pushed one by one or in arenas appended together, every string reads back, across
        /// many boundaries of the ends' low bits (64 bytes in unit tests, 4 GiB in the build).
        #[test]
        fn strings_read_back_across_boundaries(
            parts in proptest::collection::vec(proptest::collection::vec("[a-z0-9]{0,3}|[a-z]{60,150}", 0..12), 0..8),
        ) {
            let mut one = Strings::new();
            let mut joined = Strings::new();
            let mut ids = Vec::new();
            for part in &parts {
                let mut arena = Strings::with_capacity(part.len(), 0);
                let local: Vec<StrId> = part.iter().map(|t| arena.push(t)).collect();
                let base = joined.append(arena);
                for (t, id) in part.iter().zip(local) {
                    ids.push((t, one.push(t), StrId(id.0 + base)));
                }
            }
            proptest::prop_assert_eq!(one.len(), joined.len());
            proptest::prop_assert_eq!(one.text_len(), joined.text_len());
            for (t, a, b) in ids {
                proptest::prop_assert_eq!(one.get(a), t.as_str());
                proptest::prop_assert_eq!(joined.get(b), t.as_str());
            }
        }
    }
}
