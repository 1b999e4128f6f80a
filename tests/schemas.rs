//! The JSON Schemas in schemas/ agree with the code: the built-in policies and the sample
//! scenarios validate, the column lists match the code's column constants, and the files a
//! settle run writes (and the inputs it accepts) validate row by row.
//!
//! The validator below covers exactly the subset of JSON Schema 2020-12 the schemas use; a
//! schema that uses any other assertion keyword fails `schemas_use_only_checked_keywords`,
//! so nothing is silently skipped.

use medsettle::intake::columns::{CLAIMS as CLAIM_COLS, PERSONS as PERSON_COLS, names};
use medsettle::io::write::ColType;
use medsettle::policy::{BUILTIN, LoadedPolicy};
use medsettle::report::fund::FUND_REPORT_COLUMNS;
use medsettle::report::tables::{PERSON_YEAR_COLUMNS, SETTLEMENT_COLUMNS};
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;

mod mini_schema {
    use regex::Regex;
    use serde_json::Value;

    /// Keywords that assert something; each is implemented in `check`.
    pub const ASSERTIONS: &[&str] = &[
        "$ref",
        "type",
        "enum",
        "const",
        "properties",
        "required",
        "additionalProperties",
        "propertyNames",
        "minProperties",
        "items",
        "minItems",
        "maxItems",
        "uniqueItems",
        "minimum",
        "maximum",
        "minLength",
        "pattern",
        "anyOf",
        "oneOf",
        "allOf",
        "not",
        "if",
        "then",
        "else",
    ];
    /// Keywords that only annotate (`format` is an annotation by default in 2020-12).
    pub const ANNOTATIONS: &[&str] = &["$schema", "$id", "$comment", "$defs", "title", "description", "default", "examples", "format"];

    /// Every subschema of a schema, with its JSON pointer.
    pub fn subschemas<'a>(s: &'a Value, at: &str, out: &mut Vec<(String, &'a Value)>) {
        out.push((at.to_string(), s));
        let Value::Object(m) = s else { return };
        for (k, v) in m {
            match (k.as_str(), v) {
                ("properties" | "$defs", Value::Object(props)) => {
                    for (name, sub) in props {
                        subschemas(sub, &format!("{at}/{k}/{name}"), out);
                    }
                }
                ("anyOf" | "oneOf" | "allOf", Value::Array(list)) => {
                    for (i, sub) in list.iter().enumerate() {
                        subschemas(sub, &format!("{at}/{k}/{i}"), out);
                    }
                }
                ("additionalProperties" | "propertyNames" | "items" | "not" | "if" | "then" | "else", sub) => {
                    subschemas(sub, &format!("{at}/{k}"), out)
                }
                _ => {}
            }
        }
    }

    /// Keywords of a schema that this validator does not know.
    pub fn unknown_keywords(root: &Value) -> Vec<String> {
        let mut all = Vec::new();
        subschemas(root, "#", &mut all);
        let mut bad = Vec::new();
        for (at, s) in all {
            if let Value::Object(m) = s {
                for k in m.keys() {
                    if !ASSERTIONS.contains(&k.as_str()) && !ANNOTATIONS.contains(&k.as_str()) && !k.starts_with("x-") {
                        bad.push(format!("{at}: {k}"));
                    }
                }
            } else if !s.is_boolean() {
                bad.push(format!("{at}: not a schema"));
            }
        }
        bad
    }

