//! The `kinema` command line: list, describe, render and doctor.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context as _, Result};
use clap::{Parser, Subcommand};

use crate::cli_render::render;
use crate::sequence::{parse_frames, Pattern};
use crate::{Bundle, ClipSource, Context, Depth, Host, ParamInfo, ParamKind, ParamValue, PluginInfo};

/// Render and inspect OpenFX effects (Kinema) from the command line, through a strict OFX host.
#[derive(Parser, Debug)]
#[command(name = "kinema", version)]
pub struct Cli {
    /// The .ofx.bundle to load (default: OFX_PLUGIN_PATH, then Kinema.ofx.bundle beside the executable or one folder up, then /usr/OFX/Plugins).
    #[arg(long, global = true)]
    pub bundle: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// List the effects of the bundle.
    List,
    /// Describe one effect: parameters, clips, depths, thread safety.
    Describe {
        /// Effect identifier (see `kinema list`).
        id: String,
    },
    /// Render frames through an effect.
    Render(RenderArgs),
    /// A shot from a prompt (Kinema Generate), from a still (--image, Kinema Animate; with
    /// --end-image, between two stills), or a clip extended forward or backward (--extend,
    /// Kinema Extend).
    Generate(GenerateArgs),
    /// Slow motion, frame filling or duplicate repair with Kinema Interpolate (a shortcut for
    /// `render com.kinema.Interpolate` with the mode and frames worked out).
    Interpolate(InterpolateArgs),
    /// Print the plugin's runtime report (ONNX Runtime, devices, model checks).
    Doctor {
        /// An ONNX model file to run (default: the smoke model shipped in the bundle).
        #[arg(long)]
        model: Option<PathBuf>,
        /// Print the raw JSON report.
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::Args, Debug)]
pub struct RenderArgs {
    /// Effect identifier.
    pub id: String,
    /// Input image sequence, printf-style ('in/%04d.png'); PNG, EXR, TIFF or JPEG.
    #[arg(long)]
    pub input: Option<String>,
    /// Frames to render: '0-47', '5', '1,3,9-12' (default: every frame of the input).
    #[arg(long)]
    pub frames: Option<String>,
    /// Parameter values, by name or label: --set Mix=0.5 --set Model="Best Quality".
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub set: Vec<String>,
    /// Output sequence pattern ('out/%04d.png'); the extension picks the format.
    #[arg(long)]
    pub out: String,
    /// Pixel depth given to the effect: f32, u16 or u8 (default: the input's).
    #[arg(long)]
    pub depth: Option<Depth>,
    /// Frames rendered concurrently.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// filter, general or generator (default: filter with an input, else generator).
    #[arg(long)]
    pub context: Option<Context>,
    /// Output size WxH for generators.
    #[arg(long)]
    pub size: Option<String>,
    /// Frame rate reported to the effect.
    #[arg(long, default_value_t = 24.0)]
    pub fps: f64,
    /// Files the render reads besides --input (generate's stills): the output may not overwrite them.
    #[arg(skip)]
    pub inputs: Vec<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub struct InterpolateArgs {
    /// Input image sequence, printf-style ('in/%04d.png').
    pub input: String,
    /// Output sequence pattern ('out/%04d.png'); retimed output is numbered from 0.
    #[arg(long)]
    pub out: String,
    /// Retime: source frames per output frame (0.5 = 2x slow motion, 0.25 = 4x).
    #[arg(long, conflicts_with_all = ["fill", "repair"])]
    pub speed: Option<f64>,
    /// Rebuild these frames from their neighbours: '12, 40-42'.
    #[arg(long, conflicts_with = "repair")]
    pub fill: Option<String>,
    /// Find frozen/duplicated frames and rebuild them.
    #[arg(long)]
    pub repair: bool,
    /// Extra parameter values, as for render: --set cut_sensitivity=0.7.
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub set: Vec<String>,
    /// Pixel depth given to the effect: f32, u16 or u8 (default: the input's).
    #[arg(long)]
    pub depth: Option<Depth>,
    /// Frames rendered concurrently.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
}

#[derive(clap::Args, Debug)]
pub struct GenerateArgs {
    /// What the shot should show.
    pub prompt: String,
    /// What it should avoid.
    #[arg(long, default_value = "")]
    pub negative: String,
    /// Model name (in the bundle or on KINEMA_MODEL_PATH) or model folder (default: the effect's).
    #[arg(long)]
    pub model: Option<String>,
    /// Frames to make (Extend: frames added). Default: 17 (8 with --extend), what the bundled
    /// Kinema-tiny makes in one shot.
    #[arg(long)]
    pub frames: Option<u32>,
    /// Output size WxH (Generate; Animate and Extend take the input's).
    #[arg(long, default_value = "256x256")]
    pub size: String,
    #[arg(long, default_value_t = 0)]
    pub seed: i32,
    /// Denoising steps (default: the effect's).
    #[arg(long)]
    pub steps: Option<i32>,
    /// Guidance scale (default: the effect's).
    #[arg(long)]
    pub guidance: Option<f64>,
    /// Animate this still instead of generating from text alone.
    #[arg(long, conflicts_with = "extend")]
    pub image: Option<PathBuf>,
    /// With --image: end the shot on this still; the model makes the frames between the two
    /// (--frames counts both stills, at least 3).
    #[arg(long, requires = "image")]
    pub end_image: Option<PathBuf>,
    /// Extend this image sequence ('in/%04d.png').
    #[arg(long)]
    pub extend: Option<String>,
    /// With --extend: add frames before the first one instead of after the last.
    #[arg(long, requires = "extend")]
    pub backward: bool,
    /// With --extend: how many source frames at that end condition the new ones.
    #[arg(long, requires = "extend")]
    pub context: Option<u32>,
    /// With --extend or --image: keep the new frames as the model made them, instead of matching
    /// their colour and still detail to the source frames they join (Match Source off).
    #[arg(long)]
    pub no_match_source: bool,
    /// With Match Source: how many new frames next to each source frame dissolve from it into
    /// the generated frames (Seam Blend; 0 cuts straight to them; default: the effect's).
    #[arg(long, conflicts_with = "no_match_source")]
    pub seam_blend: Option<u32>,
    /// Output sequence pattern ('out/%04d.png').
    #[arg(long)]
    pub out: String,
    /// Frames rendered concurrently (the shot is generated once either way).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
}

/// `kinema generate` as the equivalent `kinema render` arguments (and, for --image, the still as
/// a one-frame source).
fn generate_args(a: &GenerateArgs) -> Result<(RenderArgs, Option<ClipSource>)> {
    let frames = a.frames.unwrap_or(if a.extend.is_some() { 8 } else { 17 });
    if frames == 0 {
        bail!("--frames must be at least 1");
    }
    if (a.no_match_source || a.seam_blend.is_some()) && a.image.is_none() && a.extend.is_none() {
        let flag = if a.no_match_source { "--no-match-source" } else { "--seam-blend" };
        bail!("{flag} needs --image or --extend (text alone joins no source frames)");
    }
    let n = i64::from(frames);
    let mut set =
        vec![format!("prompt={}", a.prompt), format!("negative_prompt={}", a.negative), format!("seed={}", a.seed)];
    set.extend(a.model.iter().map(|m| format!("model={m}")));
    set.extend(a.steps.iter().map(|s| format!("steps={s}")));
    set.extend(a.guidance.iter().map(|g| format!("guidance={g}")));
    let base = |id: &str, input: Option<String>, frames: String, context: Context, size: Option<String>| RenderArgs {
        id: id.into(),
        input,
        frames: Some(frames),
        set: Vec::new(),
        out: a.out.clone(),
        depth: None,
        threads: a.threads,
        context: Some(context),
        size,
        fps: 24.0,
        inputs: a.image.iter().chain(&a.end_image).cloned().collect(),
    };
    let (mut args, source) = if let Some(image) = &a.image {
        if a.end_image.is_some() && n < 3 {
            bail!("--frames must be at least 3 with --end-image (both stills and a frame between them)");
        }
        let still = crate::HostImage::load(image).with_context(|| format!("--image {}", image.display()))?;
        let mut source = std::collections::BTreeMap::new();
        set.push("image_frame=0".into());
        if let Some(end) = &a.end_image {
            let end = crate::HostImage::load(end).with_context(|| format!("--end-image {}", end.display()))?;
            // A clip has one pixel format; the end still is converted to the first one's.
            source.insert(n - 1, end.convert(still.depth, still.components));
            set.extend(["end_frame_enabled=true".to_string(), format!("end_frame={}", n - 1)]);
        } else {
            set.push(format!("length={n}"));
        }
        source.insert(0, still);
        let args = base("com.kinema.Animate", None, format!("0-{}", n - 1), Context::Filter, None);
        (args, Some(ClipSource::Frames(source)))
    } else if let Some(input) = &a.extend {
        let found = Pattern::parse(input).context("--extend")?.scan()?;
        let (Some(&first), Some(&last)) = (found.first(), found.last()) else {
            bail!("no files match --extend '{input}'");
        };
        let direction = if a.backward { "Backward" } else { "Forward" };
        set.extend([format!("direction={direction}"), format!("extend_frames={n}")]);
        set.extend(a.context.map(|c| format!("context_frames={c}")));
        let frames = if a.backward { format!("{}-{last}", first - n) } else { format!("{first}-{}", last + n) };
        (base("com.kinema.Extend", Some(input.clone()), frames, Context::Filter, None), None)
    } else {
        set.push(format!("length={n}"));
        (base("com.kinema.Generate", None, format!("0-{}", n - 1), Context::Generator, Some(a.size.clone())), None)
    };
    if a.no_match_source {
        set.push("match_source=false".into());
    }
    set.extend(a.seam_blend.map(|n| format!("seam_blend={n}")));
    args.set = set;
    Ok((args, source))
}

const INTERPOLATE_ID: &str = "com.kinema.Interpolate";

/// `kinema interpolate` as the equivalent `kinema render` arguments.
fn interpolate_args(a: &InterpolateArgs) -> Result<RenderArgs> {
    let found = Pattern::parse(&a.input).context("input")?.scan()?;
    let (Some(&first), Some(&last)) = (found.first(), found.last()) else {
        bail!("no files match '{}'", a.input);
    };
    let mut set = Vec::new();
    let frames = if let Some(list) = &a.fill {
        let outside = fill_outside(list, first, last);
        if !outside.is_empty() {
            eprintln!(
                "warning: --fill frame(s) {} are outside the sequence (frames {first} to {last}) and are ignored",
                crate::output::ranges(&outside)
            );
        }
        set.extend(["mode=Fill Frames".to_string(), format!("fill_frames={list}")]);
        format!("{first}-{last}")
    } else if a.repair {
        set.push("mode=Repair Duplicates".into());
        format!("{first}-{last}")
    } else {
        let speed = a.speed.unwrap_or(0.5);
        if !(speed.is_finite() && speed > 0.0) {
            bail!("--speed must be greater than 0 (got {speed})");
        }
        set.extend(["mode=Retime".to_string(), format!("speed={speed}"), format!("source_start={first}")]);
        // Output frame t shows source frame first + t × speed, up to the last source frame.
        let count = ((last - first) as f64 / speed + 1e-9).floor() as i64;
        format!("0-{count}")
    };
    set.extend(a.set.iter().cloned());
    Ok(RenderArgs {
        id: INTERPOLATE_ID.into(),
        input: Some(a.input.clone()),
        frames: Some(frames),
        set,
        out: a.out.clone(),
        depth: a.depth,
        threads: a.threads,
        context: Some(Context::Filter),
        size: None,
        fps: 24.0,
        inputs: Vec::new(),
    })
}

/// The frames of a --fill list outside the sequence `first..=last` (they are not rendered, so they
/// would be ignored without a word). A list that does not parse is left to the effect to report.
fn fill_outside(list: &str, first: i64, last: i64) -> Vec<i64> {
    // Entries are separated as the effect separates them: commas, semicolons or spaces.
    let mut frames = Vec::new();
    for item in list.split(|c: char| c == ',' || c == ';' || c.is_whitespace()).filter(|s| !s.is_empty()) {
        match parse_frames(item) {
            Ok(f) => frames.extend(f),
            Err(_) => return Vec::new(),
        }
    }
    let mut outside: Vec<i64> = frames.into_iter().filter(|f| *f < first || *f > last).collect();
    outside.sort_unstable();
    outside.dedup();
    outside
}

/// Runs the CLI; the error is printed by main.
pub fn run(cli: Cli) -> Result<()> {
    match &cli.command {
        Command::List => {
            let bundle = load(&cli)?;
            list(&bundle);
            Ok(())
        }
        Command::Describe { id } => {
            let bundle = load(&cli)?;
            describe(bundle.plugin(id)?);
            Ok(())
        }
        Command::Render(args) => render(&load(&cli)?, args, None),
        Command::Interpolate(args) => render(&load(&cli)?, &interpolate_args(args)?, None),
        Command::Generate(args) => {
            let (args, source) = generate_args(args)?;
            let bundle = load(&cli)?;
            let rendered = render(&bundle, &args, source);
            print_clip_cache(&bundle);
            rendered
        }
        Command::Doctor { model, json } => doctor(&load(&cli)?, model.as_deref(), *json),
    }
}

/// What the shot cost this process: generated here, read from the cache folder (another run or
/// process made it), or waited for while another process generated it.
fn print_clip_cache(bundle: &Bundle) {
    let Ok(report) = bundle.runtime_report(None) else { return };
    let n = |name: &str| report["clip_cache"][name].as_u64().unwrap_or(0);
    println!(
        "clip cache: {} generated, {} from disk, {} waited for another process",
        n("generations_started"),
        n("disk_hits"),
        n("lock_waits")
    );
}

/// OFX_PLUGIN_PATH, then the bundle beside the executable (target/debug/Kinema.ofx.bundle for a debug
/// build) or one folder up (target/Kinema.ofx.bundle for release), then /usr/OFX/Plugins.
fn default_bundle() -> Result<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("OFX_PLUGIN_PATH")
        .map(|v| std::env::split_paths(&v).filter(|p| !p.as_os_str().is_empty()).collect())
        .unwrap_or_default();
    if let Some(exe_dir) = std::env::current_exe().ok().and_then(|e| e.parent().map(Path::to_path_buf)) {
        dirs.push(exe_dir.clone());
        dirs.extend(exe_dir.parent().map(Path::to_path_buf));
    }
    dirs.push(PathBuf::from("/usr/OFX/Plugins"));
    Host::find_bundle_in("Kinema", &dirs).context("cannot find Kinema.ofx.bundle (pass --bundle PATH)")
}

