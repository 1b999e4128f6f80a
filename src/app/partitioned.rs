//! A settle run larger than its memory limit (`settle --memory-limit`, CONTRACT.md §6): the
//! claims are checked as they are read and spilled to disk in partitions by a hash of psn_no,
//! each partition is ordered (D-06) and settled on its own, and the settlements are merged
//! back into input order while they are written. The outputs are byte for byte those of the
//! same run in memory.
//!
//! What one partition cannot see is settled before the partitions run, from a second spill
//! keyed by setl_id (S-24, S-22): a setl_id whose first row is in another partition, and a
//! reversal whose original (the first row with its init_setl_id) is in another partition —
//! another person — get the verdicts the whole input would give them ([`CrossPartition`]).
//! The same checks tell each partition its own repetitions and its reversals' originals, so
//! that no partition indexes its setl_ids again.
//!
//! Memory: the persons, the person-years and one partition at a time; the claims never all at
//! once. Disk: the partitions once (their records as encoded, not compressed), then one
//! settlement (or none) per claim of each.

use crate::engine::{self, Settled};
use crate::intake::whole::{claim_of, entry, half, id_bytes_hash};
use crate::intake::{CrossPartition, History, Part, RejectCode, Unreversible, id_hash, policy_alone, prepare_part};
use crate::io::read::{self, Input, PersonsRead, RejectRow};
use crate::io::scratch::WholeFile;
use crate::io::spill::{
    Get, MAX_VARINT, RecordReader, RecordWriter, SpillDir, Written, frame_with, frames_of, packed_bound, read_whole, records, unzigzag,
    zigzag,
};
use crate::io::write::{Format, OutputDir, TableWriter};
use crate::model::codes::{Benefit, Disease, DrugClass, MedType, NotCoveredReason, Offsite, Status};
use crate::model::{Claim, ClaimTable, Money, PersonYear, PlacedRows, Settlement, StrId, TextBytes, prefetch, prefetch_bytes, time};
use crate::pipeline::{self, Clock, RunInfo, Spent, Timer, Totals};
use crate::policy::PolicySet;
use crate::progress;
use crate::report::fund;
use crate::report::i18n::Lang;
use crate::report::markdown::Counts;
use crate::report::tables::{self, PERSON_YEAR_COLUMNS, SETTLEMENT_COLUMNS};
use anyhow::{Context, Result, bail};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Bytes of memory a claim takes in an in-memory run, all phases included, its persons apart
/// (measured on aa8c30c, 2026-12-07: 1,877 MiB peak for 10,359,404 claims of 1M persons,
/// Parquet in and out, of which ~200 MB the persons and their years: 168 bytes a claim; from
/// CSV, 1.88–1.93 GiB).
pub const BYTES_PER_CLAIM: u64 = 180;
/// Bytes a person takes: its row of the persons table, its psn_no and its place in the psn_no
/// index (106 MiB for 1M persons, 967 MiB for 10M, measured after the read), and a
/// person-year (104 bytes; 8.3M of them for the 10M persons), held until they are written.
pub const BYTES_PER_PERSON: u64 = 200;
/// A file whose rows cannot be counted (no readable Parquet footer or CSV head) is estimated at
/// this many times its size (a CSV claims file: 1.3 GB for the 10.36M claims above).
const SIZE_MEMORY_FACTOR: u64 = 2;
/// What a spilled run's read holds beside the persons, at most (and an eighth of the claims'
/// estimate below it): the 100M year's read grew 682 MiB beyond its persons (the partition of
/// every claim, a byte each, and the row groups in flight), the 10.36M year's 177 MiB.
const READ_BUFFERS: u64 = 768 << 20;
/// What the merge holds beside the partitions' buffers, at most (and an eighth of the claims'
/// estimate below it): a piece of settlements read back and its rows on their way to the
/// writers.
const MERGE_BUFFERS: u64 = 128 << 20;
/// Bytes of memory a claim takes in the buffer that the next partition's claims file is read
/// into while a partition settles: 70.2 bytes of the file in the 10.36M year's 33 partitions
/// (727,245,943 bytes, 2026-12-07; ids of 18 characters, longer ids take more), and the
/// eighth the buffer keeps to spare ([`WholeFile::read`]).
const READ_AHEAD_BYTES_PER_CLAIM: u64 = 80;
/// What each partition adds to the merge, which reads every partition at once (each one's
/// claims and settlements files through a staging block, and a frame of records): the 10.36M
/// year's merge grew 210 MiB in 10 partitions, 1,283 MiB in 256 (2026-12-07).
const PARTITION_BUFFERS: u64 = 5 << 20;
/// Bytes of spill disk a claim takes at the peak (its claims record and its key records, kept
/// until the cross-partition checks end): 10,055 MiB for the 100M year's 103,778,241 claims,
/// 101.6 bytes a claim with ids of 18 characters (2026-12-07, the integers packed; 10,250 MiB
/// before); longer ids take more.
const SPILL_DISK_PER_CLAIM: u64 = 104;
/// Bytes of spill disk a claim takes while the outputs are written (its claims record and its
/// settlement record, read by the merge): 69.3 and 18.8 bytes a claim in the 10.36M year's 33
/// partitions (718,274,262 and 195,257,669 bytes, ids of 17 characters, 2026-12-07); longer
/// ids take more.
const MERGE_SPILL_DISK_PER_CLAIM: u64 = 90;

/// Bytes of disk a claim's share of the outputs takes (its settlement row and its share of
/// the person-years; the reports are a few hundred KB): the 10.36M year's settlements and
/// person-years took 304,347,908 and 17,965,850 bytes as Parquet (31.1 a claim), 1,810,800,842
/// and 108,475,622 as CSV (185.3 a claim), ids of 17 characters (2026-12-07).
fn output_disk_per_claim(format: Format) -> u64 {
    match format {
        Format::Parquet => 32,
        Format::Csv => 188,
    }
}
/// A partition holds at most about this many claims, more partitions than the memory needs if
/// it comes to that: the 100M year (103.8M claims) in 33 partitions settled its partitions 3.5
/// and 5.5 s faster than in 17 (less memory touched afresh partition after partition), merged
/// them 0.8 and 1.3 s slower, and held 2.75 and 2.87 GiB at the peak instead of 3.49 and 3.58;
/// in 64 and 128 it was slower than either (every partition is read at once by the merge).
const PARTITION_CLAIMS: u64 = 3_200_000;
/// At most this many partitions (open spill files; a partition number is a byte).
pub const MAX_PARTITIONS: usize = 256;
/// Key buckets for the cross-partition checks: at most this many, and four per partition (a
/// bucket's keys are sorted and looked up at random, so a smaller bucket stays nearer the
/// CPU's caches: on the 100M year, 17 buckets of 6.1M keys took 10.6 and 11.2 s, 64 of 1.6M 8.0
/// and 6.4 s, 2 alternated rounds).
const MAX_KEY_BUCKETS: usize = 64;
/// The steps of a partition's settling, timed under `MEDSETTLE_TIMINGS` (wall and CPU time):
/// the read, the four of [`prepare_part`] ([`crate::intake::PREPARE_STEPS`]), the settling,
/// the settlements' encoding, and the wait for the thread writing the partition before's
/// settlements.
const SETTLE_STEPS: [&str; 8] = [
    "read the spill",
    "persons and policies",
    "repeated setl_ids",
    "reversals",
    "D-06 order",
    "settle",
    "encode the settlements",
    "wait for the settlements' writer",
];
/// Settlements merged and written a piece at a time.
const MERGE_ROWS: usize = 1 << 18;
/// What is looked up at random for each claim (its person, its partition, its settlement) is
/// fetched this many claims ahead.
const FETCH_AHEAD: usize = 8;

/// What a run of these inputs holds in memory, estimated from their rows (a Parquet file's
/// footer, a CSV file's size over its first lines').
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Need {
    /// the claims, everything that scales with them included
    pub claims: u64,
    /// the persons and their years
    pub persons: u64,
}

impl Need {
    pub fn of(claims: &[PathBuf], persons: &Path) -> Need {
        let bytes = |files: &[PathBuf], cols: &[crate::intake::Column], per_row: u64| {
            files
                .iter()
                .map(|p| match crate::io::source::expected_rows_of(std::slice::from_ref(p), cols) {
                    Some(rows) => rows.saturating_mul(per_row),
                    None => std::fs::metadata(p).map_or(0, |m| m.len()).saturating_mul(SIZE_MEMORY_FACTOR),
                })
                .fold(0u64, u64::saturating_add)
        };
        Need {
            claims: bytes(claims, crate::intake::CLAIMS, BYTES_PER_CLAIM),
            persons: bytes(&[persons.to_path_buf()], crate::intake::PERSONS, BYTES_PER_PERSON),
        }
    }

    /// The whole run in memory.
    pub fn total(&self) -> u64 {
        self.claims.saturating_add(self.persons)
    }
}

/// How a spilled run divides its memory limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    pub partitions: usize,
    /// What the run holds at its peak with these partitions, by the estimate ([`peak`]).
    pub peak: u64,
}

/// What a spilled run of `need` holds at its peak in `p` partitions, by the estimate: the
/// persons and their years, and the larger of the read's buffers and what the partitions
/// hold: one partition's claims twice (the partition being settled with its settlements, and
/// the memory of the partition before, which the allocator keeps for the next) and the next
/// one's claims file, the merge's buffers and each partition's. Measured against it before
/// the next file was read ahead, which the estimate had not counted (2026-12-07, the 100M
/// year: 3,280 MiB estimated for 33 partitions, 2,746–2,869 measured; 4,216 for 17,
/// 3,490–3,577 measured; the 10.36M year: 725 MiB for 10 partitions, 796 measured).
fn peak(need: Need, p: u64) -> u64 {
    let read = (need.claims / 8).min(READ_BUFFERS);
    let merge = (need.claims / 8).min(MERGE_BUFFERS);
    let one = need.claims.div_ceil(p);
    let file = one.saturating_mul(READ_AHEAD_BYTES_PER_CLAIM) / BYTES_PER_CLAIM;
    let partitions = one.saturating_mul(2).saturating_add(file).saturating_add(merge).saturating_add(p.saturating_mul(PARTITION_BUFFERS));
    need.persons.saturating_add(read.max(partitions))
}

/// How many partitions a run of `need` takes under `limit`: partitions of at most
/// [`PARTITION_CLAIMS`] claims, more where the limit needs smaller ones; when no number fits
/// the limit, the number that holds the least.
pub fn plan(need: Need, limit: u64) -> Plan {
    let most = MAX_PARTITIONS as u64;
    let fewest = need.claims.div_ceil(PARTITION_CLAIMS * BYTES_PER_CLAIM).clamp(2, most);
    let p =
        (fewest..=most).find(|&p| peak(need, p) <= limit).unwrap_or_else(|| (fewest..=most).min_by_key(|&p| peak(need, p)).unwrap_or(most));
    Plan { partitions: p as usize, peak: peak(need, p) }
}

impl Plan {
    /// A warning when the limit is below what the run holds at its peak by the estimate.
    pub fn warning(&self, need: Need, limit: u64) -> Option<String> {
        use indicatif::HumanBytes as B;
        (self.peak > limit).then(|| {
            format!(
                "medsettle: warning: --memory-limit {} is below what this run needs in any number of partitions: about {} by the \
                 estimate in {} partitions, of which the persons and their years ~{}; the run goes on and uses more",
                B(limit),
                B(self.peak),
                self.partitions,
                B(need.persons),
            )
        })
    }
}

