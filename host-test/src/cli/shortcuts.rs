//! `kinema generate` and `kinema interpolate`: each becomes the `kinema render` it stands for, with the
//! effect, its mode and the frames worked out.

use anyhow::{bail, Context as _, Result};

use super::{GenerateArgs, InterpolateArgs, RenderArgs};
use crate::sequence::{parse_frames, Pattern};
use crate::{ClipSource, Context};

/// `kinema generate` as the equivalent `kinema render` arguments (and, for --image, the still as
/// a one-frame source).
pub(super) fn generate_args(a: &GenerateArgs) -> Result<(RenderArgs, Option<ClipSource>)> {
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
        input: input.into_iter().collect(),
        frames: Some(frames),
        set: Vec::new(),
        keys: Vec::new(),
        out: a.out.clone(),
        depth: None,
        threads: a.threads,
        context: Some(context),
        size,
        project_offset: None,
        par: 1.0,
        fps: 24.0,
        inputs: a.image.iter().chain(&a.end_image).cloned().collect(),
        c2pa: a.c2pa.clone(),
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
    if a.looped {
        set.push("loop=true".into());
    }
    if a.no_match_source {
        set.push("match_source=false".into());
    }
    set.extend(a.seam_blend.map(|n| format!("seam_blend={n}")));
    args.set = set;
    Ok((args, source))
}

const INTERPOLATE_ID: &str = "com.kinema.Interpolate";

/// `kinema interpolate` as the equivalent `kinema render` arguments.
pub(super) fn interpolate_args(a: &InterpolateArgs) -> Result<RenderArgs> {
    let found = Pattern::parse(&a.input).context("input")?.scan()?;
    let (Some(&first), Some(&last)) = (found.first(), found.last()) else {
        bail!("no files match '{}'", a.input);
    };
    let mut set = Vec::new();
    let mut key_list = Vec::new();
    if let Some(shutter) = a.shutter {
        if !(shutter.is_finite() && (0.0..=720.0).contains(&shutter)) {
            bail!("--shutter must be 0 to 720 degrees (got {shutter})");
        }
        set.push(format!("shutter={shutter}"));
    }
    let frames = if let Some(list) = &a.fill {
        let outside = fill_outside(list, first, last);
        if !outside.is_empty() {
            eprintln!(
                "warning: --fill frame(s) {} are outside the sequence (frames {first} to {last}) and are ignored",
                crate::output::ranges(&outside)
            );
        }
        set.extend(["mode=Fill Frames".to_string(), format!("fill_frames={list}")]);
        set.extend(a.gap.map(|g| format!("gap_method={}", g.label())));
        set.extend(a.gap_prompt.as_ref().map(|p| format!("gap_prompt={p}")));
        set.extend(a.gap_model.as_ref().map(|m| format!("gap_model={m}")));
        set.extend(a.gap_seed.map(|s| format!("gap_seed={s}")));
        format!("{first}-{last}")
    } else if a.repair {
        set.push("mode=Repair Duplicates".into());
        format!("{first}-{last}")
    } else if let Some(curve) = &a.speed_curve {
        let keys = crate::params::parse_keys(curve).context("--speed-curve")?;
        if keys.iter().any(|k| k.value <= 0.0) {
            bail!("--speed-curve: every speed must be greater than 0");
        }
        set.extend(["mode=Retime".to_string(), "timing=Speed".into(), format!("source_start={first}")]);
        key_list.push(format!("speed={curve}"));
        // The last output frame whose source time, first + ∫₀ᵗ speed, is still inside the sequence.
        let span = (last - first) as f64 + 1e-9;
        let (mut lo, mut hi) = (0i64, 1i64);
        while crate::params::curve_integral(&keys, 0.0, hi as f64) <= span {
            lo = hi;
            hi *= 2;
        }
        while hi - lo > 1 {
            let mid = (lo + hi) / 2;
            if crate::params::curve_integral(&keys, 0.0, mid as f64) <= span {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        format!("0-{lo}")
    } else if let Some(curve) = &a.source_frame_curve {
        let keys = crate::params::parse_keys(curve).context("--source-frame-curve")?;
        // Source frames are counted from the sequence's first frame: shift the values to its numbers.
        let shifted: Vec<String> = keys
            .iter()
            .map(|k| {
                let interp = if k.interp == crate::params::KeyInterp::Smooth { ":smooth" } else { "" };
                format!("{}:{}{interp}", k.time, k.value + first as f64)
            })
            .collect();
        set.extend(["mode=Retime".to_string(), "timing=Source Frame".into()]);
        key_list.push(format!("source_frame={}", shifted.join(", ")));
        let (a, b) = (keys[0].time.ceil() as i64, keys[keys.len() - 1].time.floor() as i64);
        format!("{a}-{}", b.max(a))
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
        input: vec![a.input.clone()],
        frames: Some(frames),
        set,
        keys: key_list,
        out: a.out.clone(),
        depth: a.depth,
        threads: a.threads,
        context: Some(Context::Filter),
        size: None,
        project_offset: None,
        par: 1.0,
        fps: 24.0,
        inputs: Vec::new(),
        c2pa: Default::default(),
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

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};
    use crate::Depth;

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
    fn interpolate_fill_sets_the_gap_method_prompt_model_and_seed() {
        let dir = std::env::temp_dir().join(format!("kinema-cli-gap-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..12 {
            crate::HostImage::new(4, 2, Depth::U8, crate::Components::Rgb)
                .save(&dir.join(format!("{i:04}.png")))
                .unwrap();
        }
        let pattern = dir.join("%04d.png");
        let parse = |extra: &[&str]| {
            let base = ["kinema", "interpolate", pattern.to_str().unwrap(), "--out", "o/%04d.png"];
            Cli::try_parse_from(base.iter().copied().chain(extra.iter().copied())).map(|cli| match cli.command {
                Command::Interpolate(a) => interpolate_args(&a).unwrap().set,
                _ => panic!("not interpolate"),
            })
        };
        let set = parse(&[
            "--fill",
            "2-9",
            "--gap",
            "generate",
            "--gap-prompt",
            "a red circle, moving right",
            "--gap-seed",
            "3",
        ])
        .unwrap();
        for s in [
            "mode=Fill Frames",
            "fill_frames=2-9",
            "gap_method=Generate",
            "gap_prompt=a red circle, moving right",
            "gap_seed=3",
        ] {
            assert!(set.iter().any(|x| x == s), "{s} missing from {set:?}");
        }
        assert!(!set.iter().any(|x| x.starts_with("gap_model")), "the effect's default model applies");
        assert!(parse(&["--fill", "2", "--gap", "interpolate", "--gap-model", "m"])
            .unwrap()
            .iter()
            .any(|x| x == "gap_model=m"));
        assert!(parse(&["--fill", "2"]).unwrap().iter().all(|x| !x.starts_with("gap_")), "Auto, the default");
        // The gap options belong to --fill, and the method is one of three.
        assert!(parse(&["--gap", "generate"]).is_err());
        assert!(parse(&["--fill", "2", "--gap", "dream"]).is_err());
        assert!(parse(&["--fill", "2", "--gap-seed", "-1"]).is_err());
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
}
