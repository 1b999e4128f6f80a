//! Policies: the file format ([`types`]), loading and validation, `--set` overrides and
//! scenarios ([`overrides`]), the built-in policies, and the choice of policy per claim (D-07).

pub mod overrides;
pub mod types;
pub mod validate;

pub use types::*;
pub use validate::{Problem, problems, validate};

use crate::model::Scheme;
use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};
use std::path::Path;

/// The built-in policies, embedded in the binary (one file per region-scheme-year).
pub const BUILTIN: &[(&str, &str)] = &[
    ("changzhou-resident-2024", include_str!("../../policies/changzhou-resident-2024.toml")),
    ("changzhou-resident-2025", include_str!("../../policies/changzhou-resident-2025.toml")),
    ("changzhou-resident-2026", include_str!("../../policies/changzhou-resident-2026.toml")),
    ("changzhou-employee-2024", include_str!("../../policies/changzhou-employee-2024.toml")),
    ("rudong-resident-2026", include_str!("../../policies/rudong-resident-2026.toml")),
];

/// A policy with where it came from and the hash of its effective text.
#[derive(Clone, Debug)]
pub struct LoadedPolicy {
    pub policy: Policy,
    /// `builtin:<id>` or the file path
    pub origin: String,
    /// `--set` overrides applied, in order
    pub overrides: Vec<String>,
    /// SHA-256 of the original text, and of the effective policy (after overrides)
    pub text_sha256: String,
    pub effective_sha256: String,
    /// The policy file as read (kept by the nightly state).
    pub text: String,
}

fn sha256_hex(bytes: &[u8]) -> String {
    let d = Sha256::digest(bytes);
    d.iter().map(|b| format!("{b:02x}")).collect()
}

impl LoadedPolicy {
    /// Parses and validates a policy text; `overrides` are `KEY=VALUE` pairs (`--set`).
    pub fn from_text(text: &str, origin: &str, overrides: &[String]) -> Result<LoadedPolicy> {
        let mut value: toml::Value = toml::from_str(text).with_context(|| format!("{origin}: not a valid TOML policy file"))?;
        for o in overrides {
            overrides::apply_set(&mut value, o).with_context(|| format!("{origin}: --set {o}"))?;
        }
        let policy = from_value(value).map_err(|e| {
            if overrides.is_empty() {
                anyhow::anyhow!("{origin}: {e}")
            } else {
                anyhow::anyhow!("{origin} with --set {}: {e}", overrides.join(" --set "))
            }
        })?;
        validate(&policy).with_context(|| format!("{origin}: policy `{}` is inconsistent", policy.id))?;
        let effective = toml::to_string(&policy).with_context(|| format!("{origin}: cannot write the effective policy"))?;
        Ok(LoadedPolicy {
            origin: origin.to_string(),
            overrides: overrides.to_vec(),
            text_sha256: sha256_hex(text.as_bytes()),
            effective_sha256: sha256_hex(effective.as_bytes()),
            text: text.to_string(),
            policy,
        })
    }

    pub fn builtin(id: &str, overrides: &[String]) -> Result<LoadedPolicy> {
        let (_, text) = BUILTIN.iter().find(|(i, _)| *i == id).with_context(|| {
            format!("no built-in policy `{id}`; built-in policies: {}", BUILTIN.iter().map(|(i, _)| *i).collect::<Vec<_>>().join(", "))
        })?;
        LoadedPolicy::from_text(text, &format!("builtin:{id}"), overrides)
    }

    /// A built-in id or a policy file path.
    pub fn load(spec: &str, overrides: &[String]) -> Result<LoadedPolicy> {
        let (origin, text) = read_spec(spec)?;
        LoadedPolicy::from_text(&text, &origin, overrides)
    }

    pub fn all_builtin() -> Result<Vec<LoadedPolicy>> {
        BUILTIN.iter().map(|(id, _)| LoadedPolicy::builtin(id, &[])).collect()
    }
}

