//! `--set KEY=VALUE` overrides and scenario files: small edits to a policy's parameters,
//! addressed by their TOML path (`inpatient.cap`, `inpatient.bands.0.rate.adult`,
//! `catastrophic.benefits`).

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use std::path::Path;

fn split(kv: &str) -> Result<(&str, &str)> {
    let (k, v) = kv.split_once('=').with_context(|| format!("`{kv}` is not KEY=VALUE"))?;
    let k = k.trim();
    if k.is_empty() {
        bail!("`{kv}` has an empty key");
    }
    Ok((k, v.trim()))
}

fn child<'a>(v: &'a toml::Value, seg: &str) -> Option<&'a toml::Value> {
    match v {
        toml::Value::Table(t) => t.get(seg),
        toml::Value::Array(a) => seg.parse::<usize>().ok().and_then(|i| a.get(i)),
        _ => None,
    }
}

/// Whether the policy text has exactly this parameter path.
pub fn has_key(root: &toml::Value, kv: &str) -> bool {
    let Ok((key, _)) = split(kv) else { return false };
    let mut cur = root;
    for seg in key.split('.') {
        match child(cur, seg) {
            Some(c) => cur = c,
            None => return false,
        }
    }
    true
}

/// Parses the text of a value: a TOML literal (`0.85`, `true`, `"x"`, `[1, 2]`), a
/// comma-separated list where the current value is a list, or else a bare string.
fn parse_value(text: &str, current: Option<&toml::Value>) -> toml::Value {
    let current_is_list = matches!(current, Some(toml::Value::Array(_)));
    if let Ok(t) = toml::from_str::<toml::Table>(&format!("v = {text}"))
        && let Some(v) = t.get("v")
        && (!current_is_list || v.is_array())
    {
        return v.clone();
    }
    if current_is_list {
        let items = text.trim_matches(|c| c == '[' || c == ']').split(',').map(str::trim).filter(|s| !s.is_empty());
        return toml::Value::Array(items.map(|s| parse_value(s, None)).collect());
    }
    toml::Value::String(text.to_string())
}

/// Applies one `KEY=VALUE` to a policy's TOML tree. The parent of the key must exist; a wrong
/// key name or value type is reported when the policy is read back.
pub fn apply_set(root: &mut toml::Value, kv: &str) -> Result<()> {
    let (key, text) = split(kv)?;
    let segs: Vec<&str> = key.split('.').collect();
    let (last, parents) = segs.split_last().context("empty key")?;
    let mut cur = &mut *root;
    for (i, seg) in parents.iter().enumerate() {
        let path = segs[..=i].join(".");
        cur = match cur {
            toml::Value::Table(t) => {
                t.get_mut(*seg).with_context(|| format!("unknown parameter: `{path}` does not exist in this policy"))?
            }
            toml::Value::Array(a) => {
                let n = a.len();
                let idx: usize = seg.parse().with_context(|| format!("`{path}`: `{seg}` must be an index into a list of {n}"))?;
                a.get_mut(idx).with_context(|| format!("`{path}`: index {idx} is beyond the list of {n}"))?
            }
            _ => bail!("`{path}` is a value, not a section"),
        };
    }
    match cur {
        toml::Value::Table(t) => {
            let v = parse_value(text, t.get(*last));
            t.insert(last.to_string(), v);
        }
        toml::Value::Array(a) => {
            let n = a.len();
            let idx: usize = last.parse().with_context(|| format!("`{key}`: `{last}` must be an index into a list of {n}"))?;
            let slot = a.get_mut(idx).with_context(|| format!("`{key}`: index {idx} is beyond the list of {n}"))?;
            *slot = parse_value(text, Some(slot));
        }
        _ => bail!("`{key}`: the parent is a value, not a section"),
    }
    Ok(())
}

/// A what-if scenario: named overrides applied to the baseline policies (`medsettle scenario`).
///
/// ```toml
/// name = "level3-rate-75"
/// description = "Raise the resident level-3 inpatient rate to 75%"
/// [[change]]
/// policy = "changzhou-resident-2026"      # optional: default every policy that has the key
/// set = { "inpatient.bands.0.rate.adult" = [0.90, 0.80, 0.75] }
/// source = "actuarial proposal 2026-11"
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default, rename = "change")]
    pub changes: Vec<ScenarioChange>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioChange {
    #[serde(default)]
    pub policy: Option<String>,
    pub set: toml::Table,
    #[serde(default)]
    pub source: Option<String>,
}

impl Scenario {
    pub fn load(path: &Path) -> Result<Scenario> {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read scenario file {}", path.display()))?;
        let s: Scenario = toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.message()))?;
        if s.name.trim().is_empty() || s.name.contains(['/', '\\']) {
            bail!("{}: `name` must be a non-empty name without slashes (it names the output folder)", path.display());
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_paths_values_and_lists() -> anyhow::Result<()> {
        let mut v: toml::Value = toml::from_str("[a]\nx = 1\nlist = [\"p\", \"q\"]\n[[b]]\nr = 0.5\n")?;
        apply_set(&mut v, "a.x=2.5")?;
        apply_set(&mut v, "a.list=p,q,s")?;
        apply_set(&mut v, "b.0.r=0.75")?;
        assert_eq!(v["a"]["x"].as_float(), Some(2.5));
        assert_eq!(v["a"]["list"].as_array().ok_or_else(|| anyhow::anyhow!("a.list is not a list"))?.len(), 3);
        assert_eq!(v["b"][0]["r"].as_float(), Some(0.75));
        assert!(apply_set(&mut v, "zz.y=1").is_err());
        assert!(apply_set(&mut v, "b.3.r=1").is_err());
        assert!(has_key(&v, "a.x=0"));
        assert!(!has_key(&v, "a.y=0"));
        Ok(())
    }
}
