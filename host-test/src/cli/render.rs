//! `kinema render` (and the generate and interpolate shortcuts that become it): the output checked
//! before any work, frames written as they are rendered, and a report of what was written.

use std::sync::Arc;

use anyhow::{anyhow, bail, Context as _, Result};

use crate::cli::stamp::Stamping;
use crate::cli::{has_value, parse_offset, parse_size, RenderArgs};
use crate::output::{ranges, Inputs, Output, SourceFrames};
use crate::sequence::{parse_frames, Pattern};
use crate::{Bundle, ClipSource, Context, ParamInfo, ParamKind, ParamValue, ProgressEvent, RenderRequest};

/// The push button that brings the Status parameter up to date (plugins may set parameters only in
/// InstanceChanged, so Status does not follow renders by itself).
const UPDATE_STATUS: &str = "update_status";

/// Finds a parameter by name, else by label (case-insensitive).
fn resolve_param<'a>(params: &'a [ParamInfo], key: &str) -> Result<&'a ParamInfo> {
    params
        .iter()
        .find(|p| p.name == key)
        .or_else(|| params.iter().find(|p| p.name.eq_ignore_ascii_case(key) || p.label.eq_ignore_ascii_case(key)))
        .ok_or_else(|| {
            let names: Vec<&str> = params.iter().filter(|p| has_value(p)).map(|p| p.name.as_str()).collect();
            anyhow!("unknown parameter '{key}' (parameters: {})", names.join(", "))
        })
}

/// Renders `a`; `source`, when given, is the Source clip instead of `a.input`.
/// Splits an --input value: NAME=PATTERN when NAME is one of the effect's input clips (`clips`), else the
/// whole value is a pattern for Source (file names may hold '=').
fn split_input<'a>(v: &'a str, clips: &[&str]) -> (&'a str, &'a str) {
    match v.split_once('=') {
        Some((name, pattern)) if clips.contains(&name) => (name, pattern),
        _ => ("Source", v),
    }
}