fn load(cli: &Cli) -> Result<Bundle> {
    let path = match &cli.bundle {
        Some(p) => p.clone(),
        None => default_bundle()?,
    };
    let bundle = Host::new().load_bundle(&path).with_context(|| format!("loading {}", path.display()))?;
    for e in bundle.load_errors() {
        eprintln!("warning: {e}");
    }
    Ok(bundle)
}

fn list(bundle: &Bundle) {
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
    }
}

pub(crate) fn has_value(p: &ParamInfo) -> bool {
    !matches!(p.kind, ParamKind::Page | ParamKind::Group | ParamKind::PushButton)
}

fn fmt_opt(v: &Option<ParamValue>) -> String {
    v.as_ref().map(|v| v.to_string()).unwrap_or_else(|| "-".into())
}

fn describe(p: &PluginInfo) {
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
    for (ctx, clips) in &p.clips {
        println!("  clips ({ctx}):");
        for c in clips {
            println!(
                "    {} \"{}\" components: {:?}{}{}",
                c.name,
                c.label,
                c.supported_components,
                if c.optional { ", optional" } else { "" },
                if c.temporal_access { ", temporal access" } else { "" }
            );
        }
    }
    println!("  parameters:");
    for i in &p.params {
        println!("    {} ({}) \"{}\"", i.name, i.kind.name(), i.label);
        if has_value(i) {
            println!("        default: {}", i.default);
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

pub(crate) fn parse_size(s: &str) -> Result<(u32, u32)> {
    let (w, h) = s.split_once(['x', 'X']).ok_or_else(|| anyhow!("bad size '{s}' (expected WxH, e.g. 1920x1080)"))?;
    let w: u32 = w.trim().parse().map_err(|_| anyhow!("bad width in '{s}'"))?;
    let h: u32 = h.trim().parse().map_err(|_| anyhow!("bad height in '{s}'"))?;
    if w == 0 || h == 0 || w > 32768 || h > 32768 {
        bail!("size {w}x{h} is out of range");
    }
    Ok((w, h))
}

fn doctor(bundle: &Bundle, model: Option<&Path>, json: bool) -> Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_command_lines() {
        let cli = Cli::try_parse_from([
            "kinema",
            "render",
            "com.x",
            "--input",
            "in/%04d.png",
            "--frames",
            "0-3",
            "--set",
            "Mix=0.5",
            "--out",
            "o/%04d.exr",
            "--depth",
            "u16",
            "--threads",
            "2",
        ])
        .unwrap();
        let Command::Render(r) = cli.command else { panic!("not render") };
        assert_eq!(r.depth, Some(Depth::U16));
        assert_eq!(r.set, vec!["Mix=0.5"]);
        assert!(Cli::try_parse_from(["kinema", "render", "x", "--out", "o.png", "--depth", "f64"]).is_err());
        let cli = Cli::try_parse_from(["kinema", "--bundle", "/b/K.ofx.bundle", "list"]).unwrap();
        assert_eq!(cli.bundle.as_deref(), Some(Path::new("/b/K.ofx.bundle")));

        let generate = |extra: &[&str]| {
            let base = ["kinema", "generate", "the car drives away", "--out", "o/%04d.png"];
            Cli::try_parse_from(base.iter().chain(extra)).map(|cli| match cli.command {
                Command::Generate(g) => g,
                other => panic!("not generate: {other:?}"),
            })
        };
        let g = generate(&["--image", "a.png", "--end-image", "b.png", "--frames", "9"]).unwrap();
        assert_eq!((g.image.as_deref(), g.end_image.as_deref()), (Some(Path::new("a.png")), Some(Path::new("b.png"))));
        assert!(generate(&["--end-image", "b.png"]).is_err(), "--end-image requires --image");
        let g = generate(&["--image", "a.png", "--end-image", "b.png", "--frames", "2"]).unwrap();
        let err = generate_args(&g).unwrap_err().to_string();
        assert!(err.contains("at least 3 with --end-image"), "{err}");
        let g = generate(&["--no-match-source"]).unwrap();
        let err = generate_args(&g).unwrap_err().to_string();
        assert!(err.contains("needs --image or --extend"), "{err}");
        let err = generate_args(&generate(&["--seam-blend", "2"]).unwrap()).unwrap_err().to_string();
        assert!(err.starts_with("--seam-blend needs --image or --extend"), "{err}");
        assert!(generate(&["--extend", "in/%04d.png", "--no-match-source", "--seam-blend", "2"]).is_err());
        let g = generate(&["--extend", "in/%04d.png", "--backward", "--no-match-source"]).unwrap();
        assert!(g.no_match_source && g.backward);
        assert!(!generate(&["--extend", "in/%04d.png"]).unwrap().no_match_source);
    }

    #[test]
    fn generate_with_an_end_image_sets_up_the_keyframes() {
        let dir = std::env::temp_dir().join(format!("kinema-cli-keyframes-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (a, b) = (dir.join("a.png"), dir.join("b.png"));
        crate::HostImage::new(4, 2, Depth::U8, crate::Components::Rgba).save(&a).unwrap();
        crate::HostImage::new(6, 3, Depth::U8, crate::Components::Rgb).save(&b).unwrap();
        let cli = Cli::try_parse_from([
            "kinema",
            "generate",
            "p",
            "--out",
            "o/%04d.png",
            "--frames",
            "9",
            "--image",
            a.to_str().unwrap(),
            "--end-image",
            b.to_str().unwrap(),
        ])
        .unwrap();
        let Command::Generate(g) = cli.command else { panic!("not generate") };
        let (args, source) = generate_args(&g).unwrap();
        assert_eq!((args.id.as_str(), args.frames.as_deref()), ("com.kinema.Animate", Some("0-8")));
        for s in ["image_frame=0", "end_frame_enabled=true", "end_frame=8"] {
            assert!(args.set.iter().any(|x| x == s), "{s} missing from {:?}", args.set);
        }
        assert!(!args.set.iter().any(|x| x.starts_with("length=")), "Length is not used: {:?}", args.set);
        let Some(ClipSource::Frames(frames)) = source else { panic!("no source") };
        assert_eq!(frames.keys().copied().collect::<Vec<_>>(), [0, 8]);
        assert_eq!((frames[&8].width, frames[&8].components), (6, crate::Components::Rgba), "one pixel format");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn generate_extend_can_turn_match_source_off_and_set_the_seam_blend() {
        let dir = std::env::temp_dir().join(format!("kinema-cli-extend-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..2 {
            crate::HostImage::new(4, 2, Depth::U8, crate::Components::Rgba)
                .save(&dir.join(format!("{i:04}.png")))
                .unwrap();
        }
        let pattern = dir.join("%04d.png");
        let set = |extra: &[&str]| {
            let base = ["kinema", "generate", "p", "--out", "o/%04d.png", "--frames", "3", "--extend"];
            let args = base.iter().copied().chain([pattern.to_str().unwrap()]).chain(extra.iter().copied());
            let Command::Generate(g) = Cli::try_parse_from(args).unwrap().command else { panic!("not generate") };
            let (args, _) = generate_args(&g).unwrap();
            assert_eq!((args.id.as_str(), args.frames.as_deref()), ("com.kinema.Extend", Some("0-4")));
            args.set
        };
        assert!(set(&["--no-match-source"]).iter().any(|s| s == "match_source=false"));
        assert!(!set(&[]).iter().any(|s| s.starts_with("match_source")), "the effect's default (on) applies");
        assert!(set(&["--seam-blend", "0"]).iter().any(|s| s == "seam_blend=0"));
        assert!(!set(&[]).iter().any(|s| s.starts_with("seam_blend")), "the effect's default applies");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn fill_entries_outside_the_sequence_are_found() {
        assert_eq!(fill_outside("12, 40-42, 99-101", 1, 100), [101]);
        assert_eq!(fill_outside("0, 5, 200, 200", 1, 100), [0, 200]);
        assert!(fill_outside("3-4", 1, 100).is_empty());
        assert_eq!(fill_outside("0 150;7", 1, 100), [0, 150]);
        assert!(fill_outside("x-4", 1, 100).is_empty(), "an unparsable list is the effect's to report");
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1920x1080").unwrap(), (1920, 1080));
        assert!(parse_size("1920").is_err());
        assert!(parse_size("0x5").is_err());
    }
}
