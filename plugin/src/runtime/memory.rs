//! How much memory the machine has: whether a large model's sessions can all stay loaded.

/// Physical memory in bytes, where the platform says (Linux, macOS).
pub fn physical_bytes() -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        let text = std::fs::read_to_string("/proc/meminfo").ok()?;
        let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        kib.checked_mul(1024)
    }
    #[cfg(target_os = "macos")]
    {
        let mut bytes: u64 = 0;
        let mut len = std::mem::size_of::<u64>();
        // SAFETY: the name is NUL-terminated; `bytes` and `len` are valid for the u64 sysctl writes.
        let rc = unsafe {
            libc::sysctlbyname(
                c"hw.memsize".as_ptr(),
                (&mut bytes as *mut u64).cast(),
                &mut len,
                std::ptr::null_mut(),
                0,
            )
        };
        (rc == 0 && bytes > 0).then_some(bytes)
    }
    #[cfg(not(any(target_os = "linux", target_os = "macos")))]
    {
        None
    }
}

/// A graph's bytes on disk: the `.onnx` and its `.onnx.data` (0 when unreadable).
pub fn graph_bytes(model: &std::path::Path) -> u64 {
    let mut data = model.as_os_str().to_owned();
    data.push(".data");
    [model.to_path_buf(), std::path::PathBuf::from(data)]
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(any(target_os = "linux", target_os = "macos"))]
    fn this_machine_reports_its_memory() {
        let bytes = physical_bytes().expect("memory size");
        assert!(bytes > 256 << 20, "{bytes}");
    }

    #[test]
    fn a_graph_counts_its_external_data() {
        let dir = tempfile::tempdir().unwrap();
        let g = dir.path().join("g.onnx");
        std::fs::write(&g, [0u8; 10]).unwrap();
        assert_eq!(graph_bytes(&g), 10);
        std::fs::write(dir.path().join("g.onnx.data"), [0u8; 32]).unwrap();
        assert_eq!(graph_bytes(&g), 42);
    }
}
