//! medsettle: batch claims settlement for Chinese basic medical insurance (Changzhou).
//!
//! Data flows one way: [`io`] reads, [`intake`] checks every row and orders by person and
//! time → [`engine::settle_all`] settles (pure, parallel over persons) → [`report`] aggregates
//! → [`io`] writes. The kernel never does IO; the IO never knows a rule.

pub mod app;
pub mod cmd;
pub mod engine;
pub mod intake;
pub mod io;
pub mod model;
pub mod pipeline;
pub mod policy;
pub mod progress;
pub mod report;
pub mod state;
pub mod synth;
