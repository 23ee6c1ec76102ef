//! `reuse`: skipping jobs whose inputs did not change. Each job gets an input key ([`key`]) from
//! its resolved definition, image digests, variables (keyed hashes only), executor settings,
//! the content of the workspace files it can see ([`files`], narrowed by `[jobs.NAME] inputs`
//! of [`config`]), and what it receives from the jobs before it; a successful run is kept in
//! the [`store`] under that key, and a later run with the same key replays it instead.
//! `run/reuse.rs` is the runner's hook into this module, `cmd/plan.rs` shows its decisions.
//! May not touch: scheduling, executors (it asks them for image digests through the trait).

pub mod config;
mod error;
pub mod files;
pub mod key;
pub mod store;
pub mod trees;

use crate::model::artifacts::{Artifacts, Cache};
use crate::plan::{Plan, PlannedJob};
use crate::run::git_vars::{GitSettings, Strategy, Submodules};
use crate::run::workspace::Snapshot;
pub use config::ReuseConfig;
pub use error::{Corruption, NoKey, SettingsError, SizeError, StoreError, Unknown};
use files::Hasher;
pub use key::Inputs;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use store::Store;

/// The workspace files of one pipeline with their digests (computed once per run).
#[derive(Debug)]
pub struct Listing {
    /// Relative path and digest, sorted by path.
    pub files: Vec<(PathBuf, String)>,
    /// Digest over all of them (the name of the recorded listing).
    pub digest: String,
    /// Submodule paths and commits, as one digest.
    pub gitlinks: String,
    /// The project directory they were read from.
    pub root: PathBuf,
    /// Per `[jobs.NAME]` with `inputs`: the digest over the files its globs keep.
    pub by_inputs: HashMap<String, String>,
}

/// Reuse for one project: settings, store, the secret key, digests shared by a run's jobs.
#[derive(Debug)]
pub struct Session {
    /// What `.gantry/config.toml` says.
    pub config: ReuseConfig,
    /// The store.
    pub store: Store,
    secret: Vec<u8>,
    hasher: Mutex<Hasher>,
    listing: Mutex<Option<Arc<Listing>>>,
    /// Job name → (key, outputs digest) of the jobs of this run that finished.
    finished: Mutex<HashMap<String, (Option<String>, String)>>,
}

/// What a run learnt about a job's image: its digest, `None` when the executor ignores
/// images (shell), or why it cannot be had.
pub type Digest = Result<Option<String>, crate::executor::ExecutorError>;

/// Everything a job's key is made of, gathered by the caller (runner or plan).
pub struct Facts<'a> {
    /// The plan.
    pub plan: &'a Plan,
    /// The job (with the dotenv variables it receives already in its layers).
    pub job: &'a PlannedJob,
    /// Its `artifacts:`.
    pub artifacts: Option<&'a Artifacts>,
    /// Its `cache:` entries.
    pub caches: &'a [Cache],
    /// Where caches are kept (`.gantry/cache`).
    pub cache_root: &'a Path,
    /// Image and services: (input name, image, digest).
    pub images: Vec<(String, String, Digest)>,
    /// The executor and its settings.
    pub executor: String,
    /// Per job it waits for or receives artifacts from: its key and outputs, or why unknown.
    pub deps: Vec<(String, Result<String, Unknown>)>,
}

impl Session {
    /// Opens the reuse state of the project whose state directory is `state_dir`.
    pub fn open(config: ReuseConfig, state_dir: &Path) -> Result<Session, StoreError> {
        let store = Store::new(state_dir);
        let secret = secret_key(store.root())?;
        let hasher = Hasher::load(&store.root().join("hashes"));
        Ok(Session {
            config,
            store,
            secret,
            hasher: Mutex::new(hasher),
            listing: Mutex::new(None),
            finished: Mutex::new(HashMap::new()),
        })
    }

