//! The nightly store (`settle --state DB`, CONTRACT.md §6): the year-to-date state of every
//! person in an SQLite database (schema: `schemas/state.sql`). A run reads what it needs about
//! its own claims and persons, settles them after everything already settled, and writes the
//! new state in one transaction; the journal (`runs`) refuses an input applied before.

pub mod audit;
mod flush;
pub mod stored;

use crate::engine::{Carry, Contribution, Settled, YearState};
use crate::intake::whole::{History, PriorClaim};
use crate::intake::{ClaimsRead, PersonsRead};
use crate::model::{ClaimTable, PRIOR_ORIGINAL, PersonTable, Settlement, time};
use crate::policy::{LoadedPolicy, PolicySet};
use anyhow::{Context, Result, bail};
use rayon::prelude::*;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
pub use stored::{ClaimInput, Detail, StoredClaim};
use stored::{bucket_of, decode_entries, encode_entries, pack_json, setl_hash, slice_folded_by, slice_of, write_pack_json};

pub const SCHEMA: &str = include_str!("../../schemas/state.sql");
pub const SCHEMA_VERSION: &str = "4";

/// An open state database.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    /// The file's inode when opened: a run that waited for the lock refuses a state that a
    /// first run replaced meanwhile ([`Build::publish`]).
    inode: u64,
}

fn inode(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).map(|m| m.ino()).unwrap_or(0)
}

/// A journal entry (`runs`).
#[derive(Clone, Debug)]
pub struct Run {
    pub run_id: i64,
    pub applied_at: String,
    pub out_dir: String,
    pub staging: String,
    pub outputs_committed: bool,
    pub read: i64,
    pub settled: i64,
    pub not_covered: i64,
    pub reversal: i64,
    pub rejected: i64,
    pub policy_change: bool,
}

/// What the state holds about one run's input: the intake's view ([`History`]) and, for the
/// originals that the run's reversals cancel, their settlements and contributions.
#[derive(Default)]
pub struct Prior {
    pub history: History,
    pub originals: HashMap<String, (Settlement, Contribution)>,
    /// psn_no → its stored person-years (policy_id, YearState record), for the carries.
    pub years: HashMap<String, Vec<(String, Vec<u8>)>>,
}

/// [`Tx::prior_claims`] and [`Tx::prior_years`] of the keys, on `readers` connections to the
/// state at once, each reading a snapshot of it for a contiguous share of the keys in key
/// order. A night's state is mostly cold (not in the page cache) and read at random; with
/// several reads in flight the disk answers them together instead of one after another
/// (measured on the 2-core VM: 8,000 cold pages in 1.0 s from one thread, 0.39 s from four,
/// 0.23 s from sixteen). The snapshots are of the same state as long as no run commits in
/// between, which the run's write transaction checks (its next run id).
pub fn look_up(path: &Path, ids: &[&str], psn_nos: &[&str], policies: &PolicySet, readers: usize) -> Result<Prior> {
    let mut ids: Vec<(i64, &str)> = ids.iter().map(|id| (bucket_of(setl_hash(id)), *id)).collect();
    ids.sort_unstable();
    ids.dedup();
    let ids: Vec<&str> = ids.into_iter().map(|(_, id)| id).collect();
    let mut psn_nos = psn_nos.to_vec();
    psn_nos.sort_unstable();
    psn_nos.dedup();
    let share = |n: usize| n.div_ceil(readers.max(1)).max(1);
    std::thread::scope(|s| {
        let claims: Vec<_> = ids
            .chunks(share(ids.len()))
            .map(|part| s.spawn(move || Store::open_reader(path)?.begin_read()?.prior_claims(part, policies)))
            .collect();
        let years: Vec<_> = psn_nos
            .chunks(share(psn_nos.len()))
            .map(|part| s.spawn(move || Store::open_reader(path)?.begin_read()?.prior_years(part)))
            .collect();
        let mut prior = Prior::default();
        for h in claims.into_iter().chain(years) {
            prior.merge(h.join().map_err(|_| anyhow::anyhow!("internal: a look-up of {} stopped", path.display()))??);
        }
        Ok(prior)
    })
}

/// The setl_ids and init_setl_ids (of reversals) of a run's claims, and its persons in key
/// order.
pub fn input_keys<'a>(claims: &'a ClaimsRead, persons: &'a PersonsRead) -> (Vec<&'a str>, Vec<&'a str>) {
    let t = &claims.table;
    let mut ids: Vec<&str> = Vec::with_capacity(t.claims.len());
    for (i, c) in t.claims.iter().enumerate() {
        ids.push(t.strings.get(c.setl_id));
        if c.reversal {
            ids.push(t.init_setl_id(i));
        }
    }
    let mut psn_nos: Vec<&str> = t.claims.iter().map(|c| persons.table.persons[c.psn as usize].psn_no.as_str()).collect();
    psn_nos.sort_unstable();
    psn_nos.dedup();
    (ids, psn_nos)
}

impl Prior {
    /// Adds what another look-up found (of other keys, or of the same ones in the same
    /// snapshot: the same values).
    pub fn merge(&mut self, other: Prior) {
        self.history.claims.extend(other.history.claims);
        self.history.latest.extend(other.history.latest);
        self.originals.extend(other.originals);
        self.years.extend(other.years);
    }

    /// One [`Carry`] per person of the run (`prepared.persons`), with the
    /// stored year states and the originals their reversals cancel.
    pub fn carries(
        &self,
        table: &ClaimTable,
        persons: &PersonTable,
        policies: &PolicySet,
        prepared: &crate::engine::Prepared,
    ) -> Result<Vec<Carry>> {
        let prior = self;
        let mut out = Vec::with_capacity(prepared.persons.len());
        for range in &prepared.persons {
            let claims = &prepared.order[range.clone()];
            let mut carry = Carry::default();
            let Some(&first) = claims.first() else {
                out.push(carry);
                continue;
            };
            let psn_no = persons.persons[table.claims[first as usize].psn as usize].psn_no.as_str();
            if let Some(rows) = prior.years.get(psn_no) {
                for (policy_id, blob) in rows {
                    let mut y: YearState = decode(blob, "person-year")?;
                    let idx = index_of(policies, policy_id).with_context(|| {
                        format!("the state settled {psn_no} in {} under policy {policy_id}, which this run does not have", y.year)
                    })?;
                    y.policy = idx;
                    y.summary.policy = idx;
                    carry.years.push(y);
                }
                for &ci in claims {
                    if table.original(ci as usize) == PRIOR_ORIGINAL {
                        let init = table.init_setl_id(ci as usize);
                        if let Some(o) = prior.originals.get(init) {
                            carry.originals.insert(init.to_string(), *o);
                        }
                    }
                }
            }
            out.push(carry);
        }
        Ok(out)
    }
}

