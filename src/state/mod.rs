//! The nightly store (`settle --state DB`, CONTRACT.md §6): the year-to-date state of every
//! person in an SQLite database (schema: `schemas/state.sql`). A run reads what it needs about
//! its own claims and persons, settles them after everything already settled, and writes the
//! new state in one transaction; the journal (`runs`) refuses an input applied before.

pub mod audit;
pub mod stored;

use crate::engine::{Carry, Contribution, Settled, YearState};
use crate::intake::whole::{History, PriorClaim};
use crate::intake::{ClaimsRead, PersonsRead};
use crate::model::{ClaimTable, PRIOR_ORIGINAL, PersonTable, Settlement, time};
use crate::policy::{LoadedPolicy, PolicySet};
use anyhow::{Context, Result, bail};
use rayon::prelude::*;
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
pub use stored::{ClaimInput, Detail};

pub const SCHEMA: &str = include_str!("../../schemas/state.sql");
pub const SCHEMA_VERSION: &str = "2";

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

impl Prior {
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
            let psn_no = &persons.persons[table.claims[first as usize].psn as usize].psn_no;
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
                    let c = &table.claims[ci as usize];
                    if c.reversal && c.original == PRIOR_ORIGINAL {
                        let init = table.strings.get(c.init_setl_id);
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
    postcard::to_stdvec(v).context("internal: cannot encode a state record")
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
        let v: Option<String> =
            self.conn.query_row("SELECT value FROM meta WHERE key = 'schema_version'", [], |r| r.get(0)).optional().map_err(&e)?;
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
/// rows in key order and the `claims_by_setl_id` index made once at the end; one fsync and the
/// rename are the commit point (a kill before it leaves the previous, empty state).
pub struct Build {
    conn: Option<Connection>,
    tmp: PathBuf,
    target: PathBuf,
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
        let build = Build { conn: Some(Connection::open(&tmp).map_err(named(&tmp))?), tmp, target: target.to_path_buf() };
        {
            let conn = build.conn()?;
            let e = named(&build.tmp);
            for (pragma, value) in
                [("journal_mode", "OFF"), ("synchronous", "OFF"), ("locking_mode", "EXCLUSIVE"), ("temp_store", "MEMORY")]
            {
                conn.pragma_update(None, pragma, value).map_err(&e)?;
            }
            conn.pragma_update(None, "cache_size", -262_144).map_err(&e)?;
            create_schema(conn).map_err(&e)?;
            conn.execute_batch("DROP INDEX claims_by_setl_id").map_err(&e)?;
        }
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

/// A stored claim as the run's checks read it.
struct StoredRow {
    psn_no: String,
    setl_time: String,
    status: String,
    reversed_by: Option<String>,
    run_id: i64,
    policy_id: String,
    detail: Vec<u8>,
}

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
        let mut prior = Prior::default();
        if self.is_empty()? {
            return Ok(prior);
        }
        let t = &claims.table;
        let mut by_id = self
            .tx
            .prepare_cached("SELECT psn_no, setl_time, status, reversed_by, run_id, policy_id, detail FROM claims WHERE setl_id = ?1")
            .map_err(self.e())?;
        let mut run_date = self.tx.prepare_cached("SELECT applied_at FROM runs WHERE run_id = ?1").map_err(self.e())?;
        let mut ids: Vec<&str> = Vec::new();
        for c in &t.claims {
            ids.push(t.strings.get(c.setl_id));
            if c.reversal {
                ids.push(t.strings.get(c.init_setl_id));
            }
        }
        // In key order: the lookups then walk the B-tree's leaves forwards (a cold night reads
        // the file nearly in order instead of at random).
        ids.sort_unstable();
        ids.dedup();
        for id in ids {
            let row: Option<StoredRow> = by_id
                .query_row(params![id], |r| {
                    Ok(StoredRow {
                        psn_no: r.get(0)?,
                        setl_time: r.get(1)?,
                        status: r.get(2)?,
                        reversed_by: r.get(3)?,
                        run_id: r.get(4)?,
                        policy_id: r.get(5)?,
                        detail: r.get(6)?,
                    })
                })
                .optional()
                .map_err(self.e())?;
            let Some(StoredRow { psn_no, setl_time, status, reversed_by, run_id, policy_id, detail }) = row else { continue };
            let d: Detail = decode(&detail, "claim")?;
            let night: String = run_date.query_row(params![run_id], |r| r.get(0)).map_err(self.e())?;
            let setl_time = time::parse_datetime(&setl_time).map_err(|m| anyhow::anyhow!("state claim {id}: setl_time {m}"))?;
            let reversal = status == "reversal";
            prior.history.claims.insert(
                id.to_string(),
                PriorClaim {
                    psn_no,
                    setl_time,
                    reversal,
                    reversed_by,
                    amounts: d.input.amounts(),
                    night: format!("{night} (run {run_id})"),
                },
            );
            if !reversal {
                let mut s = d.settlement;
                s.policy = index_of(policies, &policy_id).unwrap_or(s.policy);
                prior.originals.insert(id.to_string(), (s, d.contribution));
            }
        }
        // Each person's stored years, in psn_no order (the key): the latest claim for the
        // checks, the year states for the kernel (kept for `carries`).
        let mut years = self
            .tx
            .prepare_cached("SELECT policy_id, state, last_setl_time, last_setl_id FROM person_years WHERE psn_no = ?1 ORDER BY year")
            .map_err(self.e())?;
        let mut named: Vec<&str> = t.claims.iter().map(|c| persons.table.persons[c.psn as usize].psn_no.as_str()).collect();
        named.sort_unstable();
        named.dedup();
        for psn_no in named {
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

    /// Writes the run's rows: every settled claim with what it added to the running totals,
    /// the reversed originals, and the touched person-years.
    #[allow(clippy::too_many_arguments)]
    pub fn put_rows(
        &self,
        run_id: i64,
        table: &ClaimTable,
        persons: &PersonTable,
        policies: &PolicySet,
        refs: &[i64],
        settled: &Settled,
        contributions: &[Contribution],
        carries: &[Carry],
    ) -> Result<()> {
        let e = self.e();
        let mut ins = self
            .tx
            .prepare_cached(
                "INSERT INTO claims (setl_id, psn_no, run_id, seq, setl_time, year, policy_ref, policy_id, benefit, status, reason,
                 medfee_sumamt, inscp_scp_amt, act_pay_dedc, hifp_pay, hifob_pay, hifmi_pay, maf_pay, psn_part_amt, oth_pay, cap_paid,
                 init_setl_id, reversed_by, detail)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24)",
            )
            .map_err(&e)?;
        let mut rev = self.tx.prepare_cached("UPDATE claims SET reversed_by = ?1 WHERE setl_id = ?2").map_err(&e)?;
        let mut timer = crate::pipeline::Timer::new();
        // Appended in input order (`seq`; `claim_no` is the table's key): the run's rows fill
        // a few new pages at the table's end.
        let rows: Vec<(usize, u32)> = settled.input_order().into_iter().enumerate().collect();
        // original setl_id → its reversal: an original of this run is inserted with its
        // `reversed_by`, one of an earlier night updated after (through `claims_by_setl_id`,
        // which the first run makes only at its end).
        let mut reversed: HashMap<&str, &str> = settled
            .iter()
            .filter(|(_, s)| s.status == crate::model::Status::Reversal)
            .map(|(ci, _)| (table.strings.get(table.claims[ci].init_setl_id), table.strings.get(table.claims[ci].setl_id)))
            .collect();
        let encode_claim = |&(_, ci): &(usize, u32)| -> Result<(String, Vec<u8>)> {
            let cl = &table.claims[ci as usize];
            let pos = settled.pos[ci as usize] as usize;
            let detail = Detail { input: ClaimInput::of(table, cl), settlement: settled.sorted[pos], contribution: contributions[pos] };
            Ok((time::format_datetime(cl.setl_time), encode(&detail)?))
        };
        pipelined(&rows, encode_claim, |&(seq, ci), (setl_time, detail)| {
            let cl = &table.claims[ci as usize];
            let pos = settled.pos[ci as usize] as usize;
            let s = &settled.sorted[pos];
            let setl_id = table.strings.get(cl.setl_id);
            ins.execute(params![
                setl_id,
                persons.persons[cl.psn as usize].psn_no,
                run_id,
                seq as i64,
                setl_time,
                s.year,
                refs[s.policy as usize],
                policies.get(s.policy).id,
                s.benefit.as_str(),
                s.status.as_str(),
                s.reason.map(|r| r.as_str()).unwrap_or(""),
                cl.medfee_sumamt.fen(),
                cl.inscp_scp_amt.fen(),
                s.act_pay_dedc.fen(),
                s.hifp_pay.fen(),
                s.hifob_pay.fen(),
                s.hifmi_pay.fen(),
                s.maf_pay.fen(),
                s.psn_part_amt.fen(),
                s.oth_pay.fen(),
                contributions[pos].cap_paid.fen(),
                table.strings.get(cl.init_setl_id),
                reversed.remove(setl_id),
                detail
            ])
            .map_err(&e)?;
            Ok(())
        })?;
        for (original, reversal) in reversed {
            rev.execute(params![reversal, original]).map_err(&e)?;
        }
        timer.mark("store claims");
        // The touched person-years, with the latest claim of each.
        let mut last: HashMap<(u32, i32), u32> = HashMap::new();
        for &ci in &settled.claim {
            let cl = &table.claims[ci as usize];
            last.insert((cl.psn, time::year_of(cl.setl_time)), ci);
        }
        let mut states: HashMap<(u32, i32), &YearState> = HashMap::new();
        for carry in carries {
            for y in &carry.years {
                states.insert((y.summary.psn, y.year), y);
            }
        }
        let mut up = self
            .tx
            .prepare_cached(
                "INSERT OR REPLACE INTO person_years (psn_no, year, policy_id, claims, admissions, medfee_sumamt, inscp_scp_amt, act_pay_dedc,
                 hifp_pay, hifob_pay, hifmi_pay, maf_pay, maf_tilt_pay, psn_part_amt, oth_pay, cap_paid, cat_base, cat_paid, tilt_base,
                 last_setl_time, last_setl_id, run_id, person, state)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24)",
            )
            .map_err(&e)?;
        let mut prev =
            self.tx.prepare_cached("SELECT last_setl_time, last_setl_id FROM person_years WHERE psn_no = ?1 AND year = ?2").map_err(&e)?;
        let encode_year = |y: &crate::model::PersonYear| -> Result<(&YearState, Vec<u8>, Vec<u8>)> {
            let p = &persons.persons[y.psn as usize];
            let Some(st) = states.get(&(y.psn, y.year)) else { bail!("internal: no state for {} in {}", p.psn_no, y.year) };
            Ok((st, encode(p)?, encode(*st)?))
        };
        pipelined(&settled.person_years, encode_year, |y, (st, person, state)| {
            let p = &persons.persons[y.psn as usize];
            let (last_time, last_id) = match last.get(&(y.psn, y.year)) {
                Some(&ci) => {
                    let cl = &table.claims[ci as usize];
                    (time::format_datetime(cl.setl_time), table.strings.get(cl.setl_id).to_string())
                }
                None => prev.query_row(params![p.psn_no, y.year], |r| Ok((r.get(0)?, r.get(1)?))).map_err(&e)?,
            };
            up.execute(params![
                p.psn_no,
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
                last_time,
                last_id,
                run_id,
                person,
                state
            ])
            .map_err(&e)?;
            Ok(())
        })?;
        timer.mark("store person-years");
        Ok(())
    }

    pub fn commit(self) -> Result<()> {
        self.tx.commit().map_err(named(self.path))
    }
}

/// Runs `insert` over `items` in order on this thread (SQLite writes from one thread) while a
/// second thread encodes the next chunks with `encode` on the rayon pool.
fn pipelined<T: Sync, R: Send>(
    items: &[T],
    encode: impl Fn(&T) -> Result<R> + Sync,
    mut insert: impl FnMut(&T, R) -> Result<()>,
) -> Result<()> {
    const CHUNK: usize = 8192;
    let (send, receive) = std::sync::mpsc::sync_channel::<Result<Vec<R>>>(4);
    let encode = &encode;
    std::thread::scope(|s| {
        s.spawn(move || {
            for chunk in items.chunks(CHUNK) {
                let encoded: Result<Vec<R>> = chunk.par_iter().map(encode).collect();
                let failed = encoded.is_err();
                // A closed channel: the inserting side stopped at an error.
                if send.send(encoded).is_err() || failed {
                    break;
                }
            }
        });
        let mut inserted = || -> Result<()> {
            for (chunk, encoded) in items.chunks(CHUNK).zip(receive.iter()) {
                for (item, r) in chunk.iter().zip(encoded?) {
                    insert(item, r)?;
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
