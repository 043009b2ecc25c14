//! Allocations whose size comes from outside (a host's image, a manifest, a file, an argument).
//! A failed `vec!` aborts the whole host process, whatever `catch_unwind` does; these return an
//! error that names what the memory was for instead.

use super::{Frame, FrameIoError};

/// Memory for `what` could not be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not enough memory for {what} ({})", describe_bytes(*.bytes))]
pub struct OutOfMemory {
    pub what: String,
    /// Bytes asked for (`None`: more than the address space holds).
    pub bytes: Option<usize>,
}

fn describe_bytes(bytes: Option<usize>) -> String {
    match bytes {
        Some(b) if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64),
        Some(b) => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        None => "more than the address space".into(),
    }
}

/// `len` copies of `value`, or an error naming `what` when the memory cannot be had.
pub fn try_filled<T: Clone>(len: usize, value: T, what: &str) -> Result<Vec<T>, OutOfMemory> {
    let bytes = len.checked_mul(std::mem::size_of::<T>()).filter(|&b| b <= isize::MAX as usize);
    let fail = || OutOfMemory { what: what.to_string(), bytes };
    bytes.ok_or_else(fail)?;
    let mut v = Vec::new();
    v.try_reserve_exact(len).map_err(|_| fail())?;
    v.resize(len, value);
    Ok(v)
}

/// `len` default values (zeros), or an error naming `what`.
pub fn try_zeroed<T: Clone + Default>(len: usize, what: &str) -> Result<Vec<T>, OutOfMemory> {
    try_filled(len, T::default(), what)
}

impl Frame {
    /// A zeroed frame, or [`FrameIoError::OutOfMemory`] when its size cannot be allocated.
    pub fn try_new(channels: usize, height: usize, width: usize) -> Result<Frame, FrameIoError> {
        let fail = || FrameIoError::OutOfMemory { channels, height, width };
        let n = channels.checked_mul(height).and_then(|n| n.checked_mul(width)).ok_or_else(fail)?;
        let data = match super::pool::global().take_zeroed(n) {
            Some(kept) => kept,
            None => try_zeroed(n, "a frame").map_err(|_| fail())?,
        };
        Ok(Frame { channels, height, width, data })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn impossible_sizes_are_errors_naming_what_they_were_for() {
        let err = try_zeroed::<f32>(usize::MAX / 2, "the padded frames").unwrap_err();
        assert_eq!(err.bytes, None);
        assert!(err.to_string().contains("not enough memory for the padded frames"), "{err}");
        // Fits the address space on paper, not in any machine's memory.
        let err = try_zeroed::<u8>(isize::MAX as usize - 1, "a test buffer").unwrap_err();
        assert!(err.to_string().contains("GiB"), "{err}");
        assert_eq!(try_filled(3, 7u8, "x").unwrap(), [7, 7, 7]);
        let err = Frame::try_new(4, 1 << 31, 1 << 31).unwrap_err();
        assert!(err.to_string().contains("cannot allocate a 4x2147483648x2147483648 f32 frame"), "{err}");
        assert_eq!(Frame::try_new(3, 2, 5).unwrap(), Frame::new(3, 2, 5));
    }
}
