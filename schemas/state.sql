-- The nightly state of `medsettle settle --state DB` (CONTRACT.md §6): an SQLite database,
-- schema version 2. Readable with the standard `sqlite3` tool, e.g.
--   sqlite3 state.db "SELECT psn_no, setl_time, setl_id FROM claims WHERE cap_paid > 0 ORDER BY setl_time"
-- Money is INTEGER fen (1 yuan = 100); times are TEXT 'YYYY-MM-DD HH:MM:SS', Asia/Shanghai wall
-- clock (they sort as text). The BLOB columns hold the kernel's own records (postcard encoding,
-- versioned by `meta.schema_version`); every amount in them is also in a readable column.
-- The file is in WAL mode: a `state.db-wal` beside it may hold the latest night's pages (copy
-- both, or `sqlite3 state.db .backup`). The first run writes it as a new file, `claims_by_setl_id` last.
-- Version 2 (version 1 states are refused): `claims` is kept in settlement order (`claim_no`), so
-- that a night's claims are appended to a few pages instead of inserted at random places.

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

-- One row per settled claim (settled, not covered or reversal), in settlement order: by run,
-- then in the run's input order (`claim_no` follows `run_id, seq`).
CREATE TABLE IF NOT EXISTS claims (
    claim_no      INTEGER PRIMARY KEY,
    setl_id       TEXT NOT NULL,
    psn_no        TEXT NOT NULL,
    run_id        INTEGER NOT NULL,
    seq           INTEGER NOT NULL,       -- position in the run's input (settlements.csv order)
    setl_time     TEXT NOT NULL,
    year          INTEGER NOT NULL,
    policy_ref    INTEGER NOT NULL REFERENCES policies(policy_ref),
    policy_id     TEXT NOT NULL,
    benefit       TEXT NOT NULL,
    status        TEXT NOT NULL,
    reason        TEXT NOT NULL,
    medfee_sumamt INTEGER NOT NULL,
    inscp_scp_amt INTEGER NOT NULL,
    act_pay_dedc  INTEGER NOT NULL,
    hifp_pay      INTEGER NOT NULL,
    hifob_pay     INTEGER NOT NULL,
    hifmi_pay     INTEGER NOT NULL,
    maf_pay       INTEGER NOT NULL,
    psn_part_amt  INTEGER NOT NULL,
    oth_pay       INTEGER NOT NULL,
    cap_paid      INTEGER NOT NULL,       -- what this claim added to the annual cap total
    init_setl_id  TEXT NOT NULL,          -- for a reversal: the original
    reversed_by   TEXT,                   -- the reversal that cancelled this claim
    detail        BLOB NOT NULL           -- the claim's inputs and its contribution (S-22)
);
CREATE UNIQUE INDEX IF NOT EXISTS claims_by_setl_id ON claims(setl_id);
