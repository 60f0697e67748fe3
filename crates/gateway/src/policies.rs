//! Policy files on disk, the live snapshot, and reload: the files are read and compiled as a
//! whole; only a set that compiles replaces the current one, in one atomic pointer swap, so an
//! exchange sees either the old policies or the new ones, never a mix. A failed reload keeps
//! the good set, and its diagnostics are logged, counted and shown by the admin API.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use rampart_detect::Scanner;
use rampart_policy::{Catalog, Diagnostics, PolicySet, Source};
use serde::Serialize;

/// The policy `rampart up` enforces when no policy file is given.
pub const DEFAULT_POLICY: &str = include_str!("../../../policies/default.yaml");

/// Why policies could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A file or folder could not be read.
    #[error("{0}")]
    Io(String),
    /// The policies do not compile.
    #[error("{0}")]
    Invalid(Diagnostics),
    /// The files have not changed since a reload that failed with this.
    #[error("{0}")]
    StillInvalid(String),
    /// The set compiles but no policy in it is in enforce mode: nothing would be redacted or
    /// blocked.
    #[error(
        "no enforce-mode policy is loaded ({0}): add an enforcing policy (e.g. --policy policies/default.yaml) or pass --allow-unenforced (allow_unenforced: true)"
    )]
    Unenforced(String),
}

/// What a policy set must hold to be put in force.
#[derive(Clone, Copy, Debug, Default)]
pub struct Requirements {
    /// Accept a set with no policy in enforce mode (empty, or monitor-only).
    pub allow_unenforced: bool,
}

impl Requirements {
    /// Checks `set` against the requirements.
    pub fn check(&self, set: &PolicySet) -> Result<(), LoadError> {
        if self.allow_unenforced || !set.enforcing().is_empty() {
            return Ok(());
        }
        let what = if set.names().is_empty() {
            "the policy set is empty".to_owned()
        } else {
            format!("only monitor-mode policies: {}", set.names().join(", "))
        };
        Err(LoadError::Unenforced(what))
    }
}

/// The ids of the built-in detectors, for checking names in policies.
pub fn detector_ids() -> Vec<&'static str> {
    let mut ids: Vec<&'static str> = Scanner::builtin()
        .detectors()
        .iter()
        .map(|d| d.id)
        .collect();
    for (id, ..) in rampart_threat::inspect::DETECTORS {
        if !ids.contains(id) {
            ids.push(id);
        }
    }
    ids
}

/// Whether a file name is a policy test file rather than a policy.
pub fn is_test_file(path: &Path) -> bool {
    path.file_stem()
        .and_then(|s| s.to_str())
        .is_some_and(|s| s.ends_with("_test"))
}

fn is_yaml(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    )
}

/// Reads the policy files named by `paths`: files as given, folders walked for `*.yaml` and
/// `*.yml` (test files skipped), in name order.
pub fn read_sources(paths: &[PathBuf]) -> Result<Vec<Source>, LoadError> {
    let mut files = Vec::new();
    for path in paths {
        collect(path, &mut files, true)?;
    }
    files
        .into_iter()
        .map(|f| {
            std::fs::read_to_string(&f)
                .map(|text| Source {
                    name: f.display().to_string(),
                    text,
                })
                .map_err(|e| LoadError::Io(format!("cannot read {}: {e}", f.display())))
        })
        .collect()
}

fn collect(path: &Path, out: &mut Vec<PathBuf>, given: bool) -> Result<(), LoadError> {
    let meta = std::fs::metadata(path)
        .map_err(|e| LoadError::Io(format!("cannot read {}: {e}", path.display())))?;
    if meta.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| LoadError::Io(format!("cannot list {}: {e}", path.display())))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                !p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with('.'))
            })
            .collect();
        entries.sort();
        for e in entries {
            collect(&e, out, false)?;
        }
    } else if given || (is_yaml(path) && !is_test_file(path)) {
        out.push(path.to_path_buf());
    }
    Ok(())
}

/// Compiles policy sources against the built-in detectors.
pub fn compile(sources: &[Source]) -> Result<PolicySet, Diagnostics> {
    let ids = detector_ids();
    PolicySet::compile(sources, &Catalog { detectors: &ids })
}

/// Reads and compiles the policies of `paths`, or the embedded default when `paths` is empty.
pub fn load(paths: &[PathBuf]) -> Result<PolicySet, LoadError> {
    let sources = if paths.is_empty() {
        vec![Source {
            name: "<embedded policies/default.yaml>".into(),
            text: DEFAULT_POLICY.into(),
        }]
    } else {
        read_sources(paths)?
    };
    compile(&sources).map_err(LoadError::Invalid)
}

