//! SQLite alone, one thread, on the first run's volume (9,473,471 claims of 833,942
//! person-years; synthetic text and numbers of the same sizes): what each layout of the
//! nightly state costs to write into a new file without a journal, as `state::Build` does.
//!
//!   state-probe LAYOUT [CLAIMS]
//!
//! rows      one 24-column row per claim (schema 2), then CREATE UNIQUE INDEX on setl_id
//! slim      one 17-column row per claim with an integer hash column, then an index on it
//! multi     the slim rows, 64 per INSERT statement, no index
//! keys      9.47M (hash, claim) rows in hash order into an INTEGER PRIMARY KEY table
//! textkeys  9.47M (setl_id, claim) rows in setl_id order into a WITHOUT ROWID table
//! packs     834k rows of 1.7 KB JSON + 1.1 KB BLOB (schema 3's claim_packs);
//!           PAGE_SIZE and CACHE_KIB from the environment
use rusqlite::{Connection, params};
use std::time::Instant;

const FILE: &str = "bench-data/state-probe.db";

fn open() -> Connection {
    let _ = std::fs::remove_file(FILE);
    let c = Connection::open(FILE).expect("open");
    if let Ok(ps) = std::env::var("PAGE_SIZE") {
        c.pragma_update(None, "page_size", ps.parse::<i64>().expect("PAGE_SIZE")).expect("page_size");
    }
    for (k, v) in [("journal_mode", "OFF"), ("synchronous", "OFF"), ("locking_mode", "EXCLUSIVE"), ("temp_store", "MEMORY")] {
        c.pragma_update(None, k, v).expect(k);
    }
    let cache = std::env::var("CACHE_KIB").map(|v| v.parse::<i64>().expect("CACHE_KIB")).unwrap_or(262_144);
    c.pragma_update(None, "cache_size", -cache).expect("cache_size");
    c.pragma_update(None, "threads", 2).expect("threads");
    c
}

fn hash(k: usize) -> i64 {
    (k as i64).wrapping_mul(0x9E37_79B9_7F4A_7C15_u64 as i64)
}