/// What each settlement of a run added to the running totals (by its position in
/// `Settled::sorted`), read in place from the carries: one per person of `prepared.persons`,
/// each holding its claims' contributions in the same order as the settlements.
pub struct Contributions<'a> {
    carries: &'a [Carry],
    starts: Vec<usize>,
}

impl<'a> Contributions<'a> {
    pub fn new(carries: &'a [Carry], settlements: usize) -> Result<Contributions<'a>> {
        let mut starts = Vec::with_capacity(carries.len());
        let mut n = 0;
        for c in carries {
            starts.push(n);
            n += c.packed.len();
        }
        if n != settlements {
            bail!("internal: {n} contributions for {settlements} settlements");
        }
        Ok(Contributions { carries, starts })
    }

    /// The contributions of the person whose claims include settlement `pos`, with the
    /// position of the person's first settlement.
    pub fn person_of(&self, pos: usize) -> Result<(usize, Vec<Contribution>)> {
        // The last carry starting at or before `pos` (carries without claims start where the
        // next one does).
        let k = self.starts.partition_point(|&s| s <= pos).saturating_sub(1);
        let (Some(carry), Some(&start)) = (self.carries.get(k), self.starts.get(k)) else {
            bail!("internal: no contributions for settlement {pos}")
        };
        Ok((start, carry.packed.unpack()?))
    }
}

fn named(path: &Path) -> impl Fn(rusqlite::Error) -> anyhow::Error + '_ {
    move |e| anyhow::anyhow!("state {}: {e}", path.display())
}

/// The tables of `schemas/state.sql` and the `meta` rows of a new state.
fn create_schema(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(SCHEMA)?;
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('schema_version', ?1), ('created_at', ?2), ('tool_version', ?3)",
        params![SCHEMA_VERSION, utc_now(), env!("CARGO_PKG_VERSION")],
    )?;
    Ok(())
}

/// Now as `YYYY-MM-DD HH:MM:SS` UTC.
pub fn utc_now() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    let (y, m, d) = time::civil_from_days((secs.div_euclid(86_400)) as i32);
    let s = secs.rem_euclid(86_400);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC", s / 3600, s / 60 % 60, s % 60)
}

pub fn encode<T: serde::Serialize>(v: &T) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    encode_into(v, &mut out)?;
    Ok(out)
}

/// `v` (postcard) appended to `buf`.
pub fn encode_into<T: serde::Serialize + ?Sized>(v: &T, buf: &mut Vec<u8>) -> Result<()> {
    crate::engine::state::postcard_into(v, buf).context("internal: cannot encode a state record")
}

pub fn decode<'a, T: serde::Deserialize<'a>>(b: &'a [u8], what: &str) -> Result<T> {
    postcard::from_bytes(b).with_context(|| format!("the state's {what} record cannot be read (written by another medsettle version?)"))
}

impl Store {
    /// Opens (creating it when missing) the state database at `path`.
    pub fn open(path: &Path) -> Result<Store> {
        let conn = Connection::open(path).map_err(named(path))?;
        let mut store = Store { conn, path: path.to_path_buf(), inode: 0 };
        store.setup(true)?;
        // A run leaves its pages in the write-ahead log (synced at its commit); the next run
        // copies them into the database file while it reads its inputs ([`checkpoint`]).
        let e = named(path);
        store.conn.pragma_update(None, "wal_autocheckpoint", 0).map_err(&e)?;
        store.conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true).map_err(&e)?;
        Ok(store)
    }

    /// Opens an existing state (the `state` subcommands).
    pub fn open_existing(path: &Path) -> Result<Store> {
        if !path.is_file() {
            bail!("{} is not a medsettle state (no such file)", path.display());
        }
        let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE).map_err(named(path))?;
        let mut store = Store { conn, path: path.to_path_buf(), inode: 0 };
        store.setup(false)?;
        Ok(store)
    }

    fn setup(&mut self, create: bool) -> Result<()> {
        self.inode = inode(&self.path);
        let e = named(&self.path);
        self.conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(&e)?;
        self.conn.pragma_update(None, "synchronous", "FULL").map_err(&e)?;
        // 256 MiB of page cache: a night's inserts land at random places of large B-trees.
        self.conn.pragma_update(None, "cache_size", -262_144).map_err(&e)?;
        let has_meta: bool = self
            .conn
            .query_row("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'meta'", [], |r| r.get::<_, i64>(0))
            .map_err(&e)?
            > 0;
        if !has_meta {
            let tables: i64 = self.conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0)).map_err(&e)?;
            if tables > 0 || !create {
                bail!("{} is an SQLite database but not a medsettle state", self.path.display());
            }
            // One transaction: a kill leaves either no tables or a complete empty state.
            let tx = self.conn.unchecked_transaction().map_err(&e)?;
            create_schema(&tx).map_err(&e)?;
            tx.commit().map_err(&e)?;
        }
        let mut v: Option<String> =
            self.conn.query_row("SELECT value FROM meta WHERE key = 'schema_version'", [], |r| r.get(0)).optional().map_err(&e)?;
        if v.as_deref() == Some("3") {
            // Version 4 only adds `setl_pending`: a version 3 state is one with nothing waiting.
            let tx = self.conn.unchecked_transaction().map_err(&e)?;
            tx.execute_batch(SCHEMA).map_err(&e)?;
            tx.execute("UPDATE meta SET value = ?1 WHERE key = 'schema_version'", params![SCHEMA_VERSION]).map_err(&e)?;
            tx.commit().map_err(&e)?;
            v = Some(SCHEMA_VERSION.to_string());
        }
        if v.as_deref() != Some(SCHEMA_VERSION) {
            bail!(
                "{}: state schema version {} is not {SCHEMA_VERSION}, which this medsettle reads",
                self.path.display(),
                v.unwrap_or_default()
            );
        }
        // A state that holds runs is written in WAL mode (a night's pages are appended to the
        // log once instead of journalled and then written); a state built by this version is
        // in WAL mode already, one built before is switched here.
        let mode: String = self.conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).map_err(&e)?;
        if mode != "wal" && self.conn.query_row("SELECT count(*) FROM runs", [], |r| r.get::<_, i64>(0)).map_err(&e)? > 0 {
            self.conn.pragma_update(None, "journal_mode", "WAL").map_err(&e)?;
        }
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Starts the run's write transaction (taken at the start so that two runs on one state
    /// never interleave: the second waits 5 s, then fails).
    pub fn begin(&mut self) -> Result<Tx<'_>> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| anyhow::anyhow!("state {} is in use by another run ({e})", self.path.display()))?;
        if inode(&self.path) != self.inode {
            bail!("state {} was built by another run while this one waited for it; run again", self.path.display());
        }
        Ok(Tx { tx, path: &self.path })
    }

    /// A second connection to the state, to read a snapshot of it beside the run's own
    /// connection (a night looks its persons up on it while its setl_ids are looked up on the
    /// other). Nothing is written through it.
    pub fn open_reader(path: &Path) -> Result<Store> {
        let e = named(path);
        let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE).map_err(&e)?;
        conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(&e)?;
        Ok(Store { conn, path: path.to_path_buf(), inode: inode(path) })
    }

    /// A read transaction: a snapshot of the state that does not hold up a checkpoint on
    /// another connection.
    pub fn begin_read(&mut self) -> Result<Tx<'_>> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Deferred).map_err(named(&self.path))?;
        Ok(Tx { tx, path: &self.path })
    }

    /// The journal, oldest first.
    pub fn runs(&self) -> Result<Vec<Run>> {
        runs(&self.conn, &self.path)
    }

    /// A read-only view for queries outside a run.
    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// Marks a run's outputs as switched in.
    pub fn outputs_committed(&self, run_id: i64) -> Result<()> {
        self.conn.execute("UPDATE runs SET outputs_committed = 1 WHERE run_id = ?1", params![run_id]).map_err(named(&self.path))?;
        Ok(())
    }
}

