//! The content policy: prompts are checked before any generative work starts.
//!
//! A policy is a JSON file of named categories, each with `terms` and `patterns`:
//! ```json
//! {"version": 1, "categories": [{"name": "graphic violence", "terms": ["gore"], "patterns": ["\\bblood splatter"]}]}
//! ```
//! - **Terms** match whole words or phrases after both sides are normalised (Unicode lowercase,
//!   every run of non-alphanumeric characters → one space): `"GORE!"` matches `gore`, `"Gorecki"`
//!   does not, `"face-swap"` matches `face swap`.
//! - **Patterns** are case-insensitive regular expressions (Rust `regex` syntax) for what terms
//!   cannot express. Each is tried on the prompt as written and on its normalised form, so a
//!   pattern may assume single spaces and no punctuation.
//!
//! The file in use is `KINEMA_POLICY` (the user's choice, so it must exist), else the bundle's
//! `Contents/Resources/policy.json`, else the default compiled into the plugin — never none.
//! A policy file that cannot be used fails closed: every prompt is refused with the reason.

#[cfg(test)]
mod tests;

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use parking_lot::Mutex;
use regex::{Regex, RegexBuilder};
use serde::Deserialize;

/// The policy file format version this build reads.
pub const POLICY_VERSION: u64 = 1;

/// The default policy (also shipped as `Contents/Resources/policy.json`).
pub const BUILTIN_POLICY: &str = include_str!("../../resources/policy.json");

/// Name used for the compiled-in policy in messages.
const BUILTIN_ORIGIN: &str = "built-in default";

/// Why a policy file cannot be used. Every message names the file and the bad entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("KINEMA_POLICY points to {file}, which is not a file")]
    NotAFile { file: String },
    #[error("content policy {file} cannot be read: {reason}")]
    Unreadable { file: String, reason: String },
    #[error("content policy {file} is not valid: {reason}")]
    InvalidJson { file: String, reason: String },
    #[error("content policy {file} has version {found}; this Kinema reads version {POLICY_VERSION}")]
    UnknownVersion { file: String, found: String },
    #[error("content policy {file}: category {index} has an empty name")]
    EmptyCategoryName { file: String, index: usize },
    #[error("content policy {file}: term {term:?} in category \"{category}\" has no letters or digits")]
    EmptyTerm { file: String, category: String, term: String },
    #[error(
        "content policy {file}: pattern {pattern:?} in category \"{category}\" is not a valid regular expression: {reason}"
    )]
    InvalidRegex { file: String, category: String, pattern: String, reason: String },
    #[error(
        "content policy {file}: frame label {label:?} in category \"{category}\" needs a name and a threshold from 0 to 1 (it has {threshold})"
    )]
    InvalidFrameLabel { file: String, category: String, label: String, threshold: String },
}

/// A prompt the policy refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "Prompt blocked by the content policy (category: {category}, matched \"{matched}\"). Edit the prompt, or replace the policy file (KINEMA_POLICY)."
)]
pub struct Blocked {
    pub category: String,
    /// The term as the policy spells it, or the prompt text a pattern matched.
    pub matched: String,
}

