//! The `kinema` CLI never writes over what it reads, checks where its frames go before any work, and
//! after a failed re-render leaves only that render's frames (saying which were written).

use std::path::{Path, PathBuf};
use std::process::Output;

use kinema_e2e::*;
use kinema_host::{Components, Depth, HostImage};

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kinema-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("in")).unwrap();
    dir
}

fn kinema(dir: &Path, args: &[&str]) -> Output {
    std::process::Command::new(kinema_exe())
        .current_dir(dir)
        .env("KINEMA_CACHE_DIR", dir.join("cache"))
        .arg("--bundle")
        .arg(bundle_path())
        .args(args)
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Saves noise frames 1..=count as in/0001.png...; returns their bytes on disk.
fn inputs(dir: &Path, count: i64, seed: u64) -> Vec<Vec<u8>> {
    noise_frames(count, 8, 8, Depth::U8, Components::Rgba, seed)
        .into_iter()
        .map(|(t, image)| {
            let path = dir.join(format!("in/{:04}.png", t + 1));
            image.save(&path).unwrap();
            std::fs::read(&path).unwrap()
        })
        .collect()
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().filter_map(|e| e.ok()?.file_name().into_string().ok()).collect();
    names.sort();
    names
}

#[test]
fn interpolate_refuses_to_write_over_its_input() {
    let dir = temp("overwrite");
    let before = inputs(&dir, 3, 1);
    std::os::unix::fs::symlink(dir.join("in"), dir.join("link")).unwrap();
    for out in ["in/%04d.png", "./in/../in/%04d.png", "link/%04d.png"] {
        let o = kinema(&dir, &["interpolate", "in/%04d.png", "--speed", "1", "--out", out]);
        assert!(!o.status.success(), "{out}: the render must be refused");
        assert!(stderr(&o).contains("is the input sequence"), "{out}: {}", stderr(&o));
    }
    assert_eq!(files(&dir.join("in")), ["0001.png", "0002.png", "0003.png"], "nothing added to the source");
    for (i, bytes) in before.iter().enumerate() {
        assert!(std::fs::read(dir.join(format!("in/{:04}.png", i + 1))).unwrap() == *bytes, "source {i} changed");
    }
    // Extend reads its sequence, and generate --image its still: neither may be the output.
    let o =
        kinema(&dir, &["generate", "p", "--model", "no-such-model", "--extend", "in/%04d.png", "--out", "in/%04d.png"]);
    assert!(!o.status.success() && stderr(&o).contains("is the input sequence"), "{}", stderr(&o));
    std::fs::copy(dir.join("in/0001.png"), dir.join("0000.png")).unwrap();
    let o = kinema(&dir, &["generate", "p", "--model", "no-such-model", "--image", "0000.png", "--out", "%04d.png"]);
    assert!(!o.status.success(), "the still is frame 0 of the output");
    assert!(stderr(&o).contains("would overwrite") && stderr(&o).contains("(frame 0)"), "{}", stderr(&o));
    assert!(std::fs::read(dir.join("0000.png")).unwrap() == before[0]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_output_is_checked_before_any_work() {
    let dir = temp("check");
    std::fs::write(dir.join("file"), b"not a folder").unwrap();
    // The model is missing too: the output's error must come first, before any render.
    for (out, reason) in [
        ("x/%04d.gif", "unknown image format '.gif'"),
        ("x/shot.png", "names one file, but 17 frames are rendered"),
        ("file/%04d.png", "cannot create the folder"),
    ] {
        let o = kinema(&dir, &["generate", "a red circle", "--model", "no-such-model", "--out", out]);
        assert!(!o.status.success(), "{out}");
        assert!(stderr(&o).contains(reason), "{out}: {}", stderr(&o));
        assert!(!stderr(&o).contains("no-such-model"), "{out}: nothing was rendered: {}", stderr(&o));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_failed_rerender_leaves_only_its_own_frames_and_says_which() {
    let dir = temp("rerender");
    inputs(&dir, 3, 1);
    // Fill Frames with nothing to fill passes every frame through: frame t is in/t.
    let render = |frames: &str| {
        kinema(
            &dir,
            &[
                "render",
                INTERPOLATE,
                "--input",
                "in/%04d.png",
                "--frames",
                frames,
                "--set",
                "mode=Fill Frames",
                "--out",
                "out/%04d.png",
            ],
        )
    };
    let o = render("1-3");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(files(&dir.join("out")), ["0001.png", "0002.png", "0003.png"]);
    // Second run: new pictures, and frame 3 has gone from the input, so it fails.
    let new = inputs(&dir, 2, 9);
    std::fs::remove_file(dir.join("in/0003.png")).unwrap();
    let o = render("1-3");
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("frames written: 1-2") && err.contains("frames not written: 3"), "{err}");
    assert_eq!(files(&dir.join("out")), ["0001.png", "0002.png"], "the first run's frame 3 must not look current");
    for t in 1..=2 {
        let written = HostImage::load(&dir.join(format!("out/{t:04}.png"))).unwrap();
        let source = HostImage::load(&dir.join(format!("in/{t:04}.png"))).unwrap();
        assert!(written.data == source.data, "frame {t} is this run's");
        assert!(std::fs::read(dir.join(format!("in/{t:04}.png"))).unwrap() == new[t as usize - 1]);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn fill_frames_outside_the_sequence_are_named() {
    let dir = temp("fill");
    inputs(&dir, 3, 4);
    let o = kinema(&dir, &["interpolate", "in/%04d.png", "--fill", "7, 9-10", "--out", "out/%04d.png"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("warning: --fill frame(s) 7, 9-10 are outside the sequence (frames 1 to 3)"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
