use std::fs;
use std::path::Path;
use std::sync::atomic::AtomicUsize;
use std::sync::{mpsc, Barrier};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use super::*;

fn frame(seed: f32, channels: usize, height: usize, width: usize) -> Frame {
    let data = (0..channels * height * width).map(|i| seed + i as f32 * 0.25).collect();
    Frame { channels, height, width, data }
}

fn clip(seed: f32) -> GeneratedClip {
    GeneratedClip { frames: (0..3).map(|i| frame(seed + i as f32, 3, 4, 5)).collect(), fps: 24.0 }
}

fn key(name: &str) -> ClipKey {
    KeyBuilder::new("test").str("name", name).finish()
}

pub(super) fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = match fs::read_dir(dir) {
        Ok(e) => e.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    names
}

pub(super) fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(2));
    }
}

/// What tests report a host abort as.
pub(super) const ABORTED: &str = "aborted by host";

impl GenerationError for String {
    fn is_abort(&self) -> bool {
        self == ABORTED
    }

    fn aborted() -> Self {
        ABORTED.into()
    }

    fn failed(message: &str) -> Self {
        message.into()
    }
}

/// `get_or_generate` for a caller whose host shows no progress and never aborts.
pub(super) fn fetch(
    cache: &ClipCache,
    k: ClipKey,
    generate: impl FnOnce() -> Result<GeneratedClip, String>,
) -> Result<Arc<GeneratedClip>, String> {
    cache.get_or_generate(k, &mut |_, _| {}, &|| false, |_| generate())
}

fn bits(clip: &GeneratedClip) -> Vec<Vec<u32>> {
    clip.frames.iter().map(|f| f.data.iter().map(|v| v.to_bits()).collect()).collect()
}

#[test]
fn key_is_stable() {
    let image = frame(0.5, 3, 2, 2);
    let k = KeyBuilder::new("generate/v1")
        .str("prompt", "a red circle moving left")
        .int("seed", 42)
        .uint("frames", 49)
        .float("guidance", 7.5)
        .bool("loop", false)
        .bytes("extra", b"\x00\x01")
        .frame("image", &image)
        .finish();
    // Pinned: if this changes, every clip cached on users' disks is silently orphaned.
    assert_eq!(k.hex(), "386b13160d90a48606e1970ed6b41b0b");
    assert_eq!(k.to_string(), k.hex());
    assert_eq!(k.hex().len(), 32);
}

#[test]
fn key_depends_on_every_field_and_label() {
    let base = || KeyBuilder::new("d").str("p", "cat").int("seed", 1).float("g", 0.0);
    let k = base().finish();
    assert_eq!(k, base().finish(), "same input, same key");
    assert_ne!(k, KeyBuilder::new("d").str("p", "cat").int("seed", 2).float("g", 0.0).finish());
    assert_ne!(k, KeyBuilder::new("d").str("p", "cats").int("seed", 1).float("g", 0.0).finish());
    assert_ne!(k, KeyBuilder::new("d").str("q", "cat").int("seed", 1).float("g", 0.0).finish());
    assert_ne!(k, KeyBuilder::new("e").str("p", "cat").int("seed", 1).float("g", 0.0).finish());
    assert_ne!(k, KeyBuilder::new("d").str("p", "cat").int("seed", 1).float("g", -0.0).finish(), "floats by bits");
    assert_ne!(k, KeyBuilder::new("d").str("p", "cat").uint("seed", 1).float("g", 0.0).finish(), "types are tagged");
    // Length prefixes keep fields from running into each other.
    assert_ne!(
        KeyBuilder::new("d").str("a", "bc").str("d", "").finish(),
        KeyBuilder::new("d").str("a", "b").str("cd", "").finish()
    );
    // Frame content and shape both count.
    let f = frame(1.0, 3, 2, 2);
    let mut g = f.clone();
    g.data[5] = f32::from_bits(g.data[5].to_bits() + 1);
    let reshaped = Frame { channels: 3, height: 1, width: 4, data: f.data.clone() };
    let kf = |fr: &Frame| KeyBuilder::new("d").frame("img", fr).finish();
    assert_ne!(kf(&f), kf(&g));
    assert_ne!(kf(&f), kf(&reshaped));
    assert_eq!(kf(&f), kf(&f.clone()));
}

