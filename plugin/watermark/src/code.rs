//! The channel code: payload bits with a CRC over the "Kinema" magic, a rate-1/2 convolutional code
//! (K = 7, the NASA/CCSDS pair 171/133) decoded with soft Viterbi, and the fixed pseudo-random
//! interleaving and dither that place coded bits on the frame's slots.
//!
//! The magic is never transmitted: it only enters the CRC, so a frame decodes to a valid word only if
//! it was marked by this code, at no cost in capacity.

use crate::Payload;

/// Payload bits (model, seed, shot) plus the CRC-32.
pub(crate) const INFO_BITS: usize = 96 + 32;
/// Zero bits that return the encoder to state 0, so the decoder knows both ends of the trellis.
const TAIL: usize = 6;
/// Coded bits per frame.
pub(crate) const CODED_BITS: usize = 2 * (INFO_BITS + TAIL);
const G0: u32 = 0o171;
const G1: u32 = 0o133;
/// Enters the CRC only; see the module doc.
const MAGIC: &[u8] = b"Kinema";
/// Fixed key of the interleaver and dither; changing it makes every earlier mark unreadable.
const KEY: u64 = 0x4B69_6E65_6D61_5F31;

fn crc(p: &Payload) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(MAGIC);
    h.update(&p.model.to_be_bytes());
    h.update(&p.seed.to_be_bytes());
    h.update(&p.shot.to_be_bytes());
    h.finalize()
}

fn info_bits(p: &Payload) -> Vec<u8> {
    [p.model, p.seed, p.shot, crc(p)].iter().flat_map(|w| (0..32).rev().map(move |i| ((w >> i) & 1) as u8)).collect()
}

fn word(bits: &[u8]) -> u32 {
    bits.iter().fold(0u32, |acc, &b| (acc << 1) | u32::from(b))
}

/// The payload's coded bits (0/1), CODED_BITS long.
pub(crate) fn encode(p: &Payload) -> Vec<u8> {
    let mut bits = info_bits(p);
    bits.resize(INFO_BITS + TAIL, 0);
    let mut sr = 0u32;
    let mut out = Vec::with_capacity(CODED_BITS);
    for b in bits {
        sr = ((sr << 1) | u32::from(b)) & 0x7F;
        out.push(((sr & G0).count_ones() & 1) as u8);
        out.push(((sr & G1).count_ones() & 1) as u8);
    }
    out
}

/// Soft Viterbi over per-coded-bit soft values (positive means 0). Returns the payload when the CRC
/// holds, else None.
pub(crate) fn decode(soft: &[f32]) -> Option<Payload> {
    let (p, check) = viterbi(soft)?;
    (check == crc(&p)).then_some(p)
}

/// The most likely payload and CRC word, whether or not they match.
pub(crate) fn viterbi(soft: &[f32]) -> Option<(Payload, u32)> {
    if soft.len() != CODED_BITS {
        return None;
    }
    let steps = INFO_BITS + TAIL;
    let mut metric = [f32::NEG_INFINITY; 64];
    metric[0] = 0.0;
    // One decision bit per (step, state): the high bit of the predecessor.
    let mut decisions = vec![0u64; steps];
    for (t, pair) in soft.chunks_exact(2).enumerate() {
        let mut next = [f32::NEG_INFINITY; 64];
        for (n, slot) in next.iter_mut().enumerate() {
            let u = (n & 1) as u32;
            if t >= INFO_BITS && u == 1 {
                continue;
            }
            for hb in 0..2usize {
                let prev = (hb << 5) | (n >> 1);
                if metric[prev] == f32::NEG_INFINITY {
                    continue;
                }
                let sr = ((hb as u32) << 6) | n as u32;
                let o0 = if (sr & G0).count_ones() & 1 == 0 { pair[0] } else { -pair[0] };
                let o1 = if (sr & G1).count_ones() & 1 == 0 { pair[1] } else { -pair[1] };
                let m = metric[prev] + o0 + o1;
                if m > *slot {
                    *slot = m;
                    if hb == 1 {
                        decisions[t] |= 1 << n;
                    } else {
                        decisions[t] &= !(1 << n);
                    }
                }
            }
        }
        metric = next;
    }
    let mut state = 0usize;
    let mut bits = vec![0u8; steps];
    for t in (0..steps).rev() {
        bits[t] = (state & 1) as u8;
        let hb = ((decisions[t] >> state) & 1) as usize;
        state = (hb << 5) | (state >> 1);
    }
    let p = Payload { model: word(&bits[0..32]), seed: word(&bits[32..64]), shot: word(&bits[64..96]) };
    Some((p, word(&bits[96..128])))
}

/// splitmix64: a tiny, fixed, platform-independent generator for the interleaver and dither.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
}

/// Which coded bit each slot carries, and its dither as a fraction of the quantiser step. Every
/// coded bit gets slots spread over the whole frame, so a damaged region costs scattered bits.
pub(crate) struct Layout {
    pub bit: Vec<Option<usize>>,
    pub dither: Vec<f32>,
}

impl Layout {
    /// `used[slot]`: whether the slot carries a bit (None in `bit` when not).
    pub(crate) fn new(used: &[bool]) -> Layout {
        let mut rng = Rng(KEY);
        let n = used.iter().filter(|&&u| u).count();
        let mut order: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            let j = (rng.next() % (i as u64 + 1)) as usize;
            order.swap(i, j);
        }
        let mut next = order.iter().map(|&o| o % CODED_BITS);
        let bit = used.iter().map(|&u| if u { next.next() } else { None }).collect();
        let dither = used.iter().map(|_| rng.unit()).collect();
        Layout { bit, dither }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_corrections() {
        let p = Payload { model: 0xDEAD_BEEF, seed: 42, shot: 0x0123_4567 };
        let coded = encode(&p);
        assert_eq!(coded.len(), CODED_BITS);
        let mut soft: Vec<f32> = coded.iter().map(|&b| if b == 0 { 1.0 } else { -1.0 }).collect();
        assert_eq!(decode(&soft), Some(p));
        // Flip every 12th coded bit: the code corrects them.
        for s in soft.iter_mut().step_by(12) {
            *s = -*s;
        }
        assert_eq!(decode(&soft), Some(p));
        assert_eq!(decode(&soft[1..]), None);
        assert_eq!(decode(&vec![0.5; CODED_BITS]), None);
    }
}
