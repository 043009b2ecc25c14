//! Lays out `Kinema.ofx.bundle` the way OFX hosts expect it:
//!
//! ```text
//! Kinema.ofx.bundle/Contents/Info.plist
//!                   Contents/Linux-x86-64/Kinema.ofx                 (the plugin cdylib)
//!                   Contents/Linux-x86-64/libonnxruntime.so.1.31.1   (loaded by absolute path)
//!                   Contents/Resources/<plugin id>.png               (one icon per effect)
//!                   Contents/Resources/models/<name>/manifest.json   (shipped models)
//!                   Contents/Resources/policy.json                   (prompt content policy)
//!                   Contents/Resources/licenses/                     (third-party notices)
//! ```
//! ONNX Runtime comes from the PyPI wheel (`onnxruntime==1.31.1`, or `onnxruntime-gpu` for the
//! GPU flavour), downloaded with pip into `target/ort-wheels/` once and reused.

mod icons;

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, ensure, Context, Result};

pub const BUNDLE_NAME: &str = "Kinema.ofx.bundle";
pub const ORT_VERSION: &str = "1.31.1";
pub const ORT_LIBRARY_FILE: &str = "libonnxruntime.so.1.31.1";
/// The plugin ids, one icon each (must match the plugin's effect table).
pub const PLUGIN_IDS: [&str; 4] =
    ["com.kinema.Generate", "com.kinema.Animate", "com.kinema.Extend", "com.kinema.Interpolate"];

/// Which ONNX Runtime wheel the bundle carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavour {
    /// `onnxruntime`: CPU execution provider only.
    Cpu,
    /// `onnxruntime-gpu` (CUDA 13): adds the CUDA and TensorRT provider libraries.
    Gpu,
}

impl Flavour {
    fn wheel_package(self) -> &'static str {
        match self {
            Flavour::Cpu => "onnxruntime",
            Flavour::Gpu => "onnxruntime-gpu",
        }
    }

    fn wheel_prefix(self) -> &'static str {
        match self {
            Flavour::Cpu => "onnxruntime-",
            Flavour::Gpu => "onnxruntime_gpu-",
        }
    }

    /// Library files taken from the wheel's `onnxruntime/capi/`.
    fn libraries(self) -> &'static [&'static str] {
        match self {
            Flavour::Cpu => &[ORT_LIBRARY_FILE],
            Flavour::Gpu => &[
                ORT_LIBRARY_FILE,
                "libonnxruntime_providers_shared.so",
                "libonnxruntime_providers_cuda.so",
                "libonnxruntime_providers_tensorrt.so",
            ],
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    Release,
    Debug,
}

impl Profile {
    pub fn dir(self) -> &'static str {
        match self {
            Profile::Release => "release",
            Profile::Debug => "debug",
        }
    }
}

/// What to build and where.
#[derive(Clone, Debug)]
pub struct Options {
    pub profile: Profile,
    pub flavour: Flavour,
    /// Where the bundle goes; default `target/Kinema.ofx.bundle` (release) or
    /// `target/debug/Kinema.ofx.bundle` (debug, for the end-to-end tests).
    pub out: Option<PathBuf>,
    /// Also build the `kinema` host/CLI binary of the same profile.
    pub with_cli: bool,
}

/// The workspace root (this crate lives in `<root>/bundle`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("bundle/ has a parent").to_path_buf()
}

/// The cargo target directory (honours `CARGO_TARGET_DIR`).
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                workspace_root().join(dir)
            }
        }
        None => workspace_root().join("target"),
    }
}

/// The bundle path `build` uses by default for a profile.
pub fn default_bundle_path(profile: Profile) -> PathBuf {
    match profile {
        Profile::Release => target_dir().join(BUNDLE_NAME),
        Profile::Debug => target_dir().join("debug").join(BUNDLE_NAME),
    }
}

/// Builds the plugin (and optionally the CLI) with cargo and lays out the bundle. Returns its path.
pub fn build(options: &Options) -> Result<PathBuf> {
    let root = workspace_root();
    let target = target_dir();
    let mut packages = vec!["kinema-plugin"];
    if options.with_cli {
        packages.push("kinema-host");
    }
    cargo_build(&root, &packages, options.profile)?;
    let cdylib = target.join(options.profile.dir()).join("libkinema.so");
    ensure!(cdylib.is_file(), "cargo built no plugin library at {}", cdylib.display());

    let wheel = ensure_wheel(options.flavour, &target.join("ort-wheels"))?;
    let out = options.out.clone().unwrap_or_else(|| default_bundle_path(options.profile));
    layout(&out, &cdylib, &wheel, options.flavour, &root.join("models"))?;
    Ok(out)
}