#[test]
fn single_flight_eight_threads_generate_once() {
    let cache = ClipCache::new(1 << 30, None);
    let calls = AtomicUsize::new(0);
    let start = Barrier::new(8);
    let k = key("single");
    let results: Vec<Arc<GeneratedClip>> = thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| {
                    start.wait();
                    fetch(&cache, k, || {
                        calls.fetch_add(1, Ordering::SeqCst);
                        thread::sleep(Duration::from_millis(300));
                        Ok(clip(1.0))
                    })
                    .unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(results.iter().all(|r| Arc::ptr_eq(r, &results[0])), "every caller shares the one result");
    let st = cache.stats();
    assert_eq!(st.generations_started, 1);
    assert_eq!(st.waits + st.memory_hits, 7);
    assert_eq!(st.memory_entries, 1);
    assert!(cache.flights_running() == 0);
    // Later calls are memory hits.
    let again = fetch(&cache, k, || Err("must not run".into())).unwrap();
    assert!(Arc::ptr_eq(&again, &results[0]));
}

#[test]
fn different_keys_generate_in_parallel() {
    let cache = ClipCache::new(1 << 30, None);
    let running = AtomicUsize::new(0);
    // Each generator waits until both are running: serialised generation would time out.
    let gen = |seed: f32| {
        running.fetch_add(1, Ordering::SeqCst);
        let deadline = Instant::now() + Duration::from_secs(10);
        while running.load(Ordering::SeqCst) < 2 {
            if Instant::now() > deadline {
                return Err("the other key never started: generation was serialised".to_string());
            }
            thread::sleep(Duration::from_millis(1));
        }
        Ok(clip(seed))
    };
    let (a, b) = thread::scope(|s| {
        let a = s.spawn(|| fetch(&cache, key("a"), || gen(1.0)));
        let b = s.spawn(|| fetch(&cache, key("b"), || gen(2.0)));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_eq!(*a.unwrap(), clip(1.0));
    assert_eq!(*b.unwrap(), clip(2.0));
    assert_eq!(cache.stats().generations_started, 2);
}

type Outcome = Result<Arc<GeneratedClip>, String>;

/// Runs a leader whose generator fails via `fail` once three waiters are queued behind it.
/// Returns the leader's outcome (joined thread), the waiters' results and how many of them ran
/// their own generator.
fn leader_fails_with_waiters(
    cache: &ClipCache,
    fail: fn() -> Result<GeneratedClip, String>,
) -> (thread::Result<Outcome>, Vec<Outcome>, usize) {
    let k = key("flaky");
    let retries = AtomicUsize::new(0);
    thread::scope(|s| {
        let (started_tx, started_rx) = mpsc::channel();
        let leader = s.spawn(move || {
            fetch(cache, k, || {
                started_tx.send(()).unwrap();
                wait_until("three waiters", || cache.stats().waits >= 3);
                fail()
            })
        });
        started_rx.recv().unwrap();
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                s.spawn(|| {
                    fetch(cache, k, || {
                        retries.fetch_add(1, Ordering::SeqCst);
                        thread::sleep(Duration::from_millis(50));
                        Ok(clip(7.0))
                    })
                })
            })
            .collect();
        let leader = leader.join();
        let waiters = waiters.into_iter().map(|w| w.join().unwrap()).collect();
        (leader, waiters, retries.load(Ordering::SeqCst))
    })
}

#[test]
fn an_aborted_generation_is_retried_by_one_waiter() {
    let dir = tempfile::tempdir().unwrap();
    let cache = ClipCache::new(1 << 30, Some(DiskCache::new(dir.path(), 1 << 30)));
    let (leader, waiters, retries) = leader_fails_with_waiters(&cache, || Err(ABORTED.to_string()));
    assert_eq!(leader.unwrap().unwrap_err(), ABORTED, "the aborted caller gets its own error");
    assert_eq!(retries, 1, "exactly one waiter regenerates");
    let first = waiters[0].as_ref().unwrap();
    for w in &waiters {
        let w = w.as_ref().unwrap();
        assert!(Arc::ptr_eq(w, first));
        assert_eq!(**w, clip(7.0));
    }
    let st = cache.stats();
    assert_eq!((st.generations_started, st.generations_failed, st.failures_remembered), (2, 1, 0));
    assert_eq!(cache.flights_running(), 0);
    assert_eq!(files_in(dir.path()), vec![format!("{}.kclip", key("flaky"))], "only the successful run is on disk");
}

#[test]
fn a_failed_generation_is_remembered_for_its_waiters() {
    let dir = tempfile::tempdir().unwrap();
    let cache = ClipCache::new(1 << 30, Some(DiskCache::new(dir.path(), 1 << 30)));
    let (leader, waiters, retries) =
        leader_fails_with_waiters(&cache, || Err("VAE decoder has no output 'pixels'".to_string()));
    assert_eq!(leader.unwrap().unwrap_err(), "VAE decoder has no output 'pixels'");
    assert_eq!(retries, 0, "nobody runs the failing generation again");
    for w in waiters {
        assert_eq!(w.unwrap_err(), "VAE decoder has no output 'pixels'", "every waiter gets the same error");
    }
    let st = cache.stats();
    assert_eq!((st.generations_started, st.generations_failed, st.failures_served), (1, 1, 3));
    assert_eq!(cache.flights_running(), 0);
    assert!(files_in(dir.path()).is_empty(), "nothing on disk: {:?}", files_in(dir.path()));
}

#[test]
fn failed_generation_leaves_nothing_behind_and_purge_forgets_it() {
    let dir = tempfile::tempdir().unwrap();
    let cache = ClipCache::new(1 << 30, Some(DiskCache::new(dir.path(), 1 << 30)));
    let r = fetch(&cache, key("x"), || Err("out of memory".into()));
    assert_eq!(r.unwrap_err(), "out of memory");
    assert!(files_in(dir.path()).is_empty(), "no disk entry, temp or lock file: {:?}", files_in(dir.path()));
    let st = cache.stats();
    assert_eq!((st.memory_entries, st.generations_failed, st.failures_remembered), (0, 1, 1));
    // Asked again, the key fails at once with the same error; another key is not affected.
    let again = fetch(&cache, key("x"), || panic!("a remembered failure must not generate"));
    assert_eq!(again.unwrap_err(), "out of memory");
    assert_eq!(*fetch(&cache, key("y"), || Ok(clip(3.0))).unwrap(), clip(3.0));
    // PurgeCaches forgets it: the next call generates.
    cache.purge_memory();
    assert_eq!(cache.stats().failures_remembered, 0);
    let ok = fetch(&cache, key("x"), || Ok(clip(2.0))).unwrap();
    assert_eq!(*ok, clip(2.0));
    assert_eq!(cache.stats().generations_started, 3);
}

#[test]
fn a_panicking_generator_is_remembered_and_re_raised_to_its_caller() {
    let cache = ClipCache::new(1 << 30, None);
    let (leader, waiters, retries) = leader_fails_with_waiters(&cache, || panic!("model exploded"));
    let payload = leader.expect_err("the panic reaches the leader's caller");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"model exploded"));
    assert_eq!(retries, 0);
    let expected = "Internal error in Kinema (model exploded). Please report it.";
    for w in waiters {
        assert_eq!(w.unwrap_err(), expected);
    }
    assert_eq!(fetch(&cache, key("flaky"), || Ok(clip(1.0))).unwrap_err(), expected);
    assert_eq!(cache.flights_running(), 0);
    assert_eq!(cache.stats().generations_failed, 1);
}

