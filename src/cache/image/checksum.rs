//! A fast 128-bit checksum for prelinked images: a warm start checks every byte it maps,
//! so the check must cost far less than the start itself (SHA-256 took ~0.9 ms per MB here).
//!
//! It detects damage (a flipped bit, a zeroed page, blocks swapped or cut), not tampering:
//! anyone who can write the cache directory can already replace an entry whole, checksum
//! and all. The input is read in 64-byte stripes of eight 64-bit words, one per lane. Each
//! word is mixed with a key that differs per lane and per stripe (so equal words at other
//! places count differently), multiplied 32 × 32 → 64 bits (which compilers turn into
//! vector multiplies), and added to its lane together with the word itself; every 16 stripes
//! the lanes are stirred with a full 64-bit multiply, so the order of the 1 KiB blocks
//! counts too. The tail is zero-padded, and the length goes into the final mix of the lanes
//! into two 64-bit halves.

const LANES: usize = 8;
const STRIPE: usize = LANES * 8;
const STRIPES_PER_BLOCK: usize = 16;
const BLOCK: usize = STRIPE * STRIPES_PER_BLOCK;

/// The lanes' starting values, and their keys' starting values (odd 64-bit constants
/// chosen at random).
const START: [u64; LANES] = [
    0x6a1f_3c55_9e27_b0c1,
    0x0d8e_71a4_c3f9_5b27,
    0xb45c_29e0_7f1d_8a63,
    0x3e97_d6c8_1054_f2ad,
    0x82c1_5f3b_e9a6_0d75,
    0x5fd0_8b27_46ec_139b,
    0xc7a3_e418_2bd5_6f09,
    0x19b6_4d7f_a830_c5e3,
];
const KEY: [u64; LANES] = [
    0x9e2d_41c7_5a8b_f361,
    0x47f8_b90e_1d6c_a2d5,
    0xd13a_6c5f_e087_4b19,
    0x2c5e_f783_94a1_0d6b,
    0x8b07_1ad4_6fc2_e95f,
    0x61e9_c532_b7d8_4a07,
    0xf4a6_2e9b_035d_c8c3,
    0x3b81_d76e_c924_5f2f,
];
/// Added to every lane's key after each stripe.
const KEY_STEP: u64 = 0x7c15_9d3e_a2b6_4f8b;
const STIR: u64 = 0x9fb2_1c65_1e98_df25;

/// The checksum of `bytes`.
pub fn checksum(bytes: &[u8]) -> [u8; 16] {
    let mut lanes = START;
    let whole = bytes.len() / STRIPE * STRIPE;
    absorb(&mut lanes, &bytes[..whole]);
    let mut tail = [0u8; STRIPE];
    tail[..bytes.len() - whole].copy_from_slice(&bytes[whole..]);
    // The tail continues the block the whole stripes ended in, with that stripe's keys.
    let stripes_done = whole / STRIPE;
    absorb_stripe(&mut lanes, &tail, stripe_keys(stripes_done % STRIPES_PER_BLOCK));
    finish(&lanes, bytes.len() as u64)
}

fn stripe_keys(index_in_block: usize) -> [u64; LANES] {
    let mut keys = KEY;
    for key in &mut keys {
        *key = key.wrapping_add(KEY_STEP.wrapping_mul(index_in_block as u64));
    }
    keys
}

#[inline(always)]
fn absorb_stripe(lanes: &mut [u64; LANES], stripe: &[u8], keys: [u64; LANES]) {
    for i in 0..LANES {
        let mut word = [0u8; 8];
        word.copy_from_slice(&stripe[i * 8..i * 8 + 8]);
        let word = u64::from_le_bytes(word);
        let mixed = word ^ keys[i];
        let product = (mixed & 0xffff_ffff).wrapping_mul(mixed >> 32);
        lanes[i] = lanes[i].wrapping_add(product).wrapping_add(word.rotate_left(32));
    }
}

#[inline(always)]
fn stir(lanes: &mut [u64; LANES]) {
    for lane in lanes.iter_mut() {
        *lane = (*lane ^ (*lane >> 31)).wrapping_mul(STIR);
    }
}