/// The first run of a state is written into a new file next to it and renamed into place:
/// with nothing to roll back, the file is written without a journal and without syncs, its
/// rows in key order, and sent to disk while it grows (`flush`); one fsync and the rename are
/// the commit point (a kill before it leaves the previous, empty state).
pub struct Build {
    conn: Option<Connection>,
    tmp: PathBuf,
    target: PathBuf,
    flusher: Option<flush::Flusher>,
}

impl Build {
    /// Starts the new file `DB.build-PID` (leftovers of killed builds are removed: the caller
    /// holds the state's lock, so no other build is running).
    pub fn start(target: &Path) -> Result<Build> {
        let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let dir = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let prefix = format!("{name}.build-");
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for entry in entries.flatten() {
                if entry.file_name().to_string_lossy().starts_with(&prefix) {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        let tmp = dir.join(format!("{prefix}{}", std::process::id()));
        let mut build =
            Build { conn: Some(Connection::open(&tmp).map_err(named(&tmp))?), tmp, target: target.to_path_buf(), flusher: None };
        {
            let conn = build.conn()?;
            let e = named(&build.tmp);
            for (pragma, value) in
                [("journal_mode", "OFF"), ("synchronous", "OFF"), ("locking_mode", "EXCLUSIVE"), ("temp_store", "MEMORY")]
            {
                conn.pragma_update(None, pragma, value).map_err(&e)?;
            }
            // Every table is written in key order (appended to), so a small page cache does:
            // the 256 MiB a night uses would be that many more fresh pages for the first run.
            conn.pragma_update(None, "cache_size", -32_768).map_err(&e)?;
            create_schema(conn).map_err(&e)?;
        }
        build.flusher = Some(flush::Flusher::start(&build.tmp));
        Ok(build)
    }

    fn conn(&self) -> Result<&Connection> {
        self.conn.as_ref().context("internal: the state build is finished")
    }

    /// The transaction that fills the new file (named after the state in messages).
    pub fn begin(&mut self) -> Result<Tx<'_>> {
        let conn = self.conn.as_mut().context("internal: the state build is finished")?;
        let tx = conn.transaction().map_err(named(&self.tmp))?;
        Ok(Tx { tx, path: &self.target })
    }

    /// Makes the index, switches the file to WAL mode (the nights after it) and syncs it.
    pub fn finish(&mut self) -> Result<()> {
        let e = named(&self.tmp);
        let conn = self.conn()?;
        conn.execute_batch(SCHEMA).map_err(&e)?;
        conn.pragma_update(None, "locking_mode", "NORMAL").map_err(&e)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(&e)?;
        drop(self.flusher.take());
        if let Some(conn) = self.conn.take() {
            conn.close().map_err(|(_, err)| e(err))?;
        }
        std::fs::File::open(&self.tmp).and_then(|f| f.sync_all()).with_context(|| format!("cannot sync {}", self.tmp.display()))?;
        Ok(())
    }

    /// The commit point: the new file replaces the state.
    pub fn publish(mut self) -> Result<()> {
        std::fs::rename(&self.tmp, &self.target)
            .with_context(|| format!("cannot rename {} to {}", self.tmp.display(), self.target.display()))?;
        self.tmp = PathBuf::new();
        let dir = match self.target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        std::fs::File::open(dir).and_then(|f| f.sync_all()).with_context(|| format!("cannot sync folder {}", dir.display()))
    }
}

impl Drop for Build {
    /// A build that failed leaves no file behind.
    fn drop(&mut self) {
        drop(self.flusher.take());
        drop(self.conn.take());
        if !self.tmp.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Copies the pages of the runs committed to the state's write-ahead log into its database
/// file (a PASSIVE checkpoint on a connection of its own; the database file is synced before
/// the log may be reused). A run's transaction that starts after it writes its pages from the
/// start of the log again.
pub fn checkpoint(path: &Path) -> Result<()> {
    let e = named(path);
    let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE).map_err(&e)?;
    conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(&e)?;
    conn.pragma_update(None, "synchronous", "FULL").map_err(&e)?;
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true).map_err(&e)?;
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())).map_err(&e)?;
    Ok(())
}

fn runs(conn: &Connection, path: &Path) -> Result<Vec<Run>> {
    let e = named(path);
    let mut st = conn
        .prepare(
            "SELECT run_id, applied_at, out_dir, staging, outputs_committed, read, settled, not_covered, reversal, rejected, policy_change FROM runs ORDER BY run_id",
        )
        .map_err(&e)?;
    let rows = st
        .query_map([], |r| {
            Ok(Run {
                run_id: r.get(0)?,
                applied_at: r.get(1)?,
                out_dir: r.get(2)?,
                staging: r.get(3)?,
                outputs_committed: r.get::<_, i64>(4)? != 0,
                read: r.get(5)?,
                settled: r.get(6)?,
                not_covered: r.get(7)?,
                reversal: r.get(8)?,
                rejected: r.get(9)?,
                policy_change: r.get::<_, i64>(10)? != 0,
            })
        })
        .map_err(&e)?;
    rows.collect::<std::result::Result<Vec<_>, _>>().map_err(&e)
}

/// The active policies of a state, rebuilt from the stored texts, with their refs.
pub fn stored_policies(conn: &Connection, path: &Path, active_only: bool) -> Result<Vec<(i64, LoadedPolicy)>> {
    let e = named(path);
    let sql = if active_only {
        "SELECT policy_ref, origin, overrides, text FROM policies WHERE active = 1 ORDER BY policy_ref"
    } else {
        "SELECT policy_ref, origin, overrides, text FROM policies ORDER BY policy_ref"
    };
    let mut st = conn.prepare(sql).map_err(&e)?;
    let rows: Vec<(i64, String, String, String)> = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .map_err(&e)?
        .collect::<std::result::Result<_, _>>()
        .map_err(&e)?;
    rows.into_iter()
        .map(|(r, origin, overrides, text)| {
            let overrides: Vec<String> = serde_json::from_str(&overrides).context("the state's policy overrides are not a JSON list")?;
            Ok((r, LoadedPolicy::from_text(&text, &origin, &overrides)?))
        })
        .collect()
}