/// Where a spilled run writes, for [`disk_warnings`]: the spill's folder and the outputs'
/// staging folder, each with its free space (`None` when unknown), and whether they share a
/// disk ([`crate::io::same_disk`]).
struct Disks<'a> {
    spill: (&'a Path, Option<u64>),
    out: (&'a Path, Option<u64>),
    shared: bool,
}

/// A warning for each disk whose free space is less than a spilled run of `need` writes to
/// it at its peak, by the estimate: the spill's, at most the read's spill
/// ([`SPILL_DISK_PER_CLAIM`]) or, on a disk the outputs share, the merge's spill
/// ([`MERGE_SPILL_DISK_PER_CLAIM`]) beside the outputs being written (in `format`); the
/// outputs' own disk, the outputs. A city-year spills gigabytes and writes gigabytes more,
/// and a disk that fills fails the run (the previous outputs stay) only once it is full,
/// after most of its work; the run goes on, since the estimate may be high (shorter ids).
fn disk_warnings(need: Need, format: Format, disks: &Disks) -> Vec<String> {
    const SPILL_ELSEWHERE: &str = "--spill-dir puts the spill on another disk";
    let both = MERGE_SPILL_DISK_PER_CLAIM + output_disk_per_claim(format);
    let (takes, per_claim) = match disks.shared {
        true if both > SPILL_DISK_PER_CLAIM => ("the spill and the outputs take", both),
        _ => ("the spill takes", SPILL_DISK_PER_CLAIM),
    };
    let spill = short_disk(takes, need, per_claim, disks.spill, SPILL_ELSEWHERE);
    let out = (!disks.shared).then(|| output_disk_warning(need, format, disks.out)).flatten();
    spill.into_iter().chain(out).collect()
}

/// A warning when the outputs' disk (their staging `folder`, with its free space, `None`
/// when unknown) has less free space than the outputs of a run of `need` take in `format`, by
/// the estimate: a run in memory's, or a spilled run's whose spill is on another disk.
pub fn output_disk_warning(need: Need, format: Format, out: (&Path, Option<u64>)) -> Option<String> {
    short_disk("the outputs take", need, output_disk_per_claim(format), out, "--out on another disk takes them")
}

/// A warning when `folder`'s free space (`None` when unknown) is less than `per_claim` bytes
/// for each claim of `need`: what `takes` (the message's subject) at the run's peak, and how
/// to give it more (`remedy`).
fn short_disk(takes: &str, need: Need, per_claim: u64, (folder, free): (&Path, Option<u64>), remedy: &str) -> Option<String> {
    use indicatif::HumanBytes as B;
    let bytes = need.claims.div_ceil(BYTES_PER_CLAIM).saturating_mul(per_claim);
    let free = free.filter(|&f| f < bytes)?;
    Some(format!(
        "medsettle: warning: {takes} about {} of disk at the peak by the estimate ({per_claim} bytes a claim), and {} has {} free; \
         the run fails if the disk fills ({remedy})",
        B(bytes),
        folder.display(),
        B(free),
    ))
}

/// Half of this machine's memory (the default `--memory-limit`); 8 GiB when unknown.
pub fn default_memory_limit() -> u64 {
    let total = std::fs::read_to_string("/proc/meminfo").ok().and_then(|s| {
        s.lines().find(|l| l.starts_with("MemTotal:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok()).map(|kib| kib * 1024)
    });
    total.map(|t| t / 2).unwrap_or(8 << 30)
}

/// Parses a size: bytes, or a number with K/M/G/T (powers of 1024; `KiB`, `KB`, `k` alike).
pub fn parse_size(s: &str) -> std::result::Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let unit = unit.trim().to_ascii_lowercase();
    let shift = match unit.trim_end_matches('b').trim_end_matches('i') {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        _ => return Err(format!("`{s}` is not a size (e.g. 6GiB, 512MiB, 1048576)")),
    };
    let bad = || format!("`{s}` is not a size (e.g. 6GiB, 512MiB, 1048576)");
    let v = match num.split_once('.') {
        None => num.parse::<u64>().map_err(|_| bad())?.checked_mul(1u64 << shift).ok_or_else(bad)?,
        // a fraction of a unit, e.g. 1.5GiB: exact in integers (at most 6 decimals)
        Some((w, f)) if f.len() <= 6 && !f.is_empty() => {
            let whole = w.parse::<u64>().map_err(|_| bad())?;
            let frac = f.parse::<u64>().map_err(|_| bad())?;
            let scale = 10u64.pow(f.len() as u32);
            whole.checked_mul(1u64 << shift).ok_or_else(bad)? + ((frac as u128 * (1u128 << shift)) / scale as u128) as u64
        }
        Some(_) => return Err(bad()),
    };
    if v == 0 {
        return Err(format!("`{s}`: the memory limit must be more than 0"));
    }
    Ok(v)
}

/// What is settled, and how.
pub struct Job<'a> {
    pub claims: &'a [PathBuf],
    pub persons: &'a Path,
    pub policies: &'a PolicySet,
    pub out: &'a Path,
    pub format: Format,
    pub lang: Lang,
    pub strict: bool,
    /// where the spill folder goes (default: the output's staging folder)
    pub spill_dir: Option<&'a Path>,
    pub partitions: usize,
    /// what the run would hold in memory, by the estimate ([`Need::of`])
    pub need: Need,
}

/// A claim in a partition's spill file: its text ids' bytes (None = absent; checked as UTF-8
/// by [`TextBytes::finish`], a frame's at once), the claim, its `rare_fund_pay` (held beside
/// the claims, [`ClaimTable::rare_fund_pay`]) and its [`policy_alone`], found by the read.
type SpilledClaim<'a> = ([Option<&'a [u8]>; 3], Claim, Money, Option<u16>);

/// A claim's position in the input: its file, then its row (record number or line). Unique,
/// and increasing in input order, so the read's threads number claims without counting the
/// claims before theirs (a row rejected by the read leaves a gap).
fn position(c: &Claim) -> u64 {
    (u64::from(c.file) << 32) | u64::from(c.line)
}

/// Appends a spilled claim to `buf`, framed: its integers packed (psn, setl_time, its
/// amounts and `rare_fund_pay`, file, line, policy), its codes, its ids' texts
/// ([`get_claim`] reads them back).
fn put_claim(buf: &mut Vec<u8>, (s, c, rare_fund_pay, policy): (&[Option<&str>; 3], &Claim, Money, Option<u16>)) -> Result<()> {
    // 10 integers packed, 6 bytes, the texts' bytes and their lengths' varints at most
    let bound = packed_bound(10) + 6 + s.iter().map(|t| t.map_or(0, str::len)).sum::<usize>() + 3 * MAX_VARINT;
    frame_with(buf, bound, |w| {
        w.packed([
            u64::from(c.psn),
            zigzag(c.setl_time),
            packed_fen(c.fulamt_ownpay_amt),
            packed_fen(c.overlmt_selfpay),
            packed_fen(c.preselfpay_amt),
            packed_fen(c.inscp_scp_amt),
            packed_fen(rare_fund_pay),
            u64::from(c.file),
            u64::from(c.line),
            policy.map_or(0, |p| u64::from(p) + 1),
        ]);
        w.byte(c.med_type.0);
        w.byte(c.level);
        w.byte(c.offsite.ordinal());
        w.byte(c.drug_class.ordinal());
        w.byte(c.disease.map_or(0, |d| d.ordinal() + 1));
        w.byte(u8::from(c.reversal));
        for id in s {
            w.text(*id);
        }
    })
}

/// An amount as a packed integer (its fen, zigzagged: a reversal's are negative).
fn packed_fen(m: Money) -> u64 {
    zigzag(m.fen())
}

/// The amount [`packed_fen`] packed.
fn unpacked_fen(v: u64) -> Money {
    Money::from_fen(unzigzag(v))
}

/// Reads a claim [`put_claim`] wrote (its ids' indices are left for [`place_claim`] to set).
fn get_claim(rec: &[u8]) -> Option<SpilledClaim<'_>> {
    let mut r = Get::new(rec);
    let [psn, setl_time, a, b, c, d, rare, file, line, policy] = r.packed::<10>()?;
    let c = Claim {
        setl_id: StrId::NONE,
        mdtrt_id: StrId::NONE,
        psn: u32::try_from(psn).ok()?,
        setl_time: unzigzag(setl_time),
        fulamt_ownpay_amt: unpacked_fen(a),
        overlmt_selfpay: unpacked_fen(b),
        preselfpay_amt: unpacked_fen(c),
        inscp_scp_amt: unpacked_fen(d),
        med_type: MedType::from_code(r.byte()?)?,
        level: r.byte()?,
        offsite: Offsite::from_ordinal(r.byte()?)?,
        drug_class: DrugClass::from_ordinal(r.byte()?)?,
        disease: match r.byte()? {
            0 => None,
            d => Some(Disease::from_ordinal(d - 1)?),
        },
        reversal: match r.byte()? {
            0 => false,
            1 => true,
            _ => return None,
        },
        file: u16::try_from(file).ok()?,
        line: u32::try_from(line).ok()?,
    };
    let policy = match policy {
        0 => None,
        p => Some(u16::try_from(p - 1).ok()?),
    };
    let s = [r.text_bytes()?, r.text_bytes()?, r.text_bytes()?];
    r.at_end().then_some((s, c, unpacked_fen(rare), policy))
}

/// Appends a partition's settlement of a claim to `buf`, framed, or none for a claim it
/// refused ([`get_settlement`] reads it back).
fn put_settlement(buf: &mut Vec<u8>, st: Option<&Settlement>) -> Result<()> {
    // a flag, 3 bytes and 9 integers packed at most
    frame_with(buf, 4 + packed_bound(9), |w| {
        let Some(st) = st else { return w.byte(0) };
        w.byte(1);
        w.byte(st.benefit.ordinal());
        w.byte(st.status.ordinal());
        w.byte(st.reason.map_or(0, |r| r.ordinal() + 1));
        w.packed([
            zigzag(i64::from(st.year)),
            u64::from(st.policy),
            packed_fen(st.act_pay_dedc),
            packed_fen(st.hifp_pay),
            packed_fen(st.hifob_pay),
            packed_fen(st.hifmi_pay),
            packed_fen(st.maf_pay),
            packed_fen(st.psn_part_amt),
            packed_fen(st.oth_pay),
        ]);
    })
}

/// Reads a settlement record [`put_settlement`] wrote: `Some(None)` for a refused claim,
/// `None` for a damaged record.
fn get_settlement(rec: &[u8]) -> Option<SpilledSettlement> {
    let mut r = Get::new(rec);
    if r.byte()? == 0 {
        return r.at_end().then_some(None);
    }
    let benefit = Benefit::from_ordinal(r.byte()?)?;
    let status = Status::from_ordinal(r.byte()?)?;
    let reason = match r.byte()? {
        0 => None,
        k => Some(NotCoveredReason::from_ordinal(k - 1)?),
    };
    let [year, policy, act_pay_dedc, hifp_pay, hifob_pay, hifmi_pay, maf_pay, psn_part_amt, oth_pay] = r.packed::<9>()?;
    let st = Settlement {
        year: i16::try_from(unzigzag(year)).ok()?,
        policy: u16::try_from(policy).ok()?,
        benefit,
        status,
        reason,
        act_pay_dedc: unpacked_fen(act_pay_dedc),
        hifp_pay: unpacked_fen(hifp_pay),
        hifob_pay: unpacked_fen(hifob_pay),
        hifmi_pay: unpacked_fen(hifmi_pay),
        maf_pay: unpacked_fen(maf_pay),
        psn_part_amt: unpacked_fen(psn_part_amt),
        oth_pay: unpacked_fen(oth_pay),
    };
    r.at_end().then_some(Some(st))
}

/// The file and row of a [`position`].
fn file_line(pos: u64) -> (u16, u32) {
    ((pos >> 32) as u16, pos as u32)
}
/// A partition's settlement file holds one record per claim of its claims file, in the same
/// order: the claim's settlement, or none for a claim refused by the partition's checks.
type SpilledSettlement = Option<Settlement>;

