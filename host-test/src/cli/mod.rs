//! The `kinema` command line: the arguments (here), list/describe/doctor ([`inspect`]), render ([`render`]),
//! generate/interpolate as the render they stand for ([`shortcuts`]), and detect, which reads the
//! provenance watermark ([`detect`]).

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context as _, Result};
use clap::{Parser, Subcommand};

use crate::{Bundle, Context, Depth, Host, ParamInfo, ParamKind};

mod detect;
mod inspect;
mod render;
mod shortcuts;
mod stamp;

pub use detect::{detect, DetectArgs};
use inspect::{describe, doctor, list, print_clip_cache, print_generation};
use render::render;
use shortcuts::{generate_args, interpolate_args};

/// Render and inspect OpenFX effects (Kinema) from the command line, through a strict OFX host.
#[derive(Parser, Debug)]
#[command(name = "kinema", version)]
pub struct Cli {
    /// The .ofx.bundle to load (default: every *.ofx.bundle on OFX_PLUGIN_PATH, then beside the executable or one folder up, then in /usr/OFX/Plugins; render and describe use the first that has the effect).
    #[arg(long, global = true)]
    pub bundle: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// List the effects of every bundle found (or of --bundle), with their bundle; broken bundles are
    /// reported and skipped.
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
    /// Read Kinema's invisible provenance watermark (model, seed, shot) from image files. Exit
    /// status: 0 when every file (with --shot: the shot) carries one, 1 when not, 2 on a read error.
    Detect(DetectArgs),
}

#[derive(clap::Args, Debug)]
pub struct RenderArgs {
    /// Effect identifier.
    pub id: String,
    /// Input image sequence, printf-style ('in/%04d.png'; PNG, EXR, TIFF or JPEG), for the Source clip;
    /// NAME=PATTERN feeds the input clip NAME (repeat for each clip; optional clips may stay empty).
    #[arg(long, value_name = "[NAME=]PATTERN")]
    pub input: Vec<String>,
    /// Frames to render: '0-47', '5', '1,3,9-12' (default: every frame of the input).
    #[arg(long)]
    pub frames: Option<String>,
    /// Parameter values, by name or label: --set Mix=0.5 --set Model="Best Quality".
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub set: Vec<String>,
    /// Animate a (one-dimensional double) parameter with keys: --key speed='0:1, 48:0.2'; each key is
    /// time:value, optionally :smooth (cubic, eased at the ends) or :linear (the default).
    #[arg(long = "key", value_name = "NAME=KEYS")]
    pub keys: Vec<String>,
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
    /// Project size WxH in pixels for effects without inputs (with inputs, the Source's, else the first input's).
    #[arg(long)]
    pub size: Option<String>,
    /// Project offset X,Y in canonical coordinates: where the picture's lower-left corner lies in the
    /// project extent (inputs move with it).
    #[arg(long, value_name = "X,Y", allow_hyphen_values = true)]
    pub project_offset: Option<String>,
    /// Pixel aspect ratio of the project and its clips (canonical width = pixels x ratio).
    #[arg(long, default_value_t = 1.0)]
    pub par: f64,
    /// Frame rate reported to the effect.
    #[arg(long, default_value_t = 24.0)]
    pub fps: f64,
    /// Files the render reads besides --input (generate's stills): the output may not overwrite them.
    #[arg(skip)]
    pub inputs: Vec<PathBuf>,
    #[command(flatten)]
    pub c2pa: C2paArgs,
}

