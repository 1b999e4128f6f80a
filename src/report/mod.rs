//! Aggregation after the kernel: per-claim and per-person-year tables, the fund report
//! (expenditure and income), the human report and the manifest.

pub mod fund;
pub mod markdown;
pub mod tables;
