-- The nightly state of `medsettle settle --state DB` (CONTRACT.md §6): an SQLite database,
-- schema version 4. Readable with the standard `sqlite3` tool, e.g.
--   sqlite3 state.db "SELECT psn_no, setl_time, setl_id, cap_paid FROM claims WHERE psn_no = 'P1' ORDER BY setl_time"
-- Money is INTEGER fen (1 yuan = 100); times are TEXT 'YYYY-MM-DD HH:MM:SS', Asia/Shanghai wall
-- clock (they sort as text). The BLOB columns hold the kernel's own records (postcard encoding,
-- versioned by `meta.schema_version`); every amount in them is also in a readable column
-- (or in the JSON the view `claims` reads; `setl_index.entries` is an index, not data).
-- The file is in WAL mode: a `state.db-wal` beside it may hold the latest night's pages (copy
-- both, or `sqlite3 state.db .backup`). The first run writes it as a new file.
-- Version 4 adds `setl_pending` (a version 3 state is upgraded when medsettle opens it: the
-- table is added, empty). Version 3 (states of versions 1 and 2 are refused): the claims are stored in packs, one row
-- per person-year and run (`claim_packs`, read through the view `claims`), and found by
-- setl_id through `setl_index`. Version 2 kept one row per claim with an SQL index on setl_id;
-- building that index and those rows took most of a first run over a city-year.

CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,   -- schema_version, created_at, tool_version
    value TEXT NOT NULL
) WITHOUT ROWID;

