//! C2PA Content Credentials for the frames `kinema` generates: a manifest embedded in each PNG or
//! JPEG that says the frame was created (`c2pa.created`) by a trained model (IPTC
//! `trainedAlgorithmicMedia`), which model (name and files identity) and which seed, signed with a
//! key the user configures. Signing is local: the `c2pa` crate is built without its HTTP client,
//! so no remote manifest, OCSP responder or timestamp authority is ever asked for anything.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context as _, Result};
pub use c2pa::ValidationState;
use c2pa::{create_signer, BoxedSigner, Builder, Context, Reader, SigningAlg};
use serde::Deserialize;
use serde_json::{json, Value};

/// Environment variables read when `--c2pa-cert` / `--c2pa-key` are not given.
pub const CERT_ENV: &str = "KINEMA_C2PA_CERT";
pub const KEY_ENV: &str = "KINEMA_C2PA_KEY";
/// The action and digital source type every generated frame states.
pub const CREATED: &str = "c2pa.created";
pub const TRAINED_ALGORITHMIC_MEDIA: &str = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia";
/// Kinema's own assertion: the plugin's provenance record for the shot (no prompt text).
pub const GENERATION_LABEL: &str = "com.kinema.generation";
/// The effects whose output frames are made by the model (Interpolate's are not claimed).
pub const GENERATING_EFFECTS: [&str; 3] = ["com.kinema.Generate", "com.kinema.Animate", "com.kinema.Extend"];

/// Output extensions a manifest can be embedded in here.
pub fn can_carry(ext: &str) -> bool {
    mime(ext).is_some()
}

fn mime(ext: &str) -> Option<&'static str> {
    match ext.to_ascii_lowercase().as_str() {
        "png" => Some("image/png"),
        "jpg" | "jpeg" => Some("image/jpeg"),
        _ => None,
    }
}

/// What a generated frame's manifest claims: the plugin's provenance record of the shot (the
/// runtime report's `last_provenance`).
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct Claim {
    pub model: String,
    pub model_hash: String,
    /// The model id the frames' watermark carries.
    #[serde(default)]
    pub model_id: String,
    pub seed: u64,
    #[serde(default)]
    pub prompt_hash: String,
    #[serde(default)]
    pub shot_key: String,
    #[serde(default)]
    pub kinema_version: String,
}

/// A signing identity: a PEM certificate chain (signer first, with the EKU C2PA requires) and
/// its PEM private key, with the algorithm found to work for them.
pub struct SigningKey {
    chain: Vec<u8>,
    key: Vec<u8>,
    alg: SigningAlg,
    /// Where it came from, for messages.
    pub source: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").field("alg", &self.alg).field("source", &self.source).finish_non_exhaustive()
    }
}

impl SigningKey {
    /// The key from the flags, else from `KINEMA_C2PA_CERT` / `KINEMA_C2PA_KEY`; `None` when
    /// neither names one. Half a pair, or files that do not make a working signer, is an error:
    /// whoever configured a key wants it used, and learns before any work that it cannot be.
    pub fn configured(cert: Option<&Path>, key: Option<&Path>) -> Result<Option<SigningKey>> {
        let env = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
        let (cert, key, source) = match (cert, key) {
            (Some(c), Some(k)) => (c.to_path_buf(), k.to_path_buf(), "--c2pa-cert/--c2pa-key"),
            (None, None) => match (env(CERT_ENV), env(KEY_ENV)) {
                (Some(c), Some(k)) => (c, k, "KINEMA_C2PA_CERT/KINEMA_C2PA_KEY"),
                (None, None) => return Ok(None),
                _ => bail!("set both {CERT_ENV} and {KEY_ENV} (the certificate chain and its private key), or neither"),
            },
            _ => bail!("--c2pa-cert and --c2pa-key go together (the certificate chain and its private key)"),
        };
        SigningKey::load(&cert, &key).map(|mut k| {
            k.source = format!("{source} ({})", cert.display());
            Some(k)
        })
    }

    /// Reads the chain and key and finds the algorithm they sign with, by signing a test image.
    pub fn load(cert: &Path, key: &Path) -> Result<SigningKey> {
        let chain = std::fs::read(cert).with_context(|| format!("C2PA certificate chain {}", cert.display()))?;
        let key_bytes = std::fs::read(key).with_context(|| format!("C2PA private key {}", key.display()))?;
        let probe = probe_png()?;
        let mut last_error = None;
        for alg in [SigningAlg::Es256, SigningAlg::Es384, SigningAlg::Es512, SigningAlg::Ed25519, SigningAlg::Ps256] {
            let k =
                SigningKey { chain: chain.clone(), key: key_bytes.clone(), alg, source: cert.display().to_string() };
            match k.signer().and_then(|_| sign_bytes(&probe, "png", &Claim::probe(), &k)) {
                Ok(_) => return Ok(k),
                Err(e) => last_error = Some(e),
            }
        }
        let why = last_error.map(|e| format!("{e:#}")).unwrap_or_default();
        bail!(
            "{} and {} do not sign a C2PA manifest (an ES256/384/512, Ed25519 or PS256 key and a chain with \
             the emailProtection or documentSigning EKU are needed): {why}",
            cert.display(),
            key.display()
        )
    }