#[test]
fn disk_round_trip_across_instances_is_bit_exact() {
    let dir = tempfile::tempdir().unwrap();
    let mut special = clip(0.0);
    special.fps = 23.976;
    special.frames[0].data[..6].copy_from_slice(&[f32::NAN, -0.0, f32::INFINITY, f32::MIN_POSITIVE / 8.0, 1e30, -7.5]);
    special.frames.push(frame(3.0, 4, 1, 7)); // mixed shapes within one clip
    let k = key("roundtrip");
    {
        let first = ClipCache::new(1 << 30, Some(DiskCache::new(dir.path(), 1 << 30)));
        fetch(&first, k, || Ok(special.clone())).unwrap();
        assert_eq!(first.stats().disk_writes, 1);
    }
    assert_eq!(files_in(dir.path()), vec![format!("{k}.kclip")], "no temp files remain");
    assert_eq!(fs::metadata(dir.path().join(format!("{k}.kclip"))).unwrap().len(), encoded_len(&special));

    let second = ClipCache::new(1 << 30, Some(DiskCache::new(dir.path(), 1 << 30)));
    let loaded = fetch(&second, k, || Err("should come from disk".into())).unwrap();
    assert_eq!(bits(&loaded), bits(&special));
    assert_eq!(loaded.fps.to_bits(), special.fps.to_bits());
    let shapes = |c: &GeneratedClip| c.frames.iter().map(|f| f.shape()).collect::<Vec<_>>();
    assert_eq!(shapes(&loaded), shapes(&special));
    let st = second.stats();
    assert_eq!((st.disk_hits, st.generations_started, st.memory_entries), (1, 0, 1));
}