    pub struct Validator<'a> {
        pub root: &'a Value,
    }

    fn is_type(v: &Value, t: &str) -> bool {
        match t {
            "object" => v.is_object(),
            "array" => v.is_array(),
            "string" => v.is_string(),
            "number" => v.is_number(),
            "integer" => v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0),
            "boolean" => v.is_boolean(),
            "null" => v.is_null(),
            other => panic!("unknown type {other}"),
        }
    }

    impl Validator<'_> {
        /// The problems of `inst` against `schema` (empty when valid).
        pub fn errors(&self, schema: &Value, inst: &Value) -> Vec<String> {
            let mut e = Vec::new();
            self.check(schema, inst, "", &mut e);
            e
        }

        fn valid(&self, schema: &Value, inst: &Value) -> bool {
            let mut e = Vec::new();
            self.check(schema, inst, "", &mut e);
            e.is_empty()
        }

        fn resolve(&self, r: &str) -> &Value {
            let name = r.strip_prefix("#/$defs/").unwrap_or_else(|| panic!("only local $defs refs are supported: {r}"));
            self.root.get("$defs").and_then(|d| d.get(name)).unwrap_or_else(|| panic!("dangling $ref {r}"))
        }

        fn check(&self, schema: &Value, inst: &Value, at: &str, e: &mut Vec<String>) {
            let s = match schema {
                Value::Bool(true) => return,
                Value::Bool(false) => return e.push(format!("{at}: no value is allowed here")),
                Value::Object(s) => s,
                _ => panic!("not a schema: {schema}"),
            };
            let here = if at.is_empty() { "(row)" } else { at };
            if let Some(Value::String(r)) = s.get("$ref") {
                self.check(self.resolve(r), inst, at, e);
            }
            if let Some(t) = s.get("type") {
                let ok = match t {
                    Value::String(t) => is_type(inst, t),
                    Value::Array(ts) => ts.iter().any(|t| is_type(inst, t.as_str().unwrap_or(""))),
                    _ => panic!("bad type keyword"),
                };
                if !ok {
                    return e.push(format!("{here}: {inst} is not of type {t}"));
                }
            }
            if let Some(Value::Array(vals)) = s.get("enum")
                && !vals.contains(inst)
            {
                e.push(format!("{here}: {inst} is not one of {}", Value::Array(vals.clone())));
            }
            if let Some(c) = s.get("const")
                && c != inst
            {
                e.push(format!("{here}: {inst} is not {c}"));
            }
            if let Value::Object(obj) = inst {
                if let Some(Value::Array(req)) = s.get("required") {
                    for r in req {
                        let r = r.as_str().unwrap_or_default();
                        if !obj.contains_key(r) {
                            e.push(format!("{here}: `{r}` is required"));
                        }
                    }
                }
                if let Some(n) = s.get("minProperties").and_then(Value::as_u64)
                    && (obj.len() as u64) < n
                {
                    e.push(format!("{here}: fewer than {n} properties"));
                }
                let props = s.get("properties").and_then(Value::as_object);
                for (k, v) in obj {
                    let path = if at.is_empty() { k.clone() } else { format!("{at}.{k}") };
                    if let Some(names) = s.get("propertyNames")
                        && !self.valid(names, &Value::String(k.clone()))
                    {
                        e.push(format!("{path}: `{k}` is not an allowed key"));
                    }
                    match props.and_then(|p| p.get(k)) {
                        Some(sub) => self.check(sub, v, &path, e),
                        None => {
                            if let Some(extra) = s.get("additionalProperties") {
                                if extra == &Value::Bool(false) {
                                    e.push(format!("{path}: unknown key `{k}`"));
                                } else {
                                    self.check(extra, v, &path, e);
                                }
                            }
                        }
                    }
                }
            }
            if let Value::Array(items) = inst {
                if let Some(sub) = s.get("items") {
                    for (i, v) in items.iter().enumerate() {
                        self.check(sub, v, &format!("{at}.{i}"), e);
                    }
                }
                if let Some(n) = s.get("minItems").and_then(Value::as_u64)
                    && (items.len() as u64) < n
                {
                    e.push(format!("{here}: fewer than {n} items"));
                }
                if let Some(n) = s.get("maxItems").and_then(Value::as_u64)
                    && (items.len() as u64) > n
                {
                    e.push(format!("{here}: more than {n} items"));
                }
                if s.get("uniqueItems") == Some(&Value::Bool(true)) && (1..items.len()).any(|i| items[..i].contains(&items[i])) {
                    e.push(format!("{here}: items are not unique"));
                }
            }
            if let Some(x) = inst.as_f64() {
                if let Some(m) = s.get("minimum").and_then(Value::as_f64)
                    && x < m
                {
                    e.push(format!("{here}: {x} is below {m}"));
                }
                if let Some(m) = s.get("maximum").and_then(Value::as_f64)
                    && x > m
                {
                    e.push(format!("{here}: {x} is above {m}"));
                }
            }
            if let Value::String(text) = inst {
                if let Some(n) = s.get("minLength").and_then(Value::as_u64)
                    && (text.chars().count() as u64) < n
                {
                    e.push(format!("{here}: `{text}` is shorter than {n}"));
                }
                if let Some(Value::String(p)) = s.get("pattern")
                    && !Regex::new(p).unwrap_or_else(|err| panic!("bad pattern {p}: {err}")).is_match(text)
                {
                    e.push(format!("{here}: `{text}` does not match {p}"));
                }
            }
            if let Some(Value::Array(all)) = s.get("allOf") {
                for sub in all {
                    self.check(sub, inst, at, e);
                }
            }
            if let Some(Value::Array(any)) = s.get("anyOf")
                && !any.iter().any(|sub| self.valid(sub, inst))
            {
                e.push(format!("{here}: {inst} matches none of the anyOf alternatives"));
            }
            if let Some(Value::Array(one)) = s.get("oneOf") {
                let n = one.iter().filter(|sub| self.valid(sub, inst)).count();
                if n != 1 {
                    e.push(format!("{here}: {inst} matches {n} of the oneOf alternatives, not exactly one"));
                }
            }
            if let Some(not) = s.get("not")
                && self.valid(not, inst)
            {
                e.push(format!("{here}: {inst} matches a `not` schema"));
            }
            if let Some(cond) = s.get("if") {
                let branch = if self.valid(cond, inst) { s.get("then") } else { s.get("else") };
                if let Some(b) = branch {
                    self.check(b, inst, at, e);
                }
            }
        }
    }
}