pub(crate) fn render(bundle: &Bundle, a: &RenderArgs, source: Option<ClipSource>) -> Result<()> {
    let info = bundle.plugin(&a.id)?;
    // Each input clip with its sequence and the frames found.
    let mut inputs: Vec<(String, String, Pattern, Vec<i64>)> = Vec::new();
    let mut clip_names: Vec<&str> =
        info.clips.values().flatten().filter(|c| c.name != "Output").map(|c| c.name.as_str()).collect();
    clip_names.sort_unstable();
    clip_names.dedup();
    for v in &a.input {
        let (name, text) = split_input(v, &clip_names);
        if inputs.iter().any(|(n, ..)| n == name) {
            bail!("--input for clip '{name}' is given twice");
        }
        let pattern = Pattern::parse(text).with_context(|| format!("--input {v}"))?;
        let found = pattern.scan();
        if !found.as_ref().is_ok_and(|f| !f.is_empty()) {
            // NAME=PATTERN with a NAME the effect does not have reads as a file pattern that matches nothing.
            if let Some((prefix, _)) = text.split_once('=').filter(|(p, _)| !p.is_empty() && !p.contains(['/', '%'])) {
                bail!(
                    "no files match --input '{text}', and '{prefix}' is not an input clip of '{}' (its inputs: {})",
                    a.id,
                    if clip_names.is_empty() { "none".to_owned() } else { clip_names.join(", ") }
                );
            }
        }
        let found = found?;
        if found.is_empty() {
            bail!("no files match --input '{text}'");
        }
        inputs.push((name.to_owned(), text.to_owned(), pattern, found));
    }
    let only_source = inputs.iter().all(|(n, ..)| n == "Source");
    let context = match a.context {
        Some(c) => c,
        None if !inputs.is_empty() && only_source && info.contexts.contains(&Context::Filter) => Context::Filter,
        None if !inputs.is_empty() && info.contexts.contains(&Context::General) => Context::General,
        None if inputs.is_empty() && source.is_none() && info.contexts.contains(&Context::Generator) => {
            Context::Generator
        }
        None => *info.contexts.first().ok_or_else(|| anyhow!("effect has no context"))?,
    };
    let clips = info.clips.get(&context).cloned().unwrap_or_default();
    for (name, ..) in &inputs {
        if !clips.iter().any(|c| &c.name == name && c.name != "Output") {
            let have: Vec<&str> = clips.iter().filter(|c| c.name != "Output").map(|c| c.name.as_str()).collect();
            bail!(
                "effect '{}' has no input clip '{name}' in the {context} context (its inputs: {})",
                a.id,
                if have.is_empty() { "none".to_owned() } else { have.join(", ") }
            );
        }
    }
    let size = a.size.as_deref().map(parse_size).transpose()?;
    let offset = a.project_offset.as_deref().map(parse_offset).transpose()?.unwrap_or((0, 0));
    if !(a.par.is_finite() && a.par > 0.0 && a.par <= 100.0) {
        bail!("--par must be a positive ratio (got {})", a.par);
    }
    if a.threads == 0 || a.threads > 256 {
        bail!("--threads must be between 1 and 256");
    }
    // The frames default to the Source's, else the first input's.
    let primary = inputs.iter().find(|(n, ..)| n == "Source").or(inputs.first());
    let frames = match (primary, &a.frames) {
        (_, Some(f)) => parse_frames(f)?,
        (Some((.., found)), None) => found.clone(),
        (None, None) => bail!("--frames is required without --input"),
    };
    // Before any work: where the frames go, and that no input is overwritten.
    let sequences = inputs.iter().map(|(_, _, p, found)| (p.clone(), found.clone())).collect();
    let inputs_read = Inputs { sequences, files: a.inputs.clone() };
    let mut output = Output::check(&a.out, &frames, &inputs_read)?;
    let stamping = Stamping::decide(&a.id, &output, &a.c2pa)?;
    if !matches!(stamping, Stamping::None) {
        // What the effect passed through unchanged is the source's, not a made frame.
        let sources = match (&source, primary) {
            (Some(ClipSource::Frames(frames)), _) => Some(SourceFrames::Frames(frames.clone())),
            (_, Some((_, _, pattern, _))) => Some(SourceFrames::Sequence(pattern.clone())),
            _ => None,
        };
        if let Some(sources) = sources {
            output = output.with_sources(sources);
        }
    }
    let output = Arc::new(output);

    let inst = bundle.create_instance(&a.id, context)?;
    // Sources first, then the project: --set values of normalised parameters are measured against it.
    let has_source = source.is_some();
    if let Some(source) = source {
        inst.set_source("Source", source)?;
    }
    for (name, text, _, found) in &inputs {
        let (Some(&first), Some(&last)) = (found.first(), found.last()) else {
            bail!("no files match --input '{text}'");
        };
        inst.set_source(name, ClipSource::Sequence { pattern: text.clone(), first, last })?;
    }
    // Connecting a source made its size the project's (at a pixel aspect ratio of 1).
    let connected = primary.is_some() || has_source;
    let project_px = if connected {
        let p = inst.project();
        (p.size.0.round() as u32, p.size.1.round() as u32)
    } else {
        size.unwrap_or((1920, 1080))
    };
    if a.project_offset.is_some() || a.par != 1.0 || !connected {
        inst.set_project_format(project_px, offset, a.par)?;
    }
    let params = inst.params();
    for kv in &a.set {
        let (k, v) = kv.split_once('=').ok_or_else(|| anyhow!("--set '{kv}' must be NAME=VALUE"))?;
        let p = resolve_param(&params, k.trim())?;
        inst.set_param_str(&p.name, v).with_context(|| format!("--set {kv}"))?;
    }
    for kv in &a.keys {
        let (k, v) = kv.split_once('=').ok_or_else(|| anyhow!("--key '{kv}' must be NAME=KEYS"))?;
        let p = resolve_param(&params, k.trim())?;
        inst.set_param_keys_str(&p.name, v).with_context(|| format!("--key {kv}"))?;
    }
    // The frames of this pattern that an earlier run left go now: whatever happens next, the folder
    // holds this run's frames or none.
    let removed = output.remove_previous(&frames)?;
    if removed > 0 {
        eprintln!("replacing {removed} frame(s) of an earlier render in {}", output.text());
    }

    let bar = indicatif::ProgressBar::new(frames.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} frames  {elapsed_precise} eta {eta}  {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let pb = bar.clone();
    let progress: crate::ProgressFn = Arc::new(move |ev: &ProgressEvent| match ev {
        ProgressEvent::FrameDone { .. } => pb.inc(1),
        ProgressEvent::PluginStart { label, .. } => pb.set_message(label.clone()),
        ProgressEvent::PluginUpdate { fraction } => pb.set_message(format!("{:.0}%", fraction * 100.0)),
        ProgressEvent::PluginEnd => pb.set_message(""),
    });
    // Each frame is written as soon as it is rendered, so a killed run keeps what it finished.
    let sink = output.clone();
    let on_frame: crate::FrameFn = Arc::new(move |f, r| {
        if let Ok(image) = r {
            sink.write(f, image);
        }
    });
    let req = RenderRequest {
        frames: frames.clone(),
        depth: a.depth,
        size,
        threads: a.threads,
        progress: Some(progress),
        frame_rate: a.fps,
        on_frame: Some(on_frame),
        origin: offset,
        pixel_aspect: a.par,
        // Written as they come: a minute of frames is not held in memory too.
        keep_images: false,
        ..Default::default()
    };
    let out = inst.render(&req)?;
    bar.finish_and_clear();
    let stamp_errors = stamping.apply(bundle, &output);

    for m in &out.messages {
        let kind = m.message_type.trim_start_matches("OfxMessage");
        let at = m.frame.map(|f| format!(" (frame {f})")).unwrap_or_default();
        eprintln!("plugin {kind}{at}: {}", m.text);
    }
    print_status(&inst, &params);
    let written = output.written();
    println!("wrote {} of {} frame(s) to {}", written.len(), frames.len(), a.out);
    let failures = out.failures();
    for (f, e) in &failures {
        eprintln!("error: frame {f} failed: {e}");
    }
    let mut write_errors = output.write_errors();
    write_errors.extend(stamp_errors);
    for e in &write_errors {
        eprintln!("error: {e}");
    }
    let violations = out.violations.clone();
    let destroy = inst.destroy();
    let mut all_violations = violations;
    for v in bundle.violations() {
        if !all_violations.contains(&v) {
            all_violations.push(v);
        }
    }
    for v in &all_violations {
        eprintln!("violation: {v}");
    }
    if let Err(e) = &destroy {
        eprintln!("error: {e:#}");
    }
    if !failures.is_empty() || !write_errors.is_empty() || !all_violations.is_empty() || destroy.is_err() || out.aborted
    {
        let missing: Vec<i64> = frames.iter().copied().filter(|f| written.binary_search(f).is_err()).collect();
        eprintln!("frames written: {}", ranges(&written));
        eprintln!("frames not written: {}", ranges(&missing));
        bail!(
            "render failed: {} frame(s) failed, {} write error(s), {} strictness violation(s)",
            failures.len(),
            write_errors.len(),
            all_violations.len()
        );
    }
    Ok(())
}

/// Prints the effect's Status parameter, first pressing its Update Status button when it has one.
fn print_status(inst: &crate::Instance, params: &[ParamInfo]) {
    if params.iter().any(|p| p.name == UPDATE_STATUS && p.kind == ParamKind::PushButton) {
        if let Err(e) = inst.press_button(UPDATE_STATUS) {
            eprintln!("error: {e:#}");
        }
    }
    if let Some(status) = params.iter().find(|p| p.name.eq_ignore_ascii_case("status") && p.kind == ParamKind::String) {
        if let Ok(ParamValue::String(s)) = inst.param(&status.name) {
            if !s.is_empty() {
                println!("Status: {s}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::split_input;

    #[test]
    fn inputs_name_a_clip_or_are_the_source() {
        let clips = ["A", "B", "Mask"];
        assert_eq!(split_input("A=fg/%04d.png", &clips), ("A", "fg/%04d.png"));
        assert_eq!(split_input("Mask=m=1/%04d.png", &clips), ("Mask", "m=1/%04d.png"));
        assert_eq!(split_input("take=2/%04d.png", &clips), ("Source", "take=2/%04d.png"));
        assert_eq!(split_input("in/%04d.png", &clips), ("Source", "in/%04d.png"));
    }
}
