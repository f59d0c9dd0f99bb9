//! When a kernel's loop goes to the rayon pool: one rule for all kernels. Work below
//! [`PAR_MIN_ELEMENTS`] elements, or any work when the pool has one thread, runs on the
//! calling thread: handing a small loop to the pool (a cross-thread wake-up and a wait) costs
//! more than it gains, and with one pool thread it gains nothing at all.

use rayon::prelude::*;

/// Elements below which a loop stays on the calling thread.
pub(crate) const PAR_MIN_ELEMENTS: usize = 1 << 15;

/// True when a loop over `elements` elements is worth the pool.
#[inline]
pub(crate) fn worth_threads(elements: usize) -> bool {
    elements >= PAR_MIN_ELEMENTS && rayon::current_num_threads() > 1
}

/// `f(i, chunk)` for each `chunk`-sized piece of `data`, in parallel when worth it.
pub(crate) fn chunks_mut<T: Send>(data: &mut [T], chunk: usize, f: impl Fn(usize, &mut [T]) + Sync + Send) {
    let chunk = chunk.max(1);
    if worth_threads(data.len()) {
        data.par_chunks_mut(chunk).enumerate().for_each(|(i, c)| f(i, c));
    } else {
        data.chunks_mut(chunk).enumerate().for_each(|(i, c)| f(i, c));
    }
}

/// `f(out_piece, in_piece)` over `out` in `out_chunk` pieces zipped with `inp` in `in_chunk`
/// pieces, in parallel when worth it.
pub(crate) fn zip_chunks_mut<T: Send, U: Sync>(
    out: &mut [T],
    out_chunk: usize,
    inp: &[U],
    in_chunk: usize,
    f: impl Fn(&mut [T], &[U]) + Sync + Send,
) {
    let (oc, ic) = (out_chunk.max(1), in_chunk.max(1));
    if worth_threads(out.len().max(inp.len())) {
        out.par_chunks_mut(oc).zip(inp.par_chunks(ic)).for_each(|(o, i)| f(o, i));
    } else {
        out.chunks_mut(oc).zip(inp.chunks(ic)).for_each(|(o, i)| f(o, i));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_and_parallel_paths_visit_every_chunk_once() {
        for n in [0usize, 5, PAR_MIN_ELEMENTS + 3] {
            let mut v = vec![0u32; n];
            chunks_mut(&mut v, 7, |i, c| c.iter_mut().for_each(|x| *x += 1 + i as u32));
            assert!(v.iter().enumerate().all(|(k, &x)| x == 1 + (k / 7) as u32));
            let src: Vec<u32> = (0..n as u32).collect();
            let mut out = vec![0u32; n];
            zip_chunks_mut(&mut out, 4, &src, 4, |o, i| o.copy_from_slice(i));
            assert_eq!(out, src);
        }
    }
}