use mini_schema::Validator;

fn schemas_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas")
}

fn schema(name: &str) -> Value {
    let path = schemas_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn errors(schema: &Value, inst: &Value) -> Vec<String> {
    Validator { root: schema }.errors(schema, inst)
}

fn toml_to_json(text: &str) -> Value {
    let v: toml::Value = toml::from_str(text).expect("valid TOML");
    serde_json::to_value(v).expect("TOML converts to JSON")
}

const ALL_SCHEMAS: &[&str] = &[
    "policy.schema.json",
    "scenario.schema.json",
    "claims.schema.json",
    "persons.schema.json",
    "settlements.schema.json",
    "person_years.schema.json",
    "fund_report.schema.json",
    "rejects.schema.json",
    "manifest.schema.json",
];

#[test]
fn schemas_use_only_checked_keywords() {
    let mut listed: Vec<String> = std::fs::read_dir(schemas_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".schema.json"))
        .collect();
    listed.sort();
    let mut expected: Vec<String> = ALL_SCHEMAS.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(listed, expected, "schemas/ holds exactly the documented schemas");
    for name in ALL_SCHEMAS {
        let s = schema(name);
        assert_eq!(s["$schema"], "https://json-schema.org/draft/2020-12/schema", "{name}");
        assert!(s["$id"].as_str().is_some_and(|id| id.ends_with(name)), "{name}: $id");
        assert!(s["description"].as_str().is_some_and(|d| !d.is_empty()), "{name}: description");
        let unknown = mini_schema::unknown_keywords(&s);
        assert!(unknown.is_empty(), "{name} uses keywords the test validator does not check: {unknown:?}");
        // Every $ref resolves, and every property says what it is.
        let mut subs = Vec::new();
        mini_schema::subschemas(&s, "#", &mut subs);
        for (at, sub) in subs {
            if let Some(r) = sub.get("$ref").and_then(Value::as_str) {
                let def = r.strip_prefix("#/$defs/").unwrap_or_else(|| panic!("{name} {at}: non-local $ref {r}"));
                assert!(s["$defs"].get(def).is_some(), "{name} {at}: dangling $ref {r}");
            }
            if let Some(props) = sub.get("properties").and_then(Value::as_object) {
                for (k, p) in props {
                    assert!(p.get("description").is_some(), "{name} {at}/properties/{k}: no description");
                }
            }
        }
    }
}

#[test]
fn builtin_policies_validate_against_the_policy_schema() {
    let s = schema("policy.schema.json");
    for (id, text) in BUILTIN {
        let e = errors(&s, &toml_to_json(text));
        assert!(e.is_empty(), "{id}: {e:#?}");
        // The effective policy (defaults filled in, as `policy show` prints it) validates too.
        let lp = LoadedPolicy::builtin(id, &[]).unwrap();
        let effective = serde_json::to_value(toml::Value::try_from(&lp.policy).unwrap()).unwrap();
        let e = errors(&s, &effective);
        assert!(e.is_empty(), "{id} (effective): {e:#?}");
    }
}