/// Why [`check_prompts`] refused: the prompt matched, or the policy itself is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PromptRefused {
    #[error(transparent)]
    Blocked(#[from] Blocked),
    #[error(
        "Prompt refused: the content policy cannot be used ({0}). Fix or replace the policy file (KINEMA_POLICY)."
    )]
    Policy(#[from] PolicyError),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[allow(dead_code)] // checked before this struct is parsed
    version: u64,
    #[serde(default)]
    #[allow(dead_code)]
    description: Option<String>,
    categories: Vec<CategoryFile>,
    /// Models without a frame classifier may not generate.
    #[serde(default)]
    require_frame_review: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CategoryFile {
    name: String,
    #[serde(default)]
    #[allow(dead_code)]
    description: Option<String>,
    #[serde(default)]
    terms: Vec<String>,
    #[serde(default)]
    patterns: Vec<String>,
    /// Frame-classifier labels that flag a generated frame in this category, with the score
    /// (0..1) at which they do.
    #[serde(default)]
    frame_labels: std::collections::BTreeMap<String, f32>,
}

#[derive(Debug, Clone)]
struct Term {
    /// As the policy spells it (what [`Blocked::matched`] reports).
    text: String,
    /// Normalised, with a space either side, so a substring test is a whole-word test.
    padded: String,
}

#[derive(Debug, Clone)]
struct Category {
    name: String,
    terms: Vec<Term>,
    patterns: Vec<Regex>,
    frame_labels: Vec<(String, f32)>,
}

/// A loaded, validated policy.
#[derive(Debug, Clone)]
pub struct Policy {
    origin: String,
    categories: Vec<Category>,
    require_frame_review: bool,
}

impl Policy {
    pub fn load(path: &Path) -> Result<Policy, PolicyError> {
        let file = path.display().to_string();
        let json = fs::read_to_string(path)
            .map_err(|e| PolicyError::Unreadable { file: file.clone(), reason: e.to_string() })?;
        Policy::from_json(&json, &file)
    }

    /// The compiled-in default.
    pub fn builtin() -> Result<Policy, PolicyError> {
        Policy::from_json(BUILTIN_POLICY, BUILTIN_ORIGIN)
    }

    /// Parses `json`; `origin` names it in errors (a path, or "built-in default").
    pub fn from_json(json: &str, origin: &str) -> Result<Policy, PolicyError> {
        let file = origin.to_string();
        let invalid = |e: serde_json::Error| PolicyError::InvalidJson { file: file.clone(), reason: e.to_string() };
        // Version first, so a future format is reported as such rather than as a field error.
        let value: serde_json::Value = serde_json::from_str(json).map_err(invalid)?;
        match value.get("version") {
            Some(v) if v.as_u64() == Some(POLICY_VERSION) => {}
            Some(v) => return Err(PolicyError::UnknownVersion { file, found: v.to_string() }),
            None if value.is_object() => return Err(PolicyError::UnknownVersion { file, found: "(missing)".into() }),
            None => {
                return Err(PolicyError::InvalidJson { file, reason: "the top level must be an object".into() });
            }
        }
        let parsed: PolicyFile = serde_json::from_str(json).map_err(invalid)?;

        let mut categories = Vec::with_capacity(parsed.categories.len());
        for (i, c) in parsed.categories.into_iter().enumerate() {
            let name = c.name.trim().to_string();
            if name.is_empty() {
                return Err(PolicyError::EmptyCategoryName { file, index: i + 1 });
            }
            let mut terms = Vec::with_capacity(c.terms.len());
            for text in c.terms {
                let norm = normalize(&text);
                if norm.is_empty() {
                    return Err(PolicyError::EmptyTerm { file, category: name, term: text });
                }
                terms.push(Term { padded: format!(" {norm} "), text });
            }
            let mut patterns = Vec::with_capacity(c.patterns.len());
            for pattern in c.patterns {
                let bad = |reason: String| PolicyError::InvalidRegex {
                    file: file.clone(),
                    category: name.clone(),
                    pattern: pattern.clone(),
                    reason,
                };
                // An empty pattern matches everything: certainly a mistake, never a rule.
                if pattern.trim().is_empty() {
                    return Err(bad("an empty pattern would match every prompt".into()));
                }
                let re = RegexBuilder::new(&pattern).case_insensitive(true).build().map_err(|e| bad(e.to_string()))?;
                if re.is_match("") {
                    return Err(bad("it matches the empty prompt, so it would match every prompt".into()));
                }
                patterns.push(re);
            }
            let mut frame_labels = Vec::with_capacity(c.frame_labels.len());
            for (label, threshold) in c.frame_labels {
                // NaN fails the range check too.
                if label.trim().is_empty() || !(0.0..=1.0).contains(&threshold) {
                    return Err(PolicyError::InvalidFrameLabel {
                        file,
                        category: name,
                        label,
                        threshold: threshold.to_string(),
                    });
                }
                frame_labels.push((label, threshold));
            }
            categories.push(Category { name, terms, patterns, frame_labels });
        }
        Ok(Policy { origin: file, categories, require_frame_review: parsed.require_frame_review })
    }

    /// Where the policy came from: a path, or "built-in default".
    pub fn origin(&self) -> &str {
        &self.origin
    }

    pub fn category_names(&self) -> impl Iterator<Item = &str> {
        self.categories.iter().map(|c| c.name.as_str())
    }

    /// The first category (in file order) that `prompt` matches.
    pub fn check(&self, prompt: &str) -> Result<(), Blocked> {
        let norm = normalize(prompt);
        let padded = format!(" {norm} ");
        for c in &self.categories {
            let blocked = |matched: &str| Blocked { category: c.name.clone(), matched: matched.trim().to_string() };
            if let Some(t) = c.terms.iter().find(|t| padded.contains(&t.padded)) {
                return Err(blocked(&t.text));
            }
            for re in &c.patterns {
                if let Some(m) = re.find(prompt).or_else(|| re.find(&norm)) {
                    return Err(blocked(m.as_str()));
                }
            }
        }
        Ok(())
    }

    /// What frame review must check generated frames for (see [`crate::engine::review`]).
    pub fn frame_review(&self) -> crate::engine::review::ReviewPolicy {
        let rules = self
            .categories
            .iter()
            .flat_map(|c| {
                c.frame_labels.iter().map(|(label, threshold)| crate::engine::review::ReviewRule {
                    category: c.name.clone(),
                    label: label.clone(),
                    threshold: *threshold,
                })
            })
            .collect();
        crate::engine::review::ReviewPolicy { rules, required: self.require_frame_review }
    }

    /// Checks every prompt (positive and negative alike: a negative prompt is still text the
    /// user asked the model to condition on).
    pub fn check_all(&self, prompts: &[&str]) -> Result<(), Blocked> {
        prompts.iter().try_for_each(|p| self.check(p))
    }
}

/// Unicode lowercase; every run of non-alphanumeric characters becomes one space; trimmed.
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pending_space = false;
    for c in text.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            if pending_space && !out.is_empty() {
                out.push(' ');
            }
            pending_space = false;
            out.push(c);
        } else {
            pending_space = true;
        }
    }
    out
}