#[test]
fn purge_memory_then_disk_hit() {
    let dir = tempfile::tempdir().unwrap();
    let cache = ClipCache::new(1 << 30, Some(DiskCache::new(dir.path(), 1 << 30)));
    fetch(&cache, key("p"), || Ok(clip(1.0))).unwrap();
    cache.purge_memory();
    assert_eq!((cache.stats().memory_entries, cache.stats().memory_bytes), (0, 0));
    let again = fetch(&cache, key("p"), || Err("no".into())).unwrap();
    assert_eq!(*again, clip(1.0));
    assert_eq!(cache.stats().disk_hits, 1);
    assert!(cache.get(key("p")).is_some());
    assert!(cache.get(key("absent")).is_none());
}

#[test]
fn corrupt_files_are_deleted_and_regenerated() {
    let k = key("corrupt");
    let other = key("other");
    type Damage = fn(&Path, &Path);
    let damages: [(&str, Damage); 6] = [
        ("flipped sample", |p, _| {
            let mut b = fs::read(p).unwrap();
            let i = b.len() - 20;
            b[i] ^= 0x40;
            fs::write(p, b).unwrap();
        }),
        ("truncated", |p, _| {
            let b = fs::read(p).unwrap();
            fs::write(p, &b[..b.len() - 9]).unwrap();
        }),
        ("bad magic", |p, _| {
            let mut b = fs::read(p).unwrap();
            b[0] = b'X';
            fs::write(p, b).unwrap();
        }),
        ("other version", |p, _| {
            let mut b = fs::read(p).unwrap();
            b[8] = 99;
            fs::write(p, b).unwrap();
        }),
        ("wrong shape", |p, _| {
            let mut b = fs::read(p).unwrap();
            b[48] = 4; // first frame's channel count
            fs::write(p, b).unwrap();
        }),
        ("another key's file", |p, other| fs::copy(other, p).map(|_| ()).unwrap()),
    ];
    for (what, damage) in damages {
        let dir = tempfile::tempdir().unwrap();
        let disk = DiskCache::new(dir.path(), 1 << 30);
        assert!(disk.store(k, &clip(1.0)).unwrap());
        assert!(disk.store(other, &clip(2.0)).unwrap());
        damage(&disk.path_for(k), &disk.path_for(other));
        assert!(matches!(disk.load(k).unwrap(), DiskLookup::Corrupt(_)), "{what}");
        assert!(!disk.path_for(k).exists(), "{what}: the bad file is deleted");

        // Again, seen through the cache: deleted, regenerated, replaced by a valid file.
        assert!(disk.store(k, &clip(1.0)).unwrap());
        damage(&disk.path_for(k), &disk.path_for(other));
        let cache = ClipCache::new(1 << 30, Some(disk));
        let c = fetch(&cache, k, || Ok(clip(5.0))).unwrap();
        assert_eq!(*c, clip(5.0), "{what}");
        let st = cache.stats();
        assert_eq!((st.disk_corrupt, st.generations_started, st.disk_hits), (1, 1, 0), "{what}");
        assert!(st.last_disk_error.unwrap().contains("deleted"), "{what}");
        assert!(matches!(cache.disk().unwrap().load(k).unwrap(), DiskLookup::Hit(ref c) if *c == clip(5.0)), "{what}");
    }
}

#[test]
fn half_written_temp_files_are_never_read_and_stale_ones_are_swept() {
    let dir = tempfile::tempdir().unwrap();
    let disk = DiskCache::new(dir.path(), 1 << 30);
    let k = key("temp");
    let stale = dir.path().join(format!(".{k}.1.0.tmp"));
    let fresh = dir.path().join(format!(".{k}.2.0.tmp"));
    fs::write(&stale, b"KNMCLIP\0partial").unwrap();
    fs::write(&fresh, b"KNMCLIP\0partial").unwrap();
    let old = SystemTime::now() - STALE_TEMP_AGE - Duration::from_secs(60);
    fs::File::options().write(true).open(&stale).unwrap().set_modified(old).unwrap();
    assert!(matches!(disk.load(k).unwrap(), DiskLookup::Miss), "a temp file is not an entry");
    assert!(!stale.exists(), "a dead writer's temp file is removed");
    assert!(fresh.exists(), "a live writer's temp file is left alone");
}

