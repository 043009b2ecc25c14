//! Interpolate for editors, through the real bundle and the kinema host's animated parameters:
//! speed ramps and source-frame curves land on the integral's source times at any render order
//! and thread count (whole frames bit-exact), motion blur is the mean of its shutter samples,
//! and the confidence matte marks occlusion, not a rigid pan.

use std::collections::BTreeMap;

use kinema_e2e::*;
use kinema_host::{parse_keys, ClipSource, Components, Depth, HostImage, Instance, ParamValue, RenderRequest};

fn float(name: &str) -> HostImage {
    rife_fixture(name).convert(Depth::F32, Components::Rgb)
}

/// Three consecutive real frames (the middle one is the fixture's held-out frame).
fn clip() -> Vec<HostImage> {
    vec![float("bikes_063_0"), float("bikes_063_mid"), float("bikes_063_1")]
}

fn instance(frames: &[HostImage]) -> Instance {
    let inst = load_bundle().create_instance(INTERPOLATE, kinema_host::Context::Filter).unwrap();
    let frames: BTreeMap<i64, HostImage> = frames.iter().cloned().enumerate().map(|(i, f)| (i as i64, f)).collect();
    inst.set_source("Source", ClipSource::Frames(frames)).unwrap();
    inst
}

fn render_with(inst: &Instance, frames: Vec<i64>, threads: usize) -> kinema_host::RenderOutput {
    let out = inst.render(&RenderRequest { frames, threads, ..Default::default() }).unwrap();
    assert!(out.violations.is_empty(), "{:?}", out.violations);
    assert!(out.failures().is_empty(), "{:?}", out.failures());
    out
}

fn images(out: &kinema_host::RenderOutput) -> BTreeMap<i64, HostImage> {
    out.frames.iter().map(|(t, r)| (*t, r.as_ref().unwrap().clone())).collect()
}

