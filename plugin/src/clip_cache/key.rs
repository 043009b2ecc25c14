//! Cache keys: a 128-bit xxh3 digest of labelled, typed fields.
//!
//! The hash is seedless and the encoding fixed (little-endian, length-prefixed), so a key is
//! the same in every run and process: the disk cache survives restarts. Changing the encoding
//! changes every key; the `key_is_stable` test pins one value so that cannot happen by accident.

use std::fmt;

use xxhash_rust::xxh3::Xxh3Default;

use crate::frame_io::Frame;

/// Identifies one generated clip (model, prompt, seed, inputs, ...). Prints as 32 hex digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClipKey(u128);

impl ClipKey {
    pub const fn from_u128(value: u128) -> Self {
        ClipKey(value)
    }

    pub const fn as_u128(self) -> u128 {
        self.0
    }

    /// 32 lowercase hex digits (also the disk file stem).
    pub fn hex(self) -> String {
        format!("{:032x}", self.0)
    }
}

impl fmt::Display for ClipKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

// One tag per field kind, so `str("a", "1")` and `int("a", 1)` never collide.
const TAG_STR: u8 = 1;
const TAG_INT: u8 = 2;
const TAG_UINT: u8 = 3;
const TAG_FLOAT: u8 = 4;
const TAG_BOOL: u8 = 5;
const TAG_BYTES: u8 = 6;
const TAG_FRAME: u8 = 7;

/// Frame samples are hashed through a stack buffer of this many values.
const FRAME_CHUNK: usize = 4096;

/// Feeds labelled fields into the key. Order matters; labels keep fields from shifting into
/// each other (every variable-length part is length-prefixed).
#[derive(Clone)]
pub struct KeyBuilder {
    hasher: Xxh3Default,
}

impl KeyBuilder {
    /// `domain` names what is keyed (e.g. `"generate/v1"`); bump it when the meaning of a
    /// cached clip changes so old entries are never served.
    pub fn new(domain: &str) -> Self {
        let mut b = KeyBuilder { hasher: Xxh3Default::new() };
        b.hasher.update(b"kinema-clip-key\0");
        b.raw_str(domain);
        b
    }

    fn raw_str(&mut self, s: &str) {
        self.hasher.update(&(s.len() as u64).to_le_bytes());
        self.hasher.update(s.as_bytes());
    }

    fn field(&mut self, tag: u8, label: &str) {
        self.hasher.update(&[tag]);
        self.raw_str(label);
    }

    pub fn str(mut self, label: &str, value: &str) -> Self {
        self.field(TAG_STR, label);
        self.raw_str(value);
        self
    }

    pub fn int(mut self, label: &str, value: i64) -> Self {
        self.field(TAG_INT, label);
        self.hasher.update(&value.to_le_bytes());
        self
    }

    pub fn uint(mut self, label: &str, value: u64) -> Self {
        self.field(TAG_UINT, label);
        self.hasher.update(&value.to_le_bytes());
        self
    }

    /// Hashed by bits: `0.0` and `-0.0` differ, as do NaN payloads (parameters are exact values).
    pub fn float(mut self, label: &str, value: f64) -> Self {
        self.field(TAG_FLOAT, label);
        self.hasher.update(&value.to_bits().to_le_bytes());
        self
    }

    pub fn bool(mut self, label: &str, value: bool) -> Self {
        self.field(TAG_BOOL, label);
        self.hasher.update(&[u8::from(value)]);
        self
    }

    pub fn bytes(mut self, label: &str, value: &[u8]) -> Self {
        self.field(TAG_BYTES, label);
        self.hasher.update(&(value.len() as u64).to_le_bytes());
        self.hasher.update(value);
        self
    }

    /// Shape plus the exact bits of every sample (an input image for Animate/Extend).
    pub fn frame(mut self, label: &str, frame: &Frame) -> Self {
        self.field(TAG_FRAME, label);
        for dim in [frame.channels, frame.height, frame.width, frame.data.len()] {
            self.hasher.update(&(dim as u64).to_le_bytes());
        }
        let mut buf = [0u8; FRAME_CHUNK * 4];
        for chunk in frame.data.chunks(FRAME_CHUNK) {
            for (dst, v) in buf.chunks_exact_mut(4).zip(chunk) {
                dst.copy_from_slice(&v.to_bits().to_le_bytes());
            }
            self.hasher.update(&buf[..chunk.len() * 4]);
        }
        self
    }

    pub fn finish(&self) -> ClipKey {
        ClipKey(self.hasher.digest128())
    }
}