#[test]
fn memory_bound_evicts_least_recently_used() {
    let per_clip = clip(0.0).bytes();
    let cache = ClipCache::new(per_clip * 5 / 2, None);
    for name in ["a", "b", "c"] {
        fetch(&cache, key(name), || Ok(clip(1.0))).unwrap();
    }
    let st = cache.stats();
    assert_eq!(st.memory_entries, 2);
    assert!(st.memory_bytes <= per_clip * 5 / 2);
    assert!(cache.get(key("a")).is_none(), "oldest evicted");
    assert!(cache.get(key("c")).is_some());
    // Evicted and no disk: asking again generates again.
    fetch(&cache, key("a"), || Ok(clip(1.0))).unwrap();
    assert_eq!(cache.stats().generations_started, 4);
}

#[test]
fn disk_bound_evicts_least_recently_used_by_mtime() {
    let dir = tempfile::tempdir().unwrap();
    let size = encoded_len(&clip(0.0));
    let disk = DiskCache::new(dir.path(), size * 5 / 2);
    let (a, b, c) = (key("a"), key("b"), key("c"));
    assert!(disk.store(a, &clip(1.0)).unwrap());
    assert!(disk.store(b, &clip(2.0)).unwrap());
    let now = SystemTime::now();
    let set = |k: ClipKey, t: SystemTime| {
        fs::File::options().write(true).open(disk.path_for(k)).unwrap().set_modified(t).unwrap();
    };
    set(a, now - Duration::from_secs(300));
    set(b, now - Duration::from_secs(200));
    // Reading `a` makes it the most recently used.
    assert!(matches!(disk.load(a).unwrap(), DiskLookup::Hit(_)));
    let touched = fs::metadata(disk.path_for(a)).unwrap().modified().unwrap();
    assert!(touched > now - Duration::from_secs(100), "a read bumps the mtime");
    assert!(disk.store(c, &clip(3.0)).unwrap());
    assert!(disk.path_for(a).exists() && disk.path_for(c).exists());
    assert!(!disk.path_for(b).exists(), "least recently used entry evicted");
    assert!(disk.bytes() <= disk.max_bytes());
    // A clip larger than the whole bound is not written at all.
    let big = GeneratedClip { frames: (0..8).map(|i| frame(i as f32, 3, 4, 5)).collect(), fps: 24.0 };
    assert!(!disk.store(key("big"), &big).unwrap());
    assert!(!disk.path_for(key("big")).exists());
}

#[test]
fn inconsistent_frames_are_refused_by_disk() {
    let dir = tempfile::tempdir().unwrap();
    let disk = DiskCache::new(dir.path(), 1 << 30);
    let bad = GeneratedClip { frames: vec![Frame { channels: 3, height: 2, width: 2, data: vec![0.0; 5] }], fps: 24.0 };
    let err = disk.store(key("bad"), &bad).unwrap_err();
    assert!(err.to_string().contains("frame 0 holds 5 samples"), "{err}");
    assert!(files_in(dir.path()).is_empty());
}

#[test]
fn unwritable_disk_does_not_fail_the_render() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("not-a-dir");
    fs::write(&blocker, b"").unwrap();
    let cache = ClipCache::new(1 << 30, Some(DiskCache::new(blocker.join("clips"), 1 << 30)));
    let c = fetch(&cache, key("w"), || Ok(clip(1.0))).unwrap();
    assert_eq!(*c, clip(1.0));
    let st = cache.stats();
    // The lookup and the lock before generating and the write after all fail; none reaches the
    // caller.
    assert_eq!((st.disk_writes, st.disk_errors), (0, 3));
    assert!(st.last_disk_error.unwrap().contains("writing"));
}

#[test]
fn kept_states_come_back_from_memory_and_from_disk_in_another_cache() {
    let dir = tempfile::tempdir().unwrap();
    let first = ClipCache::new(1 << 20, Some(DiskCache::new(dir.path(), 1 << 20)));
    assert!(first.kept(key("window 0")).is_none());
    first.keep(key("window 0"), clip(1.0));
    assert_eq!(*first.kept(key("window 0")).unwrap(), clip(1.0));
    // Another process sharing the disk cache.
    let second = ClipCache::new(1 << 20, Some(DiskCache::new(dir.path(), 1 << 20)));
    assert_eq!(*second.kept(key("window 0")).unwrap(), clip(1.0));
    assert!(second.kept(key("window 1")).is_none());
}
