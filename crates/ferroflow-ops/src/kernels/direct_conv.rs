//! Direct f32 convolution kernels (NHWC input, HWIO filter) for narrow layers, where lowering
//! to GEMM spends its time unfolding: a 3×3 layer with 8 output channels writes and reads an
//! im2col matrix 9× the input for a GEMM whose `n` is 8.
//!
//! Each kernel keeps a tile of outputs in vector registers for its whole reduction: the
//! forward kernel a few output pixels × one or two vectors of output channels (summed over
//! the window and the input channels), the filter gradient a few input channels × output
//! channels of one window tap (summed over an image's pixels). The SIMD width is chosen at run
//! time by `pulp` (AVX2 + FMA where the CPU has it, otherwise scalar code); there is no
//! `unsafe` here. `nn/conv.rs` decides per layer whether these or the GEMM path run
//! (`use_direct`) and its tests compare both with a naive convolution.

use super::window::Geom;
use pulp::{Arch, Simd, WithSimd};
use rayon::prelude::*;

/// Output pixels per register tile of the forward kernel with two channel vectors, and with one.
const PIXELS_2V: usize = 6;
const PIXELS_1V: usize = 8;
/// Input channels per register tile of the filter-gradient kernel.
const CHANNELS_TILE: usize = 4;
/// Images per partial sum of the filter gradient: a fixed split, so that the result does not
/// depend on the number of threads.
const IMAGES_PER_PARTIAL: usize = 8;
/// Layers below this many multiply-adds run on the calling thread (the GEMM's own threshold);
/// above it, tasks of at least an eighth of it.
const PAR_MIN_MACS: usize = super::gemm::PAR_MIN_FLOPS;

/// True when the direct kernels beat im2col + GEMM for this layer: windows wider than 1×1 with
/// at most 16 output channels. Measured on conv20's layers (`nn::conv` test
/// `direct_vs_gemm_timings`, 1 thread, AVX2): direct took 0.50–1.06× GEMM's time up to 16
/// output channels and 1.26–1.76× from 20 on (`docs/decisions/conv.md`, "Direct convolution
/// for narrow layers").
pub(crate) fn use_direct(g: &Geom) -> bool {
    g.o <= 16 && g.kh * g.kw > 1
}

/// Rounds `o` up to whole vectors of `lanes`.
fn padded(o: usize, lanes: usize) -> usize {
    o.div_ceil(lanes) * lanes
}

/// `y = conv2d(x, f)` for the geometry `g` (`y` is `[n, oh, ow, o]`, fully overwritten).
pub(crate) fn forward(x: &[f32], f: &[f32], g: &Geom, y: &mut [f32]) {
    let img_out = g.out_pixels() * g.o;
    if img_out == 0 || g.n == 0 {
        return;
    }
    let lanes = Arch::new().dispatch(Lanes);
    let opad = padded(g.o, lanes);
    // The filter with each (tap, input channel) row padded to whole vectors.
    let mut fp = vec![0.0f32; g.kh * g.kw * g.c * opad];
    for (dst, src) in fp.chunks_exact_mut(opad).zip(f.chunks_exact(g.o)) {
        dst[..g.o].copy_from_slice(src);
    }
    let macs = g.n * img_out * g.k();
    let per_task = (PAR_MIN_MACS / 8).div_ceil((img_out * g.k()).max(1)).max(1);
    let task = |(i, ys): (usize, &mut [f32])| {
        let mut xpad = Vec::new();
        for (j, yi) in ys.chunks_exact_mut(img_out).enumerate() {
            let b = i * per_task + j;
            let pad = PaddedImage::new(&x[b * g.in_image()..(b + 1) * g.in_image()], g, &mut xpad);
            Arch::new().dispatch(ForwardImage { pad, fp: &fp, opad, g, y: yi });
        }
    };
    if macs >= PAR_MIN_MACS && rayon::current_num_threads() > 1 {
        y.par_chunks_mut(per_task * img_out).enumerate().for_each(task);
    } else {
        y.chunks_mut(per_task * img_out).enumerate().for_each(task);
    }
}