/// The key spill (by setl_id bucket): every claim's setl_id, and every reversal's lookup of
/// its original.
#[derive(Serialize, Deserialize)]
enum KeyRecord<'a> {
    Id { setl_id: &'a str, pos: u64, part: u32, reversal: bool, refused: bool },
    Lookup { init: &'a str, pos: u64, part: u32 },
}

/// A cross-partition verdict for the claim at `pos` of partition `part`.
#[derive(Clone, Debug)]
enum Verdict {
    /// a repetition of the setl_id first seen at this file and line
    Duplicate { file: u16, line: u32 },
    /// a reversal refused for what it finds (or does not find) in other partitions
    Reversal(RejectCode, String),
    /// a reversal whose original is the claim at this position, in the same partition
    Original(u64),
}

/// The text ids of claim `ci` (setl_id, mdtrt_id, a reversal's init_setl_id).
fn strs(t: &ClaimTable, ci: usize) -> [Option<&str>; 3] {
    let c = &t.claims[ci];
    let init = t.reversal_of(ci).map_or(StrId::NONE, |r| r.init_setl_id);
    [c.setl_id, c.mdtrt_id, init].map(|id| (!id.is_none()).then(|| t.strings.get(id)))
}

/// Puts a spilled claim's ids' texts into `texts` and their ids into the claim; returns the
/// third's (a reversal's init_setl_id), [`StrId::NONE`] for an absent text.
fn set_ids(c: &mut Claim, texts: &mut TextBytes, s: [Option<&[u8]>; 3]) -> StrId {
    let [setl_id, mdtrt_id, init_setl_id] = s.map(|s| s.map_or(StrId::NONE, |s| texts.push(s)));
    c.setl_id = setl_id;
    c.mdtrt_id = mdtrt_id;
    init_setl_id
}

/// Decodes a frame of a partition's claims file in place: its claims into `claims`, their
/// positions and policies beside, their texts and side lists into `rows` (the ids numbered
/// from 0, [`ClaimTable::placing`]); `None` for a damaged frame: a record that does not read,
/// or other records than slots.
fn decode_frame(frame: &[u8], (claims, pos, policy): (&mut [Claim], &mut [u64], &mut [Option<u16>]), rows: &mut PlacedRows) -> Option<()> {
    // a record's ids are fewer bytes than it
    let mut texts = rows.start(3 * claims.len(), frame.len());
    let mut slots = claims.iter_mut().zip(pos.iter_mut().zip(policy.iter_mut()));
    for (i, rec) in records(frame).enumerate() {
        let (slot, (at, pol)) = slots.next()?;
        (*at, *pol) = place_claim(rec.ok()?, i as u32, slot, &mut texts, rows)?;
    }
    rows.strings = texts.finish()?;
    slots.next().is_none().then_some(())
}

/// Decodes a spilled claim's record into `slot`, the `i`th of a run decoded in place: its ids'
/// texts into `texts`, what it carries beside into `rows` ([`PlacedRows`]); returns its
/// position and policy, `None` for a damaged record.
fn place_claim(rec: &[u8], i: u32, slot: &mut Claim, texts: &mut TextBytes, rows: &mut PlacedRows) -> Option<(u64, Option<u16>)> {
    let (s, mut c, rare_fund_pay, policy) = get_claim(rec)?;
    let init_setl_id = set_ids(&mut c, texts, s);
    if c.reversal {
        rows.reversals.push((i, init_setl_id));
    }
    if !rare_fund_pay.is_zero() {
        rows.rare_fund.push((i, rare_fund_pay));
    }
    let at = position(&c);
    *slot = c;
    Some((at, policy))
}

/// Runs the job; returns the counts (the outputs are committed).
pub fn run(job: &Job, command: &str) -> Result<Counts> {
    let mut timer = Timer::new();
    let hashes = pipeline::InputHashes::start(job.claims, job.persons);
    let policies = job.policies;
    let mut out = OutputDir::new(job.out)?;
    let spill_parent = job.spill_dir.map(Path::to_path_buf).unwrap_or_else(|| out.staging().to_path_buf());
    let spill = SpillDir::for_run(&spill_parent, &mut |path, why| {
        eprintln!("medsettle: warning: cannot remove {}, the spill of an earlier run that ended: {why}; remove it by hand", path.display())
    })?;
    let (staging, free) = (out.staging(), crate::io::free_space);
    let disks = Disks {
        spill: (spill.path(), free(spill.path())),
        out: (staging, free(staging)),
        shared: crate::io::same_disk(spill.path(), staging),
    };
    for w in disk_warnings(job.need, job.format, &disks) {
        eprintln!("{w}");
    }
    let parts = job.partitions.clamp(1, MAX_PARTITIONS);
    let buckets = (parts * 4).min(MAX_KEY_BUCKETS);

    let persons_index = u16::try_from(job.claims.len()).context("too many input files")?;
    let aliases = read::aliases_of(policies);
    let pb = progress::reading_persons(job.persons, "persons");
    let persons = read::read_persons_only(job.persons, persons_index, &aliases, None, &|n| progress::grow(&pb, n))?;
    pb.finish_and_clear();
    timer.mark("read persons");
    let part_of: Vec<u32> = persons.table.persons.par_iter().map(|p| (id_hash(&p.psn_no) % parts as u64) as u32).collect();

    // 1. Read, check and spill: claims by person partition, keys by setl_id bucket.
    let mut claim_files = (0..parts).map(|p| RecordWriter::create(&spill.file(&format!("claims-{p}")))).collect::<Result<Vec<_>>>()?;
    let mut key_files = (0..buckets).map(|q| RecordWriter::create(&spill.file(&format!("keys-{q}")))).collect::<Result<Vec<_>>>()?;
    let mut read_rejects: Vec<RejectRow> = Vec::new();
    let mut claim_years: BTreeSet<i32> = BTreeSet::new();
    let mut claims_read = 0u64;
    // The partition of every claim in input order (at most 256 partitions): the merge's map.
    let mut seq: Vec<u8> = Vec::new();
    let inputs: Vec<Input> = job.claims.iter().map(|p| Input::File(p.clone())).collect();
    let pb = progress::reading(job.claims, "reading and spilling");
    let rows = {
        // The read's threads encode what they checked; the sink only writes it.
        let ctx = SpillCtx { persons: &persons, policies, part_of: &part_of, parts, buckets };
        let mut sink = |e: Encoded, _reserve: usize| -> Result<()> {
            read_rejects.extend(e.rejects);
            claim_years.extend(e.years);
            claims_read += e.seq.len() as u64;
            seq.extend_from_slice(&e.seq);
            // a partition or bucket without records has an empty frame, which is not written
            for (p, (bytes, n)) in e.claims.into_iter().enumerate() {
                claim_files[p].put_frame(&bytes, n)?;
            }
            for (q, (bytes, n)) in e.keys.into_iter().enumerate() {
                key_files[q].put_frame(&bytes, n)?;
            }
            Ok(())
        };
        let prep = |parts: Vec<Part>| ctx.encode(parts);
        read::stream_claim_inputs(&inputs, &persons, &aliases, &|n| progress::grow(&pb, n), &prep, &mut sink)?
    };
    pb.finish_and_clear();
    let spilled: Vec<Written> = claim_files.into_iter().map(RecordWriter::finish).collect::<Result<_>>()?;
    for k in key_files {
        k.finish()?;
    }
    let spilled_bytes = spill.bytes();
    let mut peak_bytes = spilled_bytes;
    timer.mark("read, check, spill");

    // 2. Cross-partition checks by setl_id bucket, two buckets at a time (each holds 1/buckets
    // of the keys in memory). The key files are read whole, in order, by a thread of their own,
    // two ahead of the checks: read by the checks' threads, the disk kept them waiting (the
    // 100M year's checks: 5.0–5.2 s of wall, 5.8–5.9 s of CPU on 2 cores).
    let pb = progress::steps(buckets as u64, "cross-checking");
    let per_bucket: Vec<Vec<(u32, u64, Verdict)>> = std::thread::scope(|s| -> Result<_> {
        let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<(usize, WholeFile)>(2);
        let (empty_tx, empty_rx) = std::sync::mpsc::channel::<WholeFile>();
        let spill = &spill;
        let reader = s.spawn(move || -> Result<()> {
            for q in 0..buckets {
                let path = spill.file(&format!("keys-{q}"));
                let file = read_whole(&path, empty_rx.try_recv().unwrap_or_default())?;
                let _ = std::fs::remove_file(&path);
                // the checks stopped (at an error of theirs)
                if full_tx.send((q, file)).is_err() {
                    break;
                }
            }
            Ok(())
        });
        let full_rx = std::sync::Mutex::new(full_rx);
        let checked = (0..buckets)
            .into_par_iter()
            .with_max_len(1)
            .map(|_| {
                let next = full_rx.lock().ok().and_then(|rx| rx.recv().ok());
                // the reader stopped at an error, told below
                let (q, file) = next.context("the key files' reading stopped")?;
                let v = cross_checks(&spill.file(&format!("keys-{q}")), file.bytes())?;
                let _ = empty_tx.send(file);
                pb.inc(1);
                Ok(v)
            })
            .collect::<Result<_>>();
        // The reader, if still reading, stops at its next file.
        drop(full_rx);
        reader.join().unwrap_or_else(|_| bail!("internal: the key files' reader stopped"))?;
        checked
    })?;
    pb.finish_and_clear();
    let mut verdicts: Vec<(u32, u64, Verdict)> = per_bucket.into_iter().flatten().collect();
    verdicts.sort_by_key(|v| (v.0, v.1));
    timer.mark("cross-partition checks");

    // 3. Each partition: order, settle, spill its settlements in input order.
    let mut years: Vec<PersonYear> = Vec::new();
    let mut part_rejects: Vec<RejectRow> = Vec::new();
    let pb = progress::bar(claims_read, "settling partitions");
    let mut v_at = 0;
    // One partition's claims and positions, and the pieces they are decoded in, their memory
    // kept from partition to partition.
    let mut scratch = PartScratch::default();
    // Each step's wall and CPU time, added over the partitions.
    let mut spent = [Spent::default(); SETTLE_STEPS.len()];
    // A partition's settlements are written on a thread of their own while the next partition
    // is read: written by the main thread, they kept the pool waiting on the disk.
    let join =
        |h: std::thread::ScopedJoinHandle<Result<()>>| h.join().unwrap_or_else(|_| bail!("internal: the settlements' writer stopped"));
    // A partition's claims file is read whole on a thread of its own while the partition
    // before settles, into the buffer that one was read into: read in the partition's time,
    // the disk kept the pool waiting (the 100M year's "read the spill": 8.75 s of wall, 10.45
    // s of CPU on 2 cores).
    let read_claims = |p: usize, reuse: WholeFile| read_whole(&spill.file(&format!("claims-{p}")), reuse);
    std::thread::scope(|s| -> Result<()> {
        let mut writing = None;
        let mut reading = Some(s.spawn(move || read_claims(0, WholeFile::default())));
        let mut last_years = 0;
        for (p, written) in spilled.iter().enumerate() {
            let v_end = v_at + verdicts[v_at..].partition_point(|v| v.0 as usize == p);
            let mine = &verdicts[v_at..v_end];
            v_at = v_end;
            let path = spill.file(&format!("claims-{p}"));
            // Room for every partition's person-years left, estimated from the last one's
            // (the partitions are alike by the hash) with an eighth to spare: grown by
            // doubling, the 100M year's 1.7 GB list was copied at each growth into fresh
            // pages, which the kernel zeroes. Each partition writes its years straight into
            // the list, in parallel, as it settles.
            if years.capacity() - years.len() < last_years {
                let rest = last_years.saturating_mul(spilled.len() - p);
                years.reserve(rest.saturating_add(rest / 8));
            }
            let before = years.len();
            // The claims file stays for the merge, which reads it beside the settlements.
            let file = reading
                .take()
                .map(|h| h.join().unwrap_or_else(|_| bail!("internal: the spill's reader stopped")))
                .unwrap_or_else(|| bail!("internal: partition {p}'s claims were not read"))?;
            let mut release = |buf| {
                if p + 1 < spilled.len() {
                    reading = Some(s.spawn(move || read_claims(p + 1, buf)));
                }
            };
            let (rejects, frames) = settle_partition(
                &path,
                file,
                &mut release,
                &written.frames,
                mine,
                &persons,
                policies,
                &mut years,
                &mut scratch,
                &mut spent,
            )?;
            last_years = years.len() - before;
            let mut wait = Clock::start();
            if let Some(h) = writing.take() {
                join(h)?;
            }
            let settled_path = spill.file(&format!("settled-{p}"));
            writing = Some(s.spawn(move || write_settled(&settled_path, frames)));
            pb.inc(written.records());
            peak_bytes = peak_bytes.max(spill.bytes());
            part_rejects.extend(rejects);
            spent[SETTLE_STEPS.len() - 1] += wait.lap();
        }
        writing.map_or(Ok(()), join)
    })?;
    peak_bytes = peak_bytes.max(spill.bytes());
    // The last partition's claims are not needed by the merge, which reads its own.
    drop(scratch);
    pb.finish_and_clear();
    timer.mark("settle partitions");
    timer.note(
        &SETTLE_STEPS
            .iter()
            .zip(spent)
            .map(|(name, t)| format!("{name} {:.2} s cpu {:.2} s", t.wall.as_secs_f64(), t.cpu.as_secs_f64()))
            .collect::<Vec<_>>()
            .join(", "),
    );

    // Every reject is known now (read, partitions, persons): --strict stops before writing.
    let read_rejected = read_rejects.len() as u64;
    let mut rejects = read_rejects;
    rejects.extend(part_rejects);
    let claim_rejected = rejects.len() as u64;
    rejects.extend(persons.rejects.iter().cloned());
    rejects.sort_by_key(|r| (r.file, r.line));
    let file_names: Vec<String> = job.claims.iter().map(|p| p.display().to_string()).chain([job.persons.display().to_string()]).collect();
    if job.strict {
        pipeline::refuse_rows(&rejects, &|i| file_names.get(i as usize).cloned().unwrap_or_default(), "nothing written")?;
    }

    // 4. Merge the settlements into input order while writing them and summing the totals;
    // meanwhile the person-years are ordered and written.
    let mut totals = Totals::default();
    let mut fr = fund::FundReport::new();
    let mut statuses = Counts::default();
    let mut w = TableWriter::new(&mut out, "settlements", job.format, SETTLEMENT_COLUMNS)?;
    let mut yw = TableWriter::new(&mut out, "person_years", job.format, PERSON_YEAR_COLUMNS)?;
    let (merged, years_written) = rayon::join(
        || -> Result<()> {
            let mut merge = Merge::open(&spill, parts, &seq)?;
            let pb = progress::bar((claims_read + read_rejected).saturating_sub(claim_rejected), "writing");
            // The next piece is merged while the current one is written, into the memory of
            // the one written before.
            let mut spare = Default::default();
            let mut piece = merge.next_piece(MERGE_ROWS, Default::default())?;
            while let Some((table, settled)) = piece {
                let rows: Vec<u32> = (0..table.claims.len() as u32).collect();
                let piece_rows = tables::settlement_rows(&table, &persons.table, policies, &settled, &rows);
                // The piece's sums beside its writing, not after it on this thread alone.
                let ((written, ()), next) = rayon::join(
                    || {
                        rayon::join(
                            || piece_rows.write(&mut w, &|k| pb.inc(k)),
                            || {
                                let (part_fund, part_months) = fund::claim_sums(&table, &persons.table, &settled);
                                fund::merge(&mut fr, part_fund);
                                totals.by_month.merge(part_months);
                                totals.add_reasons(&settled);
                                statuses.add_statuses(&settled);
                            },
                        )
                    },
                    || merge.next_piece(MERGE_ROWS, std::mem::take(&mut spare)),
                );
                written?;
                piece = next?;
                spare = (table, settled);
            }
            merge.finish()?;
            w.finish(&|k| pb.inc(k))?;
            pb.finish_and_clear();
            Ok(())
        },
        || -> Result<()> {
            engine::order_person_years(&mut years, &persons.table);
            let row = tables::person_year_row(&persons.table, policies, &years);
            yw.write(years.len(), &row, &|_| {})?;
            yw.finish(&|_| {})
        },
    );
    merged?;
    years_written?;
    drop(spill);
    timer.mark("merge, write settlements");
    fund::add_tilted(&years, &persons.table, &mut fr);
    totals.missing_base = fund::income_for_years(&persons.table, policies, &claim_years, &mut fr);
    totals.fund = fr;
    timer.mark("person-years, fund report");

    totals.rejects = rejects;
    totals.counts = Counts {
        read: rows.iter().sum(),
        settled: statuses.settled,
        not_covered: statuses.not_covered,
        reversal: statuses.reversal,
        rejected: claim_rejected,
        persons_read: persons.rows,
        persons_rejected: persons.rejects.len() as u64,
        person_years: years.len() as u64,
    };
    let files = hashes.finish(job.claims, &rows, job.persons, persons.rows)?;
    let info = RunInfo { loaded_files: &files, file_names, state: None, persons: &persons.table, years: &years };
    let counts = pipeline::write_rest(&mut out, None, job.format, &info, policies, &totals, command, "Settlement report", job.lang)?;
    out.commit()?;
    timer.mark("reports, commit");
    if std::env::var_os("MEDSETTLE_TIMINGS").is_some() {
        eprintln!(
            "spill: {parts} partitions; {} MiB written by the read, {} MiB on disk at the peak",
            spilled_bytes >> 20,
            peak_bytes >> 20
        );
    }
    Ok(counts)
}

struct SpillCtx<'a> {
    persons: &'a PersonsRead,
    policies: &'a PolicySet,
    part_of: &'a [u32],
    parts: usize,
    buckets: usize,
}

