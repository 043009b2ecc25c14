//! `kinema list`, `kinema describe` and `kinema doctor`: what the bundle holds and whether its runtime works.

use std::path::Path;

use anyhow::{bail, Result};

use super::has_value;
use crate::{Bundle, ParamValue, PluginInfo};

/// What the shot cost this process: generated here, read from the cache folder (another run or
/// process made it), or waited for while another process generated it.
pub(super) fn print_clip_cache(bundle: &Bundle) {
    let Ok(report) = bundle.runtime_report(None) else { return };
    let n = |name: &str| report["clip_cache"][name].as_u64().unwrap_or(0);
    println!(
        "clip cache: {} generated, {} from disk, {} waited for another process",
        n("generations_started"),
        n("disk_hits"),
        n("lock_waits")
    );
}

/// Where a one-window generation's time went (graphs opened, prompts, steps, decode), when this
/// process made one: the figures a facility needs to size machines for a model.
pub(super) fn print_generation(bundle: &Bundle) {
    let Ok(report) = bundle.runtime_report(None) else { return };
    let g = &report["last_generation"];
    if g.is_null() {
        return;
    }
    let s = |name: &str| g[name].as_f64().unwrap_or(0.0);
    let steps = g["steps"].as_u64().unwrap_or(0).max(1);
    println!(
        "generation: latent {}, {} steps: graphs opened {:.1} s, prompts {:.1} s{}, {:.2} s/step, decode {:.1} s, total {:.1} s",
        g["latent_grid"].as_array().map(|a| a.iter().map(|v| v.to_string()).collect::<Vec<_>>().join("x")).unwrap_or_default(),
        g["steps"],
        s("open_seconds"),
        s("text_seconds"),
        if g["text_encoder_released"] == true { " (text encoder released after)" } else { "" },
        s("step_seconds") / steps as f64,
        s("decode_seconds"),
        s("total_seconds"),
    );
}

/// The effects with their contexts and parameter names.
pub(super) fn list(bundle: &Bundle) {
    for p in bundle.plugins() {
        let ctxs: Vec<&str> = p.contexts.iter().map(|c| c.name()).collect();
        println!(
            "{}  \"{}\"  group: {}  contexts: {}",
            p.id,
            p.label,
            if p.group.is_empty() { "-" } else { &p.group },
            ctxs.join(", ")
        );
        let names: Vec<&str> = p.params.iter().filter(|i| has_value(i)).map(|i| i.name.as_str()).collect();
        println!("    params: {}", if names.is_empty() { "-".to_owned() } else { names.join(", ") });
        // Each input once, with the contexts it appears in.
        let mut inputs: Vec<(String, Vec<String>)> = Vec::new();
        for (ctx, clips) in &p.clips {
            for c in clips.iter().filter(|c| c.name != "Output") {
                let opt = if c.is_mask {
                    " (mask)"
                } else if c.optional {
                    " (optional)"
                } else {
                    ""
                };
                let name = format!("{}{opt}", c.name);
                match inputs.iter_mut().find(|(n, _)| *n == name) {
                    Some((_, ctxs)) => ctxs.push(ctx.to_string()),
                    None => inputs.push((name, vec![ctx.to_string()])),
                }
            }
        }
        let inputs: Vec<String> = inputs.into_iter().map(|(n, c)| format!("{n} [{}]", c.join(", "))).collect();
        if !inputs.is_empty() {
            println!("    inputs: {}", inputs.join(", "));
        }
        if let Some(why) = p.render_support.cpu_refusal() {
            println!("    cannot render on this host: {why}");
        }
    }
}

/// A bound as shown by describe ("-" when unset; the type's extremes, which mean "unbounded", by name
/// instead of as a 309-digit number).
fn fmt_opt(v: &Option<ParamValue>) -> String {
    let Some(v) = v else { return "-".into() };
    let double = |x: f64| {
        if x >= f64::MAX {
            "DBL_MAX".to_owned()
        } else if x <= -f64::MAX {
            "-DBL_MAX".to_owned()
        } else {
            format!("{x}")
        }
    };
    let int = |x: i32| match x {
        i32::MAX => "INT_MAX".to_owned(),
        i32::MIN => "INT_MIN".to_owned(),
        x => x.to_string(),
    };
    if let (Some(d), false) =
        (v.doubles(), matches!(v, ParamValue::Int(_) | ParamValue::Int2D(..) | ParamValue::Int3D(..)))
    {
        return d.into_iter().map(double).collect::<Vec<_>>().join(",");
    }
    match v {
        ParamValue::Int(_) | ParamValue::Int2D(..) | ParamValue::Int3D(..) => {
            v.ints().unwrap_or_default().into_iter().map(int).collect::<Vec<_>>().join(",")
        }
        v => v.to_string(),
    }
}