fn main() {
    let layout = std::env::args().nth(1).unwrap_or_else(|| "rows".into());
    let n: usize = std::env::args().nth(2).map(|s| s.parse().expect("CLAIMS")).unwrap_or(9_473_471);
    let setl: Vec<String> = (0..n).map(|i| format!("S{:017}", (i as u64).wrapping_mul(2_654_435_761) % 100_000_000_000_000_000)).collect();
    let psn: Vec<String> = (0..n).map(|i| format!("P{:09}", i / 11)).collect();
    let mut c = open();
    let t = Instant::now();
    let mut mark = |what: &str| println!("{layout:<9} {what:<28} {:>7.2} s", t.elapsed().as_secs_f64());
    let tx = c.transaction().expect("begin");
    match layout.as_str() {
        "rows" => {
            tx.execute_batch("CREATE TABLE claims (claim_no INTEGER PRIMARY KEY, setl_id TEXT NOT NULL, psn_no TEXT NOT NULL, run_id INTEGER NOT NULL, seq INTEGER NOT NULL, setl_time TEXT NOT NULL, year INTEGER NOT NULL, policy_ref INTEGER NOT NULL, policy_id TEXT NOT NULL, benefit TEXT NOT NULL, status TEXT NOT NULL, reason TEXT NOT NULL, a INTEGER NOT NULL, b INTEGER NOT NULL, c INTEGER NOT NULL, d INTEGER NOT NULL, e INTEGER NOT NULL, f INTEGER NOT NULL, g INTEGER NOT NULL, h INTEGER NOT NULL, i INTEGER NOT NULL, j INTEGER NOT NULL, init_setl_id TEXT NOT NULL, reversed_by TEXT, detail BLOB NOT NULL)").expect("ddl");
            let blob = vec![7u8; 110];
            {
                let mut ins = tx.prepare("INSERT INTO claims (setl_id, psn_no, run_id, seq, setl_time, year, policy_ref, policy_id, benefit, status, reason, a, b, c, d, e, f, g, h, i, j, init_setl_id, reversed_by, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24)").expect("prepare");
                for k in 0..n {
                    ins.execute(params![
                        setl[k],
                        psn[k],
                        1,
                        k as i64,
                        "2024-03-04 10:11:12",
                        2024,
                        1,
                        "changzhou-employee-2024",
                        "outpatient",
                        "settled",
                        "",
                        12345,
                        12000,
                        0,
                        8000,
                        0,
                        0,
                        0,
                        4000,
                        0,
                        8000,
                        "",
                        Option::<&str>::None,
                        blob
                    ])
                    .expect("insert");
                }
            }
            mark("rows inserted");
            tx.execute_batch("CREATE UNIQUE INDEX claims_by_setl_id ON claims(setl_id)").expect("index");
            mark("+ index on setl_id");
        }
        "slim" | "multi" => {
            tx.execute_batch("CREATE TABLE claims (claim_no INTEGER PRIMARY KEY, setl_key INTEGER NOT NULL, setl_id TEXT NOT NULL, psn_no TEXT NOT NULL, run_id INTEGER NOT NULL, setl_time TEXT NOT NULL, year INTEGER NOT NULL, policy_ref INTEGER NOT NULL, benefit TEXT NOT NULL, status TEXT NOT NULL, hifp_pay INTEGER NOT NULL, hifob_pay INTEGER NOT NULL, hifmi_pay INTEGER NOT NULL, maf_pay INTEGER NOT NULL, psn_part_amt INTEGER NOT NULL, cap_paid INTEGER NOT NULL, reversed_by TEXT, detail BLOB NOT NULL)").expect("ddl");
            let blob = vec![7u8; 60];
            const R: usize = 64;
            let rows = if layout == "multi" { R } else { 1 };
            let one = format!("({})", vec!["?"; 17].join(", "));
            let sql = format!(
                "INSERT INTO claims (setl_key, setl_id, psn_no, run_id, setl_time, year, policy_ref, benefit, status, hifp_pay, hifob_pay, hifmi_pay, maf_pay, psn_part_amt, cap_paid, reversed_by, detail) VALUES {}",
                vec![one; rows].join(", ")
            );
            {
                let mut ins = tx.prepare(&sql).expect("prepare");
                for start in (0..n - n % rows).step_by(rows) {
                    let mut i = 1;
                    for k in start..start + rows {
                        ins.raw_bind_parameter(i, hash(k)).expect("bind");
                        ins.raw_bind_parameter(i + 1, &setl[k]).expect("bind");
                        ins.raw_bind_parameter(i + 2, &psn[k]).expect("bind");
                        ins.raw_bind_parameter(i + 3, 1).expect("bind");
                        ins.raw_bind_parameter(i + 4, "2024-03-04 10:11:12").expect("bind");
                        ins.raw_bind_parameter(i + 5, 2024).expect("bind");
                        ins.raw_bind_parameter(i + 6, 1).expect("bind");
                        ins.raw_bind_parameter(i + 7, "outpatient").expect("bind");
                        ins.raw_bind_parameter(i + 8, "settled").expect("bind");
                        for j in 9..15 {
                            ins.raw_bind_parameter(i + j, 8000).expect("bind");
                        }
                        ins.raw_bind_parameter(i + 15, Option::<&str>::None).expect("bind");
                        ins.raw_bind_parameter(i + 16, &blob).expect("bind");
                        i += 17;
                    }
                    ins.raw_execute().expect("insert");
                }
            }
            mark(if rows > 1 { "rows inserted, 64 a statement" } else { "rows inserted" });
            if layout == "slim" {
                tx.execute_batch("CREATE INDEX claims_by_setl_key ON claims(setl_key)").expect("index");
                mark("+ index on the hash");
            }
        }
        "keys" => {
            let mut keys: Vec<(i64, i64)> = (0..n).map(|k| (hash(k), k as i64)).collect();
            keys.sort_unstable();
            tx.execute_batch("CREATE TABLE setl_keys (setl_key INTEGER PRIMARY KEY, claim_no INTEGER NOT NULL)").expect("ddl");
            {
                let mut ins = tx.prepare("INSERT INTO setl_keys VALUES (?1, ?2)").expect("prepare");
                for (k, v) in keys {
                    ins.execute(params![k, v]).expect("insert");
                }
            }
            mark("keys inserted in order");
        }
        "textkeys" => {
            let mut order: Vec<usize> = (0..n).collect();
            order.sort_unstable_by(|&a, &b| setl[a].cmp(&setl[b]));
            tx.execute_batch("CREATE TABLE setl_ids (setl_id TEXT PRIMARY KEY, claim_no INTEGER NOT NULL) WITHOUT ROWID").expect("ddl");
            {
                let mut ins = tx.prepare("INSERT INTO setl_ids VALUES (?1, ?2)").expect("prepare");
                for k in order {
                    ins.execute(params![setl[k], k as i64]).expect("insert");
                }
            }
            mark("setl_ids inserted in order");
        }
        "packs" => {
            tx.execute_batch("CREATE TABLE claim_packs (pack_no INTEGER PRIMARY KEY, psn_no TEXT NOT NULL, year INTEGER NOT NULL, run_id INTEGER NOT NULL, n_claims INTEGER NOT NULL, reversals INTEGER NOT NULL, claims TEXT NOT NULL, detail BLOB NOT NULL)").expect("ddl");
            let json = "x".repeat(1690);
            let blob = vec![7u8; 1100];
            {
                let mut ins = tx.prepare("INSERT INTO claim_packs VALUES (?1, ?2, 2024, 1, 11, 0, ?3, ?4)").expect("prepare");
                for (p, k) in (0..n).step_by(n.div_ceil(833_942).max(1)).enumerate() {
                    ins.execute(params![p as i64 + 1, psn[k], json, blob]).expect("insert");
                }
            }
            mark("packs inserted");
        }
        other => panic!("unknown layout {other}"),
    }
    tx.commit().expect("commit");
    mark("committed");
    let mib = std::fs::metadata(FILE).map(|m| m.len() >> 20).unwrap_or(0);
    println!("{layout:<9} {:<28} {mib:>7} MiB", "file");
    let _ = std::fs::remove_file(FILE);
}
