//! Parquet files: row groups decoded in parallel, columns encoded in parallel.

pub mod read;
pub mod write;