fn max_diff(a: &HostImage, b: &HostImage) -> f32 {
    a.samples_f32().iter().zip(b.samples_f32()).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// Speed keyed from 50 % to 25 % over 4 output frames: S(t) = 0.5 t - t²/32 up to t = 4 (1.5), then
/// 1.5 + 0.25 (t - 4): output 6 is source frame 2.
fn ramp_integral(t: f64) -> f64 {
    if t <= 4.0 {
        0.5 * t - t * t / 32.0
    } else {
        1.5 + 0.25 * (t - 4.0)
    }
}

#[test]
fn a_speed_ramp_lands_on_its_integral_in_any_order_and_on_any_thread() {
    let src = clip();
    let inst = instance(&src);
    inst.set_param_keys("speed", &parse_keys("0:0.5, 4:0.25").unwrap()).unwrap();
    let frames: Vec<i64> = (0..=6).collect();
    let ordered = render_with(&inst, frames.clone(), 1);
    for t in 0..=6 {
        let s = ramp_integral(t as f64);
        let needed = ordered.frames_needed[&t][0];
        assert_eq!(needed, (s.floor(), s.ceil()), "frames needed by output {t} (source time {s})");
    }
    let seq = images(&ordered);
    assert!(seq[&0].data == src[0].data, "output 0 is source frame 0, bit-exact");
    assert!(seq[&6].data == src[2].data, "output 6 is source frame 2, bit-exact");
    // Any order, four threads: the same frames.
    let shuffled = images(&render_with(&inst, vec![5, 2, 6, 0, 3, 1, 4], 4));
    for t in 0..=6 {
        assert!(shuffled[&t].data == seq[&t].data, "output {t} differs when rendered out of order on threads");
    }
    // Against the integral: each in-between equals the frame a constant Source Frame at S(t) gives.
    let check = instance(&src);
    check.set_param_str("timing", "Source Frame").unwrap();
    for t in 1..=5 {
        check.set_param("source_frame", ParamValue::Double(ramp_integral(t as f64))).unwrap();
        let want = images(&render_with(&check, vec![t], 1));
        let d = max_diff(&seq[&t], &want[&t]);
        assert!(d < 1e-5, "output {t}: {d} from the frame at source time {}", ramp_integral(t as f64));
    }
}

#[test]
fn a_source_frame_curve_shows_its_frames_and_whole_frames_pass_through() {
    let src = clip();
    let inst = instance(&src);
    inst.set_param_str("timing", "Source Frame").unwrap();
    inst.set_param_keys("source_frame", &parse_keys("0:0, 4:2").unwrap()).unwrap();
    let out = images(&render_with(&inst, (0..=4).collect(), 2));
    for (t, s) in [(0, 0), (2, 1), (4, 2)] {
        assert!(out[&t].data == src[s].data, "output {t} is source frame {s}, bit-exact");
    }
    // Halfway between source frames 0 and 1: the same in-between as plain 2x slow motion.
    let slow = instance(&src);
    slow.set_param("speed", ParamValue::Double(0.5)).unwrap();
    let half = images(&render_with(&slow, vec![1, 3], 1));
    assert!(max_diff(&out[&1], &half[&1]) < 1e-6 && max_diff(&out[&3], &half[&3]) < 1e-6);
    // Smooth keys ease: output 1 lies nearer source frame 0 than the linear curve's.
    let smooth = instance(&src);
    smooth.set_param_str("timing", "Source Frame").unwrap();
    smooth.set_param_keys("source_frame", &parse_keys("0:0:smooth, 4:2:smooth").unwrap()).unwrap();
    let eased = render_with(&smooth, vec![1], 1);
    assert_eq!(eased.frames_needed[&1][0], (0.0, 1.0));
    assert!(mean_abs(&images(&eased)[&1], &src[0]) < mean_abs(&out[&1], &src[0]));
}

#[test]
fn motion_blur_at_0_degrees_is_todays_frame_and_at_360_the_mean_of_its_samples() {
    let src = clip();
    let plain = instance(&src);
    plain.set_param("speed", ParamValue::Double(0.25)).unwrap();
    let today = images(&render_with(&plain, vec![2], 1));
    let zero = instance(&src);
    zero.set_param("speed", ParamValue::Double(0.25)).unwrap();
    zero.set_param("shutter", ParamValue::Double(0.0)).unwrap();
    assert!(images(&render_with(&zero, vec![2], 1))[&2].data == today[&2].data, "0° is today's frame");

    let blur = instance(&src);
    blur.set_param("speed", ParamValue::Double(0.25)).unwrap();
    blur.set_param("shutter", ParamValue::Double(360.0)).unwrap();
    blur.set_param("shutter_samples", ParamValue::Int(4)).unwrap();
    let blurred = images(&render_with(&blur, vec![2], 1));
    assert!(status(&blur).starts_with("Motion blur: mean of 4 of 4 samples"), "{}", status(&blur));
    // Output 2 at a quarter speed covers output times 1.5..2.5: samples at source 0.40625 .. 0.59375.
    let samples = [0.40625, 0.46875, 0.53125, 0.59375];
    let each = instance(&src);
    each.set_param_str("timing", "Source Frame").unwrap();
    let mut mean = vec![0.0f32; src[0].samples_f32().len()];
    for s in samples {
        each.set_param("source_frame", ParamValue::Double(s)).unwrap();
        let f = images(&render_with(&each, vec![2], 1));
        mean.iter_mut().zip(f[&2].samples_f32()).for_each(|(m, v)| *m += v / 4.0);
    }
    let want = HostImage::from_f32(src[0].width, src[0].height, Components::Rgb, &mean).unwrap();
    let d = max_diff(&blurred[&2], &want);
    assert!(d < 1e-5, "360° blur is {d} from the mean of its samples");
    assert!(max_diff(&blurred[&2], &today[&2]) > 0.01, "the blur changes the frame");
}

/// A smooth colour texture, its origin at (ox, oy).
fn texture(x: f32, y: f32, seed: f32) -> [f32; 3] {
    let a = 0.5 + 0.2 * (x / 5.3 + seed).sin() + 0.2 * (y / 6.1 + x / 11.0).cos();
    let b = 0.5 + 0.25 * (y / 4.7 - seed).sin() * (x / 9.0).cos();
    let c = 0.5 + 0.2 * ((x + y) / 7.9 + 2.0 * seed).sin() + 0.1 * (x / 3.1).cos();
    [a, b, c]
}

const W: u32 = 128;
const H: u32 = 128;

fn image(f: impl Fn(f32, f32) -> [f32; 3]) -> HostImage {
    let mut data = Vec::with_capacity((W * H * 4) as usize);
    for y in 0..H {
        for x in 0..W {
            data.extend_from_slice(&f(x as f32, y as f32));
            data.push(1.0);
        }
    }
    HostImage::from_f32(W, H, Components::Rgba, &data).unwrap()
}

/// The matte (alpha) of the in-between halfway between `a` and `b`, with its mean over a region.
fn matte(a: HostImage, b: HostImage) -> (Vec<f32>, HostImage) {
    let inst = instance(&[a.clone(), b]);
    inst.set_param("speed", ParamValue::Double(0.5)).unwrap();
    inst.set_param_str("matte", "In Alpha").unwrap();
    let out = images(&render_with(&inst, vec![0, 1], 1));
    // A whole source frame: its colour bit-exact, nothing guessed.
    let (got, want) = (out[&0].samples_f32(), a.samples_f32());
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        if i % 4 == 3 {
            assert_eq!(*g, 0.0, "the matte of a source frame is 0");
        } else {
            assert_eq!(g.to_bits(), w.to_bits(), "source colour bit-exact with the matte in alpha");
        }
    }
    let alpha = out[&1].samples_f32().chunks(4).map(|p| p[3]).collect();
    (alpha, out[&1].clone())
}

fn mean_in(m: &[f32], xs: std::ops::Range<u32>, ys: std::ops::Range<u32>) -> f32 {
    let mut sum = 0.0;
    let mut n = 0.0;
    for y in ys {
        for x in xs.clone() {
            sum += m[(y * W + x) as usize];
            n += 1.0;
        }
    }
    sum / n
}

