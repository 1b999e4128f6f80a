//! Use cases that commands, tests and benches call; they return data and leave argument
//! parsing to `cmd/` and rendering to `report/`.

pub mod explain;
pub mod replay;
pub mod scenario;
