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

    /// The files the model is made of, as its manifest names them now: the manifest, every
    /// `file`, `external_data` and `model` it names (any kind of model), and `<graph>.onnx.data`
    /// beside a named graph when present (large exports keep their weights there). What a loaded
    /// model's identity is made of ([`crate::runtime::FilesIdentity`]); an unreadable manifest
    /// gives just itself, and loading it reports why.
    pub fn files(&self) -> Vec<PathBuf> {
        let manifest = self.manifest_path();
        let mut files = vec![manifest.clone()];
        let Ok(value) = read_manifest(&manifest).and_then(|t| Ok(serde_json::from_str::<serde_json::Value>(&t)?))
        else {
            return files;
        };
        let mut named = Vec::new();
        collect_named_files(&value, &mut named);
        for name in named {
            let Ok(path) = inside(&self.root, &name) else { continue };
            let data = external_data(&path);
            let with_data = name.ends_with(".onnx") && data.is_file();
            for p in std::iter::once(path).chain(with_data.then_some(data)) {
                if !files.contains(&p) {
                    files.push(p);
                }
            }
        }
        files
    }
}

pub const MANIFEST: &str = "manifest.json";

/// Where a large `.onnx` graph keeps its weights: `<graph>.onnx.data` beside it, as our exports
/// write them.
pub fn external_data(graph: &Path) -> PathBuf {
    let mut data = graph.as_os_str().to_owned();
    data.push(".data");
    PathBuf::from(data)
}

/// A graph's bytes on disk: the `.onnx` and its external data (0 when unreadable).
pub fn graph_bytes(graph: &Path) -> u64 {
    [graph.to_path_buf(), external_data(graph)].iter().filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len()).sum()
}

/// The largest manifest read: real ones are a few kB (LTX's is 6 kB); a bigger file is not a
/// manifest, and reading it whole could exhaust memory.
pub const MAX_MANIFEST_BYTES: u64 = 1 << 20;

/// The text of a manifest, refused unread when it is larger than [`MAX_MANIFEST_BYTES`].
pub fn read_manifest(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    if len > MAX_MANIFEST_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("it is {len} bytes; a manifest is at most {MAX_MANIFEST_BYTES} bytes"),
        ));
    }
    let mut text = String::new();
    // `take`: a file that grows after the size check is still read no further.
    file.take(MAX_MANIFEST_BYTES + 1).read_to_string(&mut text)?;
    Ok(text)
}

fn collect_named_files(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, v) in map {
                match v {
                    // `first_file`: a causal VAE's first-chunk graph (Wan).
                    serde_json::Value::String(s)
                        if matches!(key.as_str(), "file" | "first_file" | "external_data" | "model") =>
                    {
                        out.push(s.clone())
                    }
                    _ => collect_named_files(v, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_named_files(v, out)),
        _ => {}
    }
}

/// `root/name` for a name a manifest gives, when it stays inside `root`: relative, without
/// `..`, and (symlinks resolved) still under the folder. The model folder is what the user chose
/// to trust; a manifest must not reach other files on the machine.
pub fn inside(root: &Path, name: &str) -> Result<PathBuf, String> {
    use std::path::Component;
    let rel = Path::new(name);
    if name.is_empty() || !rel.components().all(|c| matches!(c, Component::Normal(_) | Component::CurDir)) {
        return Err(format!("'{name}' is not a file name inside the model folder (absolute or with '..')"));
    }
    Ok(root.join(rel))
}

