//! Interpolate with the shipped RIFE model, through the real bundle: quality against the
//! PyTorch original on held-out real frames, and every mode putting the right frame in the
//! right place (source frames bit-exact, cuts never morphed).

use std::collections::BTreeMap;

use kinema_e2e::*;
use kinema_host::{ClipSource, Components, Context, Depth, HostImage, Instance, ParamValue, RenderRequest};

fn instance(bundle: &kinema_host::Bundle, frames: &[HostImage]) -> Instance {
    let inst = bundle.create_instance(INTERPOLATE, Context::Filter).unwrap();
    let frames: BTreeMap<i64, HostImage> = frames.iter().cloned().enumerate().map(|(i, f)| (i as i64, f)).collect();
    inst.set_source("Source", ClipSource::Frames(frames)).unwrap();
    inst
}

fn render(inst: &Instance, frames: Vec<i64>) -> BTreeMap<i64, HostImage> {
    let out = inst.render(&RenderRequest { frames, ..Default::default() }).unwrap();
    assert!(out.violations.is_empty(), "{:?}", out.violations);
    out.frames.into_iter().map(|(t, r)| (t, r.unwrap_or_else(|e| panic!("frame {t}: {e:?}")))).collect()
}

fn float(name: &str) -> HostImage {
    rife_fixture(name).convert(Depth::F32, Components::Rgb)
}

#[test]
fn quality_matches_the_pytorch_original_and_beats_a_blend_by_5_db() {
    let bundle = load_bundle();
    let parity = rife_parity();
    let (mut gain, mut n) = (0.0, 0.0);
    for triplet in parity["triplets"].as_array().unwrap() {
        let name = triplet["name"].as_str().unwrap();
        let (a, b, mid) = (float(&format!("{name}_0")), float(&format!("{name}_1")), float(&format!("{name}_mid")));
        let inst = instance(&bundle, &[a.clone(), b.clone()]);
        inst.set_param("speed", ParamValue::Double(0.5)).unwrap();
        let out = render(&inst, vec![0, 1, 2]);
        assert!(out[&0].data == a.data, "{name}: source frame 0 must pass through bit-exact");
        assert!(out[&2].data == b.data, "{name}: source frame 1 must pass through bit-exact");
        let ours = psnr(&out[&1], &mid);
        let torch = triplet["psnr_rife"].as_f64().unwrap();
        let blend_image = HostImage::from_f32(
            a.width,
            a.height,
            Components::Rgb,
            &a.samples_f32().iter().zip(b.samples_f32()).map(|(x, y)| (x + y) / 2.0).collect::<Vec<_>>(),
        )
        .unwrap();
        let blend = psnr(&blend_image, &mid);
        println!("{name}: Kinema {ours:.3} dB, PyTorch {torch:.3} dB, linear blend {blend:.3} dB");
        assert!((ours - torch).abs() <= 0.05, "{name}: Kinema {ours:.4} dB vs PyTorch {torch:.4} dB");
        assert!(
            status(&inst).starts_with("Pass-through") || status(&inst).starts_with("Interpolated"),
            "{}",
            status(&inst)
        );
        gain += ours - blend;
        n += 1.0;
    }
    assert!(n >= 3.0, "at least three real-footage triplets");
    assert!(gain / n >= 5.0, "mean gain over a linear blend is {:.2} dB", gain / n);
}

