//! Use cases that commands, tests and benches call; they return data and leave argument
//! parsing to `cmd/` and rendering to `report/`. [`settle`] is the entry point for embedding
//! the engine (the Python package, Spark executors): inputs may be Arrow tables in memory,
//! outputs are Arrow record batches instead of files.

pub mod explain;
pub mod nightly;
pub mod partitioned;
pub mod replay;
pub mod scenario;
pub mod settle;
