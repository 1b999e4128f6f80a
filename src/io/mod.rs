//! Files in and out, one folder per format with its reader and writer ([`csv`], [`parquet`]);
//! the claims and persons inputs walked through intake ([`read`]); the tables and the
//! committed output folder ([`write`]); spill files ([`spill`]). The rules are in
//! [`crate::intake`].
//! The IO never knows a rule.

pub mod csv;
pub mod parquet;
pub mod read;
pub mod source;
pub mod spill;
pub mod write;
