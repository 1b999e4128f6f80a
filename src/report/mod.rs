//! Aggregation after the kernel: per-claim and per-person-year tables, the fund report
//! (expenditure and income), the human reports (markdown, HTML with SVG charts, xlsx) in
//! Chinese or English, and the manifest.

pub mod doc;
pub mod fund;
pub mod html;
pub mod i18n;
pub mod markdown;
pub mod replay;
pub mod scenario;
pub mod settlement;
pub mod svg;
pub mod tables;
pub mod xlsx;
