//! The content policy: prompts are checked before any generative work starts.
//!
//! A policy is a JSON file of named categories. Version 2:
//! ```json
//! {"version": 2, "categories": [{
//!   "name": "sexual content",
//!   "terms": ["nude", "naked*", "desnud*", "裸体"],
//!   "patterns": ["\\b(child|minor)\\b.*\\bsexy\\b"],
//!   "allow": ["nude lipstick", "naked eye"],
//!   "negative": {"subjects": ["woman", "man"], "terms": ["clothes", "clothing"]}
//! }]}
//! ```
//! - **Terms** are listed once per category, in any language. Both the prompt and the terms are
//!   read as the model reads them (see [`text`]: its tokenizer's normaliser, NFKC, case folding,
//!   look-alike letters, invisible characters, marks and leetspeak), and a term matches whole
//!   words, also spelled out (`n.u.d.e`) or stretched (`nuuude`). `*` at either end of a word
//!   stands for any ending or beginning (`behead*`); see [`matcher`]. A `*` inside a word
//!   (`p*rn`) is refused when the policy loads. Chinese, Japanese and Thai terms match anywhere,
//!   except that a term in katakana must not run on into more katakana (`エロ` is not in
//!   `エロール`) unless it ends in `*`; list compounds a Chinese term sits inside (`出色` for
//!   `色情` in `出色情节`) under `allow`.
//! - **Patterns** are case-insensitive regular expressions (Rust `regex` syntax), tried on each
//!   reading of the prompt as words joined by single spaces, and again with runs of three or
//!   more single letters run together (`the j e w s` as `the jews`).
//! - **Allow** phrases are ordinary uses a term would catch ("nude lipstick", "naked eye"): the
//!   words they cover are ignored by that category's terms and patterns, and nothing else is.
//! - **Negative**: a negative prompt steers away from what it lists, so it is not checked for
//!   terms ("nsfw, nude, gore, blurry" is a normal negative prompt). It is refused only when it
//!   inverts the positive one toward the category: the positive prompt mentions one of
//!   `subjects` and the negative prompt lists one of `terms` (a person, minus their clothes).
//!
//! - **Frame labels** (`"frame_labels": {"nudity": 0.6}`) name the frame-classifier labels that
//!   flag a generated frame in the category, and the score (0 to 1) at which they do; a top-level
//!   `"require_frame_review": true` refuses models without a classifier ([`Policy::frame_review`]).
//!
//! Version 1 files (`terms`, `patterns` and frame review; `*` as punctuation) still load.
//!
//! The file in use is `KINEMA_POLICY` (the user's choice, so it must exist), else the bundle's
//! `Contents/Resources/policy.json`, else the default compiled into the plugin — never none.
//! A policy file that cannot be used fails closed: every prompt is refused with the reason.

mod matcher;
pub mod text;

#[cfg(test)]
mod corpus;
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

use matcher::{Term, Text};
pub use text::ModelNormalizer;
use text::Reading;

/// The newest policy file format version this build reads (it reads 1 as well).
pub const POLICY_VERSION: u64 = 2;

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
    #[error("content policy {file} has version {found}; this Kinema reads versions 1 to {POLICY_VERSION}")]
    UnknownVersion { file: String, found: String },
    #[error("content policy {file}: category {index} has an empty name")]
    EmptyCategoryName { file: String, index: usize },
    #[error("content policy {file}: term {term:?} in category \"{category}\" has no letters or digits")]
    EmptyTerm { file: String, category: String, term: String },
    #[error(
        "content policy {file}: term {term:?} in category \"{category}\" has a * inside a word; * may only start or end a word (write the whole word, or a pattern)"
    )]
    InnerWildcard { file: String, category: String, term: String },
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
    /// The prompt's words a term or pattern matched, as the policy read them (lowercase, plain
    /// letters: `decapitated`, `nude` for `𝐧𝐮𝐝𝐞`).
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
    /// Version 2 on.
    #[serde(default)]
    allow: Vec<String>,
    /// Version 2 on.
    #[serde(default)]
    negative: Option<NegativeFile>,
    /// Frame-classifier labels that flag a generated frame in this category, with the score
    /// (0..1) at which they do.
    #[serde(default)]
    frame_labels: std::collections::BTreeMap<String, f32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NegativeFile {
    subjects: Vec<String>,
    terms: Vec<String>,
}

/// When a negative prompt inverts the positive one: a subject in one, a covering term in the other.
#[derive(Debug, Clone)]
struct NegativeRule {
    subjects: Vec<Term>,
    terms: Vec<Term>,
}

#[derive(Debug, Clone)]
struct Category {
    name: String,
    terms: Vec<Term>,
    patterns: Vec<Regex>,
    allow: Vec<Term>,
    negative: Option<NegativeRule>,
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
        let version = match value.get("version") {
            Some(v) if matches!(v.as_u64(), Some(1..=POLICY_VERSION)) => v.as_u64().unwrap_or(1),
            Some(v) => return Err(PolicyError::UnknownVersion { file, found: v.to_string() }),
            None if value.is_object() => return Err(PolicyError::UnknownVersion { file, found: "(missing)".into() }),
            None => {
                return Err(PolicyError::InvalidJson { file, reason: "the top level must be an object".into() });
            }
        };
        let parsed: PolicyFile = serde_json::from_str(json).map_err(invalid)?;
        let wildcards = version >= 2;

