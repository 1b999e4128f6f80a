//! A compact arena for the text ids of tens of millions of claims (setl_id, mdtrt_id): one
//! buffer and one offset per string instead of a heap allocation each. Once the checks that
//! compare the ids are done, a batch run moves the arena to a file ([`Strings::spool`]) and
//! reads it back a window at a time as it writes ([`Strings::window`]).

/// Where a spooled arena's bytes are kept ([`crate::io::scratch::ScratchFile`]).
pub trait Spool: std::fmt::Debug + Send + Sync {
    /// `len` bytes from `pos`.
    fn read_at(&self, pos: u64, len: usize) -> std::io::Result<Vec<u8>>;
}

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
    /// The id of the first string: 0, but for a [`Strings::window`], whose ids are the
    /// spooled arena's.
    first: u32,
    /// Set by [`Strings::spool`]: the file that holds the text, and the strings kept readable.
    spooled: Option<std::sync::Arc<Spooled>>,
}

/// A spooled arena: its `ends` (4 bytes a string, little-endian) then its text in `file`,
/// and the few strings still read in memory.
#[derive(Debug)]
struct Spooled {
    file: Box<dyn Spool>,
    /// strings in the file
    len: usize,
    /// the ids still readable with [`Strings::get`], ascending; their text is `kept`'s, in
    /// the same order
    kept_ids: Vec<u32>,
    kept: Strings,
}

impl Spooled {
    /// A kept string of the spooled arena ("" for one not kept).
    #[cold]
    fn kept(&self, id: StrId) -> &str {
        match self.kept_ids.binary_search(&id.0) {
            Ok(k) => self.kept.get(StrId(k as u32)),
            Err(_) => "",
        }
    }
}

impl Strings {
    pub fn new() -> Strings {
        Strings::default()
    }
    pub fn with_capacity(n: usize, bytes: usize) -> Strings {
        Strings { buf: String::with_capacity(bytes), ends: Vec::with_capacity(n), ..Strings::default() }
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
        self.full_end(i, self.ends[i]) as usize
    }
    /// Where string `i`, whose end's low bits are `low`, ends.
    #[inline]
    fn full_end(&self, i: usize, low: u32) -> u64 {
        let high = if self.wraps.is_empty() { 0 } else { self.wraps.partition_point(|&w| w as usize <= i) as u64 };
        u64::from(low) + (high << SEG)
    }
    pub fn push(&mut self, s: &str) -> StrId {
        self.buf.push_str(s);
        self.push_end(self.buf.len() as u64);
        StrId(self.ends.len() as u32 - 1)
    }
    /// String `id`; "" for [`StrId::NONE`] and, in a spooled arena, for a string not kept.
    #[inline]
    pub fn get(&self, id: StrId) -> &str {
        if id.is_none() {
            return "";
        }
        if let Some(s) = &self.spooled {
            return s.kept(id);
        }
        let i = (id.0 - self.first) as usize;
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
        self.first = 0;
        self.spooled = None;
    }
    /// Bytes of text held.
    pub fn text_len(&self) -> usize {
        self.buf.len()
    }
    pub fn len(&self) -> usize {
        match &self.spooled {
            Some(s) => s.len,
            None => self.ends.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
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
        let kept = self.spooled.as_ref().map_or(0, |s| s.kept.bytes() + s.kept_ids.len() * 4);
        self.buf.len() + (self.ends.len() + self.wraps.len()) * 4 + kept
    }

    /// Moves the arena's ends and text to a spool (`write` is given them, 4 bytes an end
    /// little-endian, then the text) and frees them; only the strings `keep` stay readable
    /// with [`Strings::get`], the rest through [`Strings::window`]. The arena is read-only
    /// from then on.
    pub fn spool<S: Spool + 'static>(
        &mut self,
        write: impl FnOnce(&[&[u8]]) -> std::io::Result<S>,
        keep: impl IntoIterator<Item = StrId>,
    ) -> std::io::Result<()> {
        if self.spooled.is_some() {
            return Err(std::io::Error::other("internal: the ids were spooled already"));
        }
        let len = self.ends.len();
        let mut kept_ids: Vec<u32> = keep.into_iter().filter(|id| (id.0 as usize) < len).map(|id| id.0).collect();
        kept_ids.sort_unstable();
        kept_ids.dedup();
        let mut kept = Strings::with_capacity(kept_ids.len(), kept_ids.iter().map(|&i| self.get(StrId(i)).len()).sum());
        for &i in &kept_ids {
            kept.push(self.get(StrId(i)));
        }
        let ends: Vec<u8> = self.ends.iter().flat_map(|e| e.to_le_bytes()).collect();
        let file = write(&[&ends, self.buf.as_bytes()])?;
        // The vectors, hundreds of megabytes in a city's year, go back to the system.
        self.buf = String::new();
        self.ends = Vec::new();
        self.spooled = Some(std::sync::Arc::new(Spooled { file: Box::new(file), len, kept_ids, kept }));
        Ok(())
    }

