//! `kinema detect`: reads Kinema's provenance watermark (kinema-watermark) from image files, one by
//! one or voted together as the frames of one shot.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use kinema_watermark::{Detection, Error as MarkError, Observation};
use serde_json::{json, Value};

#[derive(clap::Args, Debug)]
pub struct DetectArgs {
    /// Image files: PNG, JPEG, TIFF or EXR.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Vote all files together as frames of one shot (reads marks too damaged in any single frame).
    #[arg(long)]
    pub shot: bool,
}

/// Exit status: 0 when every file (or, with --shot, the shot) carries a mark, 1 when one does not,
/// 2 when a file cannot be read.
pub fn detect(args: &DetectArgs) -> u8 {
    let read: Vec<(&Path, Result<Option<Observation>>)> =
        args.files.iter().map(|f| (f.as_path(), observe(f))).collect();
    let failed = read.iter().any(|(_, r)| r.is_err());
    let mut reports = Vec::new();
    let mut all_found = true;
    if args.shot {
        let obs: Vec<Observation> = read.iter().filter_map(|(_, r)| r.as_ref().ok()?.clone()).collect();
        let found = kinema_watermark::detect_combined(&obs);
        all_found = found.is_some();
        let errors: Vec<(&Path, String)> =
            read.iter().filter_map(|(p, r)| r.as_ref().err().map(|e| (*p, format!("{e:#}")))).collect();
        if args.json {
            let errs: Vec<Value> = errors.iter().map(|(p, e)| json!({"file": p, "error": e})).collect();
            reports.push(
                json!({"shot": args.files, "frames_read": obs.len(), "watermark": found.map(to_json), "errors": errs}),
            );
        } else {
            for (p, e) in &errors {
                eprintln!("{}: error: {e}", p.display());
            }
            println!("shot of {} frames ({} read): {}", args.files.len(), obs.len(), describe(found.as_ref()));
        }
    } else {
        for (path, r) in &read {
            match r {
                Ok(obs) => {
                    let found = obs.as_ref().and_then(|o| kinema_watermark::detect_combined(std::slice::from_ref(o)));
                    all_found &= found.is_some();
                    if args.json {
                        reports.push(json!({"file": path, "watermark": found.map(to_json)}));
                    } else {
                        println!("{}: {}", path.display(), describe(found.as_ref()));
                    }
                }
                Err(e) if args.json => reports.push(json!({"file": path, "error": format!("{e:#}")})),
                Err(e) => eprintln!("{}: error: {e:#}", path.display()),
            }
        }
    }
    if args.json {
        let out = if args.shot { reports.pop().unwrap_or(Value::Null) } else { Value::Array(reports) };
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    }
    match (failed, all_found) {
        (true, _) => 2,
        (false, true) => 0,
        (false, false) => 1,
    }
}

/// The file's observation; None when the image is too small to carry a mark (that is "not found",
/// not an error).
fn observe(path: &Path) -> Result<Option<Observation>> {
    let img = image::open(path).with_context(|| format!("reading {}", path.display()))?.to_rgb32f();
    let (w, h) = (img.width() as usize, img.height() as usize);
    let n = w * h;
    let mut planar = vec![0f32; 3 * n];
    for (i, p) in img.pixels().enumerate() {
        for c in 0..3 {
            planar[c * n + i] = p[c];
        }
    }
    match kinema_watermark::observe(&planar, 3, w, h) {
        Ok(o) => Ok(Some(o)),
        Err(MarkError::TooSmall { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn describe(found: Option<&Detection>) -> String {
    match found {
        Some(d) => format!(
            "Kinema watermark: model {:08x} seed {} shot {:08x} (confidence {:.2}, {} of {} coded bits corrected{})",
            d.payload.model,
            d.payload.seed,
            d.payload.shot,
            d.confidence,
            d.corrections,
            d.coded_bits,
            if d.frames > 1 { format!(", {} frames voted", d.frames) } else { String::new() }
        ),
        None => "no Kinema watermark found".into(),
    }
}

fn to_json(d: Detection) -> Value {
    json!({
        "model": format!("{:08x}", d.payload.model),
        "seed": d.payload.seed,
        "shot": format!("{:08x}", d.payload.shot),
        "confidence": d.confidence,
        "corrections": d.corrections,
        "coded_bits": d.coded_bits,
        "frames": d.frames,
    })
}