/// Reads a policy from its TOML tree; a problem names the TOML path where it is
/// (`inpatient.bands.0.rate.adult.2: rate 1.5 is not a fraction …`).
pub fn from_value(value: toml::Value) -> std::result::Result<Policy, Problem> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e
            .path()
            .iter()
            .filter_map(|seg| match seg {
                serde_path_to_error::Segment::Seq { index } => Some(index.to_string()),
                serde_path_to_error::Segment::Map { key } => Some(key.clone()),
                serde_path_to_error::Segment::Enum { .. } => None,
                serde_path_to_error::Segment::Unknown => Some("?".to_string()),
            })
            .collect::<Vec<_>>()
            .join(".");
        Problem { path, message: e.inner().message().trim().to_string() }
    })
}

/// `builtin:<id>` or a file path, with its text.
pub fn read_spec(spec: &str) -> Result<(String, String)> {
    if let Some((id, text)) = BUILTIN.iter().find(|(i, _)| *i == spec) {
        return Ok((format!("builtin:{id}"), text.to_string()));
    }
    let path = Path::new(spec);
    if !path.exists() {
        bail!(
            "policy `{spec}` is neither a built-in policy ({}) nor an existing file",
            BUILTIN.iter().map(|(i, _)| *i).collect::<Vec<_>>().join(", ")
        );
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read policy file {spec}"))?;
    Ok((spec.to_string(), text))
}

fn header_key(text: &str) -> Option<(String, String, i64)> {
    let v: toml::Value = toml::from_str(text).ok()?;
    Some((v.get("region")?.as_str()?.to_string(), v.get("scheme")?.as_str()?.to_string(), v.get("year")?.as_integer()?))
}

/// The policies of a run, chosen per claim by region, scheme and settlement year (D-07).
#[derive(Clone, Debug, Default)]
pub struct PolicySet {
    pub policies: Vec<LoadedPolicy>,
}

impl PolicySet {
    /// The built-in policies, each replaced by a `--policy` with the same region, scheme and
    /// year (or added), with each `--set` applied to every policy that has the key.
    pub fn assemble(specs: &[String], sets: &[String]) -> Result<PolicySet> {
        let mut texts: Vec<(String, String)> = BUILTIN.iter().map(|(id, t)| (format!("builtin:{id}"), t.to_string())).collect();
        for s in specs {
            let (origin, text) = read_spec(s)?;
            let key = header_key(&text).with_context(|| format!("{origin}: needs region, scheme and year"))?;
            match texts.iter().position(|(_, t)| header_key(t).as_ref() == Some(&key)) {
                Some(i) => texts[i] = (origin, text),
                None => texts.push((origin, text)),
            }
        }
        let mut out = Vec::new();
        let mut used = vec![false; sets.len()];
        for (origin, text) in &texts {
            let value: toml::Value = toml::from_str(text).with_context(|| format!("{origin}: not a valid TOML policy file"))?;
            let mut applicable = Vec::new();
            for (i, kv) in sets.iter().enumerate() {
                if overrides::has_key(&value, kv) {
                    used[i] = true;
                    applicable.push(kv.clone());
                }
            }
            out.push(LoadedPolicy::from_text(text, origin, &applicable)?);
        }
        if let Some(i) = used.iter().position(|u| !u) {
            bail!(
                "--set {}: no policy of this run has that parameter (keys are TOML paths such as inpatient.cap, \
                 inpatient.cap_basis, outpatient.pharmacy_column; see `medsettle policy show ID`)",
                sets[i]
            );
        }
        Ok(PolicySet { policies: out })
    }

    pub fn from_loaded(policies: Vec<LoadedPolicy>) -> PolicySet {
        PolicySet { policies }
    }

    /// D-07: the policy for a region, scheme and settlement year.
    pub fn select(&self, region: &str, scheme: Scheme, year: i32) -> Option<u16> {
        let want = match scheme {
            Scheme::Resident => SchemeName::Resident,
            Scheme::Employee => SchemeName::Employee,
        };
        self.policies.iter().position(|p| p.policy.region == region && p.policy.scheme == want && p.policy.year == year).map(|i| i as u16)
    }

    pub fn get(&self, i: u16) -> &Policy {
        &self.policies[i as usize].policy
    }
}