/// `dx` of a stride-1 convolution as a forward convolution of `dy` with the filter rotated by
/// 180° and its channel axes swapped; `None` when the geometry does not allow it (strides,
/// or padding larger than the window).
pub(crate) fn backprop_input(f: &[f32], dy: &[f32], g: &Geom, dx: &mut [f32]) -> Option<()> {
    if g.sh != 1 || g.sw != 1 {
        return None;
    }
    let pt = ((g.kh - 1) * g.dh).checked_sub(g.pt)?;
    let pl = ((g.kw - 1) * g.dw).checked_sub(g.pl)?;
    let (kh, kw, c, o) = (g.kh, g.kw, g.c, g.o);
    let mut fr = vec![0.0f32; f.len()];
    for ki in 0..kh {
        for kj in 0..kw {
            let src = &f[(ki * kw + kj) * c * o..][..c * o];
            let dst = &mut fr[((kh - 1 - ki) * kw + (kw - 1 - kj)) * o * c..][..o * c];
            for ci in 0..c {
                for oi in 0..o {
                    dst[oi * c + ci] = src[ci * o + oi];
                }
            }
        }
    }
    let t = Geom { h: g.oh, w: g.ow, c: o, o: c, oh: g.h, ow: g.w, pt, pl, ..*g };
    forward(dy, &fr, &t, dx);
    Some(())
}

/// `df = Σ x ⊛ dy` (the filter gradient), fully overwriting `df` (`[kh, kw, c, o]`).
pub(crate) fn backprop_filter(x: &[f32], dy: &[f32], g: &Geom, df: &mut [f32]) {
    df.fill(0.0);
    if g.n == 0 || g.out_pixels() == 0 || g.o == 0 || g.c == 0 {
        return;
    }
    let lanes = Arch::new().dispatch(Lanes);
    let opad = padded(g.o, lanes);
    let parts = g.n.div_ceil(IMAGES_PER_PARTIAL);
    let len = g.kh * g.kw * g.c * opad;
    let task = |p: usize| {
        let mut acc = vec![0.0f32; len];
        let (mut xpad, mut dypad) = (Vec::new(), vec![0.0f32; g.out_pixels() * opad]);
        for b in p * IMAGES_PER_PARTIAL..((p + 1) * IMAGES_PER_PARTIAL).min(g.n) {
            let pad = PaddedImage::new(&x[b * g.in_image()..(b + 1) * g.in_image()], g, &mut xpad);
            let dyi = &dy[b * g.out_pixels() * g.o..(b + 1) * g.out_pixels() * g.o];
            for (dst, src) in dypad.chunks_exact_mut(opad).zip(dyi.chunks_exact(g.o)) {
                dst[..g.o].copy_from_slice(src);
            }
            Arch::new().dispatch(FilterImage { pad, dy: &dypad, g, opad, df: &mut acc });
        }
        acc
    };
    let work = g.n * g.out_pixels() * g.k() * g.o;
    let partials: Vec<Vec<f32>> = if work >= PAR_MIN_MACS && parts > 1 && rayon::current_num_threads() > 1 {
        (0..parts).into_par_iter().map(task).collect()
    } else {
        (0..parts).map(task).collect()
    };
    // Summed in a fixed order: the same bits for any thread count.
    for part in &partials {
        for (dst, src) in df.chunks_exact_mut(g.o).zip(part.chunks_exact(opad)) {
            for (d, s) in dst.iter_mut().zip(src) {
                *d += s;
            }
        }
    }
}

/// The f32 lane count of the SIMD level `pulp` picks on this CPU.
struct Lanes;

impl WithSimd for Lanes {
    type Output = usize;
    #[inline(always)]
    fn with_simd<S: Simd>(self, _simd: S) -> usize {
        S::F32_LANES
    }
}

/// One image copied into a zero border, so that every window of every output pixel lies
/// inside it: `data` is `[hp, wp, c]`, output pixel `(oy, ox)` reads rows `oy·sh + ki·dh` and
/// columns `ox·sw + kj·dw`.
struct PaddedImage<'a> {
    data: &'a [f32],
    wp: usize,
}

