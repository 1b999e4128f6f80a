//! Files in and out: CSV and Parquet readers (the rules are in [`crate::intake`]), writers,
//! the committed output folder, spill files.
//! The IO never knows a rule.

pub mod csv_read;
pub mod read;
pub mod source;
pub mod spill;
pub mod write;