/// A run of checked rows encoded for the spill files: (frame, records) per partition and per
/// key bucket, the partition of each claim, the settlement years seen and the rows rejected.
struct Encoded {
    claims: Vec<(Vec<u8>, u64)>,
    /// the partition of each claim
    seq: Vec<u8>,
    keys: Vec<(Vec<u8>, u64)>,
    years: BTreeSet<i32>,
    rejects: Vec<RejectRow>,
}

impl SpillCtx<'_> {
    fn encode(&self, parts: Vec<Part>) -> Result<Encoded> {
        let n = parts.iter().map(|(t, _)| t.claims.len()).sum();
        let mut e = Encoded {
            claims: vec![(Vec::new(), 0); self.parts],
            seq: Vec::with_capacity(n),
            keys: vec![(Vec::new(), 0); self.buckets],
            years: BTreeSet::new(),
            rejects: Vec::new(),
        };
        let mut year = None;
        for (t, rejects) in parts {
            e.rejects.extend(rejects);
            for (ci, c) in t.claims.iter().enumerate() {
                // A claim's person and partition are looked up at random (10M persons at a
                // city's scale): each is fetched a few claims ahead (the read, check and spill
                // of the 100M year: 112–120 s of CPU against 119–131 s, 2 alternated rounds).
                if let Some(ahead) = t.claims.get(ci + FETCH_AHEAD) {
                    prefetch(self.persons.table.persons.as_ptr().wrapping_add(ahead.psn as usize));
                    prefetch(self.part_of.as_ptr().wrapping_add(ahead.psn as usize));
                }
                let pos = position(c);
                let part = self.part_of[c.psn as usize];
                e.seq.push(part as u8);
                let s = strs(&t, ci);
                let policy = policy_alone(&t, ci, &self.persons.table, self.policies);
                let slot = &mut e.claims[part as usize];
                put_claim(&mut slot.0, (&s, c, t.rare_fund_pay(ci), policy))?;
                slot.1 += 1;
                // a run of claims mostly shares its year: one set insert per change
                let y = time::year_of(c.setl_time);
                if year != Some(y) {
                    e.years.insert(y);
                    year = Some(y);
                }
                let setl_id = s[0].unwrap_or("");
                let refused = policy.is_none();
                let slot = &mut e.keys[(id_hash(setl_id) % self.buckets as u64) as usize];
                put_key(&mut slot.0, &KeyRecord::Id { setl_id, pos, part, reversal: c.reversal, refused })?;
                slot.1 += 1;
                if c.reversal {
                    let init = s[2].unwrap_or("");
                    let slot = &mut e.keys[(id_hash(init) % self.buckets as u64) as usize];
                    put_key(&mut slot.0, &KeyRecord::Lookup { init, pos, part })?;
                    slot.1 += 1;
                }
            }
        }
        Ok(e)
    }
}

/// Writes a key record by hand, in the bytes postcard writes for it (its variant's index, then
/// its fields in order: texts as their length and bytes, integers as varints, flags as a
/// byte), which [`cross_checks`] reads with postcard: two records a claim at most, where
/// postcard's serde calls were a twentieth of the 100M year's read (perf, 2026-12-07).
fn put_key(buf: &mut Vec<u8>, k: &KeyRecord) -> Result<()> {
    let (kind, text, pos, part) = match k {
        KeyRecord::Id { setl_id, pos, part, .. } => (0, setl_id, pos, part),
        KeyRecord::Lookup { init, pos, part } => (1, init, pos, part),
    };
    // the kind, the text's bytes, 3 varints and 2 flags at most
    frame_with(buf, 1 + text.len() + 3 * MAX_VARINT + 2, |w| {
        w.byte(kind);
        w.varint(text.len() as u64);
        w.bytes(text.as_bytes());
        w.varint(*pos);
        w.varint(u64::from(*part));
        if let KeyRecord::Id { reversal, refused, .. } = k {
            w.byte(u8::from(*reversal));
            w.byte(u8::from(*refused));
        }
    })
}

/// The setl_id's bytes and the position of an id's key record, read without decoding the
/// rest: [`KeyRecord::Id`] as postcard writes it (its kind 0, the text's length and bytes,
/// the position, as varints); `None` for another record, or a damaged one.
fn id_head(rec: &[u8]) -> Option<(&[u8], u64)> {
    let mut r = Get::new(rec);
    if r.byte()? != 0 {
        return None;
    }
    let n = usize::try_from(r.varint()?).ok()?;
    let setl_id = r.bytes(n)?;
    Some((setl_id, r.varint()?))
}

/// The verdicts of one setl_id bucket, from its key file's bytes (`file`, read whole from
/// `path`, which messages name): every repetition of a setl_id, and every reversal's
/// original (its position, when in the reversal's partition), or its refusal, when it is in
/// another partition or nowhere. The partitions need no setl_id index of their own then
/// ([`CrossPartition::originals`]): building one took 3.2–3.6 s of the 100M year's partitions.
fn cross_checks(path: &Path, file: &[u8]) -> Result<Vec<(u32, u64, Verdict)>> {
    // The bucket's file, read whole (`file`); its records read in place (the ids borrow it)
    // and in parallel: a record's first byte is its kind (postcard's variant index), so the
    // few lookups are found without decoding every record twice.
    let damaged = || format!("a damaged record in {}", path.display());
    let frames = frames_of(file).with_context(damaged)?;
    // The ids' records and the lookups', in one pass. A record takes at least 8 bytes of the
    // file (its length, kind, text's length, position and partition), so the ids' vector never
    // grows by copying; the room beyond its records is never touched.
    let (mut id_recs, mut lookup_recs): (Vec<&[u8]>, Vec<&[u8]>) = (Vec::with_capacity(file.len() / 8), Vec::new());
    for rec in frames.iter().flat_map(|b| records(b)) {
        let rec = rec.with_context(damaged)?;
        if rec.first() == Some(&1) { lookup_recs.push(rec) } else { id_recs.push(rec) }
    }
    struct Id<'a> {
        /// [`id_bytes_hash`] of the setl_id: its top half sorts, so that strings are compared
        /// only within the runs sharing it
        hash: u64,
        setl_id: &'a str,
        /// [`position`]: the claim's file and row
        pos: u64,
        part: u32,
        reversal: bool,
        refused: bool,
    }
    // Every id's hash and position, read from the head of its record (its text neither
    // checked as UTF-8 nor copied); the whole record is decoded only for the few ids whose
    // hash shares its top half with another's, and for the lookups' candidates, below.
    // Collected in place by index, a damaged record told by a flag: a collect of `Result`s
    // gathers pieces in a list and copies them together (with the records' two lists before
    // the one-pass split above, a fifth of the checks' samples at 100M, `perf record`; the
    // checks' CPU 6.78-7.26 s → 3.75-4.57 s, their wall 3.62-3.88 → 2.78-3.31 s, 3 alternated
    // rounds, 2026-12-07: now about the time the disk takes to read the 2.9 GB of keys).
    let damaged_head = std::sync::atomic::AtomicBool::new(false);
    let mut heads: Vec<(u64, u64)> = Vec::with_capacity(id_recs.len());
    id_recs
        .par_iter()
        .map(|r| match id_head(r) {
            Some((s, pos)) => (id_bytes_hash(s), pos),
            None => {
                damaged_head.store(true, std::sync::atomic::Ordering::Relaxed);
                (0, 0)
            }
        })
        .collect_into_vec(&mut heads);
    if damaged_head.into_inner() {
        bail!("{}", damaged());
    }
    let id = |i: u32| -> Result<Id> {
        let i = i as usize;
        match postcard::from_bytes::<KeyRecord>(id_recs[i]).with_context(damaged)? {
            KeyRecord::Id { setl_id, pos, part, reversal, refused } => Ok(Id { hash: heads[i].0, setl_id, pos, part, reversal, refused }),
            KeyRecord::Lookup { .. } => bail!("{}", damaged()),
        }
    };
    let lookups: Vec<(u64, &str, u64, u32)> = lookup_recs
        .par_iter()
        .map(|r| match postcard::from_bytes::<KeyRecord>(r).with_context(damaged)? {
            KeyRecord::Lookup { init, pos, part } => Ok((id_bytes_hash(init.as_bytes()), init, pos, part)),
            KeyRecord::Id { .. } => bail!("{}", damaged()),
        })
        .collect::<Result<_>>()?;
    // The ids come in input order (the read wrote them so); sorted by the top half of their
    // hash, then by that order, as one word each (8 bytes, no string compared): the first of
    // equal ids is then their first row.
    if !heads.windows(2).all(|w| w[0].1 < w[1].1) || u32::try_from(heads.len()).is_err() {
        bail!("{}", damaged());
    }
    let mut keys: Vec<u64> = heads.par_iter().enumerate().map(|(i, &(hash, _))| entry(hash, i as u32)).collect();
    // A stable radix sort by the half keeps the ids' order within a half: the entries' order.
    radsort::sort_by_key(&mut keys, |&k| half(k) as u32);
    let mut out = Vec::new();
    // Repetitions, in one pass over the runs sharing a half (mostly an id and its
    // repetitions): within a run, equal ids in input order. The first row (lowest position)
    // is kept; every repetition, in its partition or another, gets the first row's place.
    let mut run: Vec<Id> = Vec::new();
    let mut start = 0;
    while start < keys.len() {
        let end = start + keys[start..].iter().take_while(|&&k| half(k) == half(keys[start])).count();
        if end - start > 1 {
            run.clear();
            for &k in &keys[start..end] {
                run.push(id(claim_of(k))?);
            }
            // stable: input order kept among equal ids
            run.sort_by(|a, b| (a.hash, a.setl_id).cmp(&(b.hash, b.setl_id)));
            for same in run.chunk_by(|a, b| a.hash == b.hash && a.setl_id == b.setl_id) {
                let first = &same[0];
                for d in &same[1..] {
                    let (file, line) = file_line(first.pos);
                    out.push((d.part, d.pos, Verdict::Duplicate { file, line }));
                }
            }
        }
        start = end;
    }
    // Each lookup's original: the first id of its run equal to it.
    for (h, init, pos, part) in lookups {
        let from = keys.partition_point(|&k| half(k) < half(h));
        let mut found = None;
        for &k in keys[from..].iter().take_while(|&&k| half(k) == half(h)) {
            let i = claim_of(k);
            if heads[i as usize].0 == h {
                let candidate = id(i)?;
                if candidate.setl_id == init {
                    found = Some(candidate);
                    break;
                }
            }
        }
        let Some(o) = found else {
            let (code, msg) = Unreversible::Unknown.refusal(init);
            out.push((part, pos, Verdict::Reversal(code, msg)));
            continue;
        };
        if o.part == part {
            out.push((part, pos, Verdict::Original(o.pos)));
            continue;
        }
        // The same refusals, in the same order, as the whole input's check (S-22): the
        // original is another person's unless it is a reversal or was refused itself.
        let why = if o.reversal {
            Unreversible::Reversal
        } else if o.refused {
            Unreversible::Rejected
        } else {
            Unreversible::OtherPerson
        };
        let (code, msg) = why.refusal(init);
        out.push((part, pos, Verdict::Reversal(code, msg)));
    }
    Ok(out)
}

