//! `kinema render` (and the generate and interpolate shortcuts that become it): the output checked
//! before any work, frames written as they are rendered, and a report of what was written.

use std::sync::Arc;

use anyhow::{anyhow, bail, Context as _, Result};

use crate::cli::stamp::Stamping;
use crate::cli::{has_value, parse_size, RenderArgs};
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
pub(crate) fn render(bundle: &Bundle, a: &RenderArgs, source: Option<ClipSource>) -> Result<()> {
    let info = bundle.plugin(&a.id)?;
    let context = match a.context {
        Some(c) => c,
        None if a.input.is_some() && info.contexts.contains(&Context::Filter) => Context::Filter,
        None if a.input.is_none() && info.contexts.contains(&Context::Generator) => Context::Generator,
        None => *info.contexts.first().ok_or_else(|| anyhow!("effect has no context"))?,
    };
    let size = a.size.as_deref().map(parse_size).transpose()?;
    if a.threads == 0 || a.threads > 256 {
        bail!("--threads must be between 1 and 256");
    }
    let input = match &a.input {
        Some(input) => {
            let pattern = Pattern::parse(input).context("--input")?;
            let found = pattern.scan()?;
            if found.is_empty() {
                bail!("no files match --input '{input}'");
            }
            Some((pattern, found))
        }
        None => None,
    };
    let frames = match (&input, &a.frames) {
        (_, Some(f)) => parse_frames(f)?,
        (Some((_, found)), None) => found.clone(),
        (None, None) => bail!("--frames is required without --input"),
    };
    // Before any work: where the frames go, and that no input is overwritten.
    let inputs = Inputs { sequences: input.iter().cloned().collect(), files: a.inputs.clone() };
    let mut output = Output::check(&a.out, &frames, &inputs)?;
    let stamping = Stamping::decide(&a.id, &output, &a.c2pa)?;
    if !matches!(stamping, Stamping::None) {
        // What the effect passed through unchanged is the source's, not a made frame.
        let sources = match (&source, &input) {
            (Some(ClipSource::Frames(frames)), _) => Some(SourceFrames::Frames(frames.clone())),
            (_, Some((pattern, _))) => Some(SourceFrames::Sequence(pattern.clone())),
            _ => None,
        };
        if let Some(sources) = sources {
            output = output.with_sources(sources);
        }
    }
    let output = Arc::new(output);

    let inst = bundle.create_instance(&a.id, context)?;
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
    if let Some(source) = source {
        inst.set_source("Source", source)?;
    } else if let (Some(pattern), Some((_, found))) = (&a.input, &input) {
        let (Some(&first), Some(&last)) = (found.first(), found.last()) else {
            bail!("no files match --input '{pattern}'");
        };
        if !info.clips.get(&context).is_some_and(|c| c.iter().any(|c| c.name == "Source")) {
            bail!("effect '{}' has no Source clip in the {context} context", a.id);
        }
        inst.set_source("Source", ClipSource::Sequence { pattern: pattern.clone(), first, last })?;
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