/// Everything the effect declared: contexts, depths, clips, and each parameter in full.
pub(super) fn describe(p: &PluginInfo) {
    println!("{} \"{}\" v{}.{}", p.id, p.label, p.version.0, p.version.1);
    if !p.group.is_empty() {
        println!("  group: {}", p.group);
    }
    if !p.description.is_empty() {
        println!("  {}", p.description.replace('\n', "\n  "));
    }
    let ctxs: Vec<&str> = p.contexts.iter().map(|c| c.name()).collect();
    let depths: Vec<String> = p.supported_depths.iter().map(|d| d.to_string()).collect();
    println!("  contexts: {}", ctxs.join(", "));
    println!("  depths: {}", if depths.is_empty() { "(any)".into() } else { depths.join(", ") });
    println!(
        "  render thread safety: {:?}, temporal clip access: {}, tiles: {}, multi-resolution: {}",
        p.render_thread_safety, p.temporal_clip_access, p.supports_tiles, p.supports_multi_resolution
    );
    println!("  renders on: {}", p.render_support.summary());
    if let Some(why) = p.render_support.cpu_refusal() {
        println!("  cannot render on this host: {why}");
    }
    for bad in &p.render_support.invalid {
        println!("  invalid render support: {bad}");
    }
    for (ctx, clips) in &p.clips {
        println!("  clips ({ctx}):");
        for c in clips {
            println!(
                "    {} \"{}\" components: {:?}{}{}{}",
                c.name,
                c.label,
                c.supported_components,
                if c.optional { ", optional" } else { "" },
                if c.is_mask { ", mask" } else { "" },
                if c.temporal_access { ", temporal access" } else { "" }
            );
        }
    }
    println!("  parameters:");
    for i in &p.params {
        println!("    {} ({}) \"{}\"", i.name, i.kind.name(), i.label);
        if has_value(i) {
            let coords = match i.spatial {
                Some(sp) if sp.normalised_values => {
                    " (normalised: values are fractions of the project size; --set takes canonical coordinates)"
                }
                Some(sp) if sp.normalised_default => " (normalised: a fraction of the project size)",
                _ => "",
            };
            println!("        default: {}{coords}", fmt_opt(&Some(i.default.clone())));
        }
        if i.min.is_some() || i.max.is_some() {
            println!(
                "        range: [{}, {}]  display: [{}, {}]",
                fmt_opt(&i.min),
                fmt_opt(&i.max),
                fmt_opt(&i.display_min),
                fmt_opt(&i.display_max)
            );
        }
        if !i.options.is_empty() {
            println!(
                "        options: {}",
                i.options.iter().enumerate().map(|(n, o)| format!("{n}={o}")).collect::<Vec<_>>().join(", ")
            );
        }
        if !i.page.is_empty() || !i.parent.is_empty() {
            println!(
                "        page: {}  group: {}",
                if i.page.is_empty() { "-" } else { &i.page },
                if i.parent.is_empty() { "-" } else { &i.parent }
            );
        }
        if !i.string_mode.is_empty() {
            println!("        string mode: {}", i.string_mode);
        }
        let mut flags = Vec::new();
        if !i.enabled {
            flags.push("disabled");
        }
        if i.secret {
            flags.push("secret");
        }
        if !flags.is_empty() {
            println!("        {}", flags.join(", "));
        }
        if !i.hint.is_empty() {
            println!("        hint: {}", i.hint.replace('\n', "\n              "));
        }
    }
}

/// Prints the runtime report (after running a model) and fails when ONNX Runtime or the model does not work.
pub(super) fn doctor(bundle: &Bundle, model: Option<&Path>, json: bool) -> Result<()> {
    // Without --model, run the smoke model the bundle ships: it proves the whole runtime path.
    let default_model = bundle.path().join("Contents/Resources/models/smoke/affine.onnx");
    let model = model.map(Path::to_path_buf).or_else(|| default_model.is_file().then_some(default_model));
    let report = bundle.runtime_report(model.as_deref())?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    if report["environment"] != "ok" {
        bail!("ONNX Runtime is not usable: {}", report["environment"].as_str().unwrap_or("unknown error"));
    }
    if let Some(err) = report["model"]["error"].as_str() {
        bail!("the model did not run: {err}");
    }
    Ok(())
}

/// The report as a person reads it: where things are, what ran where, and why GPU providers were skipped.
fn print_report(report: &serde_json::Value) {
    let text = |v: &serde_json::Value| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string());
    println!("plugin:       {}", text(&report["plugin_dir"]));
    println!("ONNX Runtime: {}", text(&report["ort_library"]));
    println!("environment:  {}", text(&report["environment"]));
    if let Some(build) = report["ort_build"].as_str() {
        println!("build:        {build}");
    }
    println!("providers:    {} (set KINEMA_EP=auto|cuda|cpu)", text(&report["preference"]));
    println!("telemetry:    ONNX Runtime's {}", text(&report["ort_telemetry"]));
    let model = &report["model"];
    if model.is_null() {
        return;
    }
    println!("model:        {}", text(&model["path"]));
    if let Some(err) = model["error"].as_str() {
        println!("  error:      {err}");
        return;
    }
    println!("  ran on:     {}", text(&model["provider"]));
    for skipped in model["skipped"].as_array().into_iter().flatten() {
        println!("  skipped:    {}: {}", text(&skipped["provider"]), text(&skipped["reason"]));
    }
    println!(
        "  timing:     load {:.1} ms, run {:.2} ms",
        model["load_ms"].as_f64().unwrap_or(f64::NAN),
        model["run_ms"].as_f64().unwrap_or(f64::NAN)
    );
    let values = |v: &serde_json::Value| -> String {
        let list: Vec<String> =
            v.as_array().into_iter().flatten().take(4).filter_map(|x| x.as_f64()).map(|x| format!("{x:.3}")).collect();
        format!("{} …", list.join(", "))
    };
    println!(
        "  {} {} → {} {}",
        text(&model["input_name"]),
        values(&model["input"]),
        text(&model["output_name"]),
        values(&model["output"])
    );
}
