//! Process-wide cache of ONNX Runtime sessions.
//!
//! Hosts create many instances of an effect (Resolve keeps several per clip) and render from
//! many threads; a model is loaded once per (file, providers) and shared. `Session::run` takes
//! `&mut self` in ort rc.15, so each session sits behind its own mutex.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use ort::session::{builder::GraphOptimizationLevel, Session};
use parking_lot::Mutex;

use super::{environment, Provider, ProviderPreference, RuntimeError};

/// A loaded model and the provider that ended up running it.
pub struct SharedSession {
    model: PathBuf,
    provider: Provider,
    skipped: Vec<(Provider, String)>,
    session: Mutex<Session>,
}

impl SharedSession {
    pub fn model(&self) -> &Path {
        &self.model
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

#[derive(Clone, PartialEq, Eq, Hash)]
struct Key {
    model: PathBuf,
    modified: Option<SystemTime>,
    preference: ProviderPreference,
}

/// One slot per key; its mutex makes creation single-flight (TensorRT engine builds take minutes).
type Slot = Arc<Mutex<Option<Arc<SharedSession>>>>;

static CACHE: Mutex<Option<HashMap<Key, Slot>>> = Mutex::new(None);

/// The shared session for `model`, created on first use.
pub fn session(model: &Path, preference: ProviderPreference) -> Result<Arc<SharedSession>, RuntimeError> {
    let canonical = std::fs::canonicalize(model)
        .map_err(|e| RuntimeError::Session { path: model.display().to_string(), reason: e.to_string() })?;
    let modified = std::fs::metadata(&canonical).and_then(|m| m.modified()).ok();
    let key = Key { model: canonical.clone(), modified, preference };
    let slot = CACHE.lock().get_or_insert_with(HashMap::new).entry(key).or_default().clone();
    let mut slot = slot.lock();
    if let Some(shared) = slot.as_ref() {
        return Ok(shared.clone());
    }
    let shared = Arc::new(create(&canonical, preference)?);
    *slot = Some(shared.clone());
    Ok(shared)
}

/// Drops every cached session (OFX PurgeCaches / Unload). Sessions still in use by a render
/// stay alive until that render finishes.
pub fn purge_sessions() {
    if let Some(map) = CACHE.lock().as_mut() {
        map.clear();
    }
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
    if let Some(ep) = provider.dispatch() {
        builder = builder.with_execution_providers([ep]).map_err(|e| e.to_string())?;
    }
    builder.commit_from_file(model).map_err(|e| e.to_string())
}