    /// Digests of the pipeline's workspace files (once; later calls return the same).
    pub fn listing(&self, snapshot: &Snapshot) -> Arc<Listing> {
        let mut l = self.listing.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(l) = &*l {
            return l.clone();
        }
        let mut hasher = self.hasher.lock().unwrap_or_else(|e| e.into_inner());
        let root = snapshot.root();
        let paths: Vec<PathBuf> = snapshot.files().iter().map(|rel| root.join(rel)).collect();
        let stats = files::stat_all(&paths);
        let files: Vec<(PathBuf, String)> = snapshot
            .files()
            .iter()
            .zip(paths.iter().zip(stats))
            .filter_map(|(rel, (abs, meta))| {
                hasher.digest_stated(abs, meta).map(|d| (rel.clone(), d))
            })
            .collect();
        if !hasher.all_seen() {
            let keep: std::collections::HashSet<PathBuf> = paths.into_iter().collect();
            hasher.retain_under(root, &keep);
        }
        hasher.save(&self.store.root().join("hashes"));
        let by_inputs = self.fold_by_inputs(&files);
        let digest = files::fold(files.iter().map(|(p, d)| (p.as_path(), d.as_str())));
        let gitlinks = files::fold(
            snapshot
                .gitlinks()
                .iter()
                .map(|(p, o)| (p.as_path(), o.to_string()))
                .collect::<Vec<_>>()
                .iter()
                .map(|(p, o)| (*p, o.as_str())),
        );
        let listing = Arc::new(Listing {
            files,
            digest,
            gitlinks,
            root: root.to_path_buf(),
            by_inputs,
        });
        *l = Some(listing.clone());
        listing
    }

    /// For each `[jobs.NAME]` with `inputs`, the digest over the `files` its globs keep. One
    /// pass: every path is matched once against all jobs' globs together, not once per job.
    fn fold_by_inputs(&self, files: &[(PathBuf, String)]) -> HashMap<String, String> {
        let owners = &self.config.input_owners;
        // Every job with `inputs`, also `inputs = []` (which keeps no file).
        let mut kept: HashMap<&str, Vec<(&Path, &str)>> = self
            .config
            .jobs
            .iter()
            .filter(|(_, s)| s.inputs.is_some())
            .map(|(name, _)| (name.as_str(), Vec::new()))
            .collect();
        let mut hits = Vec::new();
        for (p, d) in files {
            self.config
                .all_inputs
                .matches_candidate_into(&globset::Candidate::new(p), &mut hits);
            for &h in &hits {
                let list = kept.entry(owners[h].as_str()).or_default();
                // Two globs of one job matching the same path count it once.
                if list.last().is_none_or(|(q, _)| *q != p.as_path()) {
                    list.push((p.as_path(), d.as_str()));
                }
            }
        }
        kept.into_iter()
            .map(|(name, k)| (name.to_string(), files::fold(k)))
            .collect()
    }

    /// Why `job` is never reused, if it is not: `when: manual`, `environment:`, the config.
    pub fn never(&self, job: &PlannedJob) -> Option<String> {
        if job.when == "manual" {
            return Some("manual jobs are never reused".into());
        }
        if let Some(env) = &job.environment {
            return Some(format!(
                "deploys to environment `{}`; deployments are never reused",
                env.name
            ));
        }
        if self
            .config
            .job(&job.name, &job.job)
            .is_some_and(|s| s.opt_out)
        {
            return Some("`reuse = false` in .gantry/config.toml".into());
        }
        None
    }