/// [`inside`], then checks the file exists and is inside the folder once symlinks are resolved.
/// Returns the resolved path.
pub fn component_file(root: &Path, name: &str) -> Result<PathBuf, String> {
    let path = inside(root, name)?;
    let real = std::fs::canonicalize(&path).map_err(|e| format!("{name} is missing in {} ({e})", root.display()))?;
    let real_root = std::fs::canonicalize(root).map_err(|e| format!("{}: {e}", root.display()))?;
    if !real.starts_with(&real_root) {
        return Err(format!("{name} leads outside the model folder (to {})", real.display()));
    }
    if !real.is_file() {
        return Err(format!("{name} is not a file"));
    }
    Ok(real)
}

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
    let text = read_manifest(&path).map_err(|e| ModelError::Unreadable {
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

    /// A fresh folder, removed with its guard (also when the test fails).
    fn temp_dir() -> (tempfile::TempDir, PathBuf) {
        let guard = tempfile::Builder::new().prefix("kinema-models-").tempdir().unwrap();
        let dir = guard.path().to_path_buf();
        (guard, dir)
    }

    #[test]
    fn finds_a_named_model_in_the_first_folder_that_has_it() {
        let ((_a, a), (_b, b)) = (temp_dir(), temp_dir());
        std::fs::create_dir_all(b.join("rife")).unwrap();
        std::fs::write(b.join("rife").join(MANIFEST), r#"{"kind":"interpolation"}"#).unwrap();
        let found = resolve_in("rife", &[a.clone(), b.clone()]).unwrap();
        assert_eq!(found.root, b.join("rife"));
        assert_eq!(found.kind, "interpolation");
    }

    #[test]
    fn missing_model_names_every_place_searched() {
        let (_guard, a) = temp_dir();
        let err = resolve_in("rife", std::slice::from_ref(&a)).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("Model 'rife' not found"), "{text}");
        assert!(text.contains(&a.join("rife").display().to_string()), "{text}");
        assert_eq!(resolve_in("  ", &[a]).unwrap_err(), ModelError::NotSet);
    }

    #[test]
    fn component_files_stay_inside_the_model_folder() {
        let (_guard, a) = temp_dir();
        std::fs::create_dir_all(a.join("m/sub")).unwrap();
        std::fs::write(a.join("m/sub/g.onnx"), "x").unwrap();
        std::fs::write(a.join("secret.onnx"), "x").unwrap();
        let root = a.join("m");
        assert!(component_file(&root, "sub/g.onnx").unwrap().ends_with("m/sub/g.onnx"));
        for bad in ["../secret.onnx", "sub/../../secret.onnx", "/etc/passwd", ""] {
            let err = component_file(&root, bad).unwrap_err();
            assert!(err.contains("not a file name inside the model folder"), "{bad}: {err}");
        }
        assert!(component_file(&root, "nope.onnx").unwrap_err().contains("missing"));
        assert!(component_file(&root, "sub").unwrap_err().contains("not a file"));
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(a.join("secret.onnx"), root.join("link.onnx")).unwrap();
            let err = component_file(&root, "link.onnx").unwrap_err();
            assert!(err.contains("leads outside the model folder"), "{err}");
            std::os::unix::fs::symlink(root.join("sub/g.onnx"), root.join("inner.onnx")).unwrap();
            assert!(component_file(&root, "inner.onnx").is_ok(), "a link inside the folder is fine");
        }
    }

    #[test]
    fn a_model_is_made_of_its_manifest_and_every_file_it_names() {
        let (_guard, a) = temp_dir();
        std::fs::write(
            a.join(MANIFEST),
            r#"{"kind":"interpolation","variants":[{"file":"a.onnx","external_data":"w.data"},{"file":"b.onnx","external_data":"w.data"}],
                "components":{"tokenizer":{"file":"tok.json"},"x":{"file":"../out.onnx"},
                "vae":{"file":"next.onnx","causal_chunks":{"first_file":"first.onnx"}}}}"#,
        )
        .unwrap();
        std::fs::write(a.join("b.onnx.data"), "weights").unwrap();
        let dir = ModelDir { name: "m".into(), root: a.clone(), kind: "interpolation".into() };
        let mut names: Vec<String> =
            dir.files().iter().map(|p| p.strip_prefix(&a).unwrap().display().to_string()).collect();
        assert_eq!(names.remove(0), MANIFEST);
        names.sort();
        // Once each, the file outside the folder left out (loading refuses it by name).
        assert_eq!(names, ["a.onnx", "b.onnx", "b.onnx.data", "first.onnx", "next.onnx", "tok.json", "w.data"]);
        std::fs::write(a.join(MANIFEST), vec![b' '; MAX_MANIFEST_BYTES as usize + 1]).unwrap();
        let err = read_manifest(&a.join(MANIFEST)).unwrap_err().to_string();
        assert!(err.contains("a manifest is at most"), "{err}");
        assert_eq!(dir.files().len(), 1);
    }

    #[test]
    fn a_broken_manifest_is_named_with_its_cause() {
        let (_guard, a) = temp_dir();
        std::fs::create_dir_all(a.join("m")).unwrap();
        std::fs::write(a.join("m").join(MANIFEST), "{ not json").unwrap();
        let err = resolve_in(a.join("m").to_str().unwrap(), &[]).unwrap_err();
        assert!(matches!(err, ModelError::BadManifest { .. }), "{err}");
        assert!(err.to_string().contains("manifest.json is not a valid manifest"), "{err}");
    }

    #[test]
    fn a_graph_counts_its_external_data() {
        let dir = tempfile::tempdir().unwrap();
        let g = dir.path().join("g.onnx");
        std::fs::write(&g, [0u8; 10]).unwrap();
        assert_eq!(graph_bytes(&g), 10);
        std::fs::write(dir.path().join("g.onnx.data"), [0u8; 32]).unwrap();
        assert_eq!(graph_bytes(&g), 42);
    }
}
