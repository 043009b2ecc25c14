//! `kinema detect` end to end: a fixture frame marked through the library, written as PNG and JPEG,
//! read back by the command with its exit statuses and JSON.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use kinema_watermark::{embed, Payload, DEFAULT_PSNR_DB};

const PAYLOAD: Payload = Payload { model: 0x5EED_CAFE, seed: 77, shot: 0x0BAD_F00D };

fn fixture(name: &str) -> image::RgbImage {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/rife/fixtures").join(name);
    image::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).to_rgb8()
}

/// The frame marked as plugin code would: planar float, then back to 8-bit.
fn marked(img: &image::RgbImage) -> image::RgbImage {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let n = w * h;
    let mut planes = vec![0f32; 3 * n];
    for (i, p) in img.pixels().enumerate() {
        for c in 0..3 {
            planes[c * n + i] = f32::from(p[c]) / 255.0;
        }
    }
    embed(&mut planes, 3, w, h, &PAYLOAD, DEFAULT_PSNR_DB).unwrap();
    image::RgbImage::from_fn(img.width(), img.height(), |x, y| {
        let i = y as usize * w + x as usize;
        image::Rgb(std::array::from_fn(|c| (planes[c * n + i] * 255.0).round().clamp(0.0, 255.0) as u8))
    })
}

fn kinema(args: &[&Path]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kinema")).arg("detect").args(args).output().expect("kinema runs")
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
}

#[test]
fn detect_reports_marks_and_exit_statuses() {
    let dir = std::env::temp_dir().join(format!("kinema-detect-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = |name: &str| -> PathBuf { dir.join(name) };
    let frame = fixture("bikes_040_0.png");
    marked(&frame).save(path("marked.png")).unwrap();
    marked(&fixture("bikes_196_1.png")).save(path("marked.jpg")).unwrap();
    frame.save(path("plain.png")).unwrap();
    std::fs::write(path("broken.png"), b"not a png").unwrap();

    let out = kinema(&[&path("marked.png"), &path("marked.jpg")]);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert_eq!(said.matches("Kinema watermark: model 5eedcafe seed 77 shot 0badf00d").count(), 2, "{said}");

    let out = kinema(&[&path("plain.png")]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("no Kinema watermark found"));

    let out = kinema(&[&path("marked.png"), &path("broken.png")]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));

    let out = kinema(&[&path("marked.png"), &path("plain.png"), Path::new("--json")]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["watermark"]["model"], "5eedcafe");
    assert_eq!(v[0]["watermark"]["seed"], 77);
    assert!(v[1]["watermark"].is_null());

    let out = kinema(&[&path("marked.png"), &path("marked.jpg"), Path::new("--shot")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("2 frames voted"), "{}", text(&out));
    let _ = std::fs::remove_dir_all(&dir);
}
