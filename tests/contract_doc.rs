//! docs/contract.md, the JSON Schemas and the code say the same thing: the column tables and
//! the reject-code table are generated from the code's lists and compared here (with
//! `UPDATE_DOCS=1` the test rewrites them), the rejects schema lists exactly the codes, the
//! amount bound is the same everywhere, and the README links the page instead of files
//! outside the repository.

use medsettle::intake::RejectCode;
use medsettle::intake::columns::{CLAIMS, Column, Kind, PERSONS};
use medsettle::intake::rows::MAX_AMOUNT_FEN;
use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn columns_table(cols: &[Column]) -> String {
    let mut s = String::from("| column | required | kind |\n|---|---|---|\n");
    for c in cols {
        let kind = match c.kind {
            Kind::Id => "identifier",
            Kind::Code => "code",
            Kind::Text => "text",
            Kind::Money => "money",
            Kind::DateTime => "datetime",
            Kind::Date => "date",
            Kind::Flag => "flag",
            Kind::Int => "whole number",
        };
        s.push_str(&format!("| `{}` | {} | {kind} |\n", c.name, if c.required { "yes" } else { "no" }));
    }
    s
}

fn codes_table() -> String {
    let mut s = String::from("| code | checked on | meaning |\n|---|---|---|\n");
    for c in RejectCode::ALL {
        s.push_str(&format!("| `{}` | {} | {} |\n", c.as_str(), c.stage().as_str(), c.meaning()));
    }
    s
}

/// Replaces the text between `<!-- NAME:begin -->` and `<!-- NAME:end -->`.
fn with_block(doc: &str, name: &str, body: &str) -> String {
    let (b, e) = (format!("<!-- {name}:begin -->\n"), format!("<!-- {name}:end -->"));
    let i = doc.find(&b).unwrap_or_else(|| panic!("docs/contract.md lacks {b}")) + b.len();
    let j = doc.find(&e).unwrap_or_else(|| panic!("docs/contract.md lacks {e}"));
    format!("{}{body}{}", &doc[..i], &doc[j..])
}

#[test]
fn contract_tables_are_generated_from_the_code() {
    let path = root().join("docs/contract.md");
    let doc = std::fs::read_to_string(&path).unwrap();
    let mut want = with_block(&doc, "claims-columns", &columns_table(CLAIMS));
    want = with_block(&want, "persons-columns", &columns_table(PERSONS));
    want = with_block(&want, "reject-codes", &codes_table());
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(&path, &want).unwrap();
    }
    assert!(doc == want, "docs/contract.md is out of date with the code; run UPDATE_DOCS=1 cargo test --test contract_doc");
}

#[test]
fn rejects_schema_lists_every_code() {
    let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(root().join("schemas/rejects.schema.json")).unwrap()).unwrap();
    let pattern = s["properties"]["reason"]["pattern"].as_str().unwrap();
    let all: Vec<&str> = RejectCode::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(pattern, format!("^({}): .+", all.join("|")));
    let desc = s["properties"]["reason"]["description"].as_str().unwrap();
    assert!(desc.ends_with(&format!("{}.", all.join(", "))), "{desc}");
}

#[test]
fn amount_bound_is_the_same_in_code_schema_and_docs() {
    // 100,000,000.00 yuan = 10,000,000,000 fen.
    assert_eq!(MAX_AMOUNT_FEN, 10_000_000_000);
    for name in ["claims.schema.json", "persons.schema.json"] {
        let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(root().join("schemas").join(name)).unwrap()).unwrap();
        let mut n = 0;
        for (col, p) in s["properties"].as_object().unwrap() {
            if p["x-parquet-type"].as_str().is_some_and(|t| t.starts_with("Decimal")) {
                assert_eq!(p["x-max-abs"], "100000000.00", "{name} {col}");
                n += 1;
            }
        }
        assert!(n > 0, "{name}");
    }
    let doc = std::fs::read_to_string(root().join("docs/contract.md")).unwrap();
    assert!(doc.contains("±100,000,000.00 yuan"));
}

#[test]
fn readme_links_the_contract_and_nothing_outside_the_repository() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    assert!(readme.contains("docs/contract.md"));
    assert!(!readme.contains("shared/"), "README refers to files outside the repository");
}