/// The live policy snapshot and its reload state.
pub struct PolicyStore {
    paths: Vec<PathBuf>,
    /// Documents from Rampart's controller (RuntimePolicy and RuntimeLimit resources),
    /// compiled together with the files.
    remote: Mutex<Vec<Source>>,
    requirements: Requirements,
    current: ArcSwap<PolicySet>,
    state: Mutex<ReloadState>,
}

/// What the admin API shows about policies.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ReloadState {
    /// Version (content hash) of the set in force.
    pub version: String,
    /// Policy names in force, most specific first.
    pub policies: Vec<String>,
    /// Those of them in enforce mode (the others monitor).
    pub enforcing: Vec<String>,
    /// Where they come from.
    pub sources: Vec<String>,
    /// Warnings of the set in force.
    pub warnings: Vec<String>,
    /// Successful reloads since start.
    pub reloads: u64,
    /// Failed reloads since start.
    pub failures: u64,
    /// The diagnostics of the last failed reload, until a reload succeeds.
    pub last_error: Option<String>,
    /// Milliseconds since the epoch of the last successful load.
    pub loaded_at_ms: u128,
    /// Fingerprint of the files of the last failed reload (not retried until they change).
    #[serde(skip)]
    failed_version: Option<String>,
}

impl std::fmt::Debug for PolicyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyStore")
            .field("paths", &self.paths)
            .field("version", &self.current.load().version())
            .finish()
    }
}

/// The outcome of a reload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reloaded {
    /// A new set is in force.
    Swapped {
        /// Its version.
        version: String,
    },
    /// The files did not change.
    Unchanged,
}

impl PolicyStore {
    /// Loads the policies of `paths` (the embedded default when empty); fails with every
    /// diagnostic when they do not compile, or when the set does not meet `requirements`
    /// (which every reload must meet too).
    pub fn open(paths: Vec<PathBuf>, requirements: Requirements) -> Result<PolicyStore, LoadError> {
        let set = load(&paths)?;
        requirements.check(&set)?;
        let state = ReloadState {
            sources: sources_of(&paths),
            ..ReloadState::default()
        };
        let store = PolicyStore {
            paths,
            remote: Mutex::new(Vec::new()),
            requirements,
            current: ArcSwap::from_pointee(set),
            state: Mutex::new(state),
        };
        store.note_loaded(&store.current(), false);
        Ok(store)
    }

    /// The set in force: exchanges take it once and keep it to their end.
    pub fn current(&self) -> Arc<PolicySet> {
        self.current.load_full()
    }

    /// Reads and compiles the files again; swaps the set in when it compiles and differs.
    /// On failure the current set stays and the error is kept for the admin API.
    pub fn reload(&self) -> Result<Reloaded, LoadError> {
        let remote = self.remote.lock().expect("remote policies lock").clone();
        if self.paths.is_empty()
            && remote.is_empty()
            && self.current.load().version() == self.embedded_version()
        {
            return Ok(Reloaded::Unchanged);
        }
        let mut sources = if self.paths.is_empty() {
            vec![Source {
                name: "<embedded policies/default.yaml>".into(),
                text: DEFAULT_POLICY.into(),
            }]
        } else {
            read_sources(&self.paths).inspect_err(|e| self.failed(e, None))?
        };
        sources.extend(remote);
        let print = rampart_policy::fingerprint(&sources);
        if print == self.current.load().version() {
            self.state.lock().expect("policy state lock").last_error = None;
            return Ok(Reloaded::Unchanged);
        }
        {
            // the same broken files again: already reported
            let st = self.state.lock().expect("policy state lock");
            if st.failed_version.as_deref() == Some(&print) {
                return Err(LoadError::StillInvalid(
                    st.last_error.clone().unwrap_or_default(),
                ));
            }
        }
        let compiled = compile(&sources)
            .map_err(LoadError::Invalid)
            .and_then(|set| self.requirements.check(&set).map(|()| set));
        match compiled {
            Ok(set) => {
                let set = Arc::new(set);
                self.current.store(set.clone());
                self.note_loaded(&set, true);
                tracing::info!(version = set.version(), policies = ?set.names(), "policies reloaded");
                Ok(Reloaded::Swapped {
                    version: set.version().to_owned(),
                })
            }
            Err(e) => {
                self.failed(&e, Some(print));
                Err(e)
            }
        }
    }