-- The journal: one row per applied run.
CREATE TABLE IF NOT EXISTS runs (
    run_id            INTEGER PRIMARY KEY,
    applied_at        TEXT NOT NULL,      -- UTC time the run was committed
    input_key         TEXT NOT NULL,      -- SHA-256 over the claims files' SHA-256s, in order
    inputs            TEXT NOT NULL,      -- JSON: path, bytes, sha256, rows of every input file
    policies          TEXT NOT NULL,      -- JSON: id and effective SHA-256 of each policy used
    policy_change     INTEGER NOT NULL,   -- 1 when --allow-policy-change replaced a policy
    out_dir           TEXT NOT NULL,
    staging           TEXT NOT NULL,      -- the output set before it was switched in
    outputs_committed INTEGER NOT NULL,   -- 0 until the output folder holds this run's set
    read              INTEGER NOT NULL,
    settled           INTEGER NOT NULL,
    not_covered       INTEGER NOT NULL,
    reversal          INTEGER NOT NULL,
    rejected          INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS runs_by_input ON runs(input_key);

-- Every policy version the state has settled with; `active` = the one a night uses.
CREATE TABLE IF NOT EXISTS policies (
    policy_ref       INTEGER PRIMARY KEY,
    policy_id        TEXT NOT NULL,
    origin           TEXT NOT NULL,       -- builtin:ID or the file it was read from
    overrides        TEXT NOT NULL,       -- JSON list of --set KEY=VALUE applied
    text             TEXT NOT NULL,       -- the policy file as read
    effective_sha256 TEXT NOT NULL,
    first_run        INTEGER NOT NULL,
    active           INTEGER NOT NULL
);

-- One row per person and year: the year to date.
CREATE TABLE IF NOT EXISTS person_years (
    psn_no         TEXT NOT NULL,
    year           INTEGER NOT NULL,
    policy_id      TEXT NOT NULL,
    claims         INTEGER NOT NULL,
    admissions     INTEGER NOT NULL,
    medfee_sumamt  INTEGER NOT NULL,
    inscp_scp_amt  INTEGER NOT NULL,
    act_pay_dedc   INTEGER NOT NULL,
    hifp_pay       INTEGER NOT NULL,
    hifob_pay      INTEGER NOT NULL,
    hifmi_pay      INTEGER NOT NULL,
    maf_pay        INTEGER NOT NULL,
    maf_tilt_pay   INTEGER NOT NULL,      -- year-end tilted assistance as of the last run (S-19)
    psn_part_amt   INTEGER NOT NULL,
    oth_pay        INTEGER NOT NULL,
    cap_paid       INTEGER NOT NULL,      -- basic-fund payment counted against the annual cap (D-10)
    cat_base       INTEGER NOT NULL,      -- catastrophic base (D-03)
    cat_paid       INTEGER NOT NULL,
    tilt_base      INTEGER NOT NULL,      -- S-19
    last_setl_time TEXT NOT NULL,         -- the latest claim settled (late_claim below it)
    last_setl_id   TEXT NOT NULL,
    run_id         INTEGER NOT NULL,      -- the run that last changed the row
    person         BLOB NOT NULL,         -- the person's attributes as of that run
    state          BLOB NOT NULL,         -- every running total of the kernel (YearState)
    PRIMARY KEY (psn_no, year)
) WITHOUT ROWID;

-- The settled claims (settled, not covered or reversal), packed: one row per person, year and
-- run, holding that run's claims of the person-year in the run's input order. A first run over
-- a city-year writes about a tenth as many rows as it settles claims. Read them one per claim
-- through the view `claims` below.
CREATE TABLE IF NOT EXISTS claim_packs (
    pack_no   INTEGER PRIMARY KEY,        -- in settlement order: by run, then by the input position of the pack's first claim
    psn_no    TEXT NOT NULL,
    year      INTEGER NOT NULL,
    run_id    INTEGER NOT NULL,
    n_claims  INTEGER NOT NULL,
    reversals INTEGER NOT NULL,           -- how many of them are reversals
    claims    TEXT NOT NULL,              -- JSON: one array per claim, fields as named by the view `claims`
                                          -- (setl_id, seq, setl_time, policy_ref, benefit, ... reversed_by)
    detail    BLOB NOT NULL               -- the claims' inputs, settlements and contributions (S-22)
);

-- Where each settled setl_id is (duplicates across nights, reversals of earlier nights):
-- a hash index kept by medsettle. hash = MurmurHash3 fmix64(FNV-1a 64(setl_id as UTF-8));
-- bucket = its top 20 bits. A lookup reads the bucket's row and then the packs its entries
-- name with the same hash (a pack is checked for the setl_id itself).
CREATE TABLE IF NOT EXISTS setl_index (
    bucket  INTEGER PRIMARY KEY,
    entries BLOB NOT NULL                 -- (hash u64, pack_no i64) pairs, 16 bytes each, little-endian, by hash
);

-- The entries of the nights after the first that are not in `setl_index` yet: a night adds one
-- row per slice (slice = the hash's top 5 bits, i.e. 32 runs of whole buckets) and then moves
-- the waiting entries of slice (run_id mod 32) into their buckets. A lookup reads the bucket
-- and the waiting entries of its slice. (A night thus rewrites a 32nd of the index, not a
-- page of it for every claim.) Version 4; a version 3 state is one with nothing waiting.
CREATE TABLE IF NOT EXISTS setl_pending (
    slice   INTEGER NOT NULL,
    run_id  INTEGER NOT NULL,
    entries BLOB NOT NULL,                -- as setl_index.entries
    PRIMARY KEY (slice, run_id)
) WITHOUT ROWID;

-- One row per settled claim, in settlement order: by run, then in the run's input order
-- (`seq`). A view over the packs' JSON (SQLite 3.38 or later).
CREATE VIEW IF NOT EXISTS claims AS
SELECT
    p.pack_no                    AS pack_no,
    json_extract(c.value, '$[0]')  AS setl_id,
    p.psn_no                     AS psn_no,
    p.run_id                     AS run_id,
    json_extract(c.value, '$[1]')  AS seq,       -- position in the run's input (settlements.csv order)
    json_extract(c.value, '$[2]')  AS setl_time,
    p.year                       AS year,
    json_extract(c.value, '$[3]')  AS policy_ref,
    (SELECT policy_id FROM policies AS q WHERE q.policy_ref = json_extract(c.value, '$[3]')) AS policy_id,
    json_extract(c.value, '$[4]')  AS benefit,
    json_extract(c.value, '$[5]')  AS status,
    json_extract(c.value, '$[6]')  AS reason,
    json_extract(c.value, '$[7]')  AS medfee_sumamt,
    json_extract(c.value, '$[8]')  AS inscp_scp_amt,
    json_extract(c.value, '$[9]')  AS act_pay_dedc,
    json_extract(c.value, '$[10]') AS hifp_pay,
    json_extract(c.value, '$[11]') AS hifob_pay,
    json_extract(c.value, '$[12]') AS hifmi_pay,
    json_extract(c.value, '$[13]') AS maf_pay,
    json_extract(c.value, '$[14]') AS psn_part_amt,
    json_extract(c.value, '$[15]') AS oth_pay,
    json_extract(c.value, '$[16]') AS cap_paid,   -- what this claim added to the annual cap total
    json_extract(c.value, '$[17]') AS init_setl_id, -- for a reversal: the original
    json_extract(c.value, '$[18]') AS reversed_by   -- the reversal that cancelled this claim
FROM claim_packs AS p, json_each(p.claims) AS c;