/// A `claim_packs` row read back: one person-year's claims of one run.
pub struct Pack {
    pub psn_no: String,
    pub run_id: i64,
    pub claims: Vec<StoredClaim>,
}

/// Settled setl_ids found in the state: each id's pack and position in it, and the packs read.
#[derive(Default)]
struct Found {
    at: HashMap<String, (i64, usize)>,
    packs: HashMap<i64, Pack>,
}

/// (hash, pack_no) pairs of `setl_index` or `setl_pending`, by hash.
type Entries = Vec<(u64, i64)>;

/// The run's write transaction on the state.
pub struct Tx<'a> {
    tx: Transaction<'a>,
    path: &'a Path,
}

/// Index of a policy id in a set.
fn index_of(policies: &PolicySet, id: &str) -> Option<u16> {
    policies.policies.iter().position(|p| p.policy.id == id).map(|i| i as u16)
}

/// What a run puts in the journal.
pub struct NewRun<'a> {
    pub input_key: &'a str,
    pub inputs_json: &'a str,
    pub out_dir: &'a Path,
    pub staging: &'a Path,
    pub policy_change: bool,
    pub counts: crate::report::markdown::Counts,
}

/// What storing a claim, a setl_id index entry and a person-year cost, relative to each
/// other, for the store's progress bar. Measured building a state from 10.36M claims
/// (2026-12-04, `MEDSETTLE_TIMINGS=1 medsettle settle --state`): the claims 11.73 s, their
/// index entries 0.88 s, 836,618 person-years 1.72 s, about 1.13, 0.085 and 2.06 µs each.
/// Counted alike, the bar stood at half when four fifths of the time had gone, then jumped.
const CLAIM_WORK: u64 = 13;
const ENTRY_WORK: u64 = 1;
const YEAR_WORK: u64 = 24;

