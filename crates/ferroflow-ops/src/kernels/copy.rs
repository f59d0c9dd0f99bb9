//! Short copies: runs of a few dozen elements copied in fixed-size blocks.

/// Copies `src` into `dst` (equal lengths). Runs up to 256 elements go in fixed 8-element blocks,
/// which compile to vector moves; `copy_from_slice` would call `memcpy` for each, and in im2col
/// (a 3-wide window × 4–76 channels per call, millions of calls per step) the call overhead was
/// half of the function's time (`docs/benchmarks.md`). Longer runs use `copy_from_slice`.
#[inline]
pub(crate) fn copy_short<T: Copy>(dst: &mut [T], src: &[T]) {
    debug_assert_eq!(dst.len(), src.len());
    if dst.len() > 256 {
        dst.copy_from_slice(src);
        return;
    }
    let (d8, d_rest) = dst.as_chunks_mut::<8>();
    let (s8, s_rest) = src.as_chunks::<8>();
    for (d, s) in d8.iter_mut().zip(s8) {
        *d = *s;
    }
    for (d, s) in d_rest.iter_mut().zip(s_rest) {
        *d = *s;
    }
}

#[cfg(test)]
mod tests {
    use super::copy_short;

    #[test]
    fn copies_every_length_exactly() {
        for n in [0, 1, 7, 8, 9, 12, 24, 100, 256, 257, 1000] {
            let src: Vec<u32> = (0..n as u32).collect();
            let mut dst = vec![u32::MAX; n];
            copy_short(&mut dst, &src);
            assert_eq!(dst, src, "length {n}");
        }
    }
}
