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

#[derive(Clone, Debug, Default)]
pub struct Strings {
    buf: String,
    ends: Vec<u64>,
}

impl Strings {
    pub fn new() -> Strings {
        Strings::default()
    }
    pub fn with_capacity(n: usize, bytes: usize) -> Strings {
        Strings { buf: String::with_capacity(bytes), ends: Vec::with_capacity(n) }
    }
    pub fn push(&mut self, s: &str) -> StrId {
        self.buf.push_str(s);
        self.ends.push(self.buf.len() as u64);
        StrId(self.ends.len() as u32 - 1)
    }
    pub fn get(&self, id: StrId) -> &str {
        if id.is_none() {
            return "";
        }
        let i = id.0 as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.buf[start..self.ends[i] as usize]
    }
    /// Room for `n` more strings of `bytes` bytes in all (a hint: a refused reservation is
    /// no error).
    pub fn reserve(&mut self, n: usize, bytes: usize) {
        let _ = self.ends.try_reserve_exact(n);
        let _ = self.buf.try_reserve_exact(bytes);
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
        self.ends.extend(other.ends.into_iter().map(|e| e + shift));
        base
    }
    pub fn bytes(&self) -> usize {
        self.buf.len() + self.ends.len() * 8
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
}