impl<'a> PaddedImage<'a> {
    fn new(img: &[f32], g: &Geom, buf: &'a mut Vec<f32>) -> Self {
        let hp = (g.oh.max(1) - 1) * g.sh + (g.kh - 1) * g.dh + 1;
        let wp = (g.ow.max(1) - 1) * g.sw + (g.kw - 1) * g.dw + 1;
        buf.clear();
        buf.resize(hp * wp * g.c, 0.0);
        for iy in 0..g.h {
            let py = iy + g.pt;
            if py >= hp {
                break;
            }
            // Input columns ix land at px = ix + pl; keep those with px < wp.
            let cols = g.w.min(wp.saturating_sub(g.pl));
            let src = &img[iy * g.w * g.c..][..cols * g.c];
            buf[(py * wp + g.pl) * g.c..][..cols * g.c].copy_from_slice(src);
        }
        PaddedImage { data: buf, wp }
    }
}

/// Loads `N` whole vectors from the start of `row`.
#[inline(always)]
fn load<S: Simd, const N: usize>(simd: S, row: &[f32]) -> [S::f32s; N] {
    let (v, _) = S::as_simd_f32s(row);
    let mut out = [simd.splat_f32s(0.0); N];
    out.copy_from_slice(&v[..N]);
    out
}

/// The forward convolution of one image.
struct ForwardImage<'a> {
    pad: PaddedImage<'a>,
    fp: &'a [f32],
    opad: usize,
    g: &'a Geom,
    y: &'a mut [f32],
}

impl WithSimd for ForwardImage<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let ForwardImage { pad, fp, opad, g, y } = self;
        let lanes = S::F32_LANES;
        let t = Tile { pad: &pad, fp, opad, g };
        for (oy, yrow) in y.chunks_exact_mut(g.ow * g.o).enumerate() {
            let mut o0 = 0;
            while o0 < g.o {
                if (g.o - o0).div_ceil(lanes) >= 2 {
                    t.row::<S, 2, PIXELS_2V>(simd, oy, o0, yrow);
                    o0 += 2 * lanes;
                } else {
                    t.row::<S, 1, PIXELS_1V>(simd, oy, o0, yrow);
                    o0 += lanes;
                }
            }
        }
    }
}

/// One image's padded input and the padded filter.
struct Tile<'a> {
    pad: &'a PaddedImage<'a>,
    fp: &'a [f32],
    opad: usize,
    g: &'a Geom,
}

impl Tile<'_> {
    /// Output row `oy`, channels `o0..o0+NV·lanes`: tiles of `PX` pixels, then of 4, 2 and 1.
    #[inline(always)]
    fn row<S: Simd, const NV: usize, const PX: usize>(&self, simd: S, oy: usize, o0: usize, yrow: &mut [f32]) {
        let ow = self.g.ow;
        let mut ox = 0;
        while ox + PX <= ow {
            self.pixels::<S, NV, PX>(simd, oy, ox, o0, yrow);
            ox += PX;
        }
        if ox + 4 <= ow {
            self.pixels::<S, NV, 4>(simd, oy, ox, o0, yrow);
            ox += 4;
        }
        if ox + 2 <= ow {
            self.pixels::<S, NV, 2>(simd, oy, ox, o0, yrow);
            ox += 2;
        }
        if ox < ow {
            self.pixels::<S, NV, 1>(simd, oy, ox, o0, yrow);
        }
    }

    /// Output pixels `ox..ox+PX` of row `oy` × channels `o0..o0+NV·lanes`.
    #[inline(always)]
    fn pixels<S: Simd, const NV: usize, const PX: usize>(
        &self,
        simd: S,
        oy: usize,
        ox: usize,
        o0: usize,
        yrow: &mut [f32],
    ) {
        let (g, c, lanes, opad, wp) = (self.g, self.g.c, S::F32_LANES, self.opad, self.pad.wp);
        let mut acc = [[simd.splat_f32s(0.0); NV]; PX];
        for ki in 0..g.kh {
            let line = &self.pad.data[(oy * g.sh + ki * g.dh) * wp * c..][..wp * c];
            for kj in 0..g.kw {
                let x0 = (ox * g.sw + kj * g.dw) * c;
                let wk = &self.fp[(ki * g.kw + kj) * c * opad..][..c * opad];
                for ci in 0..c {
                    let wv = load::<S, NV>(simd, &wk[ci * opad + o0..][..NV * lanes]);
                    for p in 0..PX {
                        let xv = simd.splat_f32s(line[x0 + p * g.sw * c + ci]);
                        for v in 0..NV {
                            acc[p][v] = simd.mul_add_e_f32s(xv, wv[v], acc[p][v]);
                        }
                    }
                }
            }
        }
        let whole = o0 + NV * lanes <= g.o;
        for (p, a) in acc.iter().enumerate() {
            let out = &mut yrow[(ox + p) * g.o + o0..(ox + p + 1) * g.o];
            if whole {
                let (dst, _) = S::as_mut_simd_f32s(&mut out[..NV * lanes]);
                dst.copy_from_slice(a);
            } else {
                let mut tmp = [0.0f32; 64];
                let (t, _) = S::as_mut_simd_f32s(&mut tmp[..NV * lanes]);
                t.copy_from_slice(a);
                let n = out.len();
                out.copy_from_slice(&tmp[..n]);
            }
        }
    }
}