impl Tx<'_> {
    pub fn path(&self) -> &Path {
        self.path
    }

    fn e(&self) -> impl Fn(rusqlite::Error) -> anyhow::Error + '_ {
        named(self.path)
    }

    /// Whether any claim was settled into the state.
    pub fn is_empty(&self) -> Result<bool> {
        let n: i64 = self.tx.query_row("SELECT count(*) FROM (SELECT 1 FROM person_years LIMIT 1)", [], |r| r.get(0)).map_err(self.e())?;
        Ok(n == 0)
    }

    /// The run that applied an input with this key (run id, date).
    pub fn applied(&self, input_key: &str) -> Result<Option<(i64, String)>> {
        self.tx
            .query_row("SELECT run_id, applied_at FROM runs WHERE input_key = ?1", params![input_key], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
            .map_err(self.e())
    }

    /// The run whose outputs were not switched in yet (a kill after the state committed).
    pub fn pending(&self) -> Result<Option<Run>> {
        Ok(runs(&self.tx, self.path)?.into_iter().rev().find(|r| !r.outputs_committed))
    }

    pub fn mark_outputs_committed(&self, run_id: i64) -> Result<()> {
        self.tx.execute("UPDATE runs SET outputs_committed = 1 WHERE run_id = ?1", params![run_id]).map_err(self.e())?;
        Ok(())
    }

    pub fn next_run_id(&self) -> Result<i64> {
        self.tx.query_row("SELECT coalesce(max(run_id), 0) + 1 FROM runs", [], |r| r.get(0)).map_err(self.e())
    }

    /// The active stored policies (none for a new state).
    pub fn policies(&self) -> Result<Vec<(i64, LoadedPolicy)>> {
        stored_policies(&self.tx, self.path, true)
    }

    /// Policy ids that already settled claims (a change to them is a mid-year change).
    pub fn used_policy_ids(&self) -> Result<Vec<String>> {
        let mut st = self.tx.prepare("SELECT DISTINCT policy_id FROM person_years").map_err(self.e())?;
        let ids = st.query_map([], |r| r.get(0)).map_err(self.e())?.collect::<std::result::Result<Vec<String>, _>>().map_err(self.e())?;
        Ok(ids)
    }

    /// What the state holds about the input: its setl_ids and init_setl_ids settled before,
    /// and the latest settled claim of each of its persons.
    pub fn prior(&self, claims: &ClaimsRead, persons: &PersonsRead, policies: &PolicySet) -> Result<Prior> {
        if self.is_empty()? {
            return Ok(Prior::default());
        }
        let (ids, psn_nos) = input_keys(claims, persons);
        let mut prior = self.prior_claims(&ids, policies)?;
        prior.merge(self.prior_years(&psn_nos)?);
        Ok(prior)
    }

    /// What the state holds about these setl_ids (settled before: [`History::claims`], and
    /// the originals a reversal cancels).
    pub fn prior_claims(&self, ids: &[&str], policies: &PolicySet) -> Result<Prior> {
        let mut prior = Prior::default();
        if ids.is_empty() || self.is_empty()? {
            return Ok(prior);
        }
        let mut run_date = self.tx.prepare_cached("SELECT applied_at FROM runs WHERE run_id = ?1").map_err(self.e())?;
        let found = self.find(ids)?;
        let policy_ids = self.policy_ids()?;
        for (id, &(pack_no, k)) in &found.at {
            let Some(pack) = found.packs.get(&pack_no) else { bail!("internal: pack {pack_no} was not read") };
            let c = &pack.claims[k];
            let d = &c.detail;
            let night: String = run_date.query_row(params![pack.run_id], |r| r.get(0)).map_err(self.e())?;
            let reversal = d.settlement.status == crate::model::Status::Reversal;
            prior.history.claims.insert(
                id.clone(),
                PriorClaim {
                    psn_no: pack.psn_no.clone(),
                    setl_time: d.input.setl_time,
                    reversal,
                    reversed_by: c.reversed_by.clone(),
                    amounts: d.input.amounts(),
                    night: format!("{night} (run {})", pack.run_id),
                },
            );
            if !reversal {
                let mut s = d.settlement;
                if let Some(i) = policy_ids.get(&c.policy_ref).and_then(|p| index_of(policies, p)) {
                    s.policy = i;
                }
                prior.originals.insert(id.clone(), (s, d.contribution));
            }
        }
        Ok(prior)
    }

    /// What the state holds about these persons (`psn_nos` in key order reads the table in
    /// file order): their stored years, the latest claim for the checks
    /// ([`History::latest`]), the year states for the kernel (kept for `carries`).
    pub fn prior_years(&self, psn_nos: &[&str]) -> Result<Prior> {
        let mut prior = Prior::default();
        let mut years = self
            .tx
            .prepare_cached("SELECT policy_id, state, last_setl_time, last_setl_id FROM person_years WHERE psn_no = ?1 ORDER BY year")
            .map_err(self.e())?;
        for &psn_no in psn_nos {
            let rows: Vec<(String, Vec<u8>, String, String)> = years
                .query_map(params![psn_no], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                .map_err(self.e())?
                .collect::<std::result::Result<_, _>>()
                .map_err(self.e())?;
            let Some((_, _, ts, id)) = rows.last() else { continue };
            let ts = time::parse_datetime(ts).map_err(|m| anyhow::anyhow!("state person {psn_no}: last_setl_time {m}"))?;
            prior.history.latest.insert(psn_no.to_string(), (ts, id.clone()));
            prior.years.insert(psn_no.to_string(), rows.into_iter().map(|(p, b, _, _)| (p, b)).collect());
        }
        Ok(prior)
    }

    /// Looks settled setl_ids up through `setl_index` (buckets in key order, so that a cold
    /// night reads the index nearly in file order) and the entries still waiting in
    /// `setl_pending`, and reads the packs that hold them.
    fn find(&self, ids: &[&str]) -> Result<Found> {
        let e = self.e();
        let mut wanted: Vec<(i64, u64, &str)> = ids.iter().map(|id| (setl_hash(id), *id)).map(|(h, id)| (bucket_of(h), h, id)).collect();
        wanted.sort_unstable();
        wanted.dedup();
        let mut found = Found::default();
        let (Some(first), Some(last)) = (wanted.first(), wanted.last()) else { return Ok(found) };
        let waiting = self.waiting(slice_of(first.1)..=slice_of(last.1))?;
        let mut bucket = self.tx.prepare_cached("SELECT entries FROM setl_index WHERE bucket = ?1").map_err(&e)?;
        let mut read_pack = self.tx.prepare_cached("SELECT psn_no, run_id, detail FROM claim_packs WHERE pack_no = ?1").map_err(&e)?;
        let mut entries: (i64, Vec<(u64, i64)>) = (-1, Vec::new());
        let mut candidates: Vec<i64> = Vec::new();
        for (b, h, id) in wanted {
            if entries.0 != b {
                let blob: Option<Vec<u8>> = bucket.query_row(params![b], |r| r.get(0)).optional().map_err(&e)?;
                entries = (b, blob.map(|v| decode_entries(&v)).unwrap_or_default());
            }
            candidates.clear();
            for run in std::iter::once(&entries.1).chain(waiting.get(&slice_of(h)).into_iter().flatten()) {
                let from = run.partition_point(|x| x.0 < h);
                candidates.extend(run[from..].iter().take_while(|x| x.0 == h).map(|x| x.1));
            }
            for &pack_no in &candidates {
                if let std::collections::hash_map::Entry::Vacant(v) = found.packs.entry(pack_no) {
                    let (psn_no, run_id, detail): (String, i64, Vec<u8>) =
                        read_pack.query_row(params![pack_no], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).map_err(&e)?;
                    v.insert(Pack { psn_no, run_id, claims: decode(&detail, "claim pack")? });
                }
                if let Some(k) = found.packs.get(&pack_no).and_then(|p| p.claims.iter().position(|c| c.setl_id == id)) {
                    found.at.insert(id.to_string(), (pack_no, k));
                    break;
                }
            }
        }
        Ok(found)
    }

    /// The entries waiting in `setl_pending` for the slices `slices`: by slice, one vector
    /// (by hash) per run that left them.
    fn waiting(&self, slices: std::ops::RangeInclusive<i64>) -> Result<HashMap<i64, Vec<Entries>>> {
        let e = self.e();
        let mut st = self.tx.prepare_cached("SELECT slice, entries FROM setl_pending WHERE slice BETWEEN ?1 AND ?2").map_err(&e)?;
        let mut rows = st.query(params![slices.start(), slices.end()]).map_err(&e)?;
        let mut out: HashMap<i64, Vec<Entries>> = HashMap::new();
        while let Some(r) = rows.next().map_err(&e)? {
            let slice: i64 = r.get(0).map_err(&e)?;
            let entries = r.get_ref(1).map_err(&e)?.as_blob().map_err(|err| e(err.into()))?;
            out.entry(slice).or_default().push(decode_entries(entries));
        }
        Ok(out)
    }

    /// Moves the entries waiting in one slice of `setl_pending` into their `setl_index`
    /// buckets (merged by hash with those stored before).
    fn fold_pending(&self, slice: i64) -> Result<()> {
        let e = self.e();
        let mut waiting: Vec<(u64, i64)> = self.waiting(slice..=slice)?.into_values().flatten().flatten().collect();
        waiting.sort_unstable();
        let mut get = self.tx.prepare_cached("SELECT entries FROM setl_index WHERE bucket = ?1").map_err(&e)?;
        let mut put = self.tx.prepare_cached("INSERT OR REPLACE INTO setl_index (bucket, entries) VALUES (?1, ?2)").map_err(&e)?;
        for group in waiting.chunk_by(|a, b| bucket_of(a.0) == bucket_of(b.0)) {
            let b = bucket_of(group[0].0);
            let old: Option<Vec<u8>> = get.query_row(params![b], |r| r.get(0)).optional().map_err(&e)?;
            let mut all = old.map(|v| decode_entries(&v)).unwrap_or_default();
            all.extend_from_slice(group);
            all.sort_unstable();
            put.execute(params![b, encode_entries(&all)]).map_err(&e)?;
        }
        self.tx.execute("DELETE FROM setl_pending WHERE slice = ?1", params![slice]).map_err(&e)?;
        Ok(())
    }

    /// policy_ref → policy_id of every stored policy version.
    fn policy_ids(&self) -> Result<HashMap<i64, String>> {
        let e = self.e();
        let mut st = self.tx.prepare_cached("SELECT policy_ref, policy_id FROM policies").map_err(&e)?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).map_err(&e)?;
        rows.collect::<std::result::Result<_, _>>().map_err(e)
    }

    /// Stores the policies of the run: a version not stored yet becomes the active one of its
    /// id. Returns the policy_ref of each policy index.
    pub fn put_policies(&self, policies: &PolicySet, run_id: i64) -> Result<Vec<i64>> {
        let mut refs = Vec::with_capacity(policies.policies.len());
        for p in &policies.policies {
            let found: Option<i64> = self
                .tx
                .query_row(
                    "SELECT policy_ref FROM policies WHERE policy_id = ?1 AND effective_sha256 = ?2 AND active = 1",
                    params![p.policy.id, p.effective_sha256],
                    |r| r.get(0),
                )
                .optional()
                .map_err(self.e())?;
            let r = match found {
                Some(r) => r,
                None => {
                    self.tx.execute("UPDATE policies SET active = 0 WHERE policy_id = ?1", params![p.policy.id]).map_err(self.e())?;
                    self.tx
                        .execute(
                            "INSERT INTO policies (policy_id, origin, overrides, text, effective_sha256, first_run, active) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1)",
                            params![p.policy.id, p.origin, serde_json::to_string(&p.overrides)?, p.text, p.effective_sha256, run_id],
                        )
                        .map_err(self.e())?;
                    self.tx.last_insert_rowid()
                }
            };
            refs.push(r);
        }
        Ok(refs)
    }

    /// Writes the run's journal entry (`runs`).
    pub fn put_journal(&self, run: &NewRun, run_id: i64, policies: &PolicySet) -> Result<()> {
        let c = &run.counts;
        self.tx
            .execute(
                "INSERT INTO runs (run_id, applied_at, input_key, inputs, policies, policy_change, out_dir, staging, outputs_committed, read, settled, not_covered, reversal, rejected)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0, ?9, ?10, ?11, ?12, ?13)",
                params![
                    run_id,
                    utc_now(),
                    run.input_key,
                    run.inputs_json,
                    serde_json::to_string(
                        &policies.policies.iter().map(|p| (&p.policy.id, &p.effective_sha256)).collect::<Vec<_>>()
                    )?,
                    run.policy_change as i64,
                    run.out_dir.display().to_string(),
                    run.staging.display().to_string(),
                    c.read as i64,
                    c.settled as i64,
                    c.not_covered as i64,
                    c.reversal as i64,
                    c.rejected as i64
                ],
            )
            .map_err(self.e())?;
        Ok(())
    }

    /// The units of work [`Tx::put_rows`] tells its `progress`: each claim stored, each of
    /// their setl_id index entries, each person-year, weighted by what each costs
    /// ([`CLAIM_WORK`], [`ENTRY_WORK`], [`YEAR_WORK`]) so that a bar moves with the time.
    pub fn rows_work(settled: &Settled) -> u64 {
        (CLAIM_WORK + ENTRY_WORK) * settled.claim.len() as u64 + YEAR_WORK * settled.person_years.len() as u64
    }

    /// Writes the run's rows: every settled claim with what it added to the running totals,
    /// the reversed originals, and the touched person-years; `progress` is told the units of
    /// [`Tx::rows_work`] as they are done.
    #[allow(clippy::too_many_arguments)]
    pub fn put_rows(
        &self,
        run_id: i64,
        table: &ClaimTable,
        persons: &PersonTable,
        policies: &PolicySet,
        refs: &[i64],
        settled: &Settled,
        contributions: &Contributions,
        carries: &[Carry],
        progress: &dyn Fn(u64),
    ) -> Result<()> {
        let e = self.e();
        // The first run that stores setl_ids writes the index whole (in bucket order).
        let fresh = !self.tx.query_row("SELECT EXISTS (SELECT 1 FROM setl_index)", [], |r| r.get::<_, bool>(0)).map_err(&e)?;
        let mut timer = crate::pipeline::Timer::new();
        std::thread::scope(|scope| -> Result<()> {
            // The person-years' maps (below) are made beside the claims' inserts.
            let maps = scope.spawn(|| latest_and_states(table, settled, carries));
            // original setl_id → its reversal, for the originals of this run (stored with their
            // `reversed_by`) and of earlier nights (their packs rewritten below).
            let mut reversed: HashMap<&str, &str, foldhash::fast::FixedState> = HashMap::default();
            let mut earlier: Vec<(&str, &str)> = Vec::new();
            for (ci, s) in settled.iter() {
                let cl = &table.claims[ci];
                if s.status == crate::model::Status::Reversal {
                    let pair = (table.init_setl_id(ci), table.strings.get(cl.setl_id));
                    if table.original(ci) == PRIOR_ORIGINAL {
                        earlier.push(pair)
                    } else {
                        reversed.insert(pair.0, pair.1);
                    }
                }
            }
            // One pack per person-year, in the input order of its first claim; its claims in input
            // order (`seq`: the claim's rank among the run's settled claims). The packs are
            // appended at the table's end (`pack_no` is its key). A person-year's settlements are
            // a run of `settled.sorted` (D-06 order: by person, then time).
            let mut seq_of = vec![0u32; table.claims.len()];
            let mut next = 0u32;
            for (ci, &p) in settled.pos.iter().enumerate() {
                if p != u32::MAX {
                    seq_of[ci] = next;
                    next += 1;
                }
            }
            let n = settled.claim.len();
            let key = |k: usize| (table.claims[settled.claim[k] as usize].psn, settled.sorted[k].year);
            let starts: Vec<usize> = (0..n).filter(|&k| k == 0 || key(k) != key(k - 1)).collect();
            let mut packs: Vec<Range<usize>> = starts.iter().zip(starts.iter().skip(1).copied().chain([n])).map(|(&a, b)| a..b).collect();
            drop(starts);
            let mut members: Vec<u32> = settled.claim.to_vec();
            // On this thread: the rayon pool is writing the output tables meanwhile.
            for r in &packs {
                members[r.clone()].sort_unstable();
            }
            packs.sort_unstable_by_key(|r| members[r.start]);
            timer.mark("group the claims into packs");
            let first_pack: i64 =
                self.tx.query_row("SELECT coalesce(max(pack_no), 0) + 1 FROM claim_packs", [], |r| r.get(0)).map_err(&e)?;
            let stored_claim = |seq: u64, ci: u32, contribution: Contribution| -> StoredClaim<&str> {
                let cl = &table.claims[ci as usize];
                let s = settled.sorted[settled.pos[ci as usize] as usize];
                let setl_id = table.strings.get(cl.setl_id);
                StoredClaim {
                    setl_id,
                    init_setl_id: table.init_setl_id(ci as usize),
                    seq,
                    policy_ref: refs[s.policy as usize],
                    reversed_by: reversed.get(setl_id).copied(),
                    detail: Detail { input: ClaimInput::borrowed(table, ci as usize), settlement: s, contribution },
                }
            };
            // A pack's row: its JSON, detail and setl_id hashes (8 bytes each, little-endian) are
            // ranges of the encoded part's buffer.
            struct PackRow {
                year: i32,
                reversals: i64,
                json: Range<usize>,
                detail: Range<usize>,
                hashes: Range<usize>,
            }
            let encode_pack = |r: &Range<usize>, buf: &mut Vec<u8>| -> Result<PackRow> {
                // A pack's claims are one person's.
                let pos = |ci: u32| settled.pos[ci as usize] as usize;
                let (start, person) = contributions.person_of(pos(members[r.start]))?;
                let claims = members[r.clone()]
                    .iter()
                    .map(|&ci| (seq_of[ci as usize] as u64, ci))
                    .map(|(seq, ci)| {
                        let Some(&c) = person.get(pos(ci).wrapping_sub(start)) else {
                            bail!("internal: no contribution for settlement {}", pos(ci))
                        };
                        Ok(stored_claim(seq, ci, c))
                    })
                    .collect::<Result<Vec<StoredClaim<&str>>>>()?;
                let reversals = claims.iter().filter(|c| c.detail.settlement.status == crate::model::Status::Reversal).count();
                let year = claims.first().map(|c| i32::from(c.detail.settlement.year)).unwrap_or_default();
                let at = buf.len();
                write_pack_json(&claims, buf);
                let json = at..buf.len();
                encode_into(&claims, buf)?;
                let detail = json.end..buf.len();
                for c in &claims {
                    buf.extend_from_slice(&setl_hash(c.setl_id).to_le_bytes());
                }
                let hashes = detail.end..buf.len();
                Ok(PackRow { year, reversals: reversals as i64, json, detail, hashes })
            };
            let mut ins = self
            .tx
            .prepare_cached(
                "INSERT INTO claim_packs (pack_no, psn_no, year, run_id, n_claims, reversals, claims, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )
            .map_err(&e)?;
            let mut pack_no = first_pack;
            // Where each new setl_id is, for the index below.
            let mut entries: Vec<(u64, i64)> = Vec::with_capacity(settled.claim.len());
            pipelined(&packs, encode_pack, |r, row, buf| {
                let psn = table.claims[members[r.start] as usize].psn;
                ins.execute(params![
                    pack_no,
                    persons.persons[psn as usize].psn_no.as_str(),
                    row.year,
                    run_id,
                    r.len() as i64,
                    row.reversals,
                    text(&buf[row.json]),
                    &buf[row.detail]
                ])
                .map_err(&e)?;
                entries.extend(buf[row.hashes].chunks_exact(8).map(|h| (u64::from_le_bytes(h.try_into().unwrap_or_default()), pack_no)));
                pack_no += 1;
                progress(CLAIM_WORK * r.len() as u64);
                Ok(())
            })?;
            timer.mark("store claims");
            // The originals of earlier nights that this run's reversals cancel.
            if !earlier.is_empty() {
                let ids: Vec<&str> = earlier.iter().map(|p| p.0).collect();
                let mut found = self.find(&ids)?;
                let mut touched: Vec<i64> = Vec::new();
                for (original, reversal) in earlier {
                    let Some(&(p, k)) = found.at.get(original) else {
                        bail!("internal: the reversed claim {original} is not in the state")
                    };
                    let Some(pack) = found.packs.get_mut(&p) else { bail!("internal: pack {p} was not read") };
                    pack.claims[k].reversed_by = Some(reversal.to_string());
                    touched.push(p);
                }
                touched.sort_unstable();
                touched.dedup();
                let mut up = self.tx.prepare_cached("UPDATE claim_packs SET claims = ?1, detail = ?2 WHERE pack_no = ?3").map_err(&e)?;
                for p in touched {
                    let Some(pack) = found.packs.get(&p) else { continue };
                    up.execute(params![pack_json(&pack.claims), encode(&pack.claims)?, p]).map_err(&e)?;
                }
            }
            // Where each new setl_id is. The first run writes `setl_index` whole; a night's
            // entries wait in `setl_pending`, one row per slice of the buckets, and the night
            // folds one slice's waiting entries into their buckets (a night rewrites a 32nd of
            // the index instead of a bucket for every claim: a page each, at random).
            entries.par_sort_unstable();
            if fresh {
                let mut put = self.tx.prepare_cached("INSERT INTO setl_index (bucket, entries) VALUES (?1, ?2)").map_err(&e)?;
                for group in entries.chunk_by(|a, b| bucket_of(a.0) == bucket_of(b.0)) {
                    put.execute(params![bucket_of(group[0].0), encode_entries(group)]).map_err(&e)?;
                    progress(ENTRY_WORK * group.len() as u64);
                }
            } else {
                let mut wait =
                    self.tx.prepare_cached("INSERT INTO setl_pending (slice, run_id, entries) VALUES (?1, ?2, ?3)").map_err(&e)?;
                for group in entries.chunk_by(|a, b| slice_of(a.0) == slice_of(b.0)) {
                    wait.execute(params![slice_of(group[0].0), run_id, encode_entries(group)]).map_err(&e)?;
                    progress(ENTRY_WORK * group.len() as u64);
                }
                self.fold_pending(slice_folded_by(run_id))?;
            }
            drop(entries);
            timer.mark("store the setl_id index");

            // The touched person-years, with the latest claim of each, in key order (the table's
            // B-tree is appended to rather than split at random places).
            let (last, states) = maps.join().map_err(|_| anyhow::anyhow!("internal: the person-years' maps failed"))?;
            let mut years: Vec<&crate::model::PersonYear> = settled.person_years.iter().collect();
            years.par_sort_by(|a, b| {
                (persons.persons[a.psn as usize].psn_no.as_str(), a.year).cmp(&(persons.persons[b.psn as usize].psn_no.as_str(), b.year))
            });
            let mut up = self
            .tx
            .prepare_cached(
                "INSERT OR REPLACE INTO person_years (psn_no, year, policy_id, claims, admissions, medfee_sumamt, inscp_scp_amt, act_pay_dedc,
                 hifp_pay, hifob_pay, hifmi_pay, maf_pay, maf_tilt_pay, psn_part_amt, oth_pay, cap_paid, cat_base, cat_paid, tilt_base,
                 last_setl_time, last_setl_id, run_id, person, state)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24)",
            )
            .map_err(&e)?;
            let mut prev = self
                .tx
                .prepare_cached("SELECT last_setl_time, last_setl_id FROM person_years WHERE psn_no = ?1 AND year = ?2")
                .map_err(&e)?;
            // A person-year's row: its records and its latest claim's time are ranges of the
            // encoded part's buffer.
            struct YearRow<'s> {
                st: &'s YearState,
                person: Range<usize>,
                state: Range<usize>,
                last: Option<(Range<usize>, &'s str)>,
            }
            let encode_year = |y: &&crate::model::PersonYear, buf: &mut Vec<u8>| -> Result<YearRow<'_>> {
                let p = &persons.persons[y.psn as usize];
                let Some(&st) = states.get(&(y.psn, y.year)) else { bail!("internal: no state for {} in {}", p.psn_no, y.year) };
                let at = buf.len();
                encode_into(p, buf)?;
                let person = at..buf.len();
                encode_into(st, buf)?;
                let state = person.end..buf.len();
                let last = last.get(&(y.psn, y.year)).map(|&ci| {
                    let cl = &table.claims[ci as usize];
                    let at = buf.len();
                    time::write_datetime(cl.setl_time, buf);
                    (at..buf.len(), table.strings.get(cl.setl_id))
                });
                Ok(YearRow { st, person, state, last })
            };
            pipelined(&years, encode_year, |y, row, buf| {
                let p = &persons.persons[y.psn as usize];
                let st = row.st;
                let (last_time, last_id): (rusqlite::types::Value, rusqlite::types::Value);
                let (time_ref, id_ref) = match row.last {
                    Some((time, id)) => (text(&buf[time]), ToSqlOutput::Borrowed(ValueRef::Text(id.as_bytes()))),
                    None => {
                        (last_time, last_id) =
                            prev.query_row(params![p.psn_no.as_str(), y.year], |r| Ok((r.get(0)?, r.get(1)?))).map_err(&e)?;
                        (ToSqlOutput::Borrowed((&last_time).into()), ToSqlOutput::Borrowed((&last_id).into()))
                    }
                };
                up.execute(params![
                    p.psn_no.as_str(),
                    y.year,
                    policies.get(y.policy).id,
                    y.claims,
                    y.admissions,
                    y.medfee_sumamt.fen(),
                    y.inscp_scp_amt.fen(),
                    y.act_pay_dedc.fen(),
                    y.hifp_pay.fen(),
                    y.hifob_pay.fen(),
                    y.hifmi_pay.fen(),
                    y.maf_pay.fen(),
                    y.maf_tilt_pay.fen(),
                    y.psn_part_amt.fen(),
                    y.oth_pay.fen(),
                    st.cap_paid.fen(),
                    st.cat_base.fen(),
                    st.cat_paid.fen(),
                    st.tilt_base.fen(),
                    time_ref,
                    id_ref,
                    run_id,
                    &buf[row.person],
                    &buf[row.state]
                ])
                .map_err(&e)?;
                progress(YEAR_WORK);
                Ok(())
            })?;
            timer.mark("store person-years");
            Ok(())
        })
    }

    pub fn commit(self) -> Result<()> {
        self.tx.commit().map_err(named(self.path))
    }
}

