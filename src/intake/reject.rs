//! Every reason a row can be refused, as one enum: the rejects schema, `docs/contract.md` and
//! the tests are checked against [`RejectCode::ALL`], so a new code cannot go undocumented.

use std::fmt;

/// When a reject is decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// one claims row on its own (CONTRACT.md §1)
    ClaimRow,
    /// one persons row on its own (CONTRACT.md §2)
    PersonRow,
    /// needs the whole input: duplicates, reversal pairs, policy choice (RULES.md S-22..S-24)
    WholeInput,
    /// found while settling (the kernel refuses the claim)
    Engine,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::ClaimRow => "claims row",
            Stage::PersonRow => "persons row",
            Stage::WholeInput => "whole input",
            Stage::Engine => "settlement",
        }
    }
}

macro_rules! reject_codes {
    ($($var:ident = $text:literal, $stage:ident, $meaning:literal;)+) => {
        /// The reason code of a rejected row (the part of `reason` before `:` in rejects.csv).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum RejectCode { $($var),+ }
        impl RejectCode {
            pub const ALL: &'static [RejectCode] = &[$(RejectCode::$var),+];
            pub fn as_str(self) -> &'static str { match self { $(RejectCode::$var => $text),+ } }
            pub fn stage(self) -> Stage { match self { $(RejectCode::$var => Stage::$stage),+ } }
            /// What the code means, for the documentation (the row's message says the details).
            pub fn meaning(self) -> &'static str { match self { $(RejectCode::$var => $meaning),+ } }
            pub fn parse(s: &str) -> Option<RejectCode> { match s { $($text => Some(RejectCode::$var),)+ _ => None } }
        }
    };
}

reject_codes! {
    MissingValue = "missing_value", ClaimRow,
        "A required cell is empty (the message names the column and what it needs).";
    BadValue = "bad_value", ClaimRow,
        "A cell does not parse as its type: an amount like `1234.50` (at most two decimals), a datetime `YYYY-MM-DD HH:MM:SS`, a date, a 0/1 flag, a whole number, or a date outside 1900–2199.";
    UnknownCode = "unknown_code", ClaimRow,
        "A coded cell is not one of the listed codes (`med_type`, `drug_class`, `offsite`, disease keys, `insutype`, `psn_type`, `district`, `assistance`, each `chronic_diseases` key).";
    BadIdentifier = "bad_identifier", ClaimRow,
        "An identifier (`setl_id`, `psn_no`, `mdtrt_id`, `init_setl_id`) is not 1–64 characters from letters, digits, `-`, `_`, `.`, or starts with `=`, `+`, `-`, `@` (spreadsheet formula triggers).";
    BadSign = "bad_sign", ClaimRow,
        "An amount is negative on an ordinary row, or positive on a reversal row.";
    AmountIdentity = "amount_identity", ClaimRow,
        "`medfee_sumamt` is not `fulamt_ownpay_amt + overlmt_selfpay + preselfpay_amt + inscp_scp_amt`.";
    AmountOutOfRange = "amount_out_of_range", ClaimRow,
        "An amount is beyond ±100,000,000.00 yuan, which no single claim reaches (the bound also keeps every total exact).";
    RareFundPayNotRareDrug = "rare_fund_pay_not_rare_drug", ClaimRow,
        "`rare_fund_pay` is not zero on a claim that is not `med_type` 15 with `drug_class` `rare` (RULES.md S-27).";
    WrongFieldCount = "wrong_field_count", ClaimRow,
        "A CSV line has more or fewer fields than the header.";
    BrokenQuote = "broken_quote", ClaimRow,
        "A quoted CSV field does not close on its own line, or text follows its closing quote; the line is refused instead of swallowing the lines after it.";
    BadEncoding = "bad_encoding", ClaimRow,
        "A cell is not UTF-8 (often GBK/GB18030 from a spreadsheet); re-encode the file as UTF-8.";
    UnknownPerson = "unknown_person", ClaimRow,
        "The claim's `psn_no` is not in the persons file, or that person's row was rejected.";
    DuplicatePsnNo = "duplicate_psn_no", PersonRow,
        "A `psn_no` appears again in the persons file; the first row is kept.";
    PersonSchemeMismatch = "person_scheme_mismatch", PersonRow,
        "`psn_type` belongs to the other `insutype`; the person's claims are rejected too.";
    DuplicateSetlId = "duplicate_setl_id", WholeInput,
        "A `setl_id` appears again in the input; the first row is kept (RULES.md S-24).";
    NoPolicy = "no_policy", WholeInput,
        "No built-in or given policy covers the person's region, scheme and the claim's year (RULES.md S-23).";
    NoBenefitRules = "no_benefit_rules", WholeInput,
        "The chosen policy has financing only, no benefit rules (RULES.md S-23).";
    ReversalUnknownOriginal = "reversal_unknown_original", WholeInput,
        "A reversal's `init_setl_id` is not a settlement of the input, is itself a reversal, or was rejected (RULES.md S-22).";
    ReversalPersonMismatch = "reversal_person_mismatch", WholeInput,
        "A reversal and its original belong to different persons.";
    ReversalCrossesYear = "reversal_crosses_year", WholeInput,
        "A reversal is settled in another year than its original.";
    ReversalBeforeOriginal = "reversal_before_original", WholeInput,
        "A reversal is not later than its original in settlement order (`setl_time`, then `setl_id`).";
    ReversalAmountMismatch = "reversal_amount_mismatch", WholeInput,
        "A reversal's amounts are not the exact negation of its original's.";
    AlreadyReversed = "already_reversed", WholeInput,
        "The original is already reversed by an earlier reversal.";
    LateClaim = "late_claim", WholeInput,
        "Nightly runs (`settle --state`): the claim is not later than its person's latest claim already settled in the state (`setl_time`, then `setl_id`); settled claims are never re-settled (RULES.md S-22).";
    RareFundPayExceedsShare = "rare_fund_pay_exceeds_share", Engine,
        "`rare_fund_pay` is more than what is left for the person to pay after the basic fund (RULES.md S-27).";
}

impl fmt::Display for RejectCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A rejected input row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RejectRow {
    /// index into the run's input files
    pub file: u16,
    /// CSV line (header = 1) or Parquet/Arrow record number (first = 1)
    pub line: u64,
    /// the row's setl_id when it is a valid identifier (never a formula or a megabyte)
    pub setl_id: String,
    pub code: RejectCode,
    pub message: String,
}

impl RejectRow {
    pub fn reason(&self) -> String {
        format!("{}: {}", self.code, self.message)
    }
}

/// A refused row as the row rules return it.
pub type Refusal = (RejectCode, String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_snake_case_and_parse_back() {
        let mut seen = std::collections::HashSet::new();
        for &c in RejectCode::ALL {
            assert!(seen.insert(c.as_str()), "{c} twice");
            assert!(c.as_str().bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "{c}");
            assert_eq!(RejectCode::parse(c.as_str()), Some(c));
            assert!(c.meaning().ends_with('.'), "{c}: a sentence");
        }
        assert_eq!(RejectCode::ALL.len(), 25);
    }
}
