//! The kernel's records inside the state's BLOB columns (postcard encoding): what a claim was
//! (its inputs, enough to settle it again for `state verify` and to write it for `state
//! export`), what it was paid and what it added to the running totals (S-22).

use crate::engine::Contribution;
use crate::model::{Beside, Claim, ClaimTable, Disease, DrugClass, MedType, Money, Offsite, Settlement, time::Timestamp};
use serde::{Deserialize, Serialize};

/// A settled claim's inputs (the columns the kernel reads). Written from borrowed text
/// (`ClaimInput<&str>`, no copy per claim), read back owned; both encode the same.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimInput<S = String> {
    pub mdtrt_id: S,
    pub setl_time: Timestamp,
    pub medfee_sumamt: Money,
    pub fulamt_ownpay_amt: Money,
    pub overlmt_selfpay: Money,
    pub preselfpay_amt: Money,
    pub inscp_scp_amt: Money,
    pub rare_fund_pay: Money,
    pub med_type: MedType,
    pub hosp_lv: u8,
    pub primary_care: bool,
    pub offsite: Offsite,
    pub drug_class: DrugClass,
    pub disease: Option<Disease>,
    pub reversal: bool,
}

impl ClaimInput {
    pub fn of(table: &ClaimTable, ci: usize) -> ClaimInput {
        ClaimInput::borrowed(table, ci).map_text(|s| s.to_string())
    }
}

impl<'a> ClaimInput<&'a str> {
    /// Claim `ci` of `table`.
    pub fn borrowed(table: &'a ClaimTable, ci: usize) -> ClaimInput<&'a str> {
        let c = &table.claims[ci];
        ClaimInput {
            mdtrt_id: table.strings.get(c.mdtrt_id),
            setl_time: c.setl_time,
            medfee_sumamt: c.medfee_sumamt(),
            fulamt_ownpay_amt: c.fulamt_ownpay_amt,
            overlmt_selfpay: c.overlmt_selfpay,
            preselfpay_amt: c.preselfpay_amt,
            inscp_scp_amt: c.inscp_scp_amt,
            rare_fund_pay: table.rare_fund_pay(ci),
            med_type: c.med_type,
            hosp_lv: c.hosp_lv(),
            primary_care: c.primary_care(),
            offsite: c.offsite,
            drug_class: c.drug_class,
            disease: c.disease,
            reversal: c.reversal,
        }
    }
}

impl<S: AsRef<str>> ClaimInput<S> {
    /// The same inputs with the text mapped by `f`.
    pub fn map_text<'a, T>(&'a self, f: impl FnOnce(&'a S) -> T) -> ClaimInput<T> {
        let ClaimInput {
            mdtrt_id,
            setl_time,
            medfee_sumamt,
            fulamt_ownpay_amt,
            overlmt_selfpay,
            preselfpay_amt,
            inscp_scp_amt,
            rare_fund_pay,
            med_type,
            hosp_lv,
            primary_care,
            offsite,
            drug_class,
            disease,
            reversal,
        } = self;
        ClaimInput {
            mdtrt_id: f(mdtrt_id),
            setl_time: *setl_time,
            medfee_sumamt: *medfee_sumamt,
            fulamt_ownpay_amt: *fulamt_ownpay_amt,
            overlmt_selfpay: *overlmt_selfpay,
            preselfpay_amt: *preselfpay_amt,
            inscp_scp_amt: *inscp_scp_amt,
            rare_fund_pay: *rare_fund_pay,
            med_type: *med_type,
            hosp_lv: *hosp_lv,
            primary_care: *primary_care,
            offsite: *offsite,
            drug_class: *drug_class,
            disease: *disease,
            reversal: *reversal,
        }
    }

    /// The amounts a reversal must negate, in [`crate::intake::PriorClaim::amounts`] order.
    pub fn amounts(&self) -> [Money; 6] {
        [self.medfee_sumamt, self.fulamt_ownpay_amt, self.overlmt_selfpay, self.preselfpay_amt, self.inscp_scp_amt, self.rare_fund_pay]
    }