    /// The job's inputs, or why it has no key (an image without a digest, a dependency
    /// without one).
    pub fn inputs(&self, listing: &Listing, f: Facts<'_>) -> Result<Inputs, NoKey> {
        let vars = f.plan.variables(f.job);
        let scope = vars.scope();
        let (git, _) = GitSettings::from_scope(&scope);
        let mut inputs = Inputs::default();
        inputs.set("definition", key::definition(f.job, f.artifacts));
        inputs.set("executor", f.executor.clone());
        for (name, image, digest) in f.images {
            match digest {
                Ok(Some(d)) => inputs.set(name, format!("{image}@{d}")),
                Ok(None) => inputs.set(name, format!("{image} (unused)")),
                Err(source) => {
                    return Err(NoKey::Image {
                        image,
                        source: Box::new(source),
                    });
                }
            }
        }
        key::variables(&mut inputs, &scope, &self.secret);
        inputs.set(
            "git",
            format!(
                "{:?} checkout={} clean={:?} depth={:?} submodules={:?}",
                git.strategy, git.checkout, git.clean, git.depth, git.submodules
            ),
        );
        if matches!(git.strategy, Strategy::Fetch | Strategy::Clone) {
            // A job with `inputs` has its digest in `by_inputs`; the others see every file.
            let digest = self
                .config
                .job_entry(&f.job.name, &f.job.job)
                .and_then(|(name, _)| listing.by_inputs.get(name))
                .unwrap_or(&listing.digest);
            inputs.set("files", digest.clone());
            if git.submodules != Submodules::None {
                inputs.set("submodules", listing.gitlinks.clone());
            }
        }
        for (dep, state) in f.deps {
            inputs.set(format!("needs {dep}"), state?);
        }
        for c in f.caches {
            let key = crate::run::cache::key(c, &scope, &listing.root);
            let policy = c.policy.as_ref().map(|p| scope.expand(&p.value));
            let digest = if policy.as_deref() == Some("push") {
                "none (push only)".to_string()
            } else {
                let mut candidates = vec![key.clone()];
                candidates.extend(c.fallback_keys.iter().map(|k| scope.expand(&k.value)));
                let found = candidates
                    .iter()
                    .map(|k| crate::run::cache::dir(f.cache_root, k))
                    .find(|d| d.is_dir());
                self.cache_digest(found.as_deref())
            };
            inputs.set(format!("cache {key}"), digest);
        }
        Ok(inputs)
    }

    /// The files a job's `inputs` glob keeps (all when it has none).
    pub fn keeps(&self, job: &PlannedJob) -> impl Fn(&Path) -> bool + use<'_> {
        let m = self
            .config
            .job(&job.name, &job.job)
            .and_then(|s| s.matcher.as_ref());
        move |p: &Path| m.is_none_or(|m| m.is_match(p))
    }

    /// Notes that `job` finished in this run with `key` (if it had one) and these outputs.
    pub fn finished(&self, job: &str, key: Option<String>, outputs: String) {
        self.finished
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(job.to_string(), (key, outputs));
    }

    /// What a finished job of this run hands on: `key:outputs`, or `-:outputs` without a key.
    pub fn handed_on(&self, job: &str) -> Option<String> {
        let f = self.finished.lock().unwrap_or_else(|e| e.into_inner());
        f.get(job)
            .map(|(k, o)| format!("{}:{o}", k.as_deref().unwrap_or("-")))
    }

    /// The digest of the cache content under `dir` (`none` when there is none).
    pub fn cache_digest(&self, dir: Option<&Path>) -> String {
        let Some(dir) = dir.filter(|d| d.is_dir()) else {
            return "none".into();
        };
        let mut hasher = self.hasher.lock().unwrap_or_else(|e| e.into_inner());
        let t = files::tree(&mut hasher, dir);
        files::fold(t.iter().map(|(p, d)| (p.as_path(), d.as_str())))
    }

    /// Digest of a finished job's artifact directory (what later jobs receive).
    pub fn outputs_of(&self, dir: &Path) -> String {
        self.cache_digest(Some(dir))
    }

    /// Prunes the store to its bound (after a run).
    pub fn prune(&self) -> Vec<String> {
        self.store.prune(self.config.max_size, false)
    }
}

/// The project's HMAC key for variable values: 32 random bytes made once, readable by the
/// owner only.
fn secret_key(root: &Path) -> Result<Vec<u8>, StoreError> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = root.join("secret.key");
    if let Ok(k) = std::fs::read(&path)
        && k.len() == 32
    {
        return Ok(k);
    }
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| StoreError::Io { path, source }
    };
    std::fs::create_dir_all(root).map_err(io(root))?;
    let mut k = vec![0u8; 32];
    getrandom::fill(&mut k).map_err(|source| StoreError::Randomness { source })?;
    let tmp = root.join(format!(".secret.key.tmp-{}", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io(&tmp))?;
    std::io::Write::write_all(&mut f, &k).map_err(io(&tmp))?;
    // Another run may have made one meanwhile: the first one in place wins.
    if std::fs::hard_link(&tmp, &path).is_err() {
        let _ = std::fs::remove_file(&tmp);
        return std::fs::read(&path)
            .ok()
            .filter(|k| k.len() == 32)
            .ok_or(StoreError::KeyUnreadable { path });
    }
    let _ = std::fs::remove_file(&tmp);
    Ok(k)
}
