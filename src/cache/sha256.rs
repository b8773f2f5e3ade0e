//! SHA-256 (FIPS 180-4): the digest that names cache entries and checks their bytes.
//!
//! A cache key must be stable across jitld builds and Rust versions (std's `DefaultHasher`
//! is not), and a collision would load the wrong code, so the hash is a cryptographic one.
//! It is small enough to keep here rather than pull in a crate for it.

/// The first 32 bits of the fractional parts of the cube roots of the first 64 primes.
const ROUND: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
    0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
    0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
    0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
    0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
    0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
    0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2,
];

/// The first 32 bits of the fractional parts of the square roots of the first 8 primes.
const INITIAL: [u32; 8] =
    [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];

/// A digest being computed; feed it with `update`, read it with `finish`.
#[derive(Clone)]
pub struct Sha256 {
    state: [u32; 8],
    /// Bytes not yet compressed (fewer than one 64-byte block).
    pending: Vec<u8>,
    total: u64,
}

impl Default for Sha256 {
    fn default() -> Self {
        Sha256 { state: INITIAL, pending: Vec::with_capacity(64), total: 0 }
    }
}

impl Sha256 {
    pub fn digest(bytes: &[u8]) -> [u8; 32] {
        let mut hasher = Sha256::default();
        hasher.update(bytes);
        hasher.finish()
    }

    pub fn update(&mut self, mut bytes: &[u8]) {
        self.total = self.total.wrapping_add(bytes.len() as u64);
        if !self.pending.is_empty() {
            let take = (64 - self.pending.len()).min(bytes.len());
            self.pending.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.pending.len() < 64 {
                return;
            }
            let block: [u8; 64] = self.pending[..].try_into().unwrap_or([0; 64]);
            compress(&mut self.state, &block);
            self.pending.clear();
        }
        let whole = bytes.len() / 64 * 64;
        compress_blocks(&mut self.state, &bytes[..whole]);
        self.pending.extend_from_slice(&bytes[whole..]);
    }

    pub fn finish(mut self) -> [u8; 32] {
        let bits = self.total.wrapping_mul(8);
        // The padding: one bit, zeros up to 8 bytes short of a block, the length in bits.
        let zeros = (64 + 55 - self.pending.len() % 64) % 64;
        let mut tail = vec![0x80u8];
        tail.resize(1 + zeros, 0);
        tail.extend_from_slice(&bits.to_be_bytes());
        let total = self.total;
        self.update(&tail);
        self.total = total;
        let mut out = [0u8; 32];
        for (chunk, word) in out.chunks_exact_mut(4).zip(self.state) {
            chunk.copy_from_slice(&word.to_be_bytes());
        }
        out
    }
}

/// Compresses whole 64-byte blocks: with the CPU's SHA instructions where it has them
/// (an order of magnitude faster, which a warm start hashing its inputs notices).
fn compress_blocks(state: &mut [u32; 8], blocks: &[u8]) {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("sha") && is_x86_feature_detected!("sse4.1") && is_x86_feature_detected!("ssse3") {
        // SAFETY: the features it is compiled for are present.
        return unsafe { sha_ni::compress_blocks(state, blocks) };
    }
    for block in blocks.chunks_exact(64) {
        let block: &[u8; 64] = block.try_into().unwrap_or(&[0; 64]);
        compress(state, block);
    }
}

#[cfg(target_arch = "x86_64")]
mod sha_ni {
    use super::ROUND;
    use std::arch::x86_64::*;