/// A named way to break a valid policy document.
type Breakage = (&'static str, Box<dyn Fn(&mut Value)>);

#[test]
fn the_policy_schema_rejects_what_the_loader_rejects() {
    let s = schema("policy.schema.json");
    let base = toml_to_json(BUILTIN.iter().find(|(id, _)| *id == "changzhou-resident-2026").unwrap().1);
    let broken: Vec<Breakage> = vec![
        ("inpatient.bands.0.rate.adult", Box::new(|v| v["inpatient"]["bands"][0]["rate"]["adult"] = json!([0.9, 0.8, 1.7]))),
        ("inpatient.bands.0.rate.adult", Box::new(|v| v["inpatient"]["bands"][0]["rate"]["adult"] = json!([0.9, 0.8]))),
        ("outpatient.foo", Box::new(|v| v["outpatient"]["foo"] = json!(1))),
        ("special.diseases", Box::new(|v| v["special"]["diseases"]["flu"] = json!({ "rate": 0.5 }))),
        ("drugs.source", Box::new(|v| v["drugs"]["source"] = json!(""))),
        ("inpatient.cap", Box::new(|v| v["inpatient"]["cap"] = json!(-1))),
        ("inpatient", Box::new(|v| drop(v.as_object_mut().unwrap().remove("inpatient")))),
        ("catastrophic.poor_cap", Box::new(|v| v["catastrophic"]["poor_cap"] = json!("unlimited"))),
    ];
    for (what, edit) in broken {
        let mut v = base.clone();
        edit(&mut v);
        let e = errors(&s, &v);
        assert!(!e.is_empty(), "the schema accepts a broken {what}");
        assert!(e.iter().any(|m| m.contains(what)), "{what}: {e:?}");
    }
    // A financing-only policy needs its reason instead of [inpatient].
    let rudong = toml_to_json(BUILTIN.iter().find(|(id, _)| *id == "rudong-resident-2026").unwrap().1);
    assert!(errors(&s, &rudong).is_empty());
    let mut v = rudong.clone();
    v.as_object_mut().unwrap().remove("no_benefit_reason");
    assert!(!errors(&s, &v).is_empty());
}

#[test]
fn scenario_files_validate_against_the_scenario_schema() {
    let s = schema("scenario.schema.json");
    let mut checked = 0;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-data/scenarios");
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for e in entries {
            let path = e.unwrap().path();
            if path.extension().is_some_and(|x| x == "toml") {
                let text = std::fs::read_to_string(&path).unwrap();
                let errs = errors(&s, &toml_to_json(&text));
                assert!(errs.is_empty(), "{}: {errs:#?}", path.display());
                medsettle::policy::overrides::Scenario::load(&path).unwrap();
                checked += 1;
            }
        }
    }
    let own = r#"
name = "cap-400k"
description = "Resident cap 400000 on eligible cost"
[[change]]
policy = "changzhou-resident-2026"
set = { "inpatient.cap" = 400000, "inpatient.cap_basis" = "eligible_cost" }
source = "actuarial proposal"
[[change]]
set = { "inpatient.bands.0.rate.adult" = [0.90, 0.80, 0.75] }
"#;
    assert!(errors(&s, &toml_to_json(own)).is_empty());
    checked += 1;
    for bad in ["name = \"a/b\"", "name = \"baseline\"", "name = \"x\"\nfoo = 1", "name = \"x\"\n[[change]]\nsource = \"s\""] {
        assert!(!errors(&s, &toml_to_json(bad)).is_empty(), "accepted: {bad}");
    }
    assert!(checked >= 1);
}

fn columns(s: &Value) -> Vec<String> {
    s["x-columns"].as_array().expect("x-columns").iter().map(|c| c.as_str().unwrap().to_string()).collect()
}

fn parquet_type(t: ColType) -> &'static str {
    match t {
        ColType::Text | ColType::Id => "Utf8",
        ColType::Int => "Int64",
        ColType::Money | ColType::OptMoney => "Decimal128(18,2)",
        ColType::DateTime => "Timestamp(Microsecond)",
        ColType::Date | ColType::OptDate => "Date32",
    }
}