/// Runs `insert` over `items` in order on this thread (SQLite writes from one thread) while a
/// second thread encodes the next chunks with `encode` on the rayon pool. `encode` appends an
/// item's bytes to a buffer shared by a part of a chunk and returns where they are; `insert`
/// gets that buffer with them. The buffers come back to the encoder once inserted: no
/// allocation per row, nothing freed on another thread, no fresh pages for every chunk.
fn pipelined<T: Sync, R: Send>(
    items: &[T],
    encode: impl Fn(&T, &mut Vec<u8>) -> Result<R> + Sync,
    mut insert: impl FnMut(&T, R, &[u8]) -> Result<()>,
) -> Result<()> {
    const CHUNK: usize = 8192;
    const PART: usize = 256;
    let pool: std::sync::Mutex<Vec<Vec<u8>>> = std::sync::Mutex::new(Vec::new());
    let (send, receive) = std::sync::mpsc::sync_channel::<Result<Vec<(Vec<R>, Vec<u8>)>>>(4);
    let (encode, pool) = (&encode, &pool);
    std::thread::scope(|s| {
        s.spawn(move || {
            for chunk in items.chunks(CHUNK) {
                let encoded: Result<Vec<(Vec<R>, Vec<u8>)>> = chunk
                    .par_chunks(PART)
                    .map(|part| {
                        let mut buf = pool.lock().ok().and_then(|mut p| p.pop()).unwrap_or_default();
                        let rows = part.iter().map(|item| encode(item, &mut buf)).collect::<Result<Vec<R>>>()?;
                        Ok((rows, buf))
                    })
                    .collect();
                let failed = encoded.is_err();
                // A closed channel: the inserting side stopped at an error.
                if send.send(encoded).is_err() || failed {
                    break;
                }
            }
        });
        let mut inserted = || -> Result<()> {
            for (chunk, encoded) in items.chunks(CHUNK).zip(receive.iter()) {
                for (part, (rows, mut buf)) in chunk.chunks(PART).zip(encoded?) {
                    for (item, r) in part.iter().zip(rows) {
                        insert(item, r, &buf)?;
                    }
                    buf.clear();
                    if let Ok(mut p) = pool.lock() {
                        p.push(buf);
                    }
                }
            }
            Ok(())
        };
        let result = inserted();
        // Unblocks the encoding thread if the inserts stopped early.
        drop(receive);
        result
    })
}

