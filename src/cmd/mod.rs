//! One file per subcommand: its usage, its arguments, one `run`.

pub mod explain;
pub mod generate;
pub mod policy;
pub mod replay;
pub mod scenario;
pub mod settle;
pub mod state;
