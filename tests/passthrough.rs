//! Interpolate at whole source frames hands the host the source pixels bit-exact, for every depth
//! and component layout, whatever row layout and render window the host uses.

use kinema_e2e::*;
use kinema_host::{ClipSource, Components, Context, Depth, ParamValue, RenderRequest, RowLayout};

fn check(depth: Depth, components: Components, speed: f64, layout: RowLayout) {
    let bundle = load_bundle();
    let inst = bundle.create_instance(INTERPOLATE, Context::Filter).unwrap();
    let frames = noise_frames(5, 37, 21, depth, components, 7);
    inst.set_source("Source", ClipSource::Frames(frames.clone())).unwrap();
    inst.set_param("speed", ParamValue::Double(speed)).unwrap();
    // Output frame t shows source frame t × speed; pick the t that land on whole source frames.
    let step = (1.0 / speed).round() as i64;
    let out_frames: Vec<i64> = (0..5).map(|s| s * step).rev().collect();
    let out = inst
        .render(&RenderRequest {
            frames: out_frames.clone(),
            depth: Some(depth),
            components: Some(components),
            layout,
            threads: 2,
            ..Default::default()
        })
        .unwrap();
    let what = format!("{depth:?} {components:?} speed {speed} {layout:?}");
    assert!(out.violations.is_empty(), "{what}: {:?}", out.violations);
    for t in out_frames {
        let image = out.frames[&t].as_ref().unwrap_or_else(|e| panic!("{what}: frame {t} failed: {e:?}"));
        let source = &frames[&(t / step)];
        assert_eq!(
            (image.width, image.height, image.depth, image.components),
            (source.width, source.height, depth, components)
        );
        assert!(image.data == source.data, "{what}: frame {t} differs from source frame {}", t / step);
    }
    let status = status(&inst);
    assert!(status.starts_with("Pass-through of source frame"), "{status:?}");
    inst.destroy().unwrap();
}

#[test]
fn whole_frames_are_bit_exact_for_every_depth_and_layout() {
    for depth in [Depth::U8, Depth::U16, Depth::F32] {
        for components in [Components::Rgba, Components::Rgb] {
            check(depth, components, 1.0, RowLayout::default());
        }
    }
}

#[test]
fn slow_motion_source_frames_stay_bit_exact_with_padded_and_negative_rows() {
    for layout in [
        RowLayout { padding_bytes: 12, negative_row_bytes: false },
        RowLayout { padding_bytes: 4, negative_row_bytes: true },
    ] {
        check(Depth::F32, Components::Rgba, 0.5, layout);
        check(Depth::U8, Components::Rgb, 0.25, layout);
    }
}

#[test]
fn only_the_render_window_is_written() {
    let bundle = load_bundle();
    let inst = bundle.create_instance(INTERPOLATE, Context::Filter).unwrap();
    let frames = noise_frames(1, 40, 30, Depth::U16, Components::Rgba, 3);
    inst.set_source("Source", ClipSource::Frames(frames.clone())).unwrap();
    inst.set_param("speed", ParamValue::Double(1.0)).unwrap();
    let window = (5, 7, 23, 19);
    let out =
        inst.render(&RenderRequest { frames: vec![0], render_window: Some(window), ..Default::default() }).unwrap();
    assert!(out.violations.is_empty(), "{:?}", out.violations);
    let image = out.frames[&0].as_ref().unwrap();
    let source = &frames[&0];
    let row = image.row_len();
    for y in 0..30usize {
        // HostImage rows are top-down; OFX y counts up from the bottom.
        let ofx_y = 29 - y as i32;
        for x in 0..40usize {
            let px = y * row + x * 8;
            let inside = (window.0..window.2).contains(&(x as i32)) && (window.1..window.3).contains(&ofx_y);
            let got = &image.data[px..px + 8];
            if inside {
                assert_eq!(got, &source.data[px..px + 8], "pixel ({x},{ofx_y}) inside the window");
            } else {
                assert_eq!(got, &[0u8; 8], "pixel ({x},{ofx_y}) outside the window was touched");
            }
        }
    }
}

#[test]
fn offset_origins_fractional_times_and_windows_past_the_bounds_stay_bit_exact() {
    let bundle = load_bundle();
    let inst = bundle.create_instance(INTERPOLATE, Context::Filter).unwrap();
    let (w, h) = (23usize, 11usize);
    let frames = noise_frames(6, w as u32, h as u32, Depth::U16, Components::Rgba, 5);
    inst.set_source("Source", ClipSource::Frames(frames.clone())).unwrap();
    // Host time t + 0.5 at speed 2 is source frame 2t + 1: a whole frame from a fractional time.
    inst.set_param("speed", ParamValue::Double(2.0)).unwrap();
    let (ox, oy) = (-13, 9);
    let window = (ox - 20, oy + 3, ox + 7, oy + 100);
    let out = inst
        .render(&RenderRequest {
            frames: vec![0, 1, 2],
            origin: (ox, oy),
            time_offset: 0.5,
            render_window: Some(window),
            unclipped_window: true,
            layout: RowLayout { padding_bytes: 6, negative_row_bytes: true },
            ..Default::default()
        })
        .unwrap();
    assert!(out.violations.is_empty(), "{:?}", out.violations);
    for t in 0..3i64 {
        let b = out.bounds[&t];
        assert_eq!((b.x1, b.y1, b.x2, b.y2), (ox, oy, ox + w as i32, oy + h as i32), "frame {t}");
        let (image, source) = (out.frames[&t].as_ref().unwrap(), &frames[&(2 * t + 1)]);
        let row = image.row_len();
        for y in 0..h {
            let ofx_y = oy + (h - 1 - y) as i32;
            for x in 0..w {
                let ofx_x = ox + x as i32;
                let inside = (window.0..window.2).contains(&ofx_x) && (window.1..window.3).contains(&ofx_y);
                let px = y * row + x * 8;
                let want = if inside { &source.data[px..px + 8] } else { &[0u8; 8][..] };
                assert_eq!(&image.data[px..px + 8], want, "frame {t} pixel ({ofx_x},{ofx_y})");
            }
        }
    }
}

#[test]
fn a_render_that_hands_its_frames_over_keeps_none_of_them() {
    // As the `kinema` CLI renders: each frame is saved as it comes, so a minute of frames is not
    // also held in memory.
    let bundle = load_bundle();
    let inst = bundle.create_instance(INTERPOLATE, Context::Filter).unwrap();
    let frames = noise_frames(4, 16, 8, Depth::U8, Components::Rgba, 3);
    inst.set_source("Source", ClipSource::Frames(frames.clone())).unwrap();
    inst.set_param("speed", ParamValue::Double(1.0)).unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = seen.clone();
    let request = RenderRequest {
        frames: vec![0, 1, 2, 3],
        threads: 2,
        on_frame: Some(std::sync::Arc::new(move |f, r| {
            let bytes = r.as_ref().map(|image| image.data.clone()).unwrap_or_default();
            sink.lock().unwrap().push((f, bytes));
        })),
        keep_images: false,
        ..Default::default()
    };
    let out = inst.render(&request).unwrap();
    assert!(out.frames.is_empty(), "no image kept: {:?}", out.frames.keys());
    let mut handed = out.handed_over.clone();
    handed.sort();
    assert_eq!(handed, vec![0, 1, 2, 3]);
    let mut seen = seen.lock().unwrap().clone();
    seen.sort_by_key(|(f, _)| *f);
    for (f, bytes) in seen {
        assert!(bytes == frames[&f].data, "frame {f} reached on_frame whole");
    }
}