/// Decodes one partition from its claims file (`file`, read whole; handed to `release` once
/// decoded; `counts`: the records of each of its frames, as written), checks what needs the
/// whole partition and settles it; appends its person-years to `years` (in no order: the
/// merge orders them all); returns its rejected rows and one settlement record (or none, for
/// a refused claim) per claim, in the claims file's order, in frames for [`write_settled`].
/// The partition's claims, their positions and policies are decoded into `scratch`
/// ([`decode_partition`]), in place: partitions reuse its memory (hundreds of MB at a city's
/// scale) rather than each fault in fresh pages, which the kernel zeroes (`clear_page_erms`,
/// 5.5% of the 100M year's settling samples; the phase took 48.6 and 45.7 s so against 49.3
/// and 50.5 s, 2 alternated rounds); so do the pieces its frames leave their texts in
/// ([`PartScratch`]). `spent` adds the wall and CPU time of its steps ([`SETTLE_STEPS`]).
#[allow(clippy::too_many_arguments)]
fn settle_partition(
    path: &Path,
    file: WholeFile,
    release: &mut dyn FnMut(WholeFile),
    counts: &[u64],
    verdicts: &[(u32, u64, Verdict)],
    persons: &PersonsRead,
    policies: &PolicySet,
    years: &mut Vec<PersonYear>,
    scratch: &mut PartScratch,
    spent: &mut [Spent; SETTLE_STEPS.len()],
) -> Result<(Vec<RejectRow>, Frames)> {
    // Each step's wall and CPU time, added to `spent` as it ends ([`SETTLE_STEPS`]).
    let clock = std::cell::Cell::new((Clock::start(), 0));
    let spent = std::cell::RefCell::new(spent);
    let step = || {
        let (mut c, k) = clock.get();
        spent.borrow_mut()[k] += c.lap();
        clock.set((c, k + 1));
    };
    let PartScratch { claims: part, decoding, adopted } = scratch;
    let frames = frames_of(file.bytes()).with_context(|| format!("a damaged record in {}", path.display()))?;
    decode_partition(path, &frames, counts, part, [decoding, adopted])?;
    drop(frames);
    // Its bytes are copied out: the next partition's file is read into its buffer meanwhile.
    release(file);
    let PartClaims { table, pos, policy } = part;
    step();
    let index = |p: &u64| {
        pos.binary_search(p).map(|i| i as u32).map_err(|_| anyhow::anyhow!("internal: a verdict for a claim not in its partition"))
    };
    let mut originals = std::collections::HashMap::new();
    let mut cross = CrossPartition { policy_of: Some(policy), ..CrossPartition::default() };
    for (_, p, v) in verdicts {
        let i = index(p)?;
        match v {
            Verdict::Duplicate { file, line } => {
                cross.duplicates.insert(i, (*file, *line));
            }
            Verdict::Reversal(code, msg) => {
                cross.reversals.insert(i, (*code, msg.clone()));
            }
            Verdict::Original(o) => {
                originals.insert(i, index(o)?);
            }
        }
    }
    cross.originals = Some(originals);
    let prepared = prepare_part(table, &persons.table, policies, &History::default(), &cross, &step);
    let settled = engine::settle_all_from(table, &persons.table, &prepared, policies, None, &|_| {}, Some(years));
    step();
    let rejects: Vec<RejectRow> = prepared.rejects.iter().map(|r| pipeline::reject_row(table, r)).collect();
    // One record per claim, in the claims file's order (which is input order: the merge reads
    // the claims from there); encoded in parallel pieces.
    const PIECE: usize = 1 << 13;
    let n = table.claims.len();
    let frames: Frames = (0..n.div_ceil(PIECE))
        .into_par_iter()
        .map(|k| {
            let piece = k * PIECE..(n.min((k + 1) * PIECE));
            let records = piece.len() as u64;
            let mut buf = Vec::new();
            for i in piece {
                // The settlements lie in the D-06 order and are read here in the claims', at
                // random: each is fetched ahead (its first load was a third of the encoding's
                // samples at 100M).
                if let Some(ahead) = settled.get(i + FETCH_AHEAD) {
                    prefetch(ahead);
                }
                put_settlement(&mut buf, settled.get(i))?;
            }
            Ok((buf, records))
        })
        .collect::<Result<_>>()?;
    step();
    Ok((rejects, frames))
}

/// Decodes the frames of a partition's claims file (`path`), `counts[i]` claims in frame `i`
/// (as written: [`Written::frames`]), into `part`, in place: the partition's table is made
/// as long as their sum (the last partition's memory kept, its slots written over) and each
/// frame decodes into its own slots, in parallel a window at a time, leaving its texts and
/// side lists in a piece of `pieces`; the window decoded before is adopted by the table (its
/// texts copied into the table's arena, its ids shifted, on one thread) while the next is
/// decoded. Decoded into pieces and then appended, each claim was copied on one thread beside
/// the decoding (the 10.36M year in 33 partitions: "read the spill" 0.99–1.13 s against
/// 0.81–0.90 s, 3 alternated rounds).
fn decode_partition(path: &Path, frames: &[&[u8]], counts: &[u64], part: &mut PartClaims, pieces: [&mut Vec<PlacedRows>; 2]) -> Result<()> {
    let [decoding, adopted] = pieces;
    let damaged = || format!("a damaged record in {}", path.display());
    let n = usize::try_from(counts.iter().sum::<u64>()).unwrap_or(usize::MAX);
    let miscounted = || anyhow::anyhow!("the spill file {} holds other claims than the {n} written", path.display());
    // A frame decodes into as many slots as it was written with, and refuses other records
    // than those ([`decode_frame`]).
    if counts.len() != frames.len() {
        return Err(miscounted());
    }
    let filler = match frames.iter().find_map(|f| records(f).next()) {
        Some(rec) => get_claim(rec.with_context(damaged)?).with_context(damaged)?.1,
        None if n == 0 => {
            part.table.clear();
            part.pos.clear();
            part.policy.clear();
            return Ok(());
        }
        None => return Err(miscounted()),
    };
    let (slots, mut rest) = part.table.placing(n, &filler);
    part.pos.resize(n, 0);
    part.policy.resize(n, None);
    let mut left = (slots, &mut part.pos[..], &mut part.policy[..]);
    let window = rayon::current_num_threads().max(2) * 4;
    // the window decoded before: each frame's first claim and slots
    let mut adopting: Vec<(u32, &mut [Claim])> = Vec::new();
    let mut placed = 0;
    for (w, counts) in frames.chunks(window).zip(counts.chunks(window)) {
        let mut slots = Vec::with_capacity(w.len());
        for &k in counts {
            let k = usize::try_from(k).unwrap_or(usize::MAX);
            if k > left.0.len() {
                return Err(miscounted());
            }
            let (claims, c) = std::mem::take(&mut left.0).split_at_mut(k);
            let (pos, p) = std::mem::take(&mut left.1).split_at_mut(k);
            let (policy, q) = std::mem::take(&mut left.2).split_at_mut(k);
            left = (c, p, q);
            slots.push((placed as u32, claims, pos, policy));
            placed += k;
        }
        decoding.resize_with(w.len(), PlacedRows::default);
        let ((), decoded) = rayon::join(
            || {
                for ((first, claims), rows) in adopting.iter_mut().zip(adopted.iter()) {
                    rest.adopt(*first, claims, rows);
                }
            },
            || {
                w.par_iter().zip(slots.par_iter_mut()).zip(decoding.par_iter_mut()).try_for_each(|((f, (_, claims, pos, policy)), rows)| {
                    decode_frame(f, (claims, pos, policy), rows).with_context(damaged)
                })
            },
        );
        decoded?;
        adopting = slots.into_iter().map(|(first, claims, _, _)| (first, claims)).collect();
        std::mem::swap(adopted, decoding);
    }
    for ((first, claims), rows) in adopting.iter_mut().zip(adopted.iter()) {
        rest.adopt(*first, claims, rows);
    }
    Ok(())
}

/// Decodes a chunk of a merged piece in place: of each claim's records (its claim's and its
/// settlement's, in input order), the settled claims into `claims` and their settlements into
/// `sorted`, their texts and side lists into `rows` ([`place_claim`]); a refused claim is
/// left out. Returns the first and last claims' positions (`None` for no claim): they
/// increase within the chunk, or the spill files are out of order.
fn decode_merged<'r>(
    records: impl Iterator<Item = (&'r [u8], &'r [u8])> + Clone,
    (claims, sorted): (&mut [Claim], &mut [Settlement]),
    rows: &mut PlacedRows,
) -> Result<Option<(u64, u64)>> {
    let damaged = |what| anyhow::anyhow!("a damaged record in a {what} spill file");
    // Room for the ids (a claim's record holds its ids, so the records' bytes bound them): no
    // arena grown by copying.
    let bytes = records.clone().map(|(c, _)| c.len()).sum();
    let mut texts = rows.start(3 * claims.len(), bytes);
    let mut slots = claims.iter_mut().zip(sorted.iter_mut());
    let mut ends: Option<(u64, u64)> = None;
    let mut i = 0;
    for (c, s) in records {
        let Some(st) = get_settlement(s).ok_or_else(|| damaged("settlement"))? else { continue };
        let (slot, to) = slots.next().ok_or_else(|| damaged("settlement"))?;
        let (at, _) = place_claim(c, i, slot, &mut texts, rows).ok_or_else(|| damaged("claims"))?;
        *to = st;
        i += 1;
        ends = match ends {
            Some((_, last)) if at <= last => return Err(out_of_order(last, at)),
            Some((from, _)) => Some((from, at)),
            None => Some((at, at)),
        };
    }
    rows.strings = texts.finish().ok_or_else(|| damaged("claims"))?;
    if slots.next().is_some() {
        return Err(damaged("settlement"));
    }
    Ok(ends)
}

/// The spill files merged out of order: the claim at position `at` after the one at `last`.
fn out_of_order(last: u64, at: u64) -> anyhow::Error {
    let ((file, line), (f, l)) = (file_line(last), file_line(at));
    anyhow::anyhow!("the spill files are out of order (file {f} row {l} merged after file {file} row {line})")
}

/// Frames of records, each with its number of records ([`RecordWriter::put_frame`]).
type Frames = Vec<(Vec<u8>, u64)>;

/// Writes a partition's settlements, as [`settle_partition`] encoded them, to `path`.
fn write_settled(path: &Path, frames: Frames) -> Result<()> {
    let mut w = RecordWriter::create(path)?;
    for (f, k) in &frames {
        w.put_frame(f, *k)?;
    }
    w.finish()?;
    Ok(())
}

/// A partition's claims, read from its spill file: their table, positions ([`position`]) and
/// policies as the read found them ([`policy_alone`]).
#[derive(Default)]
struct PartClaims {
    table: ClaimTable,
    pos: Vec<u64>,
    policy: Vec<Option<u16>>,
}

/// What a partition's claims are decoded into, kept from partition to partition: fresh, the
/// pieces of every frame (then ~120 bytes a claim: the claim, its position, policy and ids)
/// were pages the kernel clears, a tenth of the 100M year's partitions' CPU samples.
#[derive(Default)]
struct PartScratch {
    /// the partition's claims
    claims: PartClaims,
    /// a window's frames leave their texts and side lists in these while the window
    /// before, which left them in `adopted`, is adopted by `claims`' table
    decoding: Vec<PlacedRows>,
    adopted: Vec<PlacedRows>,
}

