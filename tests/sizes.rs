//! Clips whose frames change size (a sequence that mixes formats): each output frame has its own
//! size. Source frames pass through bit-exact at theirs, an in-between across the size change shows
//! the neighbour that fits (and says why), and Animate's End Frame of another size is fitted like
//! the image. The kinema host reports each frame's own region of definition, as OFX hosts must.

use std::collections::BTreeMap;

use kinema_e2e::*;
use kinema_host::{ClipSource, Components, Context, Depth, HostImage, Instance, ParamValue, RenderRequest};

/// Frames 0-2 at 64x36 and 3-5 at 48x48, all different.
fn mixed() -> BTreeMap<i64, HostImage> {
    let wide = noise_frames(3, 64, 36, Depth::F32, Components::Rgba, 21);
    let square = noise_frames(3, 48, 48, Depth::F32, Components::Rgba, 22);
    wide.into_iter().chain(square.into_iter().map(|(t, f)| (t + 3, f))).collect()
}

fn interpolate(source: &BTreeMap<i64, HostImage>) -> Instance {
    let inst = load_bundle().create_instance(INTERPOLATE, Context::Filter).unwrap();
    inst.set_source("Source", ClipSource::Frames(source.clone())).unwrap();
    inst
}

fn render(inst: &Instance, frames: Vec<i64>) -> BTreeMap<i64, HostImage> {
    let out = inst.render(&RenderRequest { frames, threads: 2, ..Default::default() }).unwrap();
    assert!(out.violations.is_empty(), "{:?}", out.violations);
    out.frames.into_iter().map(|(t, r)| (t, r.unwrap_or_else(|e| panic!("frame {t}: {e:?}")))).collect()
}

fn same(a: &HostImage, b: &HostImage) -> bool {
    (a.width, a.height) == (b.width, b.height) && a.data == b.data
}

#[test]
fn source_frames_pass_through_at_their_own_size() {
    let source = mixed();
    let inst = interpolate(&source);
    inst.set_param("speed", ParamValue::Double(1.0)).unwrap();
    let out = render(&inst, (0..6).rev().collect());
    for t in 0..6 {
        let (got, want) = (&out[&t], &source[&t]);
        assert!(same(got, want), "frame {t}: {}x{} out, {}x{} source", got.width, got.height, want.width, want.height);
    }
    // Proxy renders too: half of each frame's own size.
    let half = inst.render(&RenderRequest { frames: vec![1, 4], render_scale: 0.5, ..Default::default() }).unwrap();
    let size = |t: i64| half.frames[&t].as_ref().map(|i| (i.width, i.height)).unwrap();
    assert_eq!((size(1), size(4)), ((32, 18), (24, 24)));
}

#[test]
fn in_betweens_across_a_size_change_show_the_neighbour_that_fits_and_say_why() {
    let source = mixed();
    let inst = interpolate(&source);
    // Retime at half speed: output 5 is source 2.5 (between 64x36 frame 2 and 48x48 frame 3).
    let out = render(&inst, vec![4, 5, 6]);
    assert!(same(&out[&4], &source[&2]) && same(&out[&6], &source[&3]));
    assert!(same(&out[&5], &source[&3]), "halfway shows the later frame, whole, at its size");
    render(&inst, vec![5]); // Status shows the frame rendered last
    assert_eq!(status(&inst), "Showing source frame 3 because source frames 2 and 3 differ in size");
    // A quarter of the way shows the earlier one.
    inst.set_param("speed", ParamValue::Double(0.25)).unwrap();
    let out = render(&inst, vec![9, 11]);
    assert!(same(&out[&9], &source[&2]) && same(&out[&11], &source[&3]));

    // Fill Frames: frame 3 rebuilt from 2 (64x36) and 4 (48x48) cannot be; it shows frame 4.
    let inst = interpolate(&source);
    inst.set_param_str("mode", "Fill Frames").unwrap();
    inst.set_param("fill_frames", ParamValue::String("3".into())).unwrap();
    let out = render(&inst, vec![2, 3, 4]);
    assert!(same(&out[&2], &source[&2]) && same(&out[&4], &source[&4]));
    assert!(same(&out[&3], &source[&4]), "the filled frame shows its nearer good neighbour");
    render(&inst, vec![3]);
    assert!(status(&inst).contains("differ in size"), "{}", status(&inst));

    // Repair Duplicates: frame 1 repeats frame 0, and the next good frame is another size. The
    // repeated frame keeps its size, so it shows the frame before the run (not the nearer, larger one).
    let mut repeats = source.clone();
    repeats.insert(1, source[&0].clone());
    repeats.insert(2, source[&3].clone());
    let inst = interpolate(&repeats);
    inst.set_param_str("mode", "Repair Duplicates").unwrap();
    let out = render(&inst, vec![0, 1, 2]);
    assert!(same(&out[&1], &source[&0]), "{}x{}", out[&1].width, out[&1].height);
    assert!(same(&out[&2], &source[&3]));
}

/// 48x32 frames 0-2 and 40x40 frames 3-5, a square moving right in each.
fn keyframe_source() -> BTreeMap<i64, HostImage> {
    (0..6)
        .map(|t| {
            let (w, h) = if t < 3 { (48, 32) } else { (40, 40) };
            let mut px = Vec::with_capacity(w * h * 4);
            for y in 0..h as i64 {
                for x in 0..w as i64 {
                    let v = if (x - 8 - 4 * t).abs() < 6 && (y - h as i64 / 2).abs() < 6 { 0.9 } else { 0.1 };
                    px.extend([v, v * 0.5, 0.2, 1.0]);
                }
            }
            (t, HostImage::from_f32(w as u32, h as u32, Components::Rgba, &px).unwrap())
        })
        .collect()
}

#[test]
fn an_end_frame_of_another_size_is_fitted_like_the_image() {
    let source = keyframe_source();
    let inst = load_bundle().create_instance(ANIMATE, Context::Filter).unwrap();
    inst.set_source("Source", ClipSource::Frames(source.clone())).unwrap();
    inst.set_param("prompt", ParamValue::String("the square slides right".into())).unwrap();
    inst.set_param("model", ParamValue::String(ltx_model())).unwrap();
    inst.set_param("steps", ParamValue::Int(2)).unwrap();
    inst.set_param("image_frame", ParamValue::Int(1)).unwrap();
    inst.set_param("end_frame_enabled", ParamValue::Bool(true)).unwrap();
    inst.set_param("end_frame", ParamValue::Int(4)).unwrap();
    let out = render(&inst, (0..6).collect());
    for t in [0, 1, 4, 5] {
        assert!(same(&out[&t], &source[&t]), "source frame {t} must pass through at its own size");
    }
    for t in [2, 3] {
        let made = &out[&t];
        assert_eq!((made.width, made.height), (48, 32), "frame {t}: the shot has the image's size");
        assert!(made.data != source[&1].data && made.data != source[&t].data, "frame {t} was not generated");
        // Fitted, not black-padded: no row or column of the frame is empty.
        let rgb = made.convert(Depth::F32, Components::Rgb).samples_f32();
        let row_sum = |y: usize| rgb[y * 48 * 3..(y + 1) * 48 * 3].iter().map(|v| v.abs()).sum::<f32>();
        assert!(row_sum(0) > 0.0 && row_sum(31) > 0.0, "frame {t} has black rows");
    }
    render(&inst, vec![3]);
    assert!(status(&inst).contains("between keyframes 1 and 4"), "{}", status(&inst));
}