#[test]
fn column_lists_match_the_code() {
    let typed: [(&str, &[(&str, ColType)]); 2] =
        [("settlements.schema.json", SETTLEMENT_COLUMNS), ("person_years.schema.json", PERSON_YEAR_COLUMNS)];
    for (name, cols) in typed {
        let s = schema(name);
        let names: Vec<&str> = cols.iter().map(|c| c.0).collect();
        assert_eq!(columns(&s), names, "{name}: x-columns");
        for (col, t) in cols {
            assert_eq!(s["properties"][col]["x-parquet-type"], parquet_type(*t), "{name}: {col}");
        }
    }
    for (name, cols) in [
        ("claims.schema.json", &names(CLAIM_COLS)[..]),
        ("persons.schema.json", &names(PERSON_COLS)[..]),
        ("fund_report.schema.json", FUND_REPORT_COLUMNS),
        ("rejects.schema.json", &["source_file", "row", "setl_id", "reason"][..]),
    ] {
        assert_eq!(columns(&schema(name)), cols, "{name}: x-columns");
    }
    for name in ALL_SCHEMAS.iter().filter(|n| schema(n).get("x-columns").is_some()) {
        let s = schema(name);
        let mut props: Vec<String> = s["properties"].as_object().unwrap().keys().cloned().collect();
        let mut cols = columns(&s);
        props.sort();
        cols.sort();
        assert_eq!(props, cols, "{name}: properties and x-columns");
    }
    // CONTRACT.md §1, §2: the required input columns come first in the code's lists.
    let req =
        |n: &str| -> Vec<String> { schema(n)["required"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_string()).collect() };
    assert_eq!(req("claims.schema.json"), names(CLAIM_COLS)[..10]);
    assert_eq!(req("persons.schema.json"), names(PERSON_COLS)[..4]);
}

/// Rows of a CSV file as objects of their non-empty cells.
fn csv_rows(path: &Path) -> (Vec<String>, Vec<Value>) {
    let mut r = csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let header: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    let rows = r
        .records()
        .map(|rec| {
            let rec = rec.unwrap();
            let mut m = Map::new();
            for (h, v) in header.iter().zip(rec.iter()) {
                if !v.is_empty() {
                    m.insert(h.clone(), Value::String(v.to_string()));
                }
            }
            Value::Object(m)
        })
        .collect();
    (header, rows)
}

fn csv_text_rows(text: &str) -> Vec<Value> {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("x.csv");
    std::fs::write(&p, text).unwrap();
    csv_rows(&p).1
}

const PERSONS: &str = "psn_no,insutype,psn_type,brdy,district,assistance,chronic_diseases,consecutive_years,prior_zero_claim,benefit_begn,transplant_date,contribution_base,flexible
P1,390,non_employed,1980-05-01,tianning,none,hypertension;diabetes,5,1,,,,
P2,390,minor,2015-02-01,wujin,destitute,,2,0,,,,
P3,310,retired,1955-03-01,,none,hypertension,,,,,,
P4,310,in_service,1985-01-01,,other,,,,,,8000.00,0
P5,390,elderly,1950-01-01,liyang,,,,,2026-06-01,,,
";

const CLAIMS: &str = "setl_id,psn_no,mdtrt_id,setl_time,med_type,hosp_lv,primary_care,medfee_sumamt,fulamt_ownpay_amt,overlmt_selfpay,preselfpay_amt,inscp_scp_amt,opsp_dise_code,dise_codg,drug_class,offsite,refd_setl_flag,init_setl_id
S01,P1,M1,2026-03-01 10:00:00,21,3,0,50000.00,1000.00,500.00,1500.00,47000.00,,,,,0,
S02,P1,M2,2026-03-05 09:00:00,11,2,0,800.00,0.00,0.00,0.00,800.00,,,,,0,
S03,P1,M3,2026-04-01 09:00:00,14,1,1,300.00,0.00,0.00,0.00,300.00,hypertension,,,,0,
S04,P2,M4,2026-05-01 09:00:00,21,2,0,12000.00,0.00,0.00,0.00,12000.00,,,,referral,0,
S05,P2,M5,2026-05-02 09:00:00,41,,0,120.50,0.00,0.00,0.00,120.50,,,,,0,
S06,P3,M6,2024-02-01 09:00:00,21,3,0,30000.00,0.00,0.00,0.00,30000.00,,,,,0,
S07,P4,M7,2024-02-01 09:00:00,15,3,0,5000.00,0.00,0.00,0.00,5000.00,,,rare,,0,
S08,P5,M8,2026-03-01 09:00:00,21,2,0,9000.00,0.00,0.00,0.00,9000.00,,,,,0,
S09,P1,M9,2026-06-01 09:00:00,14,2,0,400.00,0.00,0.00,0.00,400.00,,E70.1,,,0,
R01,P1,M2,2026-03-06 09:00:00,11,2,0,-800.00,0.00,0.00,0.00,-800.00,,,,,1,S02
";