/// The key that signs the C2PA Content Credentials of generated frames (Generate, Animate, Extend;
/// PNG and JPEG). Without one, frames are written unsigned, with a note.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct C2paArgs {
    /// PEM certificate chain, signer first (default: KINEMA_C2PA_CERT).
    #[arg(long, value_name = "PATH", requires = "c2pa_key")]
    pub c2pa_cert: Option<PathBuf>,
    /// PEM private key of that certificate (default: KINEMA_C2PA_KEY).
    #[arg(long, value_name = "PATH", requires = "c2pa_cert")]
    pub c2pa_key: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub struct InterpolateArgs {
    /// Input image sequence, printf-style ('in/%04d.png').
    pub input: String,
    /// Output sequence pattern ('out/%04d.png'); retimed output is numbered from 0.
    #[arg(long)]
    pub out: String,
    /// Retime: source frames per output frame (0.5 = 2x slow motion, 0.25 = 4x).
    #[arg(long, conflicts_with_all = ["fill", "repair", "speed_curve", "source_frame_curve"])]
    pub speed: Option<f64>,
    /// Retime with an animated speed (a ramp): keys 'frame:speed', e.g. '0:1, 48:0.2' (100 % easing to 20 %
    /// over 48 output frames; add :smooth to a key for a smooth curve). Output frame t shows the first
    /// source frame plus the integral of the speed from 0 to t.
    #[arg(long, conflicts_with_all = ["fill", "repair", "source_frame_curve"])]
    pub speed_curve: Option<String>,
    /// Retime with a source-frame curve (a retime curve): keys 'output frame:source frame', counted from the
    /// sequence's first frame, e.g. '0:0, 96:48' (2x slow motion). Output covers the keys' frames.
    #[arg(long, conflicts_with_all = ["fill", "repair"])]
    pub source_frame_curve: Option<String>,
    /// Motion blur as a shutter angle in degrees (Retime); 0 is none.
    #[arg(long)]
    pub shutter: Option<f64>,
    /// Rebuild these frames from their neighbours: '12, 40-42'.
    #[arg(long, conflicts_with = "repair")]
    pub fill: Option<String>,
    /// Find frozen/duplicated frames and rebuild them.
    #[arg(long)]
    pub repair: bool,
    /// With --fill: how each gap (a run of listed frames) is rebuilt: interpolate (RIFE), generate
    /// (the video model makes the frames between, from the good frames on each side) or auto
    /// (generate where the model's manifest says it wins: gaps that long, with a --gap-prompt where
    /// it asks for one; the effect's default).
    #[arg(long, value_enum, requires = "fill")]
    pub gap: Option<GapArg>,
    /// With --fill: what generated gaps show (Gap Prompt), for example the clip's caption.
    #[arg(long, requires = "fill")]
    pub gap_prompt: Option<String>,
    /// With --fill: the video model for generated gaps, a name or folder (default: Kinema-tiny).
    #[arg(long, requires = "fill")]
    pub gap_model: Option<String>,
    /// With --fill: the noise seed of generated gaps.
    #[arg(long, requires = "fill", value_parser = clap::value_parser!(i32).range(0..))]
    pub gap_seed: Option<i32>,
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

/// Interpolate's Gap Method, as `--gap` takes it.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum GapArg {
    Auto,
    Interpolate,
    Generate,
}

impl GapArg {
    /// The Gap Method option's label.
    pub fn label(self) -> &'static str {
        match self {
            GapArg::Auto => "Auto",
            GapArg::Interpolate => "Interpolate",
            GapArg::Generate => "Generate",
        }
    }
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
    /// End the shot where it begins, so it loops without a jump (Loop; text or --image, and a
    /// shot longer than the model's window).
    #[arg(long = "loop", conflicts_with_all = ["extend", "end_image"])]
    pub looped: bool,
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
    #[command(flatten)]
    pub c2pa: C2paArgs,
}

/// Runs the CLI; the error is printed by main.
pub fn run(cli: Cli) -> Result<()> {
    match &cli.command {
        Command::List => list_all(&cli),
        Command::Describe { id } => {
            let bundle = load_for(&cli, id)?;
            if cli.bundle.is_none() {
                println!("bundle: {}", bundle.path().display());
            }
            describe(bundle.plugin(id)?);
            Ok(())
        }
        Command::Render(args) => render(&load_for(&cli, &args.id)?, args, None),
        Command::Interpolate(args) => {
            let args = interpolate_args(args)?;
            render(&load_for(&cli, &args.id)?, &args, None)
        }
        Command::Generate(args) => {
            let (args, source) = generate_args(args)?;
            let bundle = load_for(&cli, &args.id)?;
            let rendered = render(&bundle, &args, source);
            print_clip_cache(&bundle);
            print_generation(&bundle);
            rendered
        }
        Command::Doctor { model, json } => doctor(&load(&cli)?, model.as_deref(), *json),
        // main calls detect directly for its exit status; this path serves library callers.
        Command::Detect(args) => match detect(args) {
            0 => Ok(()),
            1 => bail!("no Kinema watermark found"),
            _ => bail!("some files could not be read"),
        },
    }
}

/// Where bundles are looked for: OFX_PLUGIN_PATH, then beside the executable (target/debug/Kinema.ofx.bundle
/// for a debug build) and one folder up (target/Kinema.ofx.bundle for release), then /usr/OFX/Plugins.
/// Each with how deep its sub-folders are searched (the executable's folders are not: they hold build output).
fn search_dirs_with_depth() -> Vec<(PathBuf, usize)> {
    let mut dirs: Vec<(PathBuf, usize)> = std::env::var_os("OFX_PLUGIN_PATH")
        .map(|v| std::env::split_paths(&v).filter(|p| !p.as_os_str().is_empty()).map(|p| (p, 3)).collect())
        .unwrap_or_default();
    if let Some(exe_dir) = std::env::current_exe().ok().and_then(|e| e.parent().map(Path::to_path_buf)) {
        dirs.push((exe_dir.clone(), 0));
        dirs.extend(exe_dir.parent().map(|p| (p.to_path_buf(), 0)));
    }
    dirs.push((PathBuf::from("/usr/OFX/Plugins"), 3));
    dirs
}

fn search_dirs() -> Vec<PathBuf> {
    search_dirs_with_depth().into_iter().map(|(d, _)| d).collect()
}