#[test]
fn slow_motion_doubles_the_frames_and_puts_in_betweens_between() {
    let bundle = load_bundle();
    let frames = [float("bikes_063_0"), float("bikes_063_1"), float("bikes_063_mid")];
    let inst = instance(&bundle, &frames);
    inst.set_param("speed", ParamValue::Double(0.25)).unwrap();
    // 3 source frames at 0.25 speed: output 0..=8, source frames at 0, 4, 8.
    let out = render(&inst, (0..=8).collect());
    assert_eq!(out.len(), 9);
    for (t, s) in [(0, 0), (4, 1), (8, 2)] {
        assert!(out[&t].data == frames[s].data, "output {t} is source frame {s}, bit-exact");
    }
    // Each in-between lies closer to its nearer source frame, in order.
    let (a, b) = (&frames[0], &frames[1]);
    let d: Vec<(f64, f64)> = (1..4).map(|t| (mean_abs(&out[&t], a), mean_abs(&out[&t], b))).collect();
    assert!(d[0].0 < d[0].1 && d[2].0 > d[2].1, "{d:?}");
    assert!(d[0].0 < d[1].0 && d[1].0 < d[2].0, "distance from frame 0 grows with t: {d:?}");
}

#[test]
fn fill_and_repair_rebuild_exactly_the_bad_frames() {
    let bundle = load_bundle();
    let (a, b) = (float("bikes_150_0"), float("bikes_150_1"));
    let junk = float("bikes_040_mid");
    let reference = {
        let inst = instance(&bundle, &[a.clone(), b.clone()]);
        render(&inst, vec![1])[&1].clone()
    };

    // Fill: frame 1 is damaged; it becomes the frame halfway between 0 and 2.
    let inst = instance(&bundle, &[a.clone(), junk.clone(), b.clone()]);
    inst.set_param_str("mode", "Fill Frames").unwrap();
    inst.set_param("fill_frames", ParamValue::String("1".into())).unwrap();
    let out = render(&inst, vec![0, 1, 2]);
    assert!(out[&0].data == a.data);
    assert!(out[&2].data == b.data);
    assert!(
        mean_abs(&out[&1], &reference) < 1e-6,
        "filled frame differs from the in-between: {}",
        mean_abs(&out[&1], &reference)
    );

    // Repair: frame 1 repeats frame 0 (a frozen frame); it becomes the frame halfway to 2.
    let inst = instance(&bundle, &[a.clone(), a.clone(), b.clone()]);
    inst.set_param_str("mode", "Repair Duplicates").unwrap();
    let out = render(&inst, vec![0, 1, 2]);
    assert!(out[&0].data == a.data);
    assert!(out[&2].data == b.data);
    assert!(mean_abs(&out[&1], &reference) < 1e-6, "repaired frame differs from the in-between");
    // Nothing repeats here: every frame passes through.
    let inst = instance(&bundle, &[a.clone(), b.clone(), junk.clone()]);
    inst.set_param_str("mode", "Repair Duplicates").unwrap();
    let out = render(&inst, vec![0, 1, 2]);
    assert!(
        out[&0].data == a.data && out[&1].data == b.data && out[&2].data == junk.data,
        "nothing repeats, nothing changes"
    );
}

#[test]
fn a_scene_cut_is_never_morphed() {
    let bundle = load_bundle();
    let (a, other_shot) = (float("bikes_040_0"), float("bikes_196_1"));
    let inst = instance(&bundle, &[a.clone(), other_shot.clone()]);
    let out = render(&inst, vec![1]);
    assert!(out[&1].data == other_shot.data, "halfway across a cut shows the nearest source frame");
    assert!(status(&inst).contains("scene cut"), "{}", status(&inst));
    inst.set_param("speed", ParamValue::Double(0.25)).unwrap();
    assert!(render(&inst, vec![1])[&1].data == a.data, "a quarter across shows the frame before the cut");
    // With the guard off the frames are morphed (which is why the guard exists).
    inst.set_param("cut_sensitivity", ParamValue::Double(0.0)).unwrap();
    let morphed = &render(&inst, vec![1])[&1];
    assert!(morphed.data != a.data && morphed.data != other_shot.data);
}