    /// Whether the text is in a file ([`Strings::spool`]).
    pub fn is_spooled(&self) -> bool {
        self.spooled.is_some()
    }

    /// The strings `ids` of a spooled arena, read back from its file: an arena whose
    /// [`Strings::get`] takes the spooled ids from `ids.start()` to `ids.end()`.
    pub fn window(&self, ids: std::ops::RangeInclusive<u32>) -> std::io::Result<Strings> {
        let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("internal: id window {ids:?}: {what}"));
        let Some(s) = &self.spooled else { return Err(bad("the arena is not spooled")) };
        let (lo, hi) = (*ids.start() as usize, *ids.end() as usize);
        if lo > hi || hi >= s.len {
            return Err(bad("outside the arena"));
        }
        // The ends from the one before `lo` (the window's start), if any, to `hi`'s.
        let from = lo.saturating_sub(1);
        let raw = s.file.read_at(from as u64 * 4, (hi + 1 - from) * 4)?;
        let end = |k: usize| self.full_end(from + k, u32::from_le_bytes([raw[4 * k], raw[4 * k + 1], raw[4 * k + 2], raw[4 * k + 3]]));
        let start = if lo == 0 { 0 } else { end(0) };
        let stop = end(hi - from);
        let text_len = u32::try_from(stop - start).map_err(|_| bad("4 GiB of text or more"))?;
        let text = s.file.read_at((s.len * 4) as u64 + start, text_len as usize)?;
        let buf = String::from_utf8(text).map_err(|_| bad("not UTF-8"))?;
        let local = (lo - from..=hi - from).map(|k| (end(k) - start) as u32).collect();
        Ok(Strings { buf, ends: local, wraps: Vec::new(), first: lo as u32, spooled: None })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A spool in memory.
    #[derive(Debug)]
    struct Bytes(Vec<u8>);

    impl Spool for Bytes {
        fn read_at(&self, pos: u64, len: usize) -> std::io::Result<Vec<u8>> {
            let pos = pos as usize;
            self.0.get(pos..pos + len).map(|b| b.to_vec()).ok_or_else(|| std::io::Error::from(std::io::ErrorKind::UnexpectedEof))
        }
    }
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
        /// A spooled arena reads its kept strings (and "" for the others) in memory, and every
        /// window of its ids from the file, across the ends' boundaries (64 bytes here).
        #[test]
        fn spooled_strings_read_back_by_window(
            texts in proptest::collection::vec("[a-z0-9]{0,3}|[a-zé医保]{20,70}", 1..40),
            keep_every in 1usize..5,
            windows in proptest::collection::vec((0usize..40, 0usize..40), 1..6),
        ) {
            let mut a = Strings::new();
            let ids: Vec<StrId> = texts.iter().map(|t| a.push(t)).collect();
            let keep: Vec<StrId> = ids.iter().copied().step_by(keep_every).chain([StrId::NONE]).collect();
            a.spool(|parts| Ok(Bytes(parts.concat())), keep).map_err(|e| proptest::test_runner::TestCaseError::fail(e.to_string()))?;
            proptest::prop_assert!(a.is_spooled());
            proptest::prop_assert_eq!(a.len(), texts.len());
            for (k, (t, &id)) in texts.iter().zip(&ids).enumerate() {
                let kept = k % keep_every == 0;
                proptest::prop_assert_eq!(a.get(id), if kept { t.as_str() } else { "" });
            }
            for (x, y) in windows {
                let (lo, hi) = (x.min(y) % texts.len(), x.max(y) % texts.len());
                let (lo, hi) = (lo.min(hi), lo.max(hi));
                let w = a.window(lo as u32..=hi as u32).map_err(|e| proptest::test_runner::TestCaseError::fail(e.to_string()))?;
                for i in lo..=hi {
                    proptest::prop_assert_eq!(w.get(ids[i]), texts[i].as_str());
                }
                proptest::prop_assert_eq!(w.get(StrId::NONE), "");
            }
            proptest::prop_assert!(a.window(0..=texts.len() as u32).is_err());
            proptest::prop_assert!(Strings::new().window(0..=0).is_err());
        }

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