    /// The version of the embedded default alone.
    fn embedded_version(&self) -> String {
        rampart_policy::fingerprint(&[Source {
            name: "<embedded policies/default.yaml>".into(),
            text: DEFAULT_POLICY.into(),
        }])
    }

    /// Replaces the documents from Rampart's controller and reloads: they are compiled with
    /// the files, and a set that does not compile never replaces the one in force.
    pub fn set_remote(&self, sources: Vec<Source>) -> Result<Reloaded, LoadError> {
        let names: Vec<String> = sources.iter().map(|s| s.name.clone()).collect();
        *self.remote.lock().expect("remote policies lock") = sources;
        let result = self.reload();
        let mut st = self.state.lock().expect("policy state lock");
        st.sources = sources_of(&self.paths);
        st.sources
            .extend(names.into_iter().map(|n| format!("controller: {n}")));
        result
    }

    fn failed(&self, e: &LoadError, version: Option<String>) {
        let mut st = self.state.lock().expect("policy state lock");
        st.failures += 1;
        st.last_error = Some(e.to_string());
        st.failed_version = version;
        tracing::error!(error = %e, "policy reload failed; the policies in force stay");
    }

    fn note_loaded(&self, set: &PolicySet, reload: bool) {
        let mut st = self.state.lock().expect("policy state lock");
        st.version = set.version().to_owned();
        st.policies = set.names().into_iter().map(str::to_owned).collect();
        st.enforcing = set.enforcing().into_iter().map(str::to_owned).collect();
        st.warnings = set.warnings.iter().map(|w| w.to_string()).collect();
        st.last_error = None;
        st.failed_version = None;
        st.loaded_at_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        if reload {
            st.reloads += 1;
        }
    }

    /// The reload state, for the admin API.
    pub fn state(&self) -> ReloadState {
        self.state.lock().expect("policy state lock").clone()
    }

    /// Whether policies come from files (and can be reloaded).
    pub fn watches_files(&self) -> bool {
        !self.paths.is_empty()
    }
}

fn sources_of(paths: &[PathBuf]) -> Vec<String> {
    if paths.is_empty() {
        vec!["<embedded policies/default.yaml>".into()]
    } else {
        paths.iter().map(|p| p.display().to_string()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every policy example in docs/POLICY.md compiles (against the real detector ids).
    #[test]
    fn the_reference_examples_compile() {
        let mut doc = String::new();
        for file in ["POLICY.md", "LIMITS.md"] {
            let path = format!("{}/../../docs/{file}", env!("CARGO_MANIFEST_DIR"));
            doc.push_str(&std::fs::read_to_string(path).unwrap());
        }
        let mut examples = 0;
        for block in doc.split("```yaml\n").skip(1) {
            let block = block.split("```").next().unwrap();
            let complete = ["RuntimePolicy", "RuntimeLimit"].iter().any(|kind| {
                block.contains(&format!(
                    "apiVersion: rampart.dev/v1\nkind: {kind}\nmetadata: {{name"
                ))
            });
            if !complete {
                continue;
            }
            let source = Source {
                name: "docs".into(),
                text: block.into(),
            };
            let set = compile(&[source]).unwrap_or_else(|d| panic!("{d}\n{block}"));
            assert!(set.warnings.is_empty(), "{:?}", set.warnings);
            examples += 1;
        }
        assert!(examples >= 3, "{examples}");
    }

    #[test]
    fn folders_skip_test_files_and_hidden_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("b.yaml"),
            DEFAULT_POLICY
                .replace("name: default\n", "name: b\n")
                .replace("name: default-responses", "name: b-responses"),
        )
        .unwrap();
        std::fs::write(dir.path().join("a.yml"), DEFAULT_POLICY).unwrap();
        std::fs::write(dir.path().join("a_test.yaml"), "tests: []").unwrap();
        std::fs::write(dir.path().join(".hidden.yaml"), "garbage: [").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not a policy").unwrap();
        let sources = read_sources(&[dir.path().to_path_buf()]).unwrap();
        let names: Vec<&str> = sources
            .iter()
            .map(|s| s.name.rsplit('/').next().unwrap())
            .collect();
        assert_eq!(names, ["a.yml", "b.yaml"]);
        assert_eq!(compile(&sources).unwrap().names().len(), 4);
    }
}
