//! Files in and out: CSV and Parquet readers with validation, writers, atomic output.
//! The IO never knows a rule.

pub mod cell;
pub mod read;
pub mod source;
pub mod write;
