//! Intake: every input row becomes a claim or a person, or a reject with a reason, and
//! nothing else happens to it (CONTRACT.md §1–2, RULES.md S-22..S-24, S-30).
//!
//! Formats only deliver rows: the CSV reader ([`crate::io::source`]) gives text cells, Arrow
//! record batches (from Parquet files, or in memory from any other source) give typed
//! columns; both are seen through [`Batch`] and go through the same row rules ([`rows`]).
//! Whole-input checks (duplicate ids, reversal pairs, policy choice, D-06 order) are in
//! [`whole`]. Every reason is a [`RejectCode`].

use std::borrow::Cow;

pub mod arrow;
pub mod cell;
pub mod columns;
pub mod reject;
pub mod rows;
pub mod whole;

pub use arrow::{ArrowBatch, LINE_COLUMN};
pub use cell::Cell;
pub use columns::{CLAIMS, Column, Kind, PERSONS};
pub use reject::{Refusal, RejectCode, RejectRow};
pub use rows::{
    Aliases, ClaimIntake, ClaimsRead, Part, PersonBatches, PersonsRead, aliases_of, named_persons, read_person_arrow, read_person_batch,
};
pub use whole::{
    CrossPartition, History, PREPARE_STEPS, PriorClaim, Unreversible, id_hash, policy_alone, prepare, prepare_after, prepare_part,
};

/// Rows of one input chunk; `cell(row, col)` with `col` an index into the column list the
/// batch was built for ([`CLAIMS`] or [`PERSONS`]).
pub trait Batch: Sync {
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn cell(&self, row: usize, col: usize) -> Cell<'_>;
    /// Line (CSV, header = 1) or record number (Arrow/Parquet, first record = 1) of a row.
    fn line(&self, row: usize) -> u64;
    /// A problem with the row as a whole (field count, a broken quote, bad bytes).
    fn row_error(&self, row: usize) -> Option<Refusal>;

    // The conversions of a cell, which a batch of typed columns may take without building the
    // [`Cell`] (the claims' row loop reads about twenty cells a row). Each must give exactly
    // what the [`Cell`] method of the same name gives.

    /// [`Cell::text`] of `cell(row, col)`.
    #[inline]
    fn text(&self, row: usize, col: usize) -> Option<Cow<'_, str>> {
        self.cell(row, col).text()
    }
    /// [`Cell::money_fen`] of `cell(row, col)`.
    #[inline]
    fn money_fen(&self, row: usize, col: usize) -> Result<Option<i128>, String> {
        self.cell(row, col).money_fen()
    }
    /// [`Cell::flag`] of `cell(row, col)`.
    #[inline]
    fn flag(&self, row: usize, col: usize) -> Result<Option<bool>, String> {
        self.cell(row, col).flag()
    }
}
