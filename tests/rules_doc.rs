//! docs/rules.md cannot drift from the code: every decision (D-nn) and reading (S-nn) cited in
//! `src/` or `policies/` is explained there, and every policy key it names exists in the policy
//! format (`schemas/policy.schema.json`).

use regex::Regex;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn files(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let p = e.expect("dir entry").path();
        if p.is_dir() {
            files(&p, ext, out);
        } else if p.extension().is_some_and(|x| x == ext) {
            out.push(p);
        }
    }
}

fn ids(text: &str) -> BTreeSet<String> {
    let re = Regex::new(r"\b[DS]-[0-9]{2}\b").expect("regex");
    re.find_iter(text).map(|m| m.as_str().to_string()).collect()
}

fn doc() -> String {
    std::fs::read_to_string(root().join("docs/rules.md")).expect("docs/rules.md")
}

#[test]
fn every_cited_decision_is_documented() {
    let mut paths = Vec::new();
    files(&root().join("src"), "rs", &mut paths);
    files(&root().join("policies"), "toml", &mut paths);
    let documented = ids(&doc());
    let mut missing = Vec::new();
    for p in &paths {
        let text = std::fs::read_to_string(p).expect("read");
        for id in ids(&text) {
            if !documented.contains(&id) {
                missing.push(format!("{id} (cited in {})", p.strip_prefix(root()).unwrap_or(p).display()));
            }
        }
    }
    missing.sort();
    missing.dedup();
    assert!(missing.is_empty(), "docs/rules.md does not explain: {missing:?}");
    // A sanity floor: the page explains the decisions of this wave.
    for id in ["D-24", "D-25", "D-26", "D-28", "D-29", "D-30", "S-14", "S-19", "S-27", "S-28", "S-29"] {
        assert!(documented.contains(id), "{id} missing from docs/rules.md");
    }
}

/// The subschema at a dotted key path (`<...>` segments stand for any map key).
fn lookup<'a>(schema: &'a Value, node: &'a Value, path: &[&str]) -> Option<&'a Value> {
    let mut node = node;
    while let Some(r) = node.get("$ref").and_then(Value::as_str) {
        let name = r.strip_prefix("#/$defs/")?;
        node = schema.get("$defs")?.get(name)?;
    }
    let Some((first, rest)) = path.split_first() else { return Some(node) };
    if let Some(next) = node.get("properties").and_then(|p| p.get(*first)) {
        return lookup(schema, next, rest);
    }
    match node.get("additionalProperties") {
        Some(next @ Value::Object(_)) => lookup(schema, next, rest),
        _ => None,
    }
}

#[test]
fn every_documented_policy_key_exists() {
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("schemas/policy.schema.json")).expect("policy schema")).expect("json");
    let sections: BTreeSet<&str> = schema["properties"].as_object().expect("properties").keys().map(String::as_str).collect();
    let re = Regex::new(r"`([a-z_]+(?:\.(?:[a-z_]+|<[a-z_]+>))+)").expect("regex");
    let text = doc();
    let mut checked = 0;
    let mut unknown = Vec::new();
    for c in re.captures_iter(&text) {
        let key = &c[1];
        let path: Vec<&str> = key.split('.').collect();
        if !sections.contains(path[0]) {
            continue;
        }
        checked += 1;
        if lookup(&schema, &schema, &path).is_none() {
            unknown.push(key.to_string());
        }
    }
    assert!(unknown.is_empty(), "docs/rules.md names policy keys that do not exist: {unknown:?}");
    // inpatient.cap_basis, maternity.finance_subsidy, special.fall_through, drugs.inside_cap, ...
    assert!(checked >= 15, "only {checked} policy keys found in docs/rules.md");
}