/// The bundles to try, in order: --bundle alone, else every bundle on the search path.
fn candidates(cli: &Cli) -> Result<Vec<PathBuf>> {
    if let Some(p) = &cli.bundle {
        return Ok(vec![p.clone()]);
    }
    let dirs = search_dirs();
    let mut found: Vec<PathBuf> =
        search_dirs_with_depth().into_iter().flat_map(|(d, depth)| Host::scan_bundles(&[d], depth)).collect();
    let mut seen = std::collections::HashSet::new();
    found.retain(|p| seen.insert(std::fs::canonicalize(p).unwrap_or_else(|_| p.clone())));
    if found.is_empty() {
        bail!(
            "no .ofx.bundle found in {} (set OFX_PLUGIN_PATH or pass --bundle PATH)",
            dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ")
        );
    }
    Ok(found)
}

fn load_path(path: &Path) -> Result<Bundle> {
    let bundle = Host::new().load_bundle(path).with_context(|| format!("loading {}", path.display()))?;
    for e in bundle.load_errors() {
        eprintln!("warning: {}: {e}", path.display());
    }
    Ok(bundle)
}

/// The bundle named by --bundle, else the first bundle on the search path that has effect `id` (broken
/// bundles met on the way are reported and skipped).
fn load_for(cli: &Cli, id: &str) -> Result<Bundle> {
    if let Some(p) = &cli.bundle {
        return load_path(p);
    }
    let paths = candidates(cli)?;
    for path in &paths {
        match load_path(path) {
            Ok(b) if b.plugin(id).is_ok() => return Ok(b),
            Ok(_) => {}
            Err(e) => eprintln!("warning: skipping {}: {e:#}", path.display()),
        }
    }
    bail!(
        "no bundle has effect '{id}' (searched: {}; pass --bundle PATH)",
        paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    )
}

/// The Kinema bundle (doctor): --bundle, else Kinema.ofx.bundle on the search path.
fn load(cli: &Cli) -> Result<Bundle> {
    let path = match &cli.bundle {
        Some(p) => p.clone(),
        None => Host::find_bundle_in("Kinema", &search_dirs())
            .context("cannot find Kinema.ofx.bundle (pass --bundle PATH)")?,
    };
    load_path(&path)
}

/// `kinema list`: every bundle's effects; a broken bundle is reported (and the run fails at the end) without
/// hiding the bundles after it.
fn list_all(cli: &Cli) -> Result<()> {
    let paths = candidates(cli)?;
    let mut broken = Vec::new();
    let mut loaded = 0;
    for path in &paths {
        match load_path(path) {
            Ok(b) => {
                loaded += 1;
                println!("bundle: {}", path.display());
                list(&b);
            }
            Err(e) => {
                eprintln!("error: skipping broken bundle {}: {e:#}", path.display());
                broken.push(path.display().to_string());
            }
        }
    }
    if !broken.is_empty() {
        bail!("{} of {} bundle(s) could not be loaded: {}", broken.len(), paths.len(), broken.join(", "));
    }
    if loaded == 0 {
        bail!("no bundle could be loaded");
    }
    Ok(())
}

/// Whether a parameter holds a value (pages, groups and buttons do not).
pub(crate) fn has_value(p: &ParamInfo) -> bool {
    !matches!(p.kind, ParamKind::Page | ParamKind::Group | ParamKind::PushButton)
}

/// Parses X,Y (integers, negative allowed).
pub(crate) fn parse_offset(s: &str) -> Result<(i32, i32)> {
    let (x, y) = s.split_once(',').ok_or_else(|| anyhow!("bad offset '{s}' (expected X,Y, e.g. 0,-40)"))?;
    let x: i32 = x.trim().parse().map_err(|_| anyhow!("bad x in offset '{s}' (whole canonical units)"))?;
    let y: i32 = y.trim().parse().map_err(|_| anyhow!("bad y in offset '{s}' (whole canonical units)"))?;
    if x.unsigned_abs() > 1 << 20 || y.unsigned_abs() > 1 << 20 {
        bail!("offset {x},{y} is out of range");
    }
    Ok((x, y))
}

/// Parses WxH (1 to 32768 each).
pub(crate) fn parse_size(s: &str) -> Result<(u32, u32)> {
    let (w, h) = s.split_once(['x', 'X']).ok_or_else(|| anyhow!("bad size '{s}' (expected WxH, e.g. 1920x1080)"))?;
    let w: u32 = w.trim().parse().map_err(|_| anyhow!("bad width in '{s}'"))?;
    let h: u32 = h.trim().parse().map_err(|_| anyhow!("bad height in '{s}'"))?;
    if w == 0 || h == 0 || w > 32768 || h > 32768 {
        bail!("size {w}x{h} is out of range");
    }
    Ok((w, h))
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
        assert!(generate(&["--loop"]).unwrap().looped);
        assert!(generate(&["--loop", "--extend", "in/%04d.png"]).is_err(), "an extension does not loop");
        assert!(generate(&["--loop", "--image", "a.png", "--end-image", "b.png"]).is_err());
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
    fn sizes() {
        assert_eq!(parse_size("1920x1080").unwrap(), (1920, 1080));
        assert!(parse_size("1920").is_err());
        assert!(parse_size("0x5").is_err());
    }
}
