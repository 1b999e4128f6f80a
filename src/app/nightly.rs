//! A nightly run (`settle --state DB`, CONTRACT.md §6): settles the night's claims after
//! everything the state holds, then commits the state and the outputs together.
//!
//! Commit order: the outputs are written and made durable in their staging folder; then the
//! state's transaction commits (the commit point), recording the staging folder in the
//! journal; then the folder is switched in and the journal marks it. A kill before the state
//! commits leaves both at the previous night; a kill after it leaves a journal entry whose
//! outputs are not switched in yet, and the next use of the state finishes the switch
//! ([`roll_forward`]) before doing anything else.

use crate::cmd::settle::SettleArgs;
use crate::engine;
use crate::io::write::OutputDir;
use crate::pipeline::{self, StateRun};
use crate::policy::PolicySet;
use crate::progress;
use crate::report::markdown::Counts;
use crate::state::{self, NewRun, Run, Store, Tx};
use anyhow::{Context, Result, bail};
use std::path::Path;

/// The `state.run_id` of the manifest in `dir`, if any.
fn manifest_run(dir: &Path) -> Option<i64> {
    let text = std::fs::read_to_string(dir.join("manifest.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v.get("state")?.get("run_id")?.as_i64()
}

/// Finishes a run that committed the state but was killed before its outputs were switched in.
pub fn roll_forward(tx: &Tx, store_path: &Path) -> Result<Option<i64>> {
    let Some(run) = tx.pending()? else { return Ok(None) };
    let Run { run_id, out_dir, staging, .. } = &run;
    let (out, staging) = (Path::new(out_dir), Path::new(staging));
    if manifest_run(out) == Some(*run_id) {
        // Switched in; only the previous set (under the staging name) was left.
        let _ = std::fs::remove_dir_all(staging);
    } else if manifest_run(staging) == Some(*run_id) {
        OutputDir::resume(out, staging).commit().with_context(|| format!("cannot switch in the outputs of run {run_id} into {out_dir}"))?;
        eprintln!(
            "medsettle: finished the outputs of run {run_id} of {} into {out_dir} (the run was interrupted after it committed)",
            store_path.display()
        );
    } else {
        eprintln!(
            "medsettle: warning: the outputs of run {run_id} of {} were lost after the run committed; `medsettle state export` writes its tables",
            store_path.display()
        );
    }
    tx.mark_outputs_committed(*run_id)?;
    Ok(Some(*run_id))
}

/// The policies of the night: the state's own unless `--policy`/`--set` are given; a change to
/// a policy that already settled claims is refused without `--allow-policy-change`.
fn choose_policies(tx: &Tx, a: &SettleArgs) -> Result<(PolicySet, bool)> {
    let stored = tx.policies()?;
    if stored.is_empty() {
        return Ok((PolicySet::assemble(&a.policies, &a.sets)?, false));
    }
    if a.policies.is_empty() && a.sets.is_empty() {
        return Ok((PolicySet { policies: stored.into_iter().map(|(_, p)| p).collect() }, false));
    }
    let new = PolicySet::assemble(&a.policies, &a.sets)?;
    let used = tx.used_policy_ids()?;
    let changed: Vec<String> = new
        .policies
        .iter()
        .filter(|p| stored.iter().any(|(_, s)| s.policy.id == p.policy.id && s.effective_sha256 != p.effective_sha256))
        .map(|p| p.policy.id.clone())
        .filter(|id| used.iter().any(|u| u == id))
        .collect();
    if !changed.is_empty() && !a.allow_policy_change {
        bail!(
            "policy {} differs from the one the state settled this year's claims with; pass --allow-policy-change to settle the coming claims under it (recorded in the journal), or leave out --policy/--set",
            changed.join(", ")
        );
    }
    Ok((new, !changed.is_empty()))
}

/// Connections that look a night's setl_ids up at once, and as many for its persons
/// ([`state::look_up`]).
const LOOK_UP_READERS: usize = 4;

/// `settle --state DB`.
pub fn run(a: &SettleArgs, db: &Path) -> Result<i32> {
    let start = std::time::Instant::now();
    let mut timer = pipeline::Timer::new();
    let mut store = Store::open(db)?;
    let store_path = store.path().to_path_buf();
    // First the journal and the policies (a transaction of their own) ...
    let (policies, policy_change, run_id) = {
        let tx = store.begin()?;
        roll_forward(&tx, &store_path)?;
        let (policies, policy_change) = choose_policies(&tx, a)?;
        let run_id = tx.next_run_id()?;
        tx.commit()?;
        (policies, policy_change, run_id)
    };
    // ... then the previous nights' pages go from the write-ahead log into the database file
    // while the inputs are read and looked up in a snapshot of the state, and the run's
    // transaction starts after that.
    let checkpoint = std::thread::spawn({
        let path = store_path.clone();
        move || {
            let mut timer = pipeline::Timer::new();
            let r = state::checkpoint(&path);
            timer.mark("checkpoint (2nd thread)");
            r
        }
    });
    timer.mark("open state, policies");
    // The claims' keys are looked up while the persons file is read (on connections of their
    // own, each a snapshot of the state as of the previous run: a run committed in between is
    // refused in `begin_write`); what the checked read of the claims spells otherwise, if
    // anything, after it on the run's connection.
    let ahead = |keys: Option<&crate::io::read::ClaimKeys>| -> Result<Option<state::Prior>> {
        let Some(keys) = keys else { return Ok(None) };
        let mut timer = pipeline::Timer::new();
        let ids: Vec<&str> = keys.ids.iter().map(String::as_str).collect();
        let psn_nos: Vec<&str> = keys.psn_nos.iter().map(String::as_str).collect();
        let prior = state::look_up(&store_path, &ids, &psn_nos, &policies, LOOK_UP_READERS)?;
        timer.mark("look up the state (ahead)");
        Ok(Some(prior))
    };
    let (mut loaded, prior) = pipeline::load_after(&a.claims, &a.persons, &policies, true, None, ahead, |early, keys, claims, persons| {
        let mut timer = pipeline::Timer::new();
        let tx = store.begin_read()?;
        let mut prior = match (early, keys) {
            (Some(mut prior), Some(keys)) => {
                let (ids, psn_nos) = state::input_keys(claims, persons);
                let ids: Vec<&str> = ids.into_iter().filter(|id| !keys.ids.contains(*id)).collect();
                let psn_nos: Vec<&str> = psn_nos.into_iter().filter(|p| !keys.psn_nos.contains(*p)).collect();
                prior.merge(tx.prior_claims(&ids, &policies)?);
                prior.merge(tx.prior_years(&psn_nos)?);
                prior
            }
            _ => tx.prior(claims, persons, &policies)?,
        };
        timer.mark("look up the state");
        Ok((std::mem::take(&mut prior.history), Some(prior)))
    })?;
    let prior = prior.unwrap_or_default();
    let key = state::input_key(&loaded.files[..a.claims.len()]);
    if let Some((run_id, at)) = store.begin_read()?.applied(&key)? {
        bail!(
            "{} already applied to {} by run {run_id} on {at}; a night is applied once (see `medsettle state show {}`)",
            a.claims.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(" "),
            store_path.display(),
            store_path.display()
        );
    }
    if a.strict {
        loaded.refuse_rejects("nothing written or stored")?;
    }
    let t = &loaded.claims.table;
    let mut timer = pipeline::Timer::new();
    let mut carries = prior.carries(t, &loaded.persons.table, &policies, &loaded.prepared)?;
    timer.mark("load carried state");
    let settled = pipeline::settle_from(&loaded, &policies, Some(&mut carries));
    let mut timer = pipeline::Timer::new();
    let contributions = state::Contributions::new(&carries, settled.sorted.len())?;
    loaded.state = Some(StateRun { db: store_path.display().to_string(), run_id });
    let mut out = OutputDir::new(&a.out)?;
    let inputs_json = serde_json::to_string(&loaded.files)?;
    let night = Night {
        a,
        loaded: &loaded,
        policies: &policies,
        settled: &settled,
        contributions: &contributions,
        carries: &carries,
        run_id,
        input_key: &key,
        inputs_json: &inputs_json,
        policy_change,
    };
    let (counts, store) = if run_id == 1 {
        // The first run: a new file renamed into place over the empty state (state::Build).
        let tx = begin_write(&mut store, checkpoint, run_id)?;
        let mut build = state::Build::start(&store_path)?;
        let (counts, btx) = night.store_and_write(|| build.begin(), &mut out)?;
        btx.commit()?;
        build.finish()?;
        timer.mark("store the run, write outputs");
        crate::io::write::fault_point("state-before-commit");
        build.publish()?;
        // The empty state's lock is held until the new file is in place; closed before the
        // new file is opened.
        drop(tx);
        drop(store);
        (counts, Store::open(&store_path)?)
    } else {
        let (counts, tx) = night.store_and_write(|| begin_write(&mut store, checkpoint, run_id), &mut out)?;
        timer.mark("store the run, write outputs");
        crate::io::write::fault_point("state-before-commit");
        tx.commit()?;
        (counts, store)
    };
    timer.mark("commit state");
    crate::io::write::fault_point("state-after-commit");
    out.commit()?;
    store.outputs_committed(run_id)?;
    timer.mark("switch outputs in");
    Ok(crate::cmd::settle::finish(a, &counts, &format!("run {run_id} of {}: ", store_path.display()), start))
}

/// The run's write transaction, started once the checkpoint of the previous nights' pages
/// is done (its pages then go to the beginning of the write-ahead log). No run committed
/// since this one read the state when the next run id is still its own.
fn begin_write(store: &mut Store, checkpoint: std::thread::JoinHandle<Result<()>>, run_id: i64) -> Result<Tx<'_>> {
    let mut timer = pipeline::Timer::new();
    checkpoint.join().map_err(|_| anyhow::anyhow!("internal: the checkpoint of {} stopped", store.path().display()))??;
    timer.mark("wait for the checkpoint");
    let tx = store.begin()?;
    if tx.next_run_id()? != run_id {
        bail!("state {} was changed by another run while this one read its inputs; run it again", tx.path().display());
    }
    Ok(tx)
}

/// A settled night on its way into the state and the output folder.
struct Night<'a> {
    a: &'a SettleArgs,
    loaded: &'a pipeline::Loaded,
    policies: &'a PolicySet,
    settled: &'a engine::Settled,
    contributions: &'a state::Contributions<'a>,
    carries: &'a [engine::Carry],
    run_id: i64,
    input_key: &'a str,
    inputs_json: &'a str,
    policy_change: bool,
}