#[test]
fn unusable_neighbours_fall_back_to_the_nearest_frame_with_a_reason() {
    let bundle = load_bundle();
    let a = float("bikes_063_0");
    // Different sizes: halfway shows the later frame, at its own size.
    let small = a.resize_nearest(160, 96);
    let inst = instance(&bundle, &[a.clone(), small.clone()]);
    let shown = &render(&inst, vec![1])[&1];
    assert!((shown.width, shown.height) == (160, 96) && shown.data == small.data, "the nearer frame, bit-exact");
    assert!(status(&inst).contains("differ in size"), "{}", status(&inst));
    // A neighbour the host cannot deliver (frame 1 missing from a 0..=2 clip).
    let inst = bundle.create_instance(INTERPOLATE, Context::Filter).unwrap();
    let b = float("bikes_063_1");
    inst.set_source("Source", ClipSource::Frames(BTreeMap::from([(0, a.clone()), (2, b)]))).unwrap();
    inst.set_param("speed", ParamValue::Double(0.5)).unwrap();
    let out = render(&inst, vec![1]);
    assert!(out[&1].data == a.data);
    assert!(status(&inst).contains("no source frame 1"), "{}", status(&inst));
}

#[test]
fn alpha_is_blended_or_taken_from_the_nearest_frame() {
    let bundle = load_bundle();
    let with_alpha = |name: &str, alpha: f32| {
        let rgb = float(name).samples_f32();
        let rgba: Vec<f32> = rgb.chunks_exact(3).flat_map(|p| [p[0], p[1], p[2], alpha]).collect();
        HostImage::from_f32(320, 192, Components::Rgba, &rgba).unwrap()
    };
    let inst = instance(&bundle, &[with_alpha("bikes_150_0", 0.2), with_alpha("bikes_150_1", 0.6)]);
    let alpha_of = |img: &HostImage| img.samples_f32()[3];
    assert!((alpha_of(&render(&inst, vec![1])[&1]) - 0.4).abs() < 1e-6);
    inst.set_param_str("alpha", "Nearest").unwrap();
    assert_eq!(alpha_of(&render(&inst, vec![1])[&1]), 0.6);
}

#[test]
fn proxy_renders_interpolate_the_smaller_frames() {
    let bundle = load_bundle();
    let frames = [float("bikes_063_0"), float("bikes_063_1")];
    let inst = instance(&bundle, &frames);
    let out = inst.render(&RenderRequest { frames: vec![1], render_scale: 0.5, ..Default::default() }).unwrap();
    let image = out.frames[&1].as_ref().unwrap();
    assert_eq!((image.width, image.height), (160, 96));
    let half: Vec<HostImage> = frames.iter().map(|f| f.resize_nearest(160, 96)).collect();
    assert!(image.data != half[0].data && image.data != half[1].data, "an in-between, not a source frame");
}

#[test]
fn kinema_interpolate_retimes_an_image_sequence() {
    let dir = std::env::temp_dir().join(format!("kinema-cli-interp-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("in")).unwrap();
    for (i, name) in ["bikes_150_0", "bikes_150_1"].iter().enumerate() {
        rife_fixture(name).save(&dir.join(format!("in/{:04}.png", i + 1))).unwrap();
    }
    let output = std::process::Command::new(kinema_exe())
        // A setting that does not parse is named on stderr, not silently replaced by the default.
        .env("KINEMA_FRAME_CACHE_MB", "lots")
        .arg("--bundle")
        .arg(bundle_path())
        .arg("interpolate")
        .arg(dir.join("in/%04d.png"))
        .args(["--speed", "0.25", "--out"])
        .arg(dir.join("out/%04d.png"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("warning: KINEMA_FRAME_CACHE_MB=\"lots\" is not a whole number"), "{stderr}");
    let written: Vec<bool> = (0..6).map(|i| dir.join(format!("out/{i:04}.png")).is_file()).collect();
    assert_eq!(written, [true, true, true, true, true, false], "4x slow motion of 2 frames is 5 frames");
    let first = HostImage::load(&dir.join("out/0000.png")).unwrap();
    assert!(first.data == rife_fixture("bikes_150_0").data, "source frames stay bit-exact");
    std::fs::remove_dir_all(&dir).unwrap();
}
