//! The input columns of the contract and the kind of value each holds (CONTRACT.md §1–2).

/// What a column holds; decides which Arrow types are accepted for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `setl_id`, `psn_no`, …: checked against the identifier pattern (CONTRACT.md §1)
    Id,
    /// a code from a list (`med_type`, `hosp_lv`, …)
    Code,
    /// free text (`dise_codg`, `chronic_diseases`)
    Text,
    Money,
    DateTime,
    Date,
    /// `0` / `1`
    Flag,
    /// a whole number
    Int,
}

impl Kind {
    pub fn expected(self) -> &'static str {
        match self {
            Kind::Id | Kind::Code | Kind::Text => "text (or integers)",
            Kind::Money => "Decimal, integer, float or text",
            Kind::DateTime => "a timestamp, a date or text",
            Kind::Date => "a date, a timestamp or text",
            Kind::Flag => "boolean, integer or text 0/1",
            Kind::Int => "integer or text",
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Column {
    pub name: &'static str,
    pub kind: Kind,
    pub required: bool,
}

const fn req(name: &'static str, kind: Kind) -> Column {
    Column { name, kind, required: true }
}
const fn opt(name: &'static str, kind: Kind) -> Column {
    Column { name, kind, required: false }
}

/// Claims columns, required first, in CONTRACT.md §1 order; the row rules index them by
/// position (see the `C_*` constants in [`super::rows`]).
pub const CLAIMS: &[Column] = &[
    req("setl_id", Kind::Id),
    req("psn_no", Kind::Id),
    req("mdtrt_id", Kind::Id),
    req("setl_time", Kind::DateTime),
    req("med_type", Kind::Code),
    req("medfee_sumamt", Kind::Money),
    req("fulamt_ownpay_amt", Kind::Money),
    req("overlmt_selfpay", Kind::Money),
    req("preselfpay_amt", Kind::Money),
    req("inscp_scp_amt", Kind::Money),
    opt("hosp_lv", Kind::Code),
    opt("primary_care", Kind::Flag),
    opt("opsp_dise_code", Kind::Text),
    opt("dise_codg", Kind::Text),
    opt("drug_class", Kind::Code),
    opt("offsite", Kind::Code),
    opt("refd_setl_flag", Kind::Flag),
    opt("init_setl_id", Kind::Id),
    opt("hifp_pay", Kind::Money),
    opt("hifob_pay", Kind::Money),
    opt("hifmi_pay", Kind::Money),
    opt("maf_pay", Kind::Money),
    opt("psn_part_amt", Kind::Money),
    opt("rare_fund_pay", Kind::Money),
    opt("oth_pay", Kind::Money),
];

/// Persons columns, required first, in CONTRACT.md §2 order (district is required for
/// residents only, checked per row).
pub const PERSONS: &[Column] = &[
    req("psn_no", Kind::Id),
    req("insutype", Kind::Code),
    req("psn_type", Kind::Code),
    req("brdy", Kind::Date),
    opt("district", Kind::Code),
    opt("assistance", Kind::Code),
    opt("chronic_diseases", Kind::Text),
    opt("consecutive_years", Kind::Int),
    opt("prior_zero_claim", Kind::Flag),
    opt("benefit_begn", Kind::Date),
    opt("transplant_date", Kind::Date),
    opt("contribution_base", Kind::Money),
    opt("flexible", Kind::Flag),
];

pub fn names(cols: &[Column]) -> Vec<&'static str> {
    cols.iter().map(|c| c.name).collect()
}

/// Maps the wanted columns to positions in a file's header. A duplicated header name is an
/// error (which of the two would be meant?), and so is a missing required column.
pub fn map_header(file: &str, header: &[String], cols: &[Column]) -> anyhow::Result<Vec<Option<usize>>> {
    for (i, h) in header.iter().enumerate() {
        let h = h.trim();
        if let Some(j) = header[..i].iter().position(|x| x.trim() == h) {
            anyhow::bail!("{file}: column `{h}` appears twice in the header (columns {} and {}); remove one", j + 1, i + 1);
        }
    }
    let map: Vec<Option<usize>> = cols.iter().map(|c| header.iter().position(|h| h.trim() == c.name)).collect();
    let missing: Vec<&str> = cols.iter().zip(&map).filter(|(c, m)| c.required && m.is_none()).map(|(c, _)| c.name).collect();
    if !missing.is_empty() {
        anyhow::bail!(
            "{file}: missing required column(s) {} (docs/contract.md names; the header has: {})",
            missing.join(", "),
            header.join(", ")
        );
    }
    Ok(map)
}
