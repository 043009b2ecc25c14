//! Process-wide cache of ONNX Runtime sessions.
//!
//! Hosts create many instances of an effect (Resolve keeps several per clip) and render from
//! many threads; a model is loaded once per (file, providers) and shared. `Session::run` takes
//! `&mut self` in ort rc.15, so each session sits behind its own mutex.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use ort::session::{builder::GraphOptimizationLevel, Session};
use parking_lot::Mutex;

use super::identity::FilesIdentity;
use super::{environment, Provider, ProviderPreference, RuntimeError};

/// A loaded model and the provider that ended up running it.
pub struct SharedSession {
    /// Unique in the process: results cached per session (in-between frames) name it, so a
    /// graph changed on disk never serves what the old one made.
    id: u64,
    model: PathBuf,
    provider: Provider,
    skipped: Vec<(Provider, String)>,
    session: Mutex<Session>,
}

impl SharedSession {
    pub fn model(&self) -> &Path {
        &self.model
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    /// The provider the session was created with (reported in Status and by `kinema doctor`).
    pub fn provider(&self) -> Provider {
        self.provider
    }

    /// Providers tried before this one, with the reason each was not used.
    pub fn skipped(&self) -> &[(Provider, String)] {
        &self.skipped
    }

    /// Why the graph lacks the tensors a manifest names (`None` when it has them all); `file` is
    /// how the message names the graph.
    pub fn missing_names(&self, file: &str, inputs: &[&str], output: &str) -> Result<Option<String>, RuntimeError> {
        let (have_in, have_out) = self.with(|s| {
            Ok((
                s.inputs().iter().map(|i| i.name().to_string()).collect::<Vec<_>>(),
                s.outputs().iter().map(|o| o.name().to_string()).collect::<Vec<_>>(),
            ))
        })?;
        if let Some(wanted) = inputs.iter().find(|w| !have_in.iter().any(|h| h == *w)) {
            return Ok(Some(format!("the manifest names input '{wanted}', but {file} has inputs {have_in:?}")));
        }
        if !have_out.iter().any(|h| h == output) {
            return Ok(Some(format!("the manifest names output '{output}', but {file} has outputs {have_out:?}")));
        }
        Ok(None)
    }

    /// Runs `f` with exclusive use of the session.
    pub fn with<R>(&self, f: impl FnOnce(&mut Session) -> ort::Result<R>) -> Result<R, RuntimeError> {
        let mut session = self.session.lock();
        f(&mut session)
            .map_err(|e| RuntimeError::Run { model: self.model.display().to_string(), reason: e.to_string() })
    }
}

/// A graph's files (the `.onnx` and its external data) as they are on disk, and the providers:
/// a graph re-exported in place is another key, so it gets a new session.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Key {
    files: FilesIdentity,
    preference: ProviderPreference,
}

/// One slot per key; its mutex makes creation single-flight (TensorRT engine builds take minutes).
type Slot = Arc<Mutex<Option<Arc<SharedSession>>>>;

static CACHE: Mutex<Option<HashMap<Key, Slot>>> = Mutex::new(None);

static CREATED: AtomicU64 = AtomicU64::new(0);

/// The shared session for `model`, created on first use and again when the graph's files change.
/// External data saved as `<model>.data` (what `torch.onnx.export` writes for large graphs) is
/// part of the graph's identity.
pub fn session(model: &Path, preference: ProviderPreference) -> Result<Arc<SharedSession>, RuntimeError> {
    session_with_data(model, &[], preference)
}