#[test]
fn the_confidence_matte_is_high_on_occlusion_and_low_on_a_rigid_pan() {
    // A textured square moves 24 px right over a still background: at t = 0.5 it covers x 36..84; the
    // background at x 24..36 shows only in frame 1, at 84..96 only in frame 0 (occluded).
    let scene = |dx: f32| {
        image(move |x, y| {
            if (24.0 + dx..72.0 + dx).contains(&x) && (40.0..88.0).contains(&y) {
                let t = texture(x - dx, y, 1.7);
                [t[0] * 0.6, t[1] * 0.9 + 0.1, t[2] * 0.5]
            } else {
                texture(x, y, 0.0)
            }
        })
    };
    let (occluded, _) = matte(scene(0.0), scene(24.0));
    let strips = (mean_in(&occluded, 24..36, 44..84) + mean_in(&occluded, 84..96, 44..84)) / 2.0;
    let still = mean_in(&occluded, 104..124, 4..124);
    // A rigid pan: the whole picture moves 6 px (new content enters only at the left edge).
    let (pan, _) = matte(image(|x, y| texture(x + 6.0, y, 0.0)), image(|x, y| texture(x, y, 0.0)));
    let interior = mean_in(&pan, 16..112, 16..112);
    println!("matte: occluded strips {strips:.3}, still background {still:.3}, rigid pan interior {interior:.3}");
    assert!(strips > 0.5, "occluded strips: {strips}");
    assert!(interior < 0.1, "rigid pan: {interior}");
    assert!(still < 0.1, "still background: {still}");
}

#[test]
fn kinema_interpolate_takes_a_speed_curve_and_a_source_frame_curve() {
    let dir = std::env::temp_dir().join(format!("kinema-retime-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for (i, f) in clip().iter().enumerate() {
        f.convert(Depth::U16, Components::Rgb).save(&dir.join(format!("in_{:04}.png", i + 10))).unwrap();
    }
    let run = |args: &[&str], out: &str| {
        let o = std::process::Command::new(kinema_exe())
            .arg("--bundle")
            .arg(bundle_path())
            .arg("interpolate")
            .arg(dir.join("in_%04d.png"))
            .arg("--out")
            .arg(dir.join(out))
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    run(&["--speed-curve", "0:0.5, 4:0.25"], "ramp_%04d.png");
    // S(6) = 2: output 0..=6, output 6 the last source frame (numbered from 10).
    assert!(dir.join("ramp_0006.png").exists() && !dir.join("ramp_0007.png").exists());
    let last = HostImage::load(&dir.join("in_0012.png")).unwrap();
    assert!(HostImage::load(&dir.join("ramp_0006.png")).unwrap().data == last.data);
    run(&["--source-frame-curve", "0:0, 4:2"], "curve_%04d.png");
    assert!(dir.join("curve_0004.png").exists() && !dir.join("curve_0005.png").exists());
    assert!(HostImage::load(&dir.join("curve_0004.png")).unwrap().data == last.data);
    let _ = std::fs::remove_dir_all(&dir);
}

/// An RGB float image mirrored left to right.
fn mirror(img: &HostImage) -> HostImage {
    let (w, s) = (img.width as usize, img.samples_f32());
    let rows = s.chunks(w * 3).flat_map(|row| row.chunks(3).rev().flatten().copied().collect::<Vec<_>>());
    HostImage::from_f32(img.width, img.height, Components::Rgb, &rows.collect::<Vec<_>>()).unwrap()
}

#[test]
fn the_flip_ensemble_is_the_mean_of_the_pair_and_its_mirror() {
    let (a, b) = (float("bikes_063_0"), float("bikes_063_1"));
    let halfway = |frames: &[HostImage], flip: bool| {
        let inst = instance(frames);
        inst.set_param("speed", ParamValue::Double(0.5)).unwrap();
        inst.set_param("flip_ensemble", ParamValue::Bool(flip)).unwrap();
        images(&render_with(&inst, vec![0, 1], 2))
    };
    let ensemble = halfway(&[a.clone(), b.clone()], true);
    let plain = halfway(&[a.clone(), b.clone()], false)[&1].samples_f32();
    let mirrored = mirror(&halfway(&[mirror(&a), mirror(&b)], false)[&1]).samples_f32();
    assert_eq!(ensemble[&0].data, a.data, "a source frame passes through bit-exact");
    let got = ensemble[&1].samples_f32();
    let worst =
        got.iter().zip(plain.iter().zip(&mirrored)).map(|(g, (p, m))| (g - (p + m) / 2.0).abs()).fold(0.0, f32::max);
    assert!(worst < 1e-6, "the ensemble is the mean of the two in-betweens (max error {worst})");
    let apart = plain.iter().zip(&mirrored).map(|(p, m)| (p - m).abs()).sum::<f32>() / plain.len() as f32;
    assert!(apart > 1e-4, "the mirrored pair's in-between differs (mean {apart}), so the test can see the ensemble");
}
