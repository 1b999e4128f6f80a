//! A compact arena for the text ids of tens of millions of claims (setl_id, mdtrt_id): one
//! buffer and one offset per string instead of a heap allocation each. A batch run writes the
//! arena to files as it is read ([`SpoolWriter`]), moves it there once the checks that compare
//! the ids are done ([`Strings::spool`]), and reads it back a window at a time as it writes
//! ([`Strings::window`]).

/// Where a spooled arena's bytes are read back from ([`crate::io::scratch::ScratchFile`]).
pub trait Spool: std::fmt::Debug + Send + Sync {
    /// `len` bytes from `pos`.
    fn read_at(&self, pos: u64, len: usize) -> std::io::Result<Vec<u8>>;
}

/// Where a spooled arena's bytes are written, one piece after another
/// ([`crate::io::scratch::ScratchWriter`]); [`SpoolFile::finish`] gives what reads them back.
pub trait SpoolFile: Send {
    type Done: Spool + 'static;
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<()>;
    fn finish(self) -> std::io::Result<Self::Done>;
}

/// Index of a string in a [`Strings`] arena.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default, serde::Serialize, serde::Deserialize)]
pub struct StrId(pub u32);

impl StrId {
    pub const NONE: StrId = StrId(u32::MAX);
    pub fn is_none(self) -> bool {
        self == StrId::NONE
    }
    /// The id in an arena where this one's was appended at `base` ([`Strings::append`]);
    /// none stays none.
    pub fn shifted(self, base: u32) -> StrId {
        if self.is_none() { self } else { StrId(self.0 + base) }
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

/// A spooled arena: its `ends` (4 bytes a string, little-endian) and its text in two files,
/// and the few strings still read in memory.
#[derive(Debug)]
struct Spooled {
    ends: Box<dyn Spool>,
    text: Box<dyn Spool>,
    /// strings in the files
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
        &self.buf[self.start(i)..self.end(i)]
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
    pub fn append(&mut self, other: &Strings) -> u32 {
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

    /// Where string `i` starts in `buf`.
    #[inline]
    fn start(&self, i: usize) -> usize {
        if i == 0 { 0 } else { self.end(i - 1) }
    }

    /// Moves the arena to files and frees it: `w` writes what it was not given yet as the
    /// arena was read (all of it, for a writer given nothing), then finishes. Only the
    /// strings `keep` stay readable with [`Strings::get`], the rest through
    /// [`Strings::window`]. The arena is read-only from then on; on an error it is left whole.
    pub fn spool<F: SpoolFile>(&mut self, mut w: SpoolWriter<F>, keep: impl IntoIterator<Item = StrId>) -> std::io::Result<()> {
        if self.spooled.is_some() || self.first != 0 {
            return Err(std::io::Error::other("internal: a spooled arena or a window cannot be spooled"));
        }
        let len = self.ends.len();
        if w.len > len || self.start(w.len) as u64 != w.text_len {
            return Err(std::io::Error::other("internal: the ids written are not this arena's first"));
        }
        let mut kept_ids: Vec<u32> = keep.into_iter().filter(|id| (id.0 as usize) < len).map(|id| id.0).collect();
        kept_ids.sort_unstable();
        kept_ids.dedup();
        let mut kept = Strings::with_capacity(kept_ids.len(), kept_ids.iter().map(|&i| self.get(StrId(i)).len()).sum());
        for &i in &kept_ids {
            kept.push(self.get(StrId(i)));
        }
        w.write_from(self, w.len)?;
        let (ends, text) = (w.ends.finish()?, w.text.finish()?);
        // The vectors, hundreds of megabytes in a city's year, go back to the system.
        self.buf = String::new();
        self.ends = Vec::new();
        self.spooled = Some(std::sync::Arc::new(Spooled { ends: Box::new(ends), text: Box::new(text), len, kept_ids, kept }));
        Ok(())
    }

    /// Whether the text is in a file ([`Strings::spool`]).
    pub fn is_spooled(&self) -> bool {
        self.spooled.is_some()
    }

    /// The strings `ids` of a spooled arena, read back from its files: an arena whose
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
        let raw = s.ends.read_at(from as u64 * 4, (hi + 1 - from) * 4)?;
        let end = |k: usize| self.full_end(from + k, u32::from_le_bytes([raw[4 * k], raw[4 * k + 1], raw[4 * k + 2], raw[4 * k + 3]]));
        let start = if lo == 0 { 0 } else { end(0) };
        let stop = end(hi - from);
        let text_len = u32::try_from(stop - start).map_err(|_| bad("4 GiB of text or more"))?;
        let text = s.text.read_at(start, text_len as usize)?;
        let buf = String::from_utf8(text).map_err(|_| bad("not UTF-8"))?;
        let local = (lo - from..=hi - from).map(|k| (end(k) - start) as u32).collect();
        Ok(Strings { buf, ends: local, wraps: Vec::new(), first: lo as u32, spooled: None })
    }
}

/// An arena on its way to files, written as it grows: the arenas of a read's chunks, in the
/// order the read appends them ([`Strings::append`]), as they come, then the rest at
/// [`Strings::spool`]. `ends` gets each string's end in the whole arena (its low [`SEG`]
/// bits, 4 bytes little-endian, as [`Strings`] holds them), `text` the text.
#[derive(Debug)]
pub struct SpoolWriter<F> {
    ends: F,
    text: F,
    /// strings written
    len: usize,
    /// bytes of text written
    text_len: u64,
}

impl<F: SpoolFile> SpoolWriter<F> {
    pub fn new(ends: F, text: F) -> SpoolWriter<F> {
        SpoolWriter { ends, text, len: 0, text_len: 0 }
    }
    /// Writes `chunk`'s strings after those written (its ids will be theirs shifted by the
    /// strings before it, as [`Strings::append`] shifts them).
    pub fn add(&mut self, chunk: &Strings) -> std::io::Result<()> {
        if chunk.spooled.is_some() || chunk.first != 0 {
            return Err(std::io::Error::other("internal: a spooled arena or a window cannot be written again"));
        }
        self.write_from(chunk, 0)
    }
    /// Writes `s`'s strings from `from` on after those written, a block of ends at a time.
    fn write_from(&mut self, s: &Strings, from: usize) -> std::io::Result<()> {
        const BLOCK: usize = 1 << 16;
        let start = s.start(from);
        let mut staged = Vec::with_capacity(4 * BLOCK.min(s.ends.len().saturating_sub(from)));
        let mut i = from;
        while i < s.ends.len() {
            let to = (i + BLOCK).min(s.ends.len());
            staged.clear();
            for j in i..to {
                let end = self.text_len + (s.end(j) - start) as u64;
                staged.extend_from_slice(&((end & LOW) as u32).to_le_bytes());
            }
            self.ends.write(&staged)?;
            i = to;
        }
        self.text.write(&s.buf.as_bytes()[start..])?;
        self.len += s.ends.len() - from;
        self.text_len += (s.buf.len() - start) as u64;
        Ok(())
    }
}

/// Texts read as bytes (a spill file's ids), numbered as [`Strings::push`] numbers them and
/// checked as UTF-8 once, all together, by [`TextBytes::finish`]: one pass over a frame's
/// text instead of a check a text (`from_utf8` on each id was 2–4% of the spilled run's
/// partitions and merge). Valid UTF-8 whose texts all start and end on character boundaries
/// is valid UTF-8 text by text.
#[derive(Debug, Default)]
pub struct TextBytes {
    buf: Vec<u8>,
    /// the texts' ends, numbered as [`Strings::push`] numbers them; its own text stays empty
    /// until [`TextBytes::finish`] gives it `buf`, checked
    ids: Strings,
}

impl TextBytes {
    /// Room for `n` texts of `bytes` in all, in the memory of `strings` (emptied): an arena
    /// made before, kept from piece to piece (fresh memory is pages the kernel clears).
    pub fn reusing(mut strings: Strings, n: usize, bytes: usize) -> TextBytes {
        strings.clear();
        let mut buf = std::mem::take(&mut strings.buf).into_bytes();
        buf.reserve(bytes);
        strings.ends.reserve(n);
        TextBytes { buf, ids: strings }
    }
    /// Adds a text (not yet checked); its id in the [`Strings`] [`TextBytes::finish`] makes.
    #[inline]
    pub fn push(&mut self, b: &[u8]) -> StrId {
        self.buf.extend_from_slice(b);
        self.ids.push_end(self.buf.len() as u64);
        StrId(self.ids.ends.len() as u32 - 1)
    }
    /// The texts as [`Strings`], their ids as pushed; `None` when one of them is not UTF-8:
    /// the bytes are not, or a text starts or ends inside a character.
    pub fn finish(self) -> Option<Strings> {
        let TextBytes { buf, ids: mut s } = self;
        s.buf = String::from_utf8(buf).ok()?;
        (0..s.ends.len()).all(|i| s.buf.is_char_boundary(s.end(i))).then_some(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Texts taken as bytes read back as pushed, long enough to wrap the ends (SEG is 6 under
    /// test); a text that is not UTF-8 is refused, and so is a character cut between two texts
    /// although the bytes together are UTF-8.
    #[test]
    fn text_bytes_are_checked_text_by_text() {
        let texts = ["", "é", "2024-01-01 住院", &"x".repeat(100), "a"];
        let mut b = TextBytes::default();
        let ids: Vec<StrId> = texts.iter().map(|t| b.push(t.as_bytes())).collect();
        let s = b.finish().expect("UTF-8 texts");
        assert_eq!(ids.iter().map(|&id| s.get(id)).collect::<Vec<_>>(), texts);
        assert_eq!(s.len(), texts.len());
        let mut bad = TextBytes::default();
        bad.push(b"ok");
        bad.push(&[0xff]);
        assert!(bad.finish().is_none());
        let e = "é".as_bytes();
        let mut cut = TextBytes::default();
        cut.push(&e[..1]);
        cut.push(&e[1..]);
        assert!(cut.finish().is_none());
    }

    /// A spool in memory.
    #[derive(Debug, Default)]
    struct Bytes(Vec<u8>);

    impl SpoolFile for Bytes {
        type Done = Bytes;
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
            self.0.extend_from_slice(bytes);
            Ok(())
        }
        fn finish(self) -> std::io::Result<Bytes> {
            Ok(self)
        }
    }

    fn fail(e: std::io::Error) -> proptest::test_runner::TestCaseError {
        proptest::test_runner::TestCaseError::fail(e.to_string())
    }

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
        let base = a.append(&b);
        assert_eq!(a.get(x), "S1");
        assert_eq!(a.get(e), "");
        assert_eq!(a.get(StrId(y.0 + base)), "M-22");
        assert_eq!(a.get(StrId::NONE), "");
    }

    /// A writer given strings the arena does not start with is refused at the spool, and the
    /// arena stays whole.
    #[test]
    fn a_writer_of_other_strings_is_refused() -> std::io::Result<()> {
        let mut a = Strings::new();
        let s = a.push("S1");
        a.push("M1");
        let mut other = Strings::new();
        other.push("S1-longer");
        for given in [other, {
            let mut three = a.clone();
            three.push("R1");
            three
        }] {
            let mut w = SpoolWriter::new(Bytes::default(), Bytes::default());
            w.add(&given)?;
            assert!(a.spool(w, []).is_err());
            assert!(!a.is_spooled());
            assert_eq!((a.len(), a.get(s)), (2, "S1"));
        }
        Ok(())
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
        /// window of its ids from the files, across the ends' boundaries (64 bytes here). The
        /// arena is read in chunks, the first `fed` of them given to the writer as they are
        /// appended (the rest written at the spool): the same whatever `fed`.
        #[test]
        fn spooled_strings_read_back_by_window(
            chunks in proptest::collection::vec(proptest::collection::vec("[a-z0-9]{0,3}|[a-zé医保]{20,70}", 0..12), 1..6),
            fed in 0usize..7,
            keep_every in 1usize..5,
            windows in proptest::collection::vec((0usize..60, 0usize..60), 1..6),
        ) {
            let texts: Vec<&String> = chunks.iter().flatten().collect();
            proptest::prop_assume!(!texts.is_empty());
            let mut a = Strings::new();
            let mut w = SpoolWriter::new(Bytes::default(), Bytes::default());
            for (k, chunk) in chunks.iter().enumerate() {
                let mut c = Strings::new();
                for t in chunk {
                    c.push(t);
                }
                if k < fed {
                    w.add(&c).map_err(fail)?;
                }
                a.append(&c);
            }
            let ids: Vec<StrId> = (0..texts.len() as u32).map(StrId).collect();
            let keep: Vec<StrId> = ids.iter().copied().step_by(keep_every).chain([StrId::NONE]).collect();
            a.spool(w, keep).map_err(fail)?;
            proptest::prop_assert!(a.is_spooled());
            proptest::prop_assert_eq!(a.len(), texts.len());
            for (k, (t, &id)) in texts.iter().zip(&ids).enumerate() {
                let kept = k % keep_every == 0;
                proptest::prop_assert_eq!(a.get(id), if kept { t.as_str() } else { "" });
            }
            for (x, y) in windows {
                let (lo, hi) = (x.min(y) % texts.len(), x.max(y) % texts.len());
                let (lo, hi) = (lo.min(hi), lo.max(hi));
                let w = a.window(lo as u32..=hi as u32).map_err(fail)?;
                for i in lo..=hi {
                    proptest::prop_assert_eq!(w.get(ids[i]), texts[i].as_str());
                }
                proptest::prop_assert_eq!(w.get(StrId::NONE), "");
            }
            proptest::prop_assert!(a.window(0..=texts.len() as u32).is_err());
            proptest::prop_assert!(Strings::new().window(0..=0).is_err());
            proptest::prop_assert!(a.spool(SpoolWriter::new(Bytes::default(), Bytes::default()), []).is_err());
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
                let base = joined.append(&arena);
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