    fn signer(&self) -> Result<BoxedSigner> {
        // No timestamp authority: signing stays on this machine.
        create_signer::from_keys(&self.chain, &self.key, self.alg, None).map_err(|e| anyhow!("{e}"))
    }

    pub fn alg(&self) -> SigningAlg {
        self.alg
    }
}

impl Claim {
    fn probe() -> Claim {
        Claim {
            model: "probe".into(),
            model_hash: String::new(),
            model_id: String::new(),
            seed: 0,
            prompt_hash: String::new(),
            shot_key: String::new(),
            kinema_version: String::new(),
        }
    }
}

/// A 1×1 PNG to try a key on.
fn probe_png() -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    image::DynamicImage::new_rgb8(1, 1).write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png)?;
    Ok(bytes)
}

/// The manifest for a generated frame: one `c2pa.created` action with the digital source type
/// and the model and seed as parameters, and Kinema's generation record beside it.
fn manifest(claim: &Claim) -> Value {
    json!({
        "claim_generator_info": [{ "name": "Kinema", "version": env!("CARGO_PKG_VERSION") }],
        "title": "Kinema generated frame",
        "assertions": [
            {
                "label": "c2pa.actions.v2",
                "data": { "actions": [{
                    "action": CREATED,
                    "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
                    "softwareAgent": { "name": "Kinema", "version": env!("CARGO_PKG_VERSION") },
                    "parameters": {
                        "com.kinema.model": claim.model,
                        "com.kinema.model_hash": claim.model_hash,
                        "com.kinema.model_id": claim.model_id,
                        "com.kinema.seed": claim.seed,
                    },
                }]},
            },
            {
                "label": GENERATION_LABEL,
                "data": {
                    "model": claim.model,
                    "model_hash": claim.model_hash,
                    "model_id": claim.model_id,
                    "seed": claim.seed,
                    "prompt_hash": claim.prompt_hash,
                    "shot_key": claim.shot_key,
                    "kinema_version": claim.kinema_version,
                },
            },
        ],
    })
}

/// Embeds a signed manifest for `claim` in the encoded image `bytes` (`ext` png or jpg).
pub fn sign_bytes(bytes: &[u8], ext: &str, claim: &Claim, key: &SigningKey) -> Result<Vec<u8>> {
    let format = mime(ext).ok_or_else(|| anyhow!("a .{ext} file cannot carry a C2PA manifest here"))?;
    let mut builder = Builder::from_context(Context::new())
        .with_definition(manifest(claim).to_string())
        .map_err(|e| anyhow!("C2PA manifest: {e}"))?;
    let signer = key.signer()?;
    let mut dest = Cursor::new(Vec::with_capacity(bytes.len() + 64 * 1024));
    builder
        .sign(signer.as_ref(), format, &mut Cursor::new(bytes), &mut dest)
        .map_err(|e| anyhow!("C2PA signing: {e}"))?;
    Ok(dest.into_inner())
}

/// What a frame's manifest says, read back and validated.
#[derive(Debug)]
pub struct ReadBack {
    pub state: ValidationState,
    /// The active manifest's actions (`action`, `digitalSourceType`, `parameters`).
    pub actions: Vec<Value>,
    /// Kinema's generation assertion.
    pub generation: Option<Value>,
    /// Validation status codes that are not successes (empty when all is well).
    pub failures: Vec<String>,
}

/// Reads and validates the manifest embedded in `bytes`; `trust_anchors` (PEM) are the roots
/// trusted for the signer's chain (none: at best `Valid`, never `Trusted`).
pub fn read_bytes(bytes: &[u8], ext: &str, trust_anchors: Option<&str>) -> Result<ReadBack> {
    let format = mime(ext).ok_or_else(|| anyhow!("a .{ext} file carries no C2PA manifest here"))?;
    let mut context = Context::new();
    if let Some(pem) = trust_anchors {
        context = context
            .with_settings(json!({ "trust": { "trust_anchors": pem } }))
            .map_err(|e| anyhow!("C2PA trust settings: {e}"))?;
    }
    let reader = Reader::from_context(context)
        .with_stream(format, Cursor::new(bytes))
        .map_err(|e| anyhow!("reading the C2PA manifest: {e}"))?;
    let store: Value = serde_json::from_str(&reader.json())?;
    let active = store["active_manifest"].as_str().unwrap_or_default();
    let assertions = store["manifests"][active]["assertions"].as_array().cloned().unwrap_or_default();
    let find = |label: &str| assertions.iter().find(|a| a["label"].as_str() == Some(label)).map(|a| a["data"].clone());
    let actions = find("c2pa.actions.v2")
        .or_else(|| find("c2pa.actions"))
        .and_then(|d| d["actions"].as_array().cloned())
        .unwrap_or_default();
    let failures = reader
        .validation_results()
        .and_then(|r| r.active_manifest())
        .map(|m| m.failure().iter().map(|s| format!("{}: {}", s.code(), s.explanation().unwrap_or(""))).collect())
        .unwrap_or_default();
    Ok(ReadBack { state: reader.validation_state(), actions, generation: find(GENERATION_LABEL), failures })
}