/// [`session`] for a graph whose weights are also in `data` files that other graphs may share
/// (a manifest's `external_data`).
pub fn session_with_data(
    model: &Path,
    data: &[PathBuf],
    preference: ProviderPreference,
) -> Result<Arc<SharedSession>, RuntimeError> {
    let canonical = std::fs::canonicalize(model)
        .map_err(|e| RuntimeError::Session { path: model.display().to_string(), reason: e.to_string() })?;
    let mut files = vec![canonical.clone()];
    let mut sibling = canonical.clone().into_os_string();
    sibling.push(".data");
    files.extend(Some(PathBuf::from(sibling)).filter(|p| p.is_file()));
    files.extend(data.iter().map(|d| std::fs::canonicalize(d).unwrap_or_else(|_| d.clone())));
    let key = Key { files: FilesIdentity::of(&files), preference };
    let slot = {
        let mut cache = CACHE.lock();
        let map = cache.get_or_insert_with(HashMap::new);
        // An older version of this graph is never asked for again: let its memory go (renders
        // still running on it keep it until they finish).
        map.retain(|k, _| k == &key || k.preference != preference || k.files.files().next() != Some(&*canonical));
        map.entry(key).or_default().clone()
    };
    let mut slot = slot.lock();
    if let Some(shared) = slot.as_ref() {
        return Ok(shared.clone());
    }
    let shared = Arc::new(create(&canonical, preference)?);
    *slot = Some(shared.clone());
    Ok(shared)
}

/// Sessions created since the process started (a graph changed on disk is created again).
pub fn sessions_created() -> u64 {
    CREATED.load(Ordering::Relaxed)
}

/// Drops every cached session (OFX PurgeCaches / Unload). Sessions still in use by a render
/// stay alive until that render finishes.
pub fn purge_sessions() {
    if let Some(map) = CACHE.lock().as_mut() {
        map.clear();
    }
}

/// Drops the cached sessions of one graph (all providers): a large model's text encoder after
/// encoding, when the machine cannot also hold it beside the transformer. Renders still using it
/// keep it until they finish. Returns whether one was cached.
pub fn release_session(model: &Path) -> bool {
    let Ok(canonical) = std::fs::canonicalize(model) else { return false };
    let mut cache = CACHE.lock();
    let Some(map) = cache.as_mut() else { return false };
    let before = map.len();
    map.retain(|k, _| k.files.files().next() != Some(&*canonical));
    map.len() != before
}

/// Number of sessions currently cached.
pub fn cached_session_count() -> usize {
    CACHE.lock().as_ref().map_or(0, |map| map.values().filter(|slot| slot.lock().is_some()).count())
}

fn create(model: &Path, preference: ProviderPreference) -> Result<SharedSession, RuntimeError> {
    let env = environment()?;
    let mut skipped = Vec::new();
    for &provider in preference.chain() {
        match build(env, model, provider) {
            Ok(session) => {
                return Ok(SharedSession {
                    id: CREATED.fetch_add(1, Ordering::Relaxed),
                    model: model.to_path_buf(),
                    provider,
                    skipped,
                    session: Mutex::new(session),
                })
            }
            Err(reason) if provider != Provider::Cpu => skipped.push((provider, reason)),
            Err(reason) => return Err(RuntimeError::Session { path: model.display().to_string(), reason }),
        }
    }
    Err(RuntimeError::Session {
        path: model.display().to_string(),
        reason: "no execution provider accepted the model".into(),
    })
}

fn build(env: &ort::environment::Environment, model: &Path, provider: Provider) -> Result<Session, String> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut builder = Session::builder(env)
        .and_then(|b| b.with_optimization_level(GraphOptimizationLevel::Level3).map_err(Into::into))
        .and_then(|b| b.with_intra_threads(threads).map_err(Into::into))
        // Busy-waiting worker threads would steal cores from the host's own render threads.
        .and_then(|b| b.with_intra_op_spinning(false).map_err(Into::into))
        .and_then(|b| b.with_inter_op_spinning(false).map_err(Into::into))
        // Frame sizes change between renders (proxy, thumbnails); planned memory patterns would not be reused.
        .and_then(|b| b.with_memory_pattern(false).map_err(Into::into))
        .map_err(|e: ort::Error| e.to_string())?;
    let registrations = provider.registrations();
    if !registrations.is_empty() {
        builder = builder.with_execution_providers(registrations).map_err(|e| e.to_string())?;
    }
    builder.commit_from_file(model).map_err(|e| e.to_string())
}