fn cargo_build(root: &Path, packages: &[&str], profile: Profile) -> Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root).arg("build");
    for p in packages {
        cmd.args(["-p", p]);
    }
    if profile == Profile::Release {
        cmd.arg("--release");
    }
    let status = cmd.status().context("running cargo build")?;
    ensure!(status.success(), "cargo build of {} failed ({status})", packages.join(", "));
    Ok(())
}

/// The wheel in `cache`, downloaded with pip when it is not there yet.
pub fn ensure_wheel(flavour: Flavour, cache: &Path) -> Result<PathBuf> {
    if let Some(found) = find_wheel(flavour, cache)? {
        return Ok(found);
    }
    fs::create_dir_all(cache).with_context(|| format!("creating {}", cache.display()))?;
    eprintln!(
        "kinema-bundle: downloading {}=={ORT_VERSION} with pip into {}",
        flavour.wheel_package(),
        cache.display()
    );
    let python = std::env::var_os("PYTHON").unwrap_or_else(|| "python3".into());
    let status = Command::new(&python)
        .args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check"])
        .args(["--platform", "manylinux_2_28_x86_64", "--python-version", "3.11"])
        .arg(format!("{}=={ORT_VERSION}", flavour.wheel_package()))
        .arg("-d")
        .arg(cache)
        .status()
        .with_context(|| {
            format!("running {} -m pip (Python 3 with pip is needed to fetch ONNX Runtime)", python.to_string_lossy())
        })?;
    ensure!(status.success(), "pip could not download {}=={ORT_VERSION} ({status})", flavour.wheel_package());
    find_wheel(flavour, cache)?.with_context(|| {
        format!("pip reported success but no {} wheel is in {}", flavour.wheel_package(), cache.display())
    })
}

fn find_wheel(flavour: Flavour, cache: &Path) -> Result<Option<PathBuf>> {
    let Ok(entries) = fs::read_dir(cache) else { return Ok(None) };
    let prefix = format!("{}{ORT_VERSION}-", flavour.wheel_prefix());
    for entry in entries {
        let path = entry?.path();
        let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
        if name.starts_with(&prefix) && name.ends_with(".whl") && name.contains("x86_64") {
            return Ok(Some(path));
        }
    }
    Ok(None)
}

/// Writes the bundle tree at `out` (replacing an older one).
pub fn layout(out: &Path, cdylib: &Path, wheel: &Path, flavour: Flavour, models: &Path) -> Result<()> {
    ensure!(
        out.file_name().is_some_and(|n| n.to_string_lossy().ends_with(".ofx.bundle")),
        "{} must end in .ofx.bundle (hosts skip other folders)",
        out.display()
    );
    if out.exists() {
        fs::remove_dir_all(out).with_context(|| format!("removing old {}", out.display()))?;
    }
    let contents = out.join("Contents");
    let binaries = contents.join("Linux-x86-64");
    let resources = contents.join("Resources");
    fs::create_dir_all(&binaries)?;
    fs::create_dir_all(resources.join("licenses"))?;

    let stem = out.file_name().unwrap().to_string_lossy().trim_end_matches(".ofx.bundle").to_string();
    fs::copy(cdylib, binaries.join(format!("{stem}.ofx"))).with_context(|| format!("copying {}", cdylib.display()))?;
    fs::write(contents.join("Info.plist"), info_plist(&stem))?;

    extract_from_wheel(wheel, flavour, &binaries, &resources.join("licenses"))?;
    for id in PLUGIN_IDS {
        icons::write_icon(id, &resources.join(format!("{id}.png")))?;
    }
    copy_models(models, &resources.join("models"))?;
    // The content policy users may edit or replace (the plugin falls back to a built-in copy).
    let policy = workspace_root().join("plugin/resources/policy.json");
    fs::copy(&policy, resources.join("policy.json")).with_context(|| format!("copying {}", policy.display()))?;
    Ok(())
}

/// The ONNX Runtime library of `flavour` unpacked into `dir` (downloading the wheel first when
/// needed), for code that runs the runtime outside a bundle: the engine tests and benchmarks.
pub fn runtime_library(flavour: Flavour, dir: &Path) -> Result<PathBuf> {
    let lib = dir.join(ORT_LIBRARY_FILE);
    if !lib.is_file() {
        let wheel = ensure_wheel(flavour, &target_dir().join("ort-wheels"))?;
        let licenses = dir.join("licenses");
        fs::create_dir_all(&licenses)?;
        extract_from_wheel(&wheel, flavour, dir, &licenses)?;
    }
    Ok(lib)
}

