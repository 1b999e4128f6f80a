//! One file per subcommand: its usage, its arguments, one `run`.

pub mod settle;
