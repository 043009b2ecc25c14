//! The cache shared: failures served to every frame, waiters that poll abort and see progress,
//! two caches (processes) on one folder, and files in that folder that are not ours.

use std::fs;
use std::os::unix::fs::FileTypeExt;
use std::os::unix::io::AsRawFd;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{mpsc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use super::tests::{fetch, files_in, wait_until, ABORTED};
use super::*;

fn clip(seed: f32) -> GeneratedClip {
    let frame = |i: usize| Frame { channels: 3, height: 2, width: 2, data: vec![seed + i as f32; 12] };
    GeneratedClip { frames: (0..3).map(frame).collect(), fps: 24.0 }
}

fn key(name: &str) -> ClipKey {
    KeyBuilder::new("test.shared").str("name", name).finish()
}

fn on_disk(dir: &Path) -> DiskCache {
    DiskCache::new(dir, 1 << 30)
}

/// Runs `f` on its own thread and fails (instead of hanging) when it takes over 10 s.
fn promptly<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(10)).unwrap_or_else(|_| panic!("{what} blocked"))
}

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: `c` is a valid NUL-terminated path for the duration of the call.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo {}", path.display());
}

fn is_fifo(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_fifo())
}

#[test]
fn a_shot_failing_after_denoising_runs_once_for_its_nine_frames() {
    let cache = ClipCache::new(1 << 30, None);
    let k = key("late failure");
    let runs = AtomicUsize::new(0);
    let start = Barrier::new(9);
    let decode_error = "Model 'tiny': the VAE decoder has no output 'pixels'";
    // The host asks for the shot's 9 frames at once: one caller generates, eight wait for it.
    let errors: Vec<String> = thread::scope(|s| {
        let frames: Vec<_> = (0..9)
            .map(|_| {
                s.spawn(|| {
                    start.wait();
                    fetch(&cache, k, || {
                        runs.fetch_add(1, Ordering::SeqCst);
                        wait_until("the other eight frames", || cache.stats().waits >= 8);
                        Err(decode_error.to_string())
                    })
                    .unwrap_err()
                })
            })
            .collect();
        frames.into_iter().map(|f| f.join().unwrap()).collect()
    });
    assert!(errors.iter().all(|e| e == decode_error), "{errors:?}");
    // ... and again, one frame at a time.
    for _ in 0..9 {
        let again = fetch(&cache, k, || {
            runs.fetch_add(1, Ordering::SeqCst);
            Err("generated again".into())
        });
        assert_eq!(again.unwrap_err(), decode_error);
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1, "the failing generation ran once for 18 requests");
    let st = cache.stats();
    assert_eq!((st.generations_started, st.generations_failed, st.failures_served), (1, 1, 17));
}

#[test]
fn remembered_failures_are_bounded_oldest_first() {
    let cache = ClipCache::new(1 << 30, None);
    for i in 0..=REMEMBERED_FAILURES {
        let _ = fetch(&cache, key(&format!("bad {i}")), || Err(format!("failure {i}")));
    }
    assert_eq!(cache.stats().failures_remembered, REMEMBERED_FAILURES);
    let last = format!("bad {REMEMBERED_FAILURES}");
    assert_eq!(fetch(&cache, key(&last), || Ok(clip(1.0))).unwrap_err(), format!("failure {REMEMBERED_FAILURES}"));
    assert_eq!(*fetch(&cache, key("bad 0"), || Ok(clip(1.0))).unwrap(), clip(1.0), "the oldest was forgotten");
}