    /// The claim again, appended to `table` (for settling it once more).
    pub fn push_to(&self, table: &mut ClaimTable, setl_id: &str, init_setl_id: &str, psn: u32, line: u32) {
        let claim = Claim {
            setl_id: table.strings.push(setl_id),
            mdtrt_id: table.strings.push(self.mdtrt_id.as_ref()),
            psn,
            setl_time: self.setl_time,
            fulamt_ownpay_amt: self.fulamt_ownpay_amt,
            overlmt_selfpay: self.overlmt_selfpay,
            preselfpay_amt: self.preselfpay_amt,
            inscp_scp_amt: self.inscp_scp_amt,
            med_type: self.med_type,
            level: Claim::level_of(self.hosp_lv, self.primary_care),
            offsite: self.offsite,
            drug_class: self.drug_class,
            disease: self.disease,
            reversal: self.reversal,
            file: 0,
            line,
        };
        let init_setl_id = self.reversal.then(|| table.strings.push(init_setl_id));
        table.push(claim, Beside { rare_fund_pay: self.rare_fund_pay, init_setl_id, recorded: None });
    }
}

/// The `claims.detail` record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Detail<S = String> {
    pub input: ClaimInput<S>,
    /// As settled (its `policy` index is that run's; the `policy_id` column names it).
    pub settlement: Settlement,
    /// What the claim added to the running totals (S-22).
    pub contribution: Contribution,
}

/// One settled claim in a `claim_packs` row: its `detail` column holds the pack's claims as
/// a postcard `Vec<StoredClaim>`, and its `claims` column the same claims as JSON
/// ([`pack_json`]) for the `claims` view.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredClaim<S = String> {
    pub setl_id: S,
    pub init_setl_id: S,
    /// Position in its run's input (settlements.csv order).
    pub seq: u64,
    /// The `policies` row it was settled with.
    pub policy_ref: i64,
    /// The reversal that cancelled it (S-22).
    pub reversed_by: Option<S>,
    pub detail: Detail<S>,
}

/// The pack's claims as the `claims` column's JSON: one array per claim, its fields in the
/// order of the `claims` view in `schemas/state.sql`. `policy_id` names a `policy_ref`.
pub fn pack_json<S: AsRef<str> + Serialize>(claims: &[StoredClaim<S>]) -> String {
    let mut out: Vec<u8> = Vec::with_capacity(claims.len() * 200);
    write_pack_json(claims, &mut out);
    // Only JSON was written: ASCII punctuation, numbers and serde_json's escaped UTF-8 strings.
    String::from_utf8(out).unwrap_or_default()
}

/// [`pack_json`] appended to `out` (valid UTF-8: JSON punctuation, numbers and serde_json's
/// escaped strings).
pub fn write_pack_json<S: AsRef<str> + Serialize>(claims: &[StoredClaim<S>], out: &mut Vec<u8>) {
    out.push(b'[');
    for (k, c) in claims.iter().enumerate() {
        if k > 0 {
            out.push(b',');
        }
        let (i, s, t) = (&c.detail.input, &c.detail.settlement, &c.detail.contribution);
        out.push(b'[');
        json(out, c.setl_id.as_ref());
        out.push(b',');
        json(out, &c.seq);
        out.extend_from_slice(b",\"");
        crate::model::time::write_datetime(i.setl_time, out);
        out.extend_from_slice(b"\",");
        json(out, &c.policy_ref);
        out.push(b',');
        json(out, s.benefit.as_str());
        out.push(b',');
        json(out, s.status.as_str());
        out.push(b',');
        json(out, s.reason.map(|r| r.as_str()).unwrap_or(""));
        for m in [
            i.medfee_sumamt,
            i.inscp_scp_amt,
            s.act_pay_dedc,
            s.hifp_pay,
            s.hifob_pay,
            s.hifmi_pay,
            s.maf_pay,
            s.psn_part_amt,
            s.oth_pay,
            t.cap_paid,
        ] {
            out.push(b',');
            json(out, &m.fen());
        }
        out.push(b',');
        json(out, c.init_setl_id.as_ref());
        out.push(b',');
        json(out, &c.reversed_by.as_ref().map(|r| r.as_ref()));
        out.push(b']');
    }
    out.push(b']');
}

fn json<T: Serialize + ?Sized>(out: &mut Vec<u8>, v: &T) {
    // Writing into a Vec cannot fail, and these values (text, integers) always serialize.
    let _ = serde_json::to_writer(&mut *out, v);
}

/// Bits of a setl_id's hash that choose its `setl_index` row: about a million rows, so that
/// a night reads and rewrites a few small rows per claim.
pub const BUCKET_BITS: u32 = 20;