/// The partitions' claims and settlement files, read side by side and merged into input
/// order by the partition of every claim (recorded by the read), a piece at a time: each
/// partition's share of a piece is read beside the others', then the records are decoded in
/// parallel in input order, each chunk of the piece into its own slots of the piece's table
/// ([`decode_merged`]).
struct Merge<'a> {
    claims: Vec<RecordReader>,
    settled: Vec<RecordReader>,
    /// the partition of every claim read, in input order
    seq: &'a [u8],
    /// the next claim in `seq`
    at: usize,
    /// the position of the last claim merged
    last: Option<u64>,
    /// each partition's share of the piece, its memory kept from piece to piece
    shares: Vec<Share>,
    /// the texts and side lists of the piece's chunks, decoded in parallel, their memory
    /// kept from piece to piece (fresh, pages the kernel clears)
    pieces: Vec<PlacedRows>,
}

/// Claims a chunk of a merged piece, decoded by one thread.
const MERGE_CHUNK: usize = 1 << 13;

/// One partition's share of a piece: its claims' and settlements' records.
#[derive(Default)]
struct Share {
    claims: (Vec<u8>, Vec<usize>),
    settled: (Vec<u8>, Vec<usize>),
}

impl Share {
    fn record(part: &(Vec<u8>, Vec<usize>), k: usize) -> &[u8] {
        let start = if k == 0 { 0 } else { part.1[k - 1] };
        &part.0[start..part.1[k]]
    }
}

