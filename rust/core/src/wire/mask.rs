//! RFC 6455 section 5.3 masking: XOR with a 4-byte key, eight bytes at a time.

/// XOR `buf` in place with `key`, where `buf` starts `offset` bytes into the
/// masked payload (so a payload can be unmasked in pieces as it arrives).
#[inline]
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: usize) {
    if key == [0; 4] {
        return;
    }
    let o = offset & 3;
    let k = [key[o], key[(o + 1) & 3], key[(o + 2) & 3], key[(o + 3) & 3]];
    let k64 = u64::from_ne_bytes([k[0], k[1], k[2], k[3], k[0], k[1], k[2], k[3]]);
    let mut chunks = buf.chunks_exact_mut(8);
    for c in &mut chunks {
        let v = u64::from_ne_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) ^ k64;
        c.copy_from_slice(&v.to_ne_bytes());
    }
    // Whole words keep the key phase (8 is a multiple of 4).
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= k[i & 3];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn naive(buf: &mut [u8], key: [u8; 4], offset: usize) {
        for (i, b) in buf.iter_mut().enumerate() {
            *b ^= key[(i + offset) % 4];
        }
    }

    #[test]
    fn rfc_example() {
        // RFC 6455 5.7: "Hello" masked with 37 fa 21 3d.
        let mut b = [0x7f, 0x9f, 0x4d, 0x51, 0x58];
        apply_mask(&mut b, [0x37, 0xfa, 0x21, 0x3d], 0);
        assert_eq!(&b, b"Hello");
    }

    proptest! {
        #[test]
        fn matches_naive(data in proptest::collection::vec(any::<u8>(), 0..200),
                         key in any::<[u8; 4]>(), offset in 0usize..16, split in 0usize..200) {
            let mut a = data.clone();
            naive(&mut a, key, offset);
            let mut b = data.clone();
            let s = split.min(b.len());
            let (x, y) = b.split_at_mut(s);
            apply_mask(x, key, offset);
            apply_mask(y, key, offset + s);
            prop_assert_eq!(a, b);
        }
    }
}
