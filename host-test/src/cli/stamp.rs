//! C2PA for a render: whether its frames are claimed at all (only Generate, Animate and Extend
//! make frames), with which key, and after the render, signing the frames the effect made. A
//! missing key or a format that cannot carry a manifest never fails a render: the frames are
//! written unsigned and one note says so.

use anyhow::{anyhow, Result};

use crate::cli::C2paArgs;
use crate::credentials::{can_carry, sign_bytes, Claim, SigningKey, CERT_ENV, GENERATING_EFFECTS, KEY_ENV};
use crate::output::{ranges, Output};
use crate::Bundle;

/// What a render will do about Content Credentials, decided before any work.
#[derive(Debug)]
pub(super) enum Stamping {
    /// Not a generating effect: nothing is claimed and nothing said.
    None,
    /// Generated frames are written unsigned; the note is printed once, after the render.
    Unsigned(String),
    Signed(SigningKey),
}

impl Stamping {
    /// For effect `id` writing to `output` (its extension picks the format). A configured key
    /// that does not work is an error now, before minutes of generation.
    pub(super) fn decide(id: &str, output: &Output, args: &C2paArgs) -> Result<Stamping> {
        if !GENERATING_EFFECTS.contains(&id) {
            return Ok(Stamping::None);
        }
        let ext = output.path(0).extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
        let key = SigningKey::configured(args.c2pa_cert.as_deref(), args.c2pa_key.as_deref())?;
        Ok(match key {
            _ if !can_carry(&ext) => Stamping::Unsigned(format!(
                "note: .{ext} frames cannot carry C2PA Content Credentials here; the generated frames are written \
                 without them (use .png or .jpg to have them signed)"
            )),
            None => Stamping::Unsigned(format!(
                "note: no C2PA key configured (--c2pa-cert/--c2pa-key or {CERT_ENV}/{KEY_ENV}); the generated \
                 frames are written without Content Credentials"
            )),
            Some(key) => Stamping::Signed(key),
        })
    }

    /// After the render: signs every frame the effect made (not those that are a source frame
    /// unchanged) with the claim of the shot the plugin served. Returns the per-frame errors.
    pub(super) fn apply(&self, bundle: &Bundle, output: &Output) -> Vec<String> {
        let key = match self {
            Stamping::None => return Vec::new(),
            Stamping::Unsigned(note) => {
                eprintln!("{note}");
                return Vec::new();
            }
            Stamping::Signed(key) => key,
        };
        let made = output.made();
        if made.is_empty() {
            return Vec::new();
        }
        let claim = match last_claim(bundle) {
            Ok(c) => c,
            Err(e) => return vec![format!("C2PA: {e:#}; frames {} are unsigned", ranges(&made))],
        };
        let mut errors = Vec::new();
        for &f in &made {
            let path = output.path(f);
            let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
            let signed = std::fs::read(&path)
                .map_err(anyhow::Error::from)
                .and_then(|bytes| sign_bytes(&bytes, &ext, &claim, key))
                .and_then(|bytes| output.rewrite(f, &bytes));
            if let Err(e) = signed {
                errors.push(format!("frame {f}: C2PA Content Credentials not embedded: {e:#}"));
            }
        }
        let passed = output.passed_through();
        let signed = made.len() - errors.len();
        println!("C2PA: signed {signed} generated frame(s) ({}, seed {}) with {}", claim.model, claim.seed, key.source);
        if !passed.is_empty() {
            println!("C2PA: frames {} are source frames passed through unchanged: not claimed", ranges(&passed));
        }
        errors
    }
}

/// The provenance record of the shot the plugin served last (its runtime report).
fn last_claim(bundle: &Bundle) -> Result<Claim> {
    let report = bundle.runtime_report(None)?;
    let record = &report["last_provenance"];
    if record.is_null() {
        return Err(anyhow!("the plugin reported no generated shot"));
    }
    serde_json::from_value(record.clone()).map_err(|e| anyhow!("the plugin's provenance record: {e}"))
}