#[test]
fn waiters_see_the_leaders_progress_and_leave_on_their_own_abort() {
    let cache = ClipCache::new(1 << 30, None);
    let k = key("progress");
    let stop = AtomicBool::new(false);
    thread::scope(|s| {
        let (started_tx, started_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let leader = s.spawn(|| {
            cache.get_or_generate(k, &mut |_, _| {}, &|| false, move |progress| {
                progress(1, 3);
                started_tx.send(()).unwrap();
                let _ = release_rx.recv();
                progress(3, 3);
                Ok::<_, String>(clip(1.0))
            })
        });
        started_rx.recv().unwrap();
        let (seen_tx, seen_rx) = mpsc::channel();
        let shown = s.spawn(|| {
            let mut progress = move |done, total| seen_tx.send((done, total)).unwrap();
            cache.get_or_generate(k, &mut progress, &|| false, |_| Err("a waiter must not generate".to_string()))
        });
        assert_eq!(seen_rx.recv_timeout(Duration::from_secs(10)), Ok((1, 3)), "the leader's progress reaches waiters");
        let (left_tx, left_rx) = mpsc::channel();
        let (cache, stop) = (&cache, &stop);
        s.spawn(move || {
            let r = cache.get_or_generate(k, &mut |_, _| {}, &|| stop.load(Ordering::SeqCst), |_| {
                Err("a waiter must not generate".to_string())
            });
            left_tx.send(r).unwrap();
        });
        wait_until("two waiters", || cache.stats().waits >= 2);
        stop.store(true, Ordering::SeqCst);
        // The leader is still blocked: the aborting waiter leaves on its own.
        let left = left_rx.recv_timeout(Duration::from_secs(10));
        release_tx.send(()).unwrap();
        assert_eq!(left.expect("an aborting waiter leaves while the leader runs").unwrap_err(), ABORTED);
        let made = leader.join().unwrap().unwrap();
        assert!(Arc::ptr_eq(&made, &shown.join().unwrap().unwrap()));
    });
    let st = cache.stats();
    assert_eq!((st.generations_started, st.waits, st.waits_aborted, st.generations_failed), (1, 2, 1, 0));
}

#[test]
fn two_caches_on_one_folder_generate_once() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) =
        (ClipCache::new(1 << 30, Some(on_disk(dir.path()))), ClipCache::new(1 << 30, Some(on_disk(dir.path()))));
    let k = key("shared");
    let stop = AtomicBool::new(false);
    thread::scope(|s| {
        let (started_tx, started_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let leader = s.spawn(|| {
            first.get_or_generate(k, &mut |_, _| {}, &|| false, move |progress| {
                progress(2, 5);
                started_tx.send(()).unwrap();
                let _ = release_rx.recv();
                Ok::<_, String>(clip(4.0))
            })
        });
        started_rx.recv().unwrap();
        assert!(first.disk().unwrap().lock_path(k).is_file(), "the generating cache holds the key's lock file");
        // One waiter gives up on its host's abort...
        let (left_tx, left_rx) = mpsc::channel();
        let (waiter, stop) = (&second, &stop);
        s.spawn(move || {
            let r = waiter.get_or_generate(k, &mut |_, _| {}, &|| stop.load(Ordering::SeqCst), |_| {
                Err("the other cache is generating it".to_string())
            });
            left_tx.send(r).unwrap();
        });
        wait_until("a wait for the lock", || second.stats().lock_waits >= 1);
        stop.store(true, Ordering::SeqCst);
        let left = left_rx.recv_timeout(Duration::from_secs(10));
        // ... another waits, shown the progress the holder writes into the lock file.
        let (seen_tx, seen_rx) = mpsc::channel();
        let follower = s.spawn(|| {
            let mut progress = move |done, total| {
                let _ = seen_tx.send((done, total));
            };
            second.get_or_generate(k, &mut progress, &|| false, |_| Err("the other cache is generating it".to_string()))
        });
        let seen = seen_rx.recv_timeout(Duration::from_secs(10));
        release_tx.send(()).unwrap();
        assert_eq!(left.expect("a waiter for the lock leaves on abort").unwrap_err(), ABORTED);
        assert_eq!(seen, Ok((2, 5)), "the holder's progress reaches the other cache");
        assert_eq!(*leader.join().unwrap().unwrap(), clip(4.0));
        assert_eq!(*follower.join().unwrap().unwrap(), clip(4.0));
    });
    let st = second.stats();
    assert_eq!((st.generations_started, st.disk_hits, st.lock_waits, st.waits_aborted), (0, 1, 2, 1));
    assert_eq!(first.stats().generations_started, 1);
    assert_eq!(files_in(dir.path()), vec![format!("{k}.kclip")], "the lock file is gone");
}

#[test]
fn a_lock_left_by_a_dead_process_is_taken_and_one_held_without_progress_is_given_up() {
    let dir = tempfile::tempdir().unwrap();
    let disk = on_disk(dir.path());
    // A dead holder's file: no process holds its lock any more.
    fs::write(disk.lock_path(key("dead")), format!("{:>10} {:>10} {:>10}\n", 999_999, 3, 10)).unwrap();
    // A stopped holder: locked, never any progress.
    let stuck = disk.lock_path(key("stuck"));
    let holder = fs::File::create(&stuck).unwrap();
    // SAFETY: the descriptor is open for the life of `holder`.
    assert_eq!(unsafe { libc::flock(holder.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) }, 0);
    let cache = ClipCache::new(1 << 30, Some(disk.with_lock_patience(Duration::from_millis(300))));
    assert_eq!(*fetch(&cache, key("dead"), || Ok(clip(1.0))).unwrap(), clip(1.0));
    assert_eq!(cache.stats().lock_waits, 0);
    let started = Instant::now();
    assert_eq!(*fetch(&cache, key("stuck"), || Ok(clip(2.0))).unwrap(), clip(2.0));
    assert!(started.elapsed() >= Duration::from_millis(300));
    let st = cache.stats();
    assert_eq!((st.lock_waits, st.generations_started), (1, 2));
    assert!(st.last_disk_error.unwrap().contains("showed no progress"));
    // The stopped holder's file is its own; the sweep leaves a held lock alone.
    cache.disk().unwrap().evict(None).unwrap();
    assert!(stuck.exists());
    drop(holder);
    cache.disk().unwrap().evict(None).unwrap();
    assert!(!stuck.exists(), "a lock nobody holds is swept");
}