impl<'a> Merge<'a> {
    fn open(spill: &SpillDir, parts: usize, seq: &'a [u8]) -> Result<Merge<'a>> {
        let mut m = Merge {
            claims: Vec::with_capacity(parts),
            settled: Vec::with_capacity(parts),
            seq,
            at: 0,
            last: None,
            shares: Vec::new(),
            pieces: Vec::new(),
        };
        for p in 0..parts {
            m.claims.push(RecordReader::open(&spill.file(&format!("claims-{p}")))?);
            m.settled.push(RecordReader::open(&spill.file(&format!("settled-{p}")))?);
        }
        Ok(m)
    }
    /// The settlements of the next `max` claims in input order (the refused claims left
    /// out), as a table and its settlements, in the memory of `reuse` (a piece written
    /// before: a piece's table and settlements are tens of MB, which fresh from the
    /// allocator are pages the kernel zeroes, piece after piece); `None` at the end.
    fn next_piece(&mut self, max: usize, reuse: (ClaimTable, Settled)) -> Result<Option<(ClaimTable, Settled)>> {
        let seq = &self.seq[self.at..(self.at + max).min(self.seq.len())];
        if seq.is_empty() {
            return Ok(None);
        }
        self.at += seq.len();
        // Which record of its partition each claim is.
        let mut taken = vec![0usize; self.claims.len()];
        let refs: Vec<(u8, u32)> = seq
            .iter()
            .map(|&p| {
                let k = taken[p as usize];
                taken[p as usize] += 1;
                (p, k as u32)
            })
            .collect();
        self.shares.resize_with(self.claims.len(), Share::default);
        self.claims
            .par_iter_mut()
            .zip(self.settled.par_iter_mut())
            .zip(self.shares.par_iter_mut())
            .zip(taken.par_iter())
            .enumerate()
            .try_for_each(|(p, (((c, s), share), &k))| {
                if k > 0 {
                    c.next_chunk(k, &mut share.claims.0, &mut share.claims.1)?;
                    s.next_chunk(k, &mut share.settled.0, &mut share.settled.1)?;
                    if share.claims.1.len() != k || share.settled.1.len() != k {
                        bail!("the spill files of partition {p} end early");
                    }
                }
                Ok(())
            })?;
        let shares = &self.shares;
        let records = |&(p, j): &(u8, u32)| {
            let share = &shares[p as usize];
            (Share::record(&share.claims, j as usize), Share::record(&share.settled, j as usize))
        };
        // Each chunk's settled claims, told by their settlement records' first byte (0 for a
        // refused claim, [`put_settlement`]): the piece's table and settlements are made that
        // long and each chunk decodes into its own slots, in place. Decoded into a table of
        // its own and then appended, each claim was copied again on one thread.
        let counts: Vec<usize> = refs
            .par_chunks(MERGE_CHUNK)
            .map(|refs| {
                let settled = |(i, r): &(usize, &(u8, u32))| {
                    // Input order leaps from partition to partition: each claim's records are
                    // fetched a few claims ahead (their first loads were most of the
                    // decoding's samples at 100M); the decoding finds them in the cache.
                    if let Some(ahead) = refs.get(i + FETCH_AHEAD) {
                        let (c, s) = records(ahead);
                        prefetch_bytes(c);
                        prefetch_bytes(s);
                    }
                    records(r).1.first() != Some(&0)
                };
                refs.iter().enumerate().filter(settled).count()
            })
            .collect();
        let n = counts.iter().sum();
        // What the slots beyond the table's and settlements' last hold until decoded into:
        // the piece's first claim and first settlement (none when all its claims were refused).
        let damaged = |what| anyhow::anyhow!("a damaged record in a {what} spill file");
        let filler = get_claim(records(&refs[0]).0).ok_or_else(|| damaged("claims"))?.1;
        let first_settled = match refs.iter().map(records).find(|(_, s)| s.first() != Some(&0)) {
            Some((_, s)) => Some(get_settlement(s).flatten().ok_or_else(|| damaged("settlement"))?),
            None => None,
        };
        let (mut table, mut settled) = reuse;
        let (claims, mut rest) = table.placing(n, &filler);
        settled.sorted.truncate(n);
        if let Some(st) = first_settled {
            settled.sorted.resize(n, st);
        }
        let mut left = (claims, &mut settled.sorted[..]);
        let mut slots = Vec::with_capacity(counts.len());
        let mut first = 0;
        for k in counts {
            let (claims, c) = std::mem::take(&mut left.0).split_at_mut(k);
            let (sorted, s) = std::mem::take(&mut left.1).split_at_mut(k);
            left = (c, s);
            slots.push((first, claims, sorted));
            first += k as u32;
        }
        self.pieces.resize_with(slots.len(), PlacedRows::default);
        let ends = refs
            .par_chunks(MERGE_CHUNK)
            .zip(slots.par_iter_mut())
            .zip(self.pieces.par_iter_mut())
            .map(|((refs, (_, claims, sorted)), rows)| decode_merged(refs.iter().map(records), (claims, sorted), rows))
            .collect::<Result<Vec<_>>>()?;
        for ((first, claims, _), rows) in slots.iter_mut().zip(self.pieces.iter()) {
            rest.adopt(*first, claims, rows);
        }
        // Merged right, the claims come in input order: their positions only increase, within
        // each chunk ([`decode_merged`]) and from chunk to chunk.
        for (from, to) in ends.into_iter().flatten() {
            if let Some(last) = self.last.filter(|&last| from <= last) {
                return Err(out_of_order(last, from));
            }
            self.last = Some(to);
        }
        let n = settled.sorted.len() as u32;
        settled.claim = Arc::new((0..n).collect());
        settled.pos.clear();
        settled.pos.extend(0..n);
        Ok(Some((table, settled)))
    }

    /// After the last piece: every partition's files are used up. A record left over means
    /// the files hold more than the claims read (a file of another run, or a count gone
    /// wrong), and the settlements written would miss claims.
    fn finish(&mut self) -> Result<()> {
        for (p, (c, s)) in self.claims.iter_mut().zip(self.settled.iter_mut()).enumerate() {
            if c.next_bytes()?.is_some() || s.next_bytes()?.is_some() {
                bail!("the spill files of partition {p} hold more records than the claims read");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Beside;
    use proptest::prelude::*;

    /// Puts a spilled claim (its record and `rare_fund_pay`) into `t`, its ids into `texts`,
    /// which become `t`'s strings once checked (`t` holds none before): claim by claim, the
    /// reference the decoding in place is tested against.
    fn push_claim(t: &mut ClaimTable, texts: &mut TextBytes, (s, mut c, rare_fund_pay, _): SpilledClaim) {
        let init_setl_id = set_ids(&mut c, texts, s);
        t.push(c, Beside { rare_fund_pay, init_setl_id: Some(init_setl_id), recorded: None });
    }

    /// Any code of `all`, by its place.
    fn pick<T: Copy + std::fmt::Debug + 'static>(all: &'static [T]) -> impl Strategy<Value = T> {
        prop::sample::select(all)
    }

    proptest! {
        /// A spilled claim and settlement read back as they were written: ids absent, empty,
        /// long or not ASCII, any amounts (a reversal's are negative), every code; a record
        /// cut short, or with a byte more, is refused as damaged, not misread.
        #[test]
        fn spilled_records_read_back_as_written(
            ids in prop::array::uniform3(prop::option::of("\\PC{0,40}")),
            psn in any::<u32>(),
            setl_time in any::<i64>(),
            fen in prop::array::uniform5(any::<i64>()),
            med_type in prop::sample::select(vec![11u8, 12, 13, 14, 15, 16, 21, 25, 29, 41, 51, 52]),
            level in any::<u8>(),
            offsite in pick(Offsite::ALL),
            drug_class in pick(DrugClass::ALL),
            disease in prop::option::of(pick(Disease::ALL)),
            (reversal, file, line) in (any::<bool>(), any::<u16>(), any::<u32>()),
            policy in prop::option::of(any::<u16>()),
            st in prop::option::of((any::<i16>(), any::<u16>(), pick(Benefit::ALL), pick(Status::ALL), prop::option::of(pick(NotCoveredReason::ALL)), prop::array::uniform7(any::<i64>()))),
        ) {
            let [a, b, c, d, rare] = fen.map(Money::from_fen);
            let claim = claim_with(psn, setl_time, [a, b, c, d], (med_type, level, offsite, drug_class, disease, reversal), (file, line));
            let ids: [Option<&str>; 3] = [ids[0].as_deref(), ids[1].as_deref(), ids[2].as_deref()];
            let mut buf = Vec::new();
            put_claim(&mut buf, (&ids, &claim, rare, policy)).expect("framed");
            let rec = records(&buf).next().expect("one record").expect("whole");
            let back = get_claim(rec).expect("the claim read back");
            prop_assert_eq!(format!("{:?}", back), format!("{:?}", (ids.map(|s| s.map(str::as_bytes)), &claim, rare, policy)));
            // and into a table: the ids as they were, their texts checked as UTF-8 (a table
            // holds a rare_fund_pay on rare-drug claims only, S-27: the others' is left out)
            let (mut table, mut texts) = (ClaimTable::default(), TextBytes::default());
            let (s, c, rare_back, p) = back;
            let rare_back = if c.rare_drug() { rare_back } else { Money::ZERO };
            push_claim(&mut table, &mut texts, (s, c, rare_back, p));
            table.strings = texts.finish().expect("UTF-8 ids");
            prop_assert_eq!(strs(&table, 0), if claim.reversal { ids } else { [ids[0], ids[1], None] });
            for cut in 0..rec.len() {
                prop_assert!(get_claim(&rec[..cut]).is_none());
            }
            prop_assert!(get_claim(&[rec, &[0]].concat()).is_none());

            let st = st.map(|(year, policy, benefit, status, reason, fen)| {
                let [act_pay_dedc, hifp_pay, hifob_pay, hifmi_pay, maf_pay, psn_part_amt, oth_pay] = fen.map(Money::from_fen);
                Settlement { year, policy, benefit, status, reason, act_pay_dedc, hifp_pay, hifob_pay, hifmi_pay, maf_pay, psn_part_amt, oth_pay }
            });
            let mut buf = Vec::new();
            put_settlement(&mut buf, st.as_ref()).expect("framed");
            let rec = records(&buf).next().expect("one record").expect("whole");
            prop_assert_eq!(get_settlement(rec), Some(st));
            for cut in 0..rec.len() {
                prop_assert!(get_settlement(&rec[..cut]).is_none());
            }
            prop_assert!(get_settlement(&[rec, &[0]].concat()).is_none());
        }
    }

    proptest! {
        /// A partition's frames decoded in place, into a table that held another partition's
        /// claims, read as the same records pushed one by one: the claims, their ids (none,
        /// empty, a reversal's init_setl_id), rare_fund_pay, positions and policies; other
        /// records than the claims written, or a record cut, are refused.
        #[test]
        fn partition_frames_decode_in_place_as_pushed(
            before in prop::collection::vec(spilled_claim(), 0..40),
            claims in prop::collection::vec(spilled_claim(), 0..120),
            cuts in prop::collection::vec(0usize..12, 1..30),
        ) {
            // the frames, and each one's claims
            let frames_of_claims = |claims: &[ClaimToSpill]| {
                let (mut frames, mut counts) = (Vec::new(), Vec::new());
                let mut rest = claims;
                // frames of the cuts' sizes, over and over; an empty frame in the first pass only
                for (j, &k) in cuts.iter().cycle().enumerate() {
                    if rest.is_empty() {
                        break;
                    }
                    let k = if j < cuts.len() { k } else { k.max(1) };
                    let (frame, r) = rest.split_at(k.min(rest.len()));
                    rest = r;
                    let mut buf = Vec::new();
                    for (c, ids, rare, policy) in frame {
                        let ids = [ids[0].as_deref(), ids[1].as_deref(), ids[2].as_deref()];
                        put_claim(&mut buf, (&ids, c, *rare, *policy)).expect("framed");
                    }
                    frames.push(buf);
                    counts.push(frame.len() as u64);
                }
                (frames, counts)
            };
            let path = Path::new("claims-0");
            let mut part = PartClaims::default();
            let (mut decoding, mut adopted) = (Vec::new(), Vec::new());
            for claims in [&before, &claims] {
                let (frames, counts) = frames_of_claims(claims);
                let frames: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
                decode_partition(path, &frames, &counts, &mut part, [&mut decoding, &mut adopted]).expect("decoded");
                let (mut table, mut texts) = (ClaimTable::default(), TextBytes::default());
                for f in &frames {
                    for rec in records(f) {
                        push_claim(&mut table, &mut texts, get_claim(rec.expect("whole")).expect("a claim"));
                    }
                }
                table.strings = texts.finish().expect("UTF-8 ids");
                prop_assert_eq!(part.table.claims.len(), claims.len());
                for (i, (c, _, rare, policy)) in claims.iter().enumerate() {
                    let placed = &part.table.claims[i];
                    prop_assert_eq!(strs(&part.table, i), strs(&table, i));
                    prop_assert_eq!(
                        format!("{:?}", Claim { setl_id: StrId::NONE, mdtrt_id: StrId::NONE, ..placed.clone() }),
                        format!("{c:?}")
                    );
                    prop_assert_eq!(part.table.rare_fund_pay(i), if c.rare_drug() { *rare } else { Money::ZERO });
                    prop_assert_eq!(part.table.rare_fund_pay(i), table.rare_fund_pay(i));
                    prop_assert_eq!(part.pos[i], position(c));
                    prop_assert_eq!(part.policy[i], *policy);
                }
                prop_assert_eq!(part.table.reversals.len(), table.reversals.len());
                prop_assert_eq!(part.table.rare_fund.len(), table.rare_fund.len());
                // a frame told a claim more or fewer than it holds, a frame more or fewer told
                // than there are, a frame cut inside its last record
                let mut decode = |frames: &[&[u8]], counts: &[u64]| decode_partition(path, frames, counts, &mut part, [&mut decoding, &mut adopted]);
                for k in 0..frames.len() {
                    let mut more = counts.clone();
                    more[k] += 1;
                    prop_assert!(decode(&frames, &more).is_err());
                    if counts[k] > 0 {
                        let mut fewer = counts.clone();
                        fewer[k] -= 1;
                        prop_assert!(decode(&frames, &fewer).is_err());
                    }
                }
                prop_assert!(decode(&frames, &[counts.as_slice(), &[0]].concat()).is_err());
                if let Some(k) = frames.iter().rposition(|f| !f.is_empty()) {
                    prop_assert!(decode(&frames, &counts[..counts.len() - 1]).is_err());
                    let mut cut = frames.clone();
                    cut[k] = &frames[k][..frames[k].len() - 1];
                    prop_assert!(decode(&cut, &counts).is_err());
                }
            }
        }
    }

    proptest! {
        /// A chunk of a merged piece decoded in place, into slots that held other claims, reads
        /// as its settled claims pushed one by one, each with its settlement: a refused claim
        /// (no settlement) is left out. A slot more or fewer than the settled claims, a
        /// settlement cut short or claims out of input order are refused.
        #[test]
        fn a_merged_chunk_decodes_in_place_as_pushed(
            rows in prop::collection::vec((spilled_claim(), any::<bool>(), prop::array::uniform7(any::<i64>())), 0..60),
        ) {
            let settlement = |fen: [i64; 7]| {
                let [act_pay_dedc, hifp_pay, hifob_pay, hifmi_pay, maf_pay, psn_part_amt, oth_pay] = fen.map(Money::from_fen);
                let (benefit, status) = (Benefit::ALL[0], Status::ALL[0]);
                Settlement { year: 2024, policy: 3, benefit, status, reason: None, act_pay_dedc, hifp_pay, hifob_pay, hifmi_pay, maf_pay, psn_part_amt, oth_pay }
            };
            // in input order: each claim a row after the one before
            let rows: Vec<(ClaimToSpill, Option<Settlement>)> = rows
                .into_iter()
                .enumerate()
                .map(|(i, ((mut c, ids, rare, policy), settled, fen))| {
                    (c.file, c.line) = (1, 2 * i as u32);
                    ((c, ids, rare, policy), settled.then(|| settlement(fen)))
                })
                .collect();
            let records: Vec<(Vec<u8>, Vec<u8>)> = rows
                .iter()
                .map(|((c, ids, rare, policy), st)| {
                    let (mut claim, mut settled) = (Vec::new(), Vec::new());
                    let ids = [ids[0].as_deref(), ids[1].as_deref(), ids[2].as_deref()];
                    put_claim(&mut claim, (&ids, c, *rare, *policy)).expect("framed");
                    put_settlement(&mut settled, st.as_ref()).expect("framed");
                    let record = |f: &[u8]| records(f).next().expect("one record").expect("whole").to_vec();
                    (record(&claim), record(&settled))
                })
                .collect();
            fn of(recs: &[(Vec<u8>, Vec<u8>)]) -> Vec<(&[u8], &[u8])> {
                recs.iter().map(|(c, s)| (c.as_slice(), s.as_slice())).collect()
            }
            let (mut reference, mut texts) = (ClaimTable::default(), TextBytes::default());
            let mut want = Vec::new();
            for ((c, _), (_, st)) in records.iter().zip(&rows) {
                if let Some(st) = st {
                    push_claim(&mut reference, &mut texts, get_claim(c).expect("a claim"));
                    want.push(*st);
                }
            }
            reference.strings = texts.finish().expect("UTF-8 ids");
            let n = want.len();
            let other = claim_with(7, 7, [Money::from_fen(7); 4], (11, 0, Offsite::ALL[0], DrugClass::ALL[0], None, false), (9, 9));
            let mut table = ClaimTable::default();
            let mut placed = PlacedRows::default();
            let decode = |recs: &[(&[u8], &[u8])], n: usize, table: &mut ClaimTable, placed: &mut PlacedRows| {
                let mut sorted = vec![settlement([7; 7]); n];
                let (slots, mut rest) = table.placing(n, &other);
                let ends = decode_merged(recs.iter().copied(), (slots, &mut sorted), placed);
                if ends.is_ok() {
                    rest.adopt(0, slots, placed);
                }
                ends.map(|ends| (ends, sorted))
            };
            let (ends, sorted) = decode(&of(&records), n, &mut table, &mut placed).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(&sorted, &want);
            prop_assert_eq!(table.claims.len(), n);
            for i in 0..n {
                prop_assert_eq!(strs(&table, i), strs(&reference, i));
                prop_assert_eq!(format!("{:?}", table.claims[i]), format!("{:?}", reference.claims[i]));
                prop_assert_eq!(table.rare_fund_pay(i), reference.rare_fund_pay(i));
            }
            prop_assert_eq!(table.reversals.len(), reference.reversals.len());
            let at = |i: usize| position(&reference.claims[i]);
            prop_assert_eq!(ends, (n > 0).then(|| (at(0), at(n - 1))));
            // a slot more or fewer than the settled claims
            prop_assert!(decode(&of(&records), n + 1, &mut table, &mut placed).is_err());
            if n > 0 {
                prop_assert!(decode(&of(&records), n - 1, &mut table, &mut placed).is_err());
                // a settlement cut short
                let mut cut = records.clone();
                if let Some((_, s)) = cut.iter_mut().rev().find(|(_, s)| s.len() > 1) {
                    s.pop();
                }
                prop_assert!(decode(&of(&cut), n, &mut table, &mut placed).is_err());
            }
            if n > 1 {
                // the claims out of input order
                let reversed: Vec<_> = records.iter().rev().cloned().collect();
                let e = decode(&of(&reversed), n, &mut table, &mut placed).err().map(|e| e.to_string()).unwrap_or_default();
                prop_assert!(e.contains("out of order"), "{}", e);
            }
        }
    }

    /// A claim of these fields, its ids none (a spilled claim's are its texts).
    fn claim_with(
        psn: u32,
        setl_time: i64,
        [fulamt_ownpay_amt, overlmt_selfpay, preselfpay_amt, inscp_scp_amt]: [Money; 4],
        (med_type, level, offsite, drug_class, disease, reversal): (u8, u8, Offsite, DrugClass, Option<Disease>, bool),
        (file, line): (u16, u32),
    ) -> Claim {
        Claim {
            setl_id: StrId::NONE,
            mdtrt_id: StrId::NONE,
            psn,
            setl_time,
            fulamt_ownpay_amt,
            overlmt_selfpay,
            preselfpay_amt,
            inscp_scp_amt,
            med_type: MedType(med_type),
            level,
            offsite,
            drug_class,
            disease,
            reversal,
            file,
            line,
        }
    }

    /// A claim as the read spills it: its ids (a reversal's init_setl_id or none), a
    /// rare_fund_pay on a rare-drug claim, a policy or none.
    type ClaimToSpill = (Claim, [Option<String>; 3], Money, Option<u16>);

    /// A [`ClaimToSpill`] of any fields the read lets through.
    fn spilled_claim() -> impl Strategy<Value = ClaimToSpill> {
        (
            prop::array::uniform2(prop::option::of("\\PC{0,12}")),
            prop::option::of("\\PC{0,12}"),
            (any::<u32>(), any::<i64>(), prop::array::uniform5(-1_000_000i64..1_000_000)),
            (prop::sample::select(vec![11u8, 14, 15, 21]), pick(DrugClass::ALL), any::<bool>()),
            (any::<u16>(), any::<u32>(), prop::option::of(any::<u16>())),
        )
            .prop_map(|(ids, init, (psn, setl_time, fen), (med_type, drug_class, reversal), (file, line, policy))| {
                let [a, b, c, d, rare] = fen.map(Money::from_fen);
                let claim =
                    claim_with(psn, setl_time, [a, b, c, d], (med_type, 0, Offsite::ALL[0], drug_class, None, reversal), (file, line));
                let rare = if claim.rare_drug() { rare } else { Money::ZERO };
                let [setl_id, mdtrt_id] = ids;
                (claim, [setl_id, mdtrt_id, if reversal { init } else { None }], rare, policy)
            })
    }

    /// The merge ends only on used-up partition files: a record beyond the claims read is
    /// an error, not claims left unwritten.
    #[test]
    fn the_merge_refuses_records_left_over() -> Result<()> {
        let parent = tempfile::tempdir()?;
        let spill = SpillDir::new(parent.path(), "spill")?;
        for p in 0..2 {
            RecordWriter::create(&spill.file(&format!("claims-{p}")))?.finish()?;
            RecordWriter::create(&spill.file(&format!("settled-{p}")))?.finish()?;
        }
        let mut merge = Merge::open(&spill, 2, &[])?;
        assert!(merge.next_piece(16, Default::default())?.is_none());
        merge.finish()?;
        // partition 1's settlements hold one record that no claim read takes
        let mut w = RecordWriter::create(&spill.file("settled-1"))?;
        let mut refused = Vec::new();
        put_settlement(&mut refused, None)?;
        w.put_frame(&refused, 1)?;
        w.finish()?;
        let mut merge = Merge::open(&spill, 2, &[])?;
        assert!(merge.next_piece(16, Default::default())?.is_none());
        let e = merge.finish().unwrap_err().to_string();
        assert!(e.contains("partition 1 hold more records"), "{e}");
        Ok(())
    }

    /// An id's key record read from its head gives the text's bytes and the position
    /// postcard wrote (lengths and positions of every varint width); a lookup's record, or
    /// one cut inside its text, is not read as an id's.
    #[test]
    fn an_id_is_read_from_its_key_record_head() -> Result<()> {
        let long = "x".repeat(300);
        for (setl_id, pos) in [("", 0u64), ("S1", 1 << 40), (long.as_str(), u64::MAX)] {
            let rec = postcard::to_extend(&KeyRecord::Id { setl_id, pos, part: 255, reversal: true, refused: false }, Vec::new())?;
            assert_eq!(id_head(&rec), Some((setl_id.as_bytes(), pos)));
        }
        let lookup = postcard::to_extend(&KeyRecord::Lookup { init: "S1", pos: 7, part: 0 }, Vec::new())?;
        assert_eq!(id_head(&lookup), None);
        assert_eq!(id_head(&[0, 5, b'a']), None);
        Ok(())
    }

    proptest! {
        /// A key record written by hand holds postcard's bytes for it, which the checks read.
        #[test]
        fn key_records_are_written_as_postcard_writes_them(
            text in ".{0,40}",
            pos in any::<u64>(),
            part in any::<u32>(),
            reversal in any::<bool>(),
            refused in any::<bool>(),
            lookup in any::<bool>(),
        ) {
            let k = if lookup {
                KeyRecord::Lookup { init: &text, pos, part }
            } else {
                KeyRecord::Id { setl_id: &text, pos, part, reversal, refused }
            };
            let (mut ours, mut theirs) = (Vec::new(), Vec::new());
            put_key(&mut ours, &k).map_err(|e| TestCaseError::fail(e.to_string()))?;
            crate::io::spill::frame(&mut theirs, &k).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(ours, theirs);
        }
    }

    /// Two setl_ids whose hashes share their top half stay apart in the cross-partition
    /// checks: each id's repetitions and each lookup's original are its own.
    #[test]
    fn cross_checks_tell_ids_sharing_a_hash_half_apart() -> Result<()> {
        // a birthday search: about 2^16 ids before two share a half
        let mut seen = std::collections::HashMap::new();
        let (a, b) = (0u32..)
            .find_map(|i| {
                let id = format!("S{i}");
                let h = half(id_bytes_hash(id.as_bytes()));
                seen.insert(h, id.clone()).filter(|other| *other != id).map(|other| (other, id))
            })
            .ok_or_else(|| anyhow::Error::msg("no two ids share a half"))?;
        assert_ne!(id_bytes_hash(a.as_bytes()), id_bytes_hash(b.as_bytes()));
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("keys");
        let mut w = RecordWriter::create(&path)?;
        fn id(setl_id: &str, line: u64, part: u32) -> KeyRecord<'_> {
            KeyRecord::Id { setl_id, pos: line, part, reversal: false, refused: false }
        }
        fn lookup(init: &str, line: u64, part: u32) -> KeyRecord<'_> {
            KeyRecord::Lookup { init, pos: line, part }
        }
        w.put(&id(&a, 1, 0))?;
        w.put(&id(&b, 2, 1))?;
        // a again in another partition than its first row: a duplicate of line 1
        w.put(&id(&a, 3, 1))?;
        // b again in its first row's partition: a duplicate of line 2 all the same
        w.put(&id(&b, 4, 1))?;
        // b's original is in partition 1, the reversal in 0: another person's
        w.put(&lookup(&b, 5, 0))?;
        // a's original is in the reversal's partition: its position
        w.put(&lookup(&a, 6, 0))?;
        w.put(&lookup("absent", 7, 0))?;
        w.finish()?;
        let mut got: Vec<String> =
            cross_checks(&path, read_whole(&path, WholeFile::default())?.bytes())?.iter().map(|v| format!("{v:?}")).collect();
        let mut want = vec![
            format!("{:?}", (1u32, 3u64, Verdict::Duplicate { file: 0, line: 1 })),
            format!("{:?}", (1u32, 4u64, Verdict::Duplicate { file: 0, line: 2 })),
            format!("{:?}", (0u32, 6u64, Verdict::Original(1))),
            format!(
                "{:?}",
                (
                    0u32,
                    7u64,
                    Verdict::Reversal(RejectCode::ReversalUnknownOriginal, "init_setl_id absent is not a settlement in the input".into())
                )
            ),
            format!(
                "{:?}",
                (0u32, 5u64, Verdict::Reversal(RejectCode::ReversalPersonMismatch, format!("the original {b} belongs to another person")))
            ),
        ];
        got.sort();
        want.sort();
        assert_eq!(got, want);
        // an id's record cut inside its text, one cut before its position, one of a kind no
        // writer writes, each among whole ones: the bucket is refused, naming its file
        for bad in [&[0u8, 30, b'S'][..], &[0, 2, b'S', b'1'], &[7, 0]] {
            let mut w = RecordWriter::create(&path)?;
            w.put(&id(&a, 1, 0))?;
            let mut frame = Vec::new();
            frame_with(&mut frame, bad.len(), |p| p.bytes(bad))?;
            w.put_frame(&frame, 1)?;
            w.put(&id(&b, 2, 1))?;
            w.finish()?;
            let e = cross_checks(&path, read_whole(&path, WholeFile::default())?.bytes()).err().map(|e| format!("{e:#}"));
            assert_eq!(e, Some(format!("a damaged record in {}", path.display())), "{bad:?}");
        }
        Ok(())
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("6GiB"), Ok(6 << 30));
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size("1k"), Ok(1024));
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        // 1.5 GiB = 1 GiB + 512 MiB
        assert_eq!(parse_size("1.5G"), Ok((1 << 30) + (512 << 20)));
        assert!(parse_size("0").is_err());
        assert!(parse_size("6 parsecs").is_err());
        assert!(parse_size("").is_err());
    }

    #[test]
    fn partitions_follow_the_limit() {
        const MIB: u64 = 1 << 20;
        // The 100M year (103,778,241 claims, 10M persons) under 6 GiB: 18,680,083,380 bytes of
        // claims in partitions of at most 3.2M claims (576,000,000 bytes) → 33 partitions of
        // 566,063,133 bytes; at its peak 2 × 566,063,133, the next partition's file (80/180 of
        // it: 251,583,614), 128 MiB and 33 × 5 MiB beside the persons' 2,000,000,000 (the
        // read's 768 MiB is less).
        let city = Need { claims: 103_778_241 * BYTES_PER_CLAIM, persons: 10_000_000 * BYTES_PER_PERSON };
        let p = plan(city, 6 << 30);
        assert_eq!(p, Plan { partitions: 33, peak: 2_000_000_000 + 2 * 566_063_133 + 251_583_614 + 128 * MIB + 33 * 5 * MIB });
        assert_eq!(p.warning(city, 6 << 30), None);
        // Under 3 GiB (3,221,225,472): beside the persons and the merge's 128 MiB, 2.44 ×
        // claims / p + p × 5 MiB must stay within 1,087,007,744: 58 partitions take 2 ×
        // 322,070,404 + 143,142,401 + 58 × 5 MiB = 1,091,370,249, 59 take 2 × 316,611,583 +
        // 140,716,259 + 59 × 5 MiB = 1,083,269,345. (Measured under 3 GiB: 60 partitions by
        // an earlier plan, 2.64 GiB at the peak.)
        assert_eq!(plan(city, 3 << 30), Plan { partitions: 59, peak: 2_000_000_000 + 1_083_269_345 + 128 * MIB });
        // Under 2 GiB the persons alone take nearly all of it: the partitions that hold the
        // least, near √(2.44 × claims / 5 MiB) = 93.3 (92: 978,675,678; 93: 978,581,669; 94:
        // 978,601,211), and a warning.
        let p = plan(city, 2 << 30);
        assert_eq!(p, Plan { partitions: 93, peak: 2_000_000_000 + 978_581_669 + 128 * MIB });
        let w = p.warning(city, 2 << 30).unwrap_or_default();
        assert!(w.contains("--memory-limit 2.00 GiB") && w.contains("about 2.90 GiB") && w.contains("in 93 partitions"), "{w}");
        assert!(w.contains("~1.86 GiB"), "{w}");
        // The 10.36M year (1M persons) under 1 GiB: 1,864,695,240 bytes of claims, 4
        // partitions by their size, but 2.44 × claims / p + p × 5 MiB must stay within
        // 1 GiB − 200,000,000 − 128 MiB = 739,524,096: 6 partitions take 791,147,933, 7 take
        // 2 × 266,385,035 + 118,393,348 + 7 × 5 MiB = 687,863,578.
        let year = Need { claims: 10_359_418 * BYTES_PER_CLAIM, persons: 1_000_000 * BYTES_PER_PERSON };
        assert_eq!(plan(year, 1 << 30), Plan { partitions: 7, peak: 200_000_000 + 687_863_578 + 128 * MIB });
        // A small run that spills only because it is told to: two partitions, buffers an eighth
        // of its claims.
        assert_eq!(plan(Need { claims: 1800, persons: 200 }, 6 << 30), Plan { partitions: 2, peak: 200 + 1800 + 400 + 225 + 10 * MIB });
        // More claims than the most partitions take at their size: the most.
        assert_eq!(plan(Need { claims: 1000 * PARTITION_CLAIMS * BYTES_PER_CLAIM, persons: 0 }, u64::MAX).partitions, MAX_PARTITIONS);
        assert_eq!(plan(Need { claims: u64::MAX, persons: u64::MAX }, 1).partitions, MAX_PARTITIONS);
    }

    /// The spill's disk and the outputs' by the estimate against their free space: a warning
    /// naming the folder, both sizes and --spill-dir for each disk short of space; none when
    /// it is enough or unknown. On one disk, the merge's spill and the outputs count together
    /// when they take more than the read's spill (Parquet outputs: 90 + 32 = 122 bytes a claim
    /// against 104).
    #[test]
    fn a_short_disk_is_told() {
        let city = Need { claims: 103_778_241 * BYTES_PER_CLAIM, persons: 10_000_000 * BYTES_PER_PERSON };
        let (spill, out) = (Path::new("/spill"), Path::new("/out"));
        let apart = |spill_free, out_free| Disks { spill: (spill, spill_free), out: (out, out_free), shared: false };
        // apart: the spill 103,778,241 × 104 = 10,792,937,064 bytes (10.05 GiB); the Parquet
        // outputs × 32 = 3,320,903,712 (3.09 GiB), as CSV × 188 = 19,510,309,308 (18.17 GiB)
        let w = disk_warnings(city, Format::Parquet, &apart(Some(5 << 30), None));
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("the spill takes about 10.05 GiB") && w[0].contains("/spill has 5.00 GiB free"), "{w:?}");
        assert!(w[0].contains("(104 bytes a claim)") && w[0].contains("--spill-dir"), "{w:?}");
        assert!(disk_warnings(city, Format::Parquet, &apart(Some(10_792_937_064), Some(3_320_903_712))).is_empty());
        assert!(disk_warnings(city, Format::Parquet, &apart(None, None)).is_empty());
        let w = disk_warnings(city, Format::Csv, &apart(Some(20 << 30), Some(10 << 30)));
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("the outputs take about 18.17 GiB") && w[0].contains("/out has 10.00 GiB free"), "{w:?}");
        assert!(w[0].contains("--out on another disk"), "{w:?}");
        // a run in memory: its outputs alone
        assert_eq!(output_disk_warning(city, Format::Csv, (out, Some(10 << 30))).as_ref(), w.first());
        assert_eq!(output_disk_warning(city, Format::Parquet, (out, Some(3_320_903_712))), None);
        // one disk: the merge's spill and the Parquet outputs, 103,778,241 × 122 =
        // 12,660,945,402 bytes (11.79 GiB): 11 GiB free is short, though the read's spill fits
        let one = |free| Disks { spill: (spill, free), out: (out, free), shared: true };
        let w = disk_warnings(city, Format::Parquet, &one(Some(11 << 30)));
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("the spill and the outputs take about 11.79 GiB") && w[0].contains("(122 bytes a claim)"), "{w:?}");
        assert!(disk_warnings(city, Format::Parquet, &one(Some(12_660_945_402))).is_empty());
        // as CSV, 90 + 188 = 278 bytes a claim: 28,850,350,998 bytes (26.87 GiB)
        let w = disk_warnings(city, Format::Csv, &one(Some(20 << 30)));
        assert!(w.len() == 1 && w[0].contains("about 26.87 GiB"), "{w:?}");
    }

    #[test]
    fn the_need_is_estimated_from_the_rows() {
        // sample-data: 25 persons, and claims.csv's rows (a CSV file this small is its own
        // head, so its rows are counted exactly)
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-data");
        let rows = std::fs::read_to_string(dir.join("claims.csv")).map_or(0, |t| t.lines().count() as u64 - 1);
        assert!(rows > 20);
        let need = Need::of(&[dir.join("claims.csv")], &dir.join("persons.csv"));
        assert_eq!(need, Need { claims: rows * BYTES_PER_CLAIM, persons: 25 * BYTES_PER_PERSON });
        assert_eq!(need.total(), rows * BYTES_PER_CLAIM + 25 * BYTES_PER_PERSON);
        // a file that is not there counts nothing (the run refuses it later, with its reason)
        assert_eq!(Need::of(&[dir.join("no-such.parquet")], &dir.join("persons.csv")).claims, 0);
    }
}