fn extract_from_wheel(wheel: &Path, flavour: Flavour, binaries: &Path, licenses: &Path) -> Result<()> {
    let file = fs::File::open(wheel).with_context(|| format!("opening {}", wheel.display()))?;
    let mut archive =
        zip::ZipArchive::new(file).with_context(|| format!("{} is not a valid wheel", wheel.display()))?;
    let mut wanted: Vec<(String, PathBuf)> =
        flavour.libraries().iter().map(|lib| (format!("onnxruntime/capi/{lib}"), binaries.join(lib))).collect();
    for notice in ["LICENSE", "ThirdPartyNotices.txt"] {
        wanted.push((format!("onnxruntime/{notice}"), licenses.join(format!("onnxruntime-{notice}"))));
    }
    for (inner, dest) in &wanted {
        let mut entry = match archive.by_name(inner) {
            Ok(entry) => entry,
            Err(_) if !inner.contains("/capi/") => continue, // notices are optional across wheel versions
            Err(e) => bail!("{} has no {inner}: {e}", wheel.display()),
        };
        let mut bytes = Vec::with_capacity(entry.size() as usize);
        entry.read_to_end(&mut bytes)?;
        fs::write(dest, &bytes).with_context(|| format!("writing {}", dest.display()))?;
    }
    Ok(())
}

/// Copies every `models/<name>/` that holds a `manifest.json`, skipping training/export leftovers
/// and test-only models (`"bundle": false` in the manifest, e.g. the random-weight parity model).
fn copy_models(src: &Path, dest: &Path) -> Result<()> {
    fs::create_dir_all(dest)?;
    let Ok(entries) = fs::read_dir(src) else { return Ok(()) };
    for entry in entries {
        let dir = entry?.path();
        let manifest = dir.join("manifest.json");
        let shipped = fs::read_to_string(&manifest)
            .ok()
            .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
            .is_some_and(|m| m["bundle"] != false);
        if shipped {
            copy_model_dir(&dir, &dest.join(dir.file_name().unwrap()))?;
        }
    }
    Ok(())
}

fn copy_model_dir(src: &Path, dest: &Path) -> Result<()> {
    fs::create_dir_all(dest)?;
    for entry in fs::read_dir(src)? {
        let path = entry?.path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let shipped =
            matches!(path.extension().and_then(|e| e.to_str()), Some("onnx" | "json" | "txt" | "data" | "bin" | "md"))
                || name.starts_with("LICENSE");
        if path.is_file() && shipped {
            fs::copy(&path, dest.join(&name)).with_context(|| format!("copying {}", path.display()))?;
        }
    }
    Ok(())
}

fn info_plist(stem: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>CFBundleDevelopmentRegion</key><string>English</string>
  <key>CFBundleExecutable</key><string>{stem}.ofx</string>
  <key>CFBundleIdentifier</key><string>com.kinema.{stem}</string>
  <key>CFBundleInfoDictionaryVersion</key><string>6.0</string>
  <key>CFBundleName</key><string>{stem}</string>
  <key>CFBundlePackageType</key><string>BNDL</string>
  <key>CFBundleShortVersionString</key><string>{version}</string>
  <key>CFBundleVersion</key><string>{version}</string>
</dict>
</plist>
"#,
        version = env!("CARGO_PKG_VERSION")
    )
}

/// Copies a built bundle into an OFX plugin folder (e.g. /usr/OFX/Plugins), replacing an older copy.
pub fn install(bundle: &Path, plugin_dir: &Path) -> Result<PathBuf> {
    let dest = plugin_dir.join(bundle.file_name().context("bundle path has no name")?);
    if dest.exists() {
        fs::remove_dir_all(&dest).with_context(|| format!("removing old {}", dest.display()))?;
    }
    copy_tree(bundle, &dest).with_context(|| format!("installing into {}", plugin_dir.display()))?;
    Ok(dest)
}

fn copy_tree(src: &Path, dest: &Path) -> Result<()> {
    fs::create_dir_all(dest)?;
    for entry in fs::read_dir(src)? {
        let path = entry?.path();
        let target = dest.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_tree(&path, &target)?;
        } else {
            fs::copy(&path, &target)?;
        }
    }
    Ok(())
}
