//! Finding model folders: a name of a model shipped in the bundle (`Contents/Resources/models/NAME`),
//! a name found on `KINEMA_MODEL_PATH`, or a folder path the user typed in.
//!
//! Every model folder holds a `manifest.json` naming its kind; the engines read the rest of it.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::runtime::plugin_dir;

/// A model folder whose manifest has been found and read far enough to know its kind.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelDir {
    pub name: String,
    pub root: PathBuf,
    pub kind: String,
}

impl ModelDir {
    pub fn manifest_path(&self) -> PathBuf {
        self.root.join(MANIFEST)
    }
}

pub const MANIFEST: &str = "manifest.json";

/// Why a model could not be used; the text goes to the Status parameter as it is.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ModelError {
    #[error("No model is set. Set the Model parameter to a model name or a model folder.")]
    NotSet,
    #[error("Model '{name}' not found: no {MANIFEST} in {}. Install the model or set the Model parameter to a model folder.", display_paths(.searched))]
    NotFound { name: String, searched: Vec<PathBuf> },
    #[error("Model '{name}': {path} is unreadable: {reason}")]
    Unreadable { name: String, path: PathBuf, reason: String },
    #[error("Model '{name}': {path} is not a valid manifest: {reason}")]
    BadManifest { name: String, path: PathBuf, reason: String },
}

fn display_paths(paths: &[PathBuf]) -> String {
    let list: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    match list.len() {
        0 => "any model folder (no bundle Resources folder and KINEMA_MODEL_PATH unset)".into(),
        _ => list.join(" or "),
    }
}

/// Folders searched for a model given by name, in order.
pub fn search_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("KINEMA_MODEL_PATH")
        .map(|v| std::env::split_paths(&v).filter(|p| !p.as_os_str().is_empty()).collect())
        .unwrap_or_default();
    if let Some(dir) = plugin_dir() {
        // …/Contents/Linux-x86-64 → …/Contents/Resources/models
        if let Some(contents) = dir.parent() {
            dirs.push(contents.join("Resources").join("models"));
        }
    }
    dirs
}

/// Resolves the Model parameter's text.
pub fn resolve(name_or_path: &str) -> Result<ModelDir, ModelError> {
    resolve_in(name_or_path, &search_dirs())
}

/// [`resolve`] against explicit search folders (testable without a bundle).
pub fn resolve_in(name_or_path: &str, dirs: &[PathBuf]) -> Result<ModelDir, ModelError> {
    let name = name_or_path.trim();
    if name.is_empty() {
        return Err(ModelError::NotSet);
    }
    let as_path = Path::new(name);
    let candidates: Vec<PathBuf> = if as_path.is_absolute() || name.contains(std::path::MAIN_SEPARATOR) {
        vec![as_path.to_path_buf()]
    } else {
        dirs.iter().map(|d| d.join(name)).collect()
    };
    let root = candidates
        .iter()
        .find(|c| c.join(MANIFEST).is_file())
        .ok_or_else(|| ModelError::NotFound { name: name.to_string(), searched: candidates.clone() })?;
    let path = root.join(MANIFEST);
    let text = std::fs::read_to_string(&path).map_err(|e| ModelError::Unreadable {
        name: name.to_string(),
        path: path.clone(),
        reason: e.to_string(),
    })?;
    #[derive(Deserialize)]
    struct Head {
        kind: String,
    }
    let head: Head = serde_json::from_str(&text).map_err(|e| ModelError::BadManifest {
        name: name.to_string(),
        path: path.clone(),
        reason: e.to_string(),
    })?;
    Ok(ModelDir { name: name.to_string(), root: root.clone(), kind: head.kind })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("kinema-models-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn finds_a_named_model_in_the_first_folder_that_has_it() {
        let (a, b) = (temp_dir("a"), temp_dir("b"));
        std::fs::create_dir_all(b.join("rife")).unwrap();
        std::fs::write(b.join("rife").join(MANIFEST), r#"{"kind":"interpolation"}"#).unwrap();
        let found = resolve_in("rife", &[a.clone(), b.clone()]).unwrap();
        assert_eq!(found.root, b.join("rife"));
        assert_eq!(found.kind, "interpolation");
    }

    #[test]
    fn missing_model_names_every_place_searched() {
        let a = temp_dir("missing");
        let err = resolve_in("rife", std::slice::from_ref(&a)).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("Model 'rife' not found"), "{text}");
        assert!(text.contains(&a.join("rife").display().to_string()), "{text}");
        assert_eq!(resolve_in("  ", &[a]).unwrap_err(), ModelError::NotSet);
    }

    #[test]
    fn a_broken_manifest_is_named_with_its_cause() {
        let a = temp_dir("broken");
        std::fs::create_dir_all(a.join("m")).unwrap();
        std::fs::write(a.join("m").join(MANIFEST), "{ not json").unwrap();
        let err = resolve_in(a.join("m").to_str().unwrap(), &[]).unwrap_err();
        assert!(matches!(err, ModelError::BadManifest { .. }), "{err}");
        assert!(err.to_string().contains("manifest.json is not a valid manifest"), "{err}");
    }
}
