//! CSV files: read in parallel chunks of whole lines, written in parallel windows.

pub mod read;
pub mod write;