impl Night<'_> {
    /// Writes the outputs and seals them in their staging folder on a second thread while
    /// this one opens the state's write transaction (`begin`) and stores the run's rows; then
    /// its journal entry with the outputs' counts. Returns the transaction, to be committed.
    fn store_and_write<'t>(&self, begin: impl FnOnce() -> Result<Tx<'t>>, out: &mut OutputDir) -> Result<(Counts, Tx<'t>)> {
        let Night { a, loaded, policies, settled, contributions, carries, run_id, input_key, inputs_json, policy_change } = *self;
        let stored = std::thread::scope(|s| {
            let writer = s.spawn(|| -> Result<Counts> {
                let counts =
                    pipeline::write_outputs_into(out, None, a.format, loaded, policies, settled, "settle", "Settlement report", a.lang)?;
                out.seal()?;
                Ok(counts)
            });
            let t = &loaded.claims.table;
            let pb = progress::share(Tx::rows_work(settled), "storing");
            let stored = begin().and_then(|tx| {
                let refs = tx.put_policies(policies, run_id)?;
                tx.put_rows(run_id, t, &loaded.persons.table, policies, &refs, settled, contributions, carries, &|n| {
                    progress::grow(&pb, n)
                })?;
                Ok(tx)
            });
            pb.finish_and_clear();
            let counts = writer.join().map_err(|_| anyhow::anyhow!("internal: the output writer stopped"))??;
            Ok::<_, anyhow::Error>((counts, stored?))
        });
        let (counts, tx) = stored?;
        let run = NewRun { input_key, inputs_json, out_dir: &a.out, staging: out.staging(), policy_change, counts };
        tx.put_journal(&run, run_id, policies)?;
        Ok((counts, tx))
    }
}