        let mut categories = Vec::with_capacity(parsed.categories.len());
        for (i, c) in parsed.categories.into_iter().enumerate() {
            let name = c.name.trim().to_string();
            if name.is_empty() {
                return Err(PolicyError::EmptyCategoryName { file, index: i + 1 });
            }
            if version < 2 && (!c.allow.is_empty() || c.negative.is_some()) {
                let reason = format!("category \"{name}\" has `allow` or `negative`, which need version 2");
                return Err(PolicyError::InvalidJson { file, reason });
            }
            let terms = |list: Vec<String>| -> Result<Vec<Term>, PolicyError> {
                list.into_iter()
                    .map(|text| {
                        // `p*rn` would read as two words, `p` and `rn`: never what was meant.
                        let inner = |w: &str| w.trim_matches('*').contains('*');
                        if wildcards && text.split_whitespace().any(inner) {
                            return Err(PolicyError::InnerWildcard {
                                file: file.clone(),
                                category: name.clone(),
                                term: text,
                            });
                        }
                        Term::new(&text, wildcards).ok_or_else(|| PolicyError::EmptyTerm {
                            file: file.clone(),
                            category: name.clone(),
                            term: text,
                        })
                    })
                    .collect()
            };
            let negative = match c.negative {
                Some(n) => Some(NegativeRule { subjects: terms(n.subjects)?, terms: terms(n.terms)? }),
                None => None,
            };
            let (allow, list) = (terms(c.allow)?, terms(c.terms)?);
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
            categories.push(Category { name, terms: list, patterns, allow, negative, frame_labels });
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

    /// A positive prompt alone, read without a model's normaliser.
    pub fn check(&self, prompt: &str) -> Result<(), Blocked> {
        self.check_pair(prompt, "", None)
    }

    /// The first category (in file order) that refuses this prompt and negative prompt. `model`
    /// is the normaliser of the tokenizer that will read them, when it is known.
    pub fn check_pair(&self, prompt: &str, negative: &str, model: Option<&ModelNormalizer>) -> Result<(), Blocked> {
        let positive = readings(prompt, model);
        let negative = if negative.trim().is_empty() { Vec::new() } else { readings(negative, model) };
        for c in &self.categories {
            let blocked = |matched: &str| Blocked { category: c.name.clone(), matched: matched.trim().to_string() };
            let seen: Vec<Text> = positive.iter().map(|t| t.without(&c.allow)).collect();
            for text in &seen {
                if let Some(found) = c.terms.iter().find_map(|t| text.find(t)) {
                    return Err(blocked(&found));
                }
                // Patterns see the words as written, and with spelled-out letters run together
                // (`the j e w s are` as `the jews are`).
                for joined in [Some(text.joined()), text.collapsed()].into_iter().flatten() {
                    if let Some(m) = c.patterns.iter().find_map(|re| re.find(&joined)) {
                        return Err(blocked(m.as_str()));
                    }
                }
            }
            let Some(rule) = &c.negative else { continue };
            let subject = rule.subjects.iter().find(|s| seen.iter().any(|t| t.contains(s)));
            if let Some(subject) = subject {
                if let Some(t) = rule.terms.iter().find(|t| negative.iter().any(|n| n.contains(t))) {
                    return Err(blocked(&format!("{} without {} (negative prompt)", subject.text, t.text)));
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
}

/// Every reading of `prompt` (see [`text::Reading`]), after the model's normaliser if given.
fn readings(prompt: &str, model: Option<&ModelNormalizer>) -> Vec<Text> {
    let seen = match model {
        Some(m) => m.apply(prompt),
        None => std::borrow::Cow::Borrowed(prompt),
    };
    let mut out: Vec<Text> = Vec::with_capacity(Reading::ALL.len());
    for r in Reading::ALL {
        let words = text::words(&seen, r);
        // Most prompts read the same every way: check each distinct reading once.
        if !out.iter().any(|t| t.words() == words.as_slice()) {
            out.push(Text::new(words));
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

/// Checks a prompt and its negative prompt against the active policy; an unusable policy
/// refuses every prompt. `model` is the normaliser of the tokenizer that will read them: check
/// once without it before the model is known (a refusal then costs nothing), and again with it.
pub fn check_prompts(prompt: &str, negative: &str, model: Option<&ModelNormalizer>) -> Result<(), PromptRefused> {
    check_prompts_with(&ACTIVE, policy_path(), prompt, negative, model)
}

/// [`check_prompts`] for one outcome of [`policy_path`], so each can be tested.
fn check_prompts_with(
    cache: &PolicyCache,
    path: Result<Option<PathBuf>, PolicyError>,
    prompt: &str,
    negative: &str,
    model: Option<&ModelNormalizer>,
) -> Result<(), PromptRefused> {
    cache.get(path?.as_deref())?.check_pair(prompt, negative, model)?;
    Ok(())
}