/// Bytes known to be UTF-8 (written by this module) bound as TEXT without another check.
fn text(b: &[u8]) -> ToSqlOutput<'_> {
    ToSqlOutput::Borrowed(ValueRef::Text(b))
}

type Fast<K, V> = HashMap<K, V, foldhash::fast::FixedState>;

/// For each person-year the run settled claims in: its latest claim (by claim index, D-06
/// order) and its year state.
#[allow(clippy::type_complexity)]
fn latest_and_states<'c>(
    table: &ClaimTable,
    settled: &Settled,
    carries: &'c [Carry],
) -> (Fast<(u32, i32), u32>, Fast<(u32, i32), &'c YearState>) {
    let mut last: Fast<(u32, i32), u32> = Fast::default();
    for &ci in settled.claim.iter() {
        let cl = &table.claims[ci as usize];
        last.insert((cl.psn, time::year_of(cl.setl_time)), ci);
    }
    let mut states: Fast<(u32, i32), &YearState> = Fast::default();
    for carry in carries {
        for y in &carry.years {
            states.insert((y.summary.psn, y.year), y);
        }
    }
    (last, states)
}

/// SHA-256 over the claims files' SHA-256s in order: the key that refuses an input applied twice.
pub fn input_key(files: &[crate::pipeline::FileInfo]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for f in files {
        h.update(f.sha256.as_bytes());
        h.update(b"\n");
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipelined_inserts_every_item_in_order_with_its_own_bytes() -> Result<()> {
        // More items than a chunk, so that buffers are handed back and reused.
        let items: Vec<u32> = (0..20_000).collect();
        let mut seen: Vec<(u32, Vec<u8>)> = Vec::new();
        pipelined(
            &items,
            |&i, buf| {
                let at = buf.len();
                buf.extend_from_slice(format!("item {i}").as_bytes());
                Ok(at..buf.len())
            },
            |&i, r, buf| {
                seen.push((i, buf[r].to_vec()));
                Ok(())
            },
        )?;
        assert_eq!(seen.len(), items.len());
        for (k, (i, bytes)) in seen.iter().enumerate() {
            assert_eq!(*i as usize, k);
            assert_eq!(bytes, format!("item {i}").as_bytes());
        }
        Ok(())
    }

    #[test]
    fn pipelined_stops_at_the_first_error_of_either_side() {
        let items: Vec<u32> = (0..50_000).collect();
        let mut inserted = 0;
        let encode_fails = pipelined(
            &items,
            |&i, _| if i == 30_000 { bail!("bad item {i}") } else { Ok(i) },
            |_, _, _| {
                inserted += 1;
                Ok(())
            },
        );
        assert_eq!(encode_fails.unwrap_err().to_string(), "bad item 30000");
        // The chunks before the failing one were inserted, none after.
        assert!(inserted <= 30_000, "{inserted}");
        let insert_fails = pipelined(&items, |&i, _| Ok(i), |_, i, _| if i == 7 { bail!("cannot insert {i}") } else { Ok(()) });
        assert_eq!(insert_fails.unwrap_err().to_string(), "cannot insert 7");
    }
}