/// The filter gradient of one image, added into the padded `df` (`[kh·kw·c, opad]`).
struct FilterImage<'a> {
    pad: PaddedImage<'a>,
    dy: &'a [f32],
    g: &'a Geom,
    opad: usize,
    df: &'a mut [f32],
}

impl WithSimd for FilterImage<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let FilterImage { pad, dy, g, opad, df } = self;
        let lanes = S::F32_LANES;
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                let tap = FilterTap { pad: &pad, dy, g, opad, ki, kj };
                let dft = &mut df[(ki * g.kw + kj) * g.c * opad..][..g.c * opad];
                let mut o0 = 0;
                while o0 < g.o {
                    let two = (g.o - o0).div_ceil(lanes) >= 2;
                    let mut c0 = 0;
                    while c0 < g.c {
                        let four = g.c - c0 >= CHANNELS_TILE;
                        match (two, four) {
                            (true, true) => tap.tile::<S, 2, CHANNELS_TILE>(simd, c0, o0, dft),
                            (true, false) => tap.tile::<S, 2, 1>(simd, c0, o0, dft),
                            (false, true) => tap.tile::<S, 1, CHANNELS_TILE>(simd, c0, o0, dft),
                            (false, false) => tap.tile::<S, 1, 1>(simd, c0, o0, dft),
                        }
                        c0 += if four { CHANNELS_TILE } else { 1 };
                    }
                    o0 += if two { 2 * lanes } else { lanes };
                }
            }
        }
    }
}

/// One window tap `(ki, kj)` of one image.
struct FilterTap<'a> {
    pad: &'a PaddedImage<'a>,
    dy: &'a [f32],
    g: &'a Geom,
    opad: usize,
    ki: usize,
    kj: usize,
}

impl FilterTap<'_> {
    /// `df[tap, c0..c0+RC, o0..o0+NV·lanes] += Σ_pixels x[pixel + tap, c] · dy[pixel, o]`.
    #[inline(always)]
    fn tile<S: Simd, const NV: usize, const RC: usize>(&self, simd: S, c0: usize, o0: usize, dft: &mut [f32]) {
        let (g, c, lanes, opad, wp) = (self.g, self.g.c, S::F32_LANES, self.opad, self.pad.wp);
        let mut acc = [[simd.splat_f32s(0.0); NV]; RC];
        for oy in 0..g.oh {
            let line = &self.pad.data[(oy * g.sh + self.ki * g.dh) * wp * c..][..wp * c];
            let dyl = &self.dy[oy * g.ow * opad..][..g.ow * opad];
            for ox in 0..g.ow {
                let xs = &line[(ox * g.sw + self.kj * g.dw) * c + c0..][..RC];
                let dv = load::<S, NV>(simd, &dyl[ox * opad + o0..][..NV * lanes]);
                for r in 0..RC {
                    let xv = simd.splat_f32s(xs[r]);
                    for v in 0..NV {
                        acc[r][v] = simd.mul_add_e_f32s(xv, dv[v], acc[r][v]);
                    }
                }
            }
        }
        for (r, a) in acc.iter().enumerate() {
            let row = &mut dft[(c0 + r) * opad + o0..][..NV * lanes];
            let (dst, _) = S::as_mut_simd_f32s(row);
            for (d, &v) in dst.iter_mut().zip(a) {
                *d = simd.add_f32s(*d, v);
            }
        }
    }
}
