//! Entry points for embedding the engine (the Python package, Spark executors): the same
//! read → validate → settle → aggregate path as the command line, with inputs that are files
//! or Arrow tables already in memory, and outputs as Arrow record batches instead of files.

pub mod settle;