    /// The x86 SHA extensions keep the state as two vectors, ABEF and CDGH; each
    /// `sha256rnds2` does two rounds, and `sha256msg1`/`sha256msg2` extend the schedule
    /// four words at a time.
    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    pub unsafe fn compress_blocks(state: &mut [u32; 8], blocks: &[u8]) {
        // Big-endian words to the CPU's order.
        let swap = _mm_set_epi64x(0x0c0d_0e0f_0809_0a0b, 0x0405_0607_0001_0203);
        let dcba = _mm_shuffle_epi32(_mm_loadu_si128(state.as_ptr() as *const __m128i), 0xB1);
        let efgh = _mm_shuffle_epi32(_mm_loadu_si128(state.as_ptr().add(4) as *const __m128i), 0x1B);
        let mut abef = _mm_alignr_epi8(dcba, efgh, 8);
        let mut cdgh = _mm_blend_epi16(efgh, dcba, 0xF0);
        for block in blocks.chunks_exact(64) {
            let (abef_before, cdgh_before) = (abef, cdgh);
            let mut w = [_mm_setzero_si128(); 16];
            for (g, word) in w.iter_mut().take(4).enumerate() {
                *word = _mm_shuffle_epi8(_mm_loadu_si128(block.as_ptr().add(16 * g) as *const __m128i), swap);
            }
            for g in 4..16 {
                let sigma0 = _mm_sha256msg1_epu32(w[g - 4], w[g - 3]);
                let with_w7 = _mm_add_epi32(sigma0, _mm_alignr_epi8(w[g - 1], w[g - 2], 4));
                w[g] = _mm_sha256msg2_epu32(with_w7, w[g - 1]);
            }
            for (g, words) in w.iter().enumerate() {
                let k = _mm_loadu_si128(ROUND.as_ptr().add(4 * g) as *const __m128i);
                let wk = _mm_add_epi32(*words, k);
                cdgh = _mm_sha256rnds2_epu32(cdgh, abef, wk);
                abef = _mm_sha256rnds2_epu32(abef, cdgh, _mm_shuffle_epi32(wk, 0x0E));
            }
            abef = _mm_add_epi32(abef, abef_before);
            cdgh = _mm_add_epi32(cdgh, cdgh_before);
        }
        let feba = _mm_shuffle_epi32(abef, 0x1B);
        let dchg = _mm_shuffle_epi32(cdgh, 0xB1);
        _mm_storeu_si128(state.as_mut_ptr() as *mut __m128i, _mm_blend_epi16(feba, dchg, 0xF0));
        _mm_storeu_si128(state.as_mut_ptr().add(4) as *mut __m128i, _mm_alignr_epi8(dchg, feba, 8));
    }
}

fn compress(state: &mut [u32; 8], block: &[u8; 64]) {
    let mut schedule = [0u32; 64];
    for (word, bytes) in schedule.iter_mut().zip(block.chunks_exact(4)) {
        *word = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    }
    for t in 16..64 {
        let (w15, w2) = (schedule[t - 15], schedule[t - 2]);
        let s0 = w15.rotate_right(7) ^ w15.rotate_right(18) ^ (w15 >> 3);
        let s1 = w2.rotate_right(17) ^ w2.rotate_right(19) ^ (w2 >> 10);
        schedule[t] = schedule[t - 16].wrapping_add(s0).wrapping_add(schedule[t - 7]).wrapping_add(s1);
    }
    let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut h] = *state;
    for (k, w) in ROUND.iter().zip(schedule) {
        let big_s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
        let choose = (e & f) ^ (!e & g);
        let t1 = h.wrapping_add(big_s1).wrapping_add(choose).wrapping_add(*k).wrapping_add(w);
        let big_s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
        let majority = (a & b) ^ (a & c) ^ (b & c);
        let t2 = big_s0.wrapping_add(majority);
        (h, g, f, e, d, c, b, a) = (g, f, e, d.wrapping_add(t1), c, b, a, t1.wrapping_add(t2));
    }
    for (word, add) in state.iter_mut().zip([a, b, c, d, e, f, g, h]) {
        *word = word.wrapping_add(add);
    }
}

/// Lower-case hexadecimal, two digits a byte.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Agrees with coreutils' `sha256sum` on the lengths around the padding's edges and on
    /// input fed in uneven pieces.
    #[test]
    fn agrees_with_sha256sum() {
        let Ok(probe) = std::process::Command::new("sha256sum").arg("--version").output() else { return };
        assert!(probe.status.success());
        for len in [0usize, 1, 3, 55, 56, 57, 63, 64, 65, 119, 120, 128, 1000, 100_003] {
            let data: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            let mut child = std::process::Command::new("sha256sum")
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            use std::io::Write;
            child.stdin.take().unwrap().write_all(&data).unwrap();
            let out = child.wait_with_output().unwrap();
            let expected = String::from_utf8(out.stdout).unwrap();
            let expected = expected.split_whitespace().next().unwrap().to_string();
            assert_eq!(hex(&Sha256::digest(&data)), expected, "length {len}");
            let mut pieces = Sha256::default();
            for piece in data.chunks(7) {
                pieces.update(piece);
            }
            assert_eq!(hex(&pieces.finish()), expected, "length {len} in 7-byte pieces");
        }
    }

    #[test]
    fn the_cpu_instructions_agree_with_the_portable_rounds() {
        let data: Vec<u8> = (0..64 * 40).map(|i: usize| (i.wrapping_mul(2_654_435_761) >> 7) as u8).collect();
        let (mut fast, mut portable) = (INITIAL, INITIAL);
        compress_blocks(&mut fast, &data);
        for block in data.chunks_exact(64) {
            compress(&mut portable, block.try_into().unwrap());
        }
        assert_eq!(fast, portable);
    }

    #[test]
    fn known_vector() {
        assert_eq!(hex(&Sha256::digest(b"abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