/// A setl_id's 64-bit hash in `setl_index`: FNV-1a over its UTF-8 bytes, then MurmurHash3's
/// 64-bit finalizer (so that the top bits, the bucket, depend on every byte). Fixed by the
/// schema: the same on every machine and in every version that writes schema 3.
pub fn setl_hash(id: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in id.as_bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// Bits of a setl_id's hash that choose its `setl_pending.slice`: 32 slices of the buckets.
pub const SLICE_BITS: u32 = 5;

/// The `setl_pending.slice` of a hash: the top bits of its bucket.
pub fn slice_of(h: u64) -> i64 {
    (h >> (64 - SLICE_BITS)) as i64
}

/// The slice a run folds into `setl_index` (one after another, each every 32nd run).
pub fn slice_folded_by(run_id: i64) -> i64 {
    run_id.rem_euclid(1 << SLICE_BITS)
}

/// The `setl_index.bucket` of a hash.
pub fn bucket_of(h: u64) -> i64 {
    (h >> (64 - BUCKET_BITS)) as i64
}

/// A `setl_index.entries` value: (hash, pack_no) pairs, 16 bytes each, little-endian, by hash.
pub fn encode_entries(entries: &[(u64, i64)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.len() * 16);
    for &(h, p) in entries {
        out.extend_from_slice(&h.to_le_bytes());
        out.extend_from_slice(&p.to_le_bytes());
    }
    out
}

/// The pairs of a `setl_index.entries` value (a trailing partial pair is ignored).
pub fn decode_entries(b: &[u8]) -> Vec<(u64, i64)> {
    b.chunks_exact(16)
        .map(|c| {
            let (h, p) = c.split_at(8);
            (u64::from_le_bytes(h.try_into().unwrap_or_default()), i64::from_le_bytes(p.try_into().unwrap_or_default()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_setl_hash_is_fixed_by_the_schema() {
        // Worked out independently (FNV-1a 64, then fmix64): a change of the function would
        // make every stored state unreadable.
        assert_eq!(setl_hash(""), 0xefd0_1f60_ba99_2926);
        assert_eq!(setl_hash("S1"), 0xb653_16d6_082c_20e8);
        assert_eq!(setl_hash("结算1"), 0x0ef4_e04b_1b28_dbfd);
        assert_eq!(bucket_of(u64::MAX), (1 << BUCKET_BITS) - 1);
        assert_eq!(slice_of(u64::MAX), (1 << SLICE_BITS) - 1);
        // a slice is a run of whole buckets
        assert_eq!(slice_of(0xb653_16d6_082c_20e8), bucket_of(0xb653_16d6_082c_20e8) >> (BUCKET_BITS - SLICE_BITS));
        assert_eq!(bucket_of(0), 0);
    }

    #[test]
    fn a_claim_written_borrowed_reads_back_owned() -> anyhow::Result<()> {
        let mut table = ClaimTable::default();
        ClaimInput {
            mdtrt_id: "M1".to_string(),
            // A wall-clock count of seconds (no zone): 2023-11-14 22:13:20.
            setl_time: 1_700_000_000,
            // the total is the sum of the parts, as intake requires (a claim holds only the parts)
            medfee_sumamt: Money::from_fen(12_345),
            fulamt_ownpay_amt: Money::from_fen(100),
            overlmt_selfpay: Money::from_fen(200),
            preselfpay_amt: Money::from_fen(45),
            inscp_scp_amt: Money::from_fen(12_000),
            rare_fund_pay: Money::from_fen(0),
            med_type: MedType(11),
            hosp_lv: 2,
            primary_care: true,
            offsite: Offsite::Local,
            drug_class: DrugClass::DualChannel,
            disease: None,
            reversal: false,
        }
        .push_to(&mut table, "S1", "", 0, 2);
        let owned = StoredClaim {
            setl_id: "S1".to_string(),
            init_setl_id: String::new(),
            seq: 7,
            policy_ref: 3,
            reversed_by: Some("R1".to_string()),
            detail: Detail { input: ClaimInput::of(&table, 0), settlement: Settlement::EMPTY, contribution: Contribution::default() },
        };
        let borrowed = StoredClaim {
            setl_id: "S1",
            init_setl_id: "",
            seq: 7,
            policy_ref: 3,
            reversed_by: Some("R1"),
            detail: Detail { input: ClaimInput::borrowed(&table, 0), settlement: Settlement::EMPTY, contribution: Contribution::default() },
        };
        let bytes = postcard::to_stdvec(&vec![borrowed.clone()])?;
        assert_eq!(bytes, postcard::to_stdvec(&vec![owned.clone()])?);
        assert_eq!(postcard::from_bytes::<Vec<StoredClaim>>(&bytes)?, vec![owned.clone()]);
        let json = pack_json(&[borrowed]);
        assert_eq!(json, pack_json(std::slice::from_ref(&owned)));
        assert_eq!(json, r#"[["S1",7,"2023-11-14 22:13:20",3,"none","not_covered","",12345,12000,0,0,0,0,0,0,0,0,"","R1"]]"#);
        Ok(())
    }

    #[test]
    fn entries_round_trip() {
        let e = vec![(1u64, 7i64), (u64::MAX, -1), (0x0123_4567_89ab_cdef, 1 << 40)];
        assert_eq!(decode_entries(&encode_entries(&e)), e);
        assert!(decode_entries(&[0u8; 15]).is_empty());
    }
}