/// Rows the reader rejects, each also invalid under claims.schema.json.
const BAD_CLAIMS: &str = "S90,P1,M90,2026-03-01 10:00:00,99,2,0,100.00,0.00,0.00,0.00,100.00,,,,,0,
S91,P1,M91,2026-03-01 10:00:00,21,,0,100.00,0.00,0.00,0.00,100.00,,,,,0,
S92,P1,M92,2026-03-01 10:00:00,14,2,0,100.00,0.00,0.00,0.00,100.00,,,,,0,
S93,P1,M93,2026-03-01,11,2,0,1.234,0.00,0.00,0.00,1.234,,,,,0,
";

#[test]
fn inputs_validate_and_bad_rows_do_not() {
    let claims = schema("claims.schema.json");
    let persons = schema("persons.schema.json");
    for row in csv_text_rows(PERSONS) {
        let e = errors(&persons, &row);
        assert!(e.is_empty(), "{row}: {e:?}");
    }
    for row in csv_text_rows(CLAIMS) {
        let e = errors(&claims, &row);
        assert!(e.is_empty(), "{row}: {e:?}");
    }
    let header = CLAIMS.lines().next().unwrap();
    for row in csv_text_rows(&format!("{header}\n{BAD_CLAIMS}")) {
        assert!(!errors(&claims, &row).is_empty(), "accepted {row}");
    }
    let bad_persons = "psn_no,insutype,psn_type,brdy,district\nQ1,390,elderly,1950-01-01,\nQ2,390,in_service,1980-01-01,wujin\nQ3,320,elderly,1950-01-01,wujin\nQ4,390,elderly,1950-13,wujin\n";
    for row in csv_text_rows(bad_persons) {
        assert!(!errors(&persons, &row).is_empty(), "accepted {row}");
    }
}

#[test]
fn settle_outputs_validate_against_their_schemas() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    std::fs::write(dir.join("persons.csv"), PERSONS).unwrap();
    std::fs::write(dir.join("claims.csv"), format!("{CLAIMS}{BAD_CLAIMS}")).unwrap();
    let out = dir.join("out");
    let o = Command::new(env!("CARGO_BIN_EXE_medsettle"))
        .arg("settle")
        .arg("--claims")
        .arg(dir.join("claims.csv"))
        .arg("--persons")
        .arg(dir.join("persons.csv"))
        .arg("--out")
        .arg(&out)
        .args(["--set", "inpatient.cap_basis=eligible_cost", "--max-reject-rate", "1"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let mut seen_status = std::collections::BTreeSet::new();
    for (file, name) in [
        ("settlements.csv", "settlements.schema.json"),
        ("person_years.csv", "person_years.schema.json"),
        ("fund_report.csv", "fund_report.schema.json"),
        ("rejects.csv", "rejects.schema.json"),
    ] {
        let s = schema(name);
        let (header, rows) = csv_rows(&out.join(file));
        assert_eq!(header, columns(&s), "{file}: header");
        assert!(!rows.is_empty(), "{file} is empty");
        for row in &rows {
            let e = errors(&s, row);
            assert!(e.is_empty(), "{file} row {row}: {e:?}");
            if let Some(st) = row.get("status") {
                seen_status.insert(st.as_str().unwrap().to_string());
            }
        }
    }
    assert!(seen_status.contains("settled") && seen_status.contains("reversal"), "{seen_status:?}");

    let manifest: Value = serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    let s = schema("manifest.schema.json");
    let e = errors(&s, &manifest);
    assert!(e.is_empty(), "manifest.json: {e:#?}\n{manifest:#}");
    // The schema is strict where it matters: a wrong hash or a missing count fails.
    let mut m = manifest.clone();
    m["inputs"][0]["sha256"] = json!("abc");
    assert!(!errors(&s, &m).is_empty());
    let mut m = manifest.clone();
    m["counts"].as_object_mut().unwrap().remove("rejected");
    assert!(!errors(&s, &m).is_empty());
}