/// The policy file to use: `Ok(None)` means the compiled-in default. See the module docs.
pub fn policy_path() -> Result<Option<PathBuf>, PolicyError> {
    resolve_policy_path(std::env::var_os("KINEMA_POLICY"), crate::runtime::plugin_dir())
}

fn resolve_policy_path(env: Option<OsString>, plugin_dir: Option<PathBuf>) -> Result<Option<PathBuf>, PolicyError> {
    if let Some(chosen) = env.filter(|p| !p.is_empty()) {
        let chosen = PathBuf::from(chosen);
        // An explicit choice that is missing must not silently fall back to a laxer policy.
        return if chosen.is_file() {
            Ok(Some(chosen))
        } else {
            Err(PolicyError::NotAFile { file: chosen.display().to_string() })
        };
    }
    // <bundle>/Contents/<arch>/ → <bundle>/Contents/Resources/policy.json
    let bundled = plugin_dir.and_then(|d| d.parent().map(|contents| contents.join("Resources").join("policy.json")));
    Ok(bundled.filter(|p| p.is_file()))
}

/// File identity for reloading: a replaced or edited file changes mtime or length.
type Stamp = Option<(SystemTime, u64)>;

fn stamp(path: &Path) -> Stamp {
    let meta = fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

struct Loaded {
    path: Option<PathBuf>,
    stamp: Stamp,
    result: Result<Arc<Policy>, PolicyError>,
}

/// Keeps the last loaded policy (or its error) until the path or the file's mtime/length changes.
struct PolicyCache {
    slot: Mutex<Option<Loaded>>,
}

impl PolicyCache {
    const fn new() -> Self {
        PolicyCache { slot: Mutex::new(None) }
    }

    fn get(&self, path: Option<&Path>) -> Result<Arc<Policy>, PolicyError> {
        let stamp = path.and_then(stamp);
        let mut slot = self.slot.lock();
        if let Some(l) = slot.as_ref() {
            if l.path.as_deref() == path && l.stamp == stamp {
                return l.result.clone();
            }
        }
        let result = match path {
            Some(p) => Policy::load(p),
            None => Policy::builtin(),
        }
        .map(Arc::new);
        *slot = Some(Loaded { path: path.map(Path::to_path_buf), stamp, result: result.clone() });
        result
    }
}

static ACTIVE: PolicyCache = PolicyCache::new();

/// The policy in force now (see [`policy_path`]), loaded once and reloaded when the file changes.
pub fn active_policy() -> Result<Arc<Policy>, PolicyError> {
    ACTIVE.get(policy_path()?.as_deref())
}

/// Checks the prompts against the active policy; an unusable policy refuses every prompt.
pub fn check_prompts(prompts: &[&str]) -> Result<(), PromptRefused> {
    check_prompts_with(&ACTIVE, policy_path(), prompts)
}

/// [`check_prompts`] for one outcome of [`policy_path`], so each can be tested.
fn check_prompts_with(
    cache: &PolicyCache,
    path: Result<Option<PathBuf>, PolicyError>,
    prompts: &[&str],
) -> Result<(), PromptRefused> {
    cache.get(path?.as_deref())?.check_all(prompts)?;
    Ok(())
}