/// Whole stripes (`bytes.len()` is a multiple of `STRIPE`). Compilers vectorize it for the
/// baseline instruction set (SSE2 on x86-64, two lanes per multiply). An AVX2 build of it
/// was ~1.5x faster, but held instructions Valgrind cannot run, and `jitld run --cache`
/// must run under callgrind like everything else.
fn absorb(lanes: &mut [u64; LANES], bytes: &[u8]) {
    let mut blocks = bytes.chunks_exact(BLOCK);
    for block in &mut blocks {
        let mut keys = KEY;
        for stripe in block.chunks_exact(STRIPE) {
            absorb_stripe(lanes, stripe, keys);
            for key in &mut keys {
                *key = key.wrapping_add(KEY_STEP);
            }
        }
        stir(lanes);
    }
    let mut keys = KEY;
    for stripe in blocks.remainder().chunks_exact(STRIPE) {
        absorb_stripe(lanes, stripe, keys);
        for key in &mut keys {
            *key = key.wrapping_add(KEY_STEP);
        }
    }
}

fn avalanche(mut x: u64) -> u64 {
    x ^= x >> 32;
    x = x.wrapping_mul(0xd6e8_feb8_6659_fd93);
    x ^= x >> 29;
    x = x.wrapping_mul(0xa3b1_95c4_4d2e_7f0b);
    x ^ (x >> 32)
}

fn finish(lanes: &[u64; LANES], len: u64) -> [u8; 16] {
    let mut low = avalanche(len ^ 0x243f_6a88_85a3_08d3);
    let mut high = avalanche(len.rotate_left(17) ^ 0x1319_8a2e_0370_7344);
    for (i, &lane) in lanes.iter().enumerate() {
        low = avalanche(low ^ lane).wrapping_add(i as u64);
        high = avalanche(high.wrapping_add(lane.rotate_left(23)) ^ low);
    }
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&low.to_le_bytes());
    out[8..].copy_from_slice(&high.to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(len: usize) -> Vec<u8> {
        let mut x = 0x1234_5678_9abc_def1u64;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    #[test]
    fn every_flipped_bit_and_cut_changes_it() {
        let bytes = sample(3 * BLOCK + 100);
        let whole = checksum(&bytes);
        for at in (0..bytes.len()).step_by(7) {
            for bit in [0, 3, 7] {
                let mut bad = bytes.clone();
                bad[at] ^= 1 << bit;
                assert_ne!(checksum(&bad), whole, "bit {bit} of byte {at}");
            }
        }
        for len in 0..bytes.len() {
            assert_ne!(checksum(&bytes[..len]), whole, "cut at {len}");
        }
    }

    #[test]
    fn zeros_of_any_length_differ_and_moved_blocks_count() {
        let mut seen = std::collections::HashSet::new();
        for len in 0..3 * BLOCK {
            assert!(seen.insert(checksum(&vec![0u8; len])), "zeros of length {len}");
        }
        let bytes = sample(4 * BLOCK);
        let mut swapped = bytes.clone();
        swapped[..BLOCK].copy_from_slice(&bytes[BLOCK..2 * BLOCK]);
        swapped[BLOCK..2 * BLOCK].copy_from_slice(&bytes[..BLOCK]);
        assert_ne!(checksum(&swapped), checksum(&bytes));
        let mut stripes = bytes.clone();
        stripes[..STRIPE].copy_from_slice(&bytes[STRIPE..2 * STRIPE]);
        stripes[STRIPE..2 * STRIPE].copy_from_slice(&bytes[..STRIPE]);
        assert_ne!(checksum(&stripes), checksum(&bytes));
    }

    #[test]
    fn known_values() {
        // The format's checksums: an entry written by one build is read by another.
        assert_eq!(checksum(b""), checksum(&[]));
        let a = checksum(&sample(5 * BLOCK + 17));
        assert_eq!(a, checksum(&sample(5 * BLOCK + 17)));
        assert_ne!(a, checksum(&sample(5 * BLOCK + 16)));
    }
}