#[test]
fn a_fifo_under_an_entry_name_is_refused_promptly_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let k = key("fifo");
    let path = on_disk(dir.path()).path_for(k);
    mkfifo(&path);
    let disk = on_disk(dir.path());
    let found =
        promptly("a lookup on a FIFO", move || disk.load(k).map(|l| format!("{l:?}")).map_err(|e| e.to_string()));
    let err = found.expect_err("a FIFO is not a cache entry");
    assert!(err.contains("FIFO"), "{err}");
    // Through the cache: a miss, generated, kept in memory, the FIFO neither read nor replaced.
    let cache = Arc::new(ClipCache::new(1 << 30, Some(on_disk(dir.path()))));
    let c = cache.clone();
    let made = promptly("a generation beside a FIFO", move || fetch(&c, k, || Ok(clip(1.0))));
    assert_eq!(*made.unwrap(), clip(1.0));
    let st = cache.stats();
    // Looked up before and after taking the key's lock, and not written over.
    assert_eq!((st.disk_hits, st.disk_writes, st.disk_errors), (0, 0, 3));
    assert!(st.last_disk_error.unwrap().contains("FIFO"));
    assert!(is_fifo(&path), "not ours: left in place");
    assert_eq!(files_in(dir.path()), vec![format!("{k}.kclip")], "no temp or lock file left");
}

#[test]
fn the_open_itself_never_blocks_on_a_fifo() {
    // Past the look before opening (a FIFO swapped in meanwhile): O_NONBLOCK and fstat.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("swapped.kclip");
    mkfifo(&path);
    for write in [false, true] {
        let p = path.clone();
        let opened = promptly("opening a FIFO", move || disk::open_checked(&p, write).map_err(|e| e.to_string()));
        assert!(opened.expect_err("refused").contains("FIFO"));
    }
    assert!(is_fifo(&path));
}

#[test]
fn symbolic_links_under_an_entry_or_lock_name_are_refused() {
    let (dir, elsewhere) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let k = key("link");
    // A valid entry, but outside the folder and reached through a link.
    let outside = on_disk(elsewhere.path());
    assert!(outside.store(k, &clip(9.0)).unwrap());
    let disk = on_disk(dir.path());
    std::os::unix::fs::symlink(outside.path_for(k), disk.path_for(k)).unwrap();
    let err = disk.load(k).expect_err("a link is not an entry").to_string();
    assert!(err.contains("symbolic link"), "{err}");
    let cache = ClipCache::new(1 << 30, Some(disk));
    assert_eq!(*fetch(&cache, k, || Ok(clip(1.0))).unwrap(), clip(1.0), "generated, not read through the link");
    assert!(fs::symlink_metadata(cache.disk().unwrap().path_for(k)).unwrap().file_type().is_symlink());
    assert!(matches!(outside.load(k).unwrap(), DiskLookup::Hit(ref c) if *c == clip(9.0)), "the target is untouched");

    // A FIFO or a link where the lock file goes: no cross-process lock, the render goes on.
    let k2 = key("lock link");
    let lock = cache.disk().unwrap().lock_path(k2);
    std::os::unix::fs::symlink(elsewhere.path().join("target.lock"), &lock).unwrap();
    assert_eq!(*fetch(&cache, k2, || Ok(clip(2.0))).unwrap(), clip(2.0));
    assert!(cache.stats().disk_errors >= 1);
    assert!(!elsewhere.path().join("target.lock").exists(), "nothing created through the link");
    let k3 = key("lock fifo");
    mkfifo(&cache.disk().unwrap().lock_path(k3));
    let cache = Arc::new(cache);
    let c = cache.clone();
    let made = promptly("locking beside a FIFO", move || fetch(&c, k3, || Ok(clip(3.0))));
    assert_eq!(*made.unwrap(), clip(3.0));
    assert!(cache.stats().last_disk_error.unwrap().contains("FIFO"));
}
