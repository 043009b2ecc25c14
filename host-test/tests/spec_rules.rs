//! The host's coordinate, region, clip and render-support rules, and bundle discovery, against the fixtures of
//! examples/spec_fixtures.rs (built by `cargo test`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use kinema_host::*;

const NORMALISED: &str = "com.kinema.test.normalised";
const INFINITE: &str = "com.kinema.test.infinite";
const MERGE: &str = "com.kinema.test.merge";
const GPU_ONLY: &str = "com.kinema.test.gpuonly";

fn example(name: &str) -> PathBuf {
    // target/<profile>/deps/spec_rules-<hash> -> target/<profile>/examples/lib<name>.so
    let exe = std::env::current_exe().unwrap();
    let p = exe.parent().unwrap().parent().unwrap().join("examples").join(format!("lib{name}.so"));
    assert!(p.exists(), "{} missing: run through `cargo test -p kinema-host`", p.display());
    p
}

fn load() -> Bundle {
    Host::new().load_bundle(&example("spec_fixtures")).expect("spec fixtures load")
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("kinema-spec-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The RGBA floats of the pixel at OFX pixel (x, y) of a top-down image whose bounds are `b`.
fn pixel(img: &HostImage, b: Rect, x: i32, y: i32) -> Vec<f32> {
    let row = (b.y2 - 1 - y) as usize;
    let col = (x - b.x1) as usize;
    let i = (row * img.width as usize + col) * 4;
    img.samples_f32()[i..i + 4].to_vec()
}

fn render_one(inst: &Instance, req: RenderRequest) -> (HostImage, Rect) {
    let out = inst.render(&RenderRequest { frames: vec![0], ..req }).unwrap();
    assert!(out.violations.is_empty(), "{:?}", out.violations);
    (out.image(0).unwrap().clone(), out.bounds[&0])
}

#[test]
fn normalised_defaults_and_values_follow_the_project() {
    let b = load();
    let info = b.plugin(NORMALISED).unwrap();
    assert!(info.param("Size").unwrap().spatial.unwrap().normalised_default);
    assert!(info.param("Width").unwrap().spatial.unwrap().normalised_values);
    let inst = b.create_instance(NORMALISED, Context::Generator).unwrap();
    // Size (0.5, 0.5) and Center (0.5, 0.5) of a 64x32 project: a 32x16 box in the middle, not 1x1.
    let (img, bounds) = render_one(&inst, RenderRequest { size: Some((64, 32)), ..Default::default() });
    assert_eq!(bounds, Rect::new(16, 8, 48, 24));
    assert_eq!((img.width, img.height), (32, 16));
    // Width 0.25 is the plugin's to convert: 16 canonical units.
    assert_eq!(pixel(&img, bounds, 20, 10), vec![32.0, 16.0, 16.0, 1.0]);
    assert_eq!(inst.param("Center").unwrap(), ParamValue::Double2D(32.0, 16.0));

    // The project moves (offset 10,20) and widens (pixel aspect 2): positions move with it, sizes scale.
    let (img, bounds) = render_one(
        &inst,
        RenderRequest { size: Some((64, 32)), origin: (10, 20), pixel_aspect: 2.0, ..Default::default() },
    );
    assert_eq!(inst.project(), ProjectGeometry { size: (128.0, 32.0), offset: (10.0, 20.0) });
    // Canonical box [42, 28, 106, 44]; x in pixels is canonical / 2.
    assert_eq!(bounds, Rect::new(21, 28, 53, 44));
    assert_eq!(pixel(&img, bounds, 30, 30), vec![74.0, 36.0, 32.0, 1.0]);

    // A user's value stays; values of the older normalised types are given canonical and stored normalised.
    inst.set_project_format((64, 32), (0, 0), 1.0).unwrap();
    inst.set_param_str("Center", "20,10").unwrap();
    inst.set_param_str("Width", "8").unwrap();
    assert_eq!(inst.param("Width").unwrap(), ParamValue::Double(0.125));
    let (img, bounds) = render_one(&inst, RenderRequest { size: Some((128, 64)), ..Default::default() });
    assert_eq!(bounds, Rect::new(-12, -6, 52, 26), "Size follows the project, Center stays where it was set");
    assert_eq!(pixel(&img, bounds, 0, 0), vec![20.0, 10.0, 16.0, 1.0], "Width stays 1/8 of the project");
    assert!(b.violations().is_empty(), "{:?}", b.violations());
}

#[test]
fn infinite_regions_are_clipped_to_the_project_extent() {
    let b = load();
    let inst = b.create_instance(INFINITE, Context::Generator).unwrap();
    let (img, bounds) = render_one(&inst, RenderRequest { size: Some((40, 30)), ..Default::default() });
    assert_eq!(bounds, Rect::new(0, 0, 40, 30));
    assert_eq!(pixel(&img, bounds, 0, 0), vec![0.0, 0.0, 0.0, 1.0]);
    assert_eq!(pixel(&img, bounds, 39, 29), vec![39.0, 29.0, 0.0, 1.0]);
    // With an offset the extent spans it too.
    let (_, bounds) = render_one(&inst, RenderRequest { size: Some((40, 30)), origin: (5, 6), ..Default::default() });
    assert_eq!(bounds, Rect::new(0, 0, 45, 36));
}

fn solid(w: u32, h: u32, rgba: [f32; 4]) -> BTreeMap<i64, HostImage> {
    let s: Vec<f32> = (0..w * h).flat_map(|_| rgba).collect();
    BTreeMap::from([(0, HostImage::from_f32(w, h, Components::Rgba, &s).unwrap())])
}

#[test]
fn general_effects_take_several_inputs_and_an_optional_mask() {
    let b = load();
    let info = b.plugin(MERGE).unwrap();
    let clips = &info.clips[&Context::General];
    let mask = clips.iter().find(|c| c.name == "Mask").unwrap();
    assert!(mask.optional && mask.is_mask);
    let inst = b.create_instance(MERGE, Context::General).unwrap();
    inst.set_source("A", ClipSource::Frames(solid(6, 4, [1.0, 0.0, 0.0, 1.0]))).unwrap();
    let e = inst.render(&RenderRequest::default()).unwrap_err().to_string();
    assert_eq!(e, "the 'B' clip of 'com.kinema.test.merge' is not connected (it is not optional)");
    inst.set_source("B", ClipSource::Frames(solid(6, 4, [0.0, 0.0, 1.0, 0.5]))).unwrap();
    // No mask: half of each.
    let (img, bounds) = render_one(&inst, RenderRequest::default());
    assert_eq!(bounds, Rect::new(0, 0, 6, 4));
    assert_eq!(pixel(&img, bounds, 2, 2), vec![0.5, 0.0, 0.5, 0.75]);
    // A mask (its alpha, as the Alpha the clip asks for) that is 0.25 everywhere.
    inst.set_source("Mask", ClipSource::Frames(solid(6, 4, [1.0, 1.0, 1.0, 0.25]))).unwrap();
    let (img, bounds) = render_one(&inst, RenderRequest::default());
    assert_eq!(pixel(&img, bounds, 5, 3), vec![0.75, 0.0, 0.25, 0.875]);
    assert!(inst
        .set_source("Nope", ClipSource::Frames(solid(1, 1, [0.0; 4])))
        .unwrap_err()
        .to_string()
        .contains("A, B, Mask"));
    assert!(b.violations().is_empty(), "{:?}", b.violations());
}

#[test]
fn an_effect_that_cannot_render_on_the_cpu_is_refused_with_the_reason() {
    let b = load();
    let rs = &b.plugin(GPU_ONLY).unwrap().render_support;
    assert!(!rs.cpu);
    assert_eq!((rs.opengl, rs.cuda, rs.metal), (GpuSupport::Yes, GpuSupport::Yes, GpuSupport::No));
    let e = b.create_instance(GPU_ONLY, Context::Filter).unwrap_err().to_string();
    assert_eq!(
        e,
        "effect 'com.kinema.test.gpuonly' cannot render on this host: it does not render on the CPU \
         (kOfxImageEffectPropCPURenderSupported = \"false\") and supports only OpenGL, CUDA; this host renders on \
         the CPU only"
    );
    // A GPU API the effect cannot do without is as final.
    let needs = RenderSupport { cuda: GpuSupport::Needed, ..Default::default() };
    assert_eq!(
        needs.cpu_refusal().unwrap(),
        "it needs CUDA (kOfxImageEffectPropCudaRenderSupported = \"needed\"), and this host renders on the CPU only"
    );
    assert_eq!(RenderSupport { opengl: GpuSupport::Yes, ..Default::default() }.cpu_refusal(), None);
}

/// A bundle directory holding a copy of `binary` (or `contents` as a broken binary).
fn make_bundle(dir: &Path, name: &str, binary: Option<&Path>, contents: &[u8]) {
    let arch = format!("Linux-{}", std::env::consts::ARCH.replace("x86_64", "x86-64"));
    let bin_dir = dir.join(format!("{name}.ofx.bundle/Contents/{arch}"));
    std::fs::create_dir_all(&bin_dir).unwrap();
    let bin = bin_dir.join(format!("{name}.ofx"));
    match binary {
        Some(b) => std::fs::copy(b, &bin).map(|_| ()).unwrap(),
        None => std::fs::write(&bin, contents).unwrap(),
    }
}

fn kinema(args: &[&str], plugin_path: &Path) -> (bool, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_kinema")).env("OFX_PLUGIN_PATH", plugin_path).args(args).output().unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn the_cli_finds_every_bundle_and_feeds_each_input_clip() {
    let dir = tmp("cli");
    let path = dir.join("plugins");
    // In name order: a broken binary, then a good bundle, a bundle without a binary, and one in a sub-folder.
    make_bundle(&path, "Aardvark", None, b"not a shared object");
    make_bundle(&path, "Fixture", Some(&example("fixture_plugin")), b"");
    std::fs::create_dir_all(path.join("Empty.ofx.bundle")).unwrap();
    make_bundle(&path.join("vendor"), "Spec", Some(&example("spec_fixtures")), b"");

    let (ok, out, err) = kinema(&["list"], &path);
    assert!(!ok, "broken bundles fail the listing");
    for id in ["com.kinema.test.fixture", NORMALISED, INFINITE, MERGE, GPU_ONLY] {
        assert!(out.contains(id), "{id} missing from:\n{out}\n{err}");
    }
    assert!(out.contains(&format!("bundle: {}", path.join("vendor/Spec.ofx.bundle").display())), "{out}");
    assert!(err.contains("Aardvark.ofx.bundle") && err.contains("Empty.ofx.bundle"), "{err}");
    assert!(err.contains("2 of "), "{err}");
    // describe and render find the bundle that has the effect.
    let (ok, out, err) = kinema(&["describe", NORMALISED], &path);
    assert!(ok, "{err}");
    assert!(out.contains("Spec.ofx.bundle"), "{out}");
    assert!(out.contains("range: [-DBL_MAX,-DBL_MAX, DBL_MAX,DBL_MAX]"), "{out}");
    assert!(out.contains("(normalised: a fraction of the project size)"), "{out}");
    assert!(!out.contains("179769313486231570"), "{out}");
    let (ok, out, _) = kinema(&["describe", GPU_ONLY], &path);
    assert!(ok && out.contains("renders on: OpenGL, CUDA"), "{out}");
    let (ok, _, err) = kinema(&["describe", "com.nobody.nothing"], &path);
    assert!(!ok && err.contains("no bundle has effect 'com.nobody.nothing'"), "{err}");

    // Two inputs by name, and the mask left out.
    for (name, rgba) in [("a", [1.0, 0.0, 0.0, 1.0]), ("b", [0.0, 0.0, 1.0, 1.0])] {
        for (f, img) in solid(5, 3, rgba) {
            img.convert(Depth::U8, Components::Rgba).save(&dir.join(format!("{name}/{f:04}.png"))).unwrap();
        }
    }
    let a = format!("A={}/a/%04d.png", dir.display());
    let b = format!("B={}/b/%04d.png", dir.display());
    let out_pattern = format!("{}/out/%04d.exr", dir.display());
    let (ok, _, err) = kinema(&["render", MERGE, "--input", &a, "--input", &b, "--out", &out_pattern], &path);
    assert!(ok, "{err}");
    let written = HostImage::load(&dir.join("out/0000.exr")).unwrap();
    assert_eq!(&written.samples_f32()[..4], &[0.5, 0.0, 0.5, 1.0]);
    let (ok, _, err) = kinema(&["render", MERGE, "--input", &a, "--out", &out_pattern], &path);
    assert!(!ok && err.contains("the 'B' clip of 'com.kinema.test.merge' is not connected"), "{err}");
    let bogus = format!("Bogus={}/a/%04d.png", dir.display());
    let (ok, _, err) = kinema(&["render", MERGE, "--input", &bogus, "--out", &out_pattern], &path);
    assert!(
        !ok && err.contains("'Bogus' is not an input clip of 'com.kinema.test.merge' (its inputs: A, B, Mask)"),
        "{err}"
    );
    let plain = format!("{}/a/%04d.png", dir.display());
    let (ok, _, err) = kinema(&["render", MERGE, "--input", &plain, "--out", &out_pattern], &path);
    assert!(!ok && err.contains("has no input clip 'Source' in the general context (its inputs: A, B, Mask)"), "{err}");

    // A generator with the project given on the command line; Width in canonical units.
    let (ok, _, err) = kinema(
        &["render", NORMALISED, "--frames", "0", "--size", "64x32", "--project-offset", "-8,4", "--set", "Width=32"]
            .into_iter()
            .chain(["--out", &out_pattern])
            .collect::<Vec<_>>(),
        &path,
    );
    assert!(ok, "{err}");
    let written = HostImage::load(&dir.join("out/0000.exr")).unwrap();
    assert_eq!((written.width, written.height), (32, 16));
    assert_eq!(&written.samples_f32()[..4], &[24.0, 20.0, 32.0, 1.0]);

    // The GPU-only effect is refused before anything renders.
    let (ok, _, err) = kinema(&["render", GPU_ONLY, "--input", &plain, "--out", &out_pattern], &path);
    assert!(!ok && err.contains("cannot render on this host: it does not render on the CPU"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
