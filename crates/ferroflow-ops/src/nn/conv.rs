//! 2-D convolution (NHWC input, HWIO filter) and `bias_add`, with their gradient kernels
//! (`Conv2DBackpropInput`, `Conv2DBackpropFilter`, `BiasAddGrad`).
//!
//! The kernels lower convolution to GEMM: each chunk of images (about 2 MiB once unfolded) is
//! unfolded (im2col, rayon tasks of whole images) into a reused per-thread scratch matrix
//! `[pixels, kh·kw·cin]` that one `general_mat_mul` (matrixmultiply: run-time SIMD dispatch,
//! its own threads) multiplies by the filter viewed as `[kh·kw·cin, cout]`; the product already
//! is the NHWC output. The input gradient multiplies `dy` by the transposed filter and folds
//! the columns back (col2im, parallel over images); the filter gradient accumulates
//! `colsᵀ · dy` chunk by chunk. A 1×1 stride-1 convolution skips the unfolding.
//! Narrow layers (at most 16 output channels, e.g. conv20's first four) run the register-tiled
//! direct kernels of `kernels/direct_conv.rs` instead (f32; `direct_conv::use_direct`).
//! `docs/decisions/conv.md` ("Direct convolution for narrow layers") records the measurements
//! behind these choices.

use crate::array::alloc::KernelAlloc;
use crate::input::IntoInput;
use crate::kernels::copy::copy_short;
use crate::kernels::direct_conv;
use crate::kernels::gemm::{gemm as general_mat_mul, GemmFloat};
use crate::kernels::window::Geom;
use ferroflow_core::typetag;
use ferroflow_core::value::{checked_len, try_alloc_vec};
use ferroflow_core::{
    DType, Dim, Element, Error, GradCtx, InferCtx, KernelCtx, Op, Result, Scope, Shape, Tensor, TensorSpec, Value,
};
use ndarray::{ArrayView2, ArrayViewD, ArrayViewMut2, LinalgScalar};
use num_traits::Float;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::fmt;
use std::mem::size_of;

// ---------------------------------------------------------------------------------------------
// Shared helpers (also used by pool.rs, lrn.rs, dropout.rs)
// ---------------------------------------------------------------------------------------------

/// Padding mode of convolutions and pools (TF1's `padding="SAME"` / `"VALID"`).
///
/// `Same`: the output has `ceil(in / stride)` positions; the input is padded with
/// `max((out − 1)·stride + k_eff − in, 0)` zeros, half before and the rest (one more when odd)
/// after, i.e. extra padding goes to the bottom/right as in TF.
/// `Valid`: no padding; `ceil((in − k_eff + 1) / stride)` positions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Padding {
    /// Pad so that every input position is covered (`out = ceil(in / stride)`).
    Same,
    /// No padding: only windows that fit entirely.
    Valid,
}

impl Padding {
    /// TF's spelling: `"SAME"` or `"VALID"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Padding::Same => "SAME",
            Padding::Valid => "VALID",
        }
    }
}

impl fmt::Display for Padding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Float element types the kernels of this module are generic over (`f32`, `f64`).
pub(crate) trait NnFloat: Float + LinalgScalar + GemmFloat + DirectConv + Element + Send + Sync {
    /// Runs `f` on this thread's reusable scratch buffer of `dims`' elements (contents
    /// unspecified), so large unfolded matrices are not allocated (and page-faulted in) on
    /// every call. Falls back to a fresh buffer when the scratch is in use (re-entrant call).
    /// Every allocation is fallible: a window large enough to ask for more memory than there
    /// is gives an `Error::Allocation`.
    fn with_scratch<R>(dims: &[usize], f: impl FnOnce(&mut [Self]) -> Result<R>) -> Result<R>;
}

/// The direct convolution kernels (`kernels/direct_conv.rs`, f32 only): each returns `false`
/// when it does not handle the layer, and the GEMM path runs.
pub(crate) trait DirectConv: Sized {
    /// `y = conv2d(x, f)`.
    fn direct_forward(_x: &[Self], _f: &[Self], _g: &Geom, _y: &mut [Self]) -> bool {
        false
    }
    /// `dx` of `conv2d`.
    fn direct_backprop_input(_f: &[Self], _dy: &[Self], _g: &Geom, _dx: &mut [Self]) -> bool {
        false
    }
    /// `df` of `conv2d`.
    fn direct_backprop_filter(_x: &[Self], _dy: &[Self], _g: &Geom, _df: &mut [Self]) -> bool {
        false
    }
}

impl DirectConv for f64 {}

impl DirectConv for f32 {
    fn direct_forward(x: &[f32], f: &[f32], g: &Geom, y: &mut [f32]) -> bool {
        direct_conv::use_direct(g) && {
            direct_conv::forward(x, f, g, y);
            true
        }
    }
    fn direct_backprop_input(f: &[f32], dy: &[f32], g: &Geom, dx: &mut [f32]) -> bool {
        direct_conv::use_direct(g) && direct_conv::backprop_input(f, dy, g, dx).is_some()
    }
    fn direct_backprop_filter(x: &[f32], dy: &[f32], g: &Geom, df: &mut [f32]) -> bool {
        direct_conv::use_direct(g) && {
            direct_conv::backprop_filter(x, dy, g, df);
            true
        }
    }
}

/// A zeroed buffer of `dims`' elements, allocated fallibly.
fn zeroed<T: NnFloat>(dims: &[usize]) -> Result<Vec<T>> {
    let mut v = try_alloc_vec::<T>(dims)?;
    v.resize(v.capacity(), T::zero());
    Ok(v)
}

/// Scratch buffers up to this many elements are kept per thread; larger ones are allocated
/// per call so that one huge convolution does not pin its memory forever.
const SCRATCH_RETAIN: usize = 1 << 23;

macro_rules! nn_float {
    ($t:ty, $tls:ident) => {
        thread_local! {
            static $tls: std::cell::RefCell<Vec<$t>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        impl NnFloat for $t {
            fn with_scratch<R>(dims: &[usize], f: impl FnOnce(&mut [Self]) -> Result<R>) -> Result<R> {
                let n = checked_len(dims).ok_or_else(|| Error::allocation(<$t>::DTYPE, dims, None))?;
                if n > SCRATCH_RETAIN {
                    return f(&mut zeroed::<$t>(dims)?);
                }
                $tls.with(|cell| match cell.try_borrow_mut() {
                    Ok(mut buf) => {
                        if buf.len() < n {
                            let more = n - buf.len();
                            buf.try_reserve_exact(more)
                                .map_err(|_| Error::allocation(<$t>::DTYPE, dims, n.checked_mul(size_of::<$t>())))?;
                            buf.resize(n, 0.0);
                        }
                        f(&mut buf[..n])
                    }
                    Err(_) => f(&mut zeroed::<$t>(dims)?),
                })
            }
        }
    };
}

nn_float!(f32, SCRATCH_F32);
nn_float!(f64, SCRATCH_F64);

/// Dispatches on a float dtype, binding the type alias `$T`.
macro_rules! by_float {
    ($dt:expr, $cx:expr, $T:ident => $body:expr) => {
        match $dt {
            ferroflow_core::DType::F32 => {
                type $T = f32;
                $body
            }
            ferroflow_core::DType::F64 => {
                type $T = f64;
                $body
            }
            d => return Err($cx.error(format!("expected a float32 or float64 input, got {d}"))),
        }
    };
}
pub(crate) use by_float;

/// The elements of a view in row-major order, borrowed when the view is contiguous.
pub(crate) fn flat<'a, T: Element>(v: ArrayViewD<'a, T>) -> Cow<'a, [T]> {
    match v.to_slice() {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(v.iter().copied().collect()),
    }
}

/// The largest effective window (`(k − 1)·dilation + 1`) and stride accepted: half of
/// `isize::MAX`, so that window positions (input size plus padding) stay in `isize` for the
/// kernels' signed index arithmetic. Anything larger is a build (or run-time) error.
pub(crate) const MAX_WINDOW: usize = isize::MAX as usize / 2;

/// The effective window `(k − 1)·dilation + 1` in checked arithmetic; `None` above
/// [`MAX_WINDOW`].
pub(crate) fn effective_window(k: usize, dilation: usize) -> Option<usize> {
    k.saturating_sub(1).checked_mul(dilation)?.checked_add(1).filter(|&e| e <= MAX_WINDOW)
}

/// Output size and leading padding of one spatial dimension (TF's `GetWindowedOutputSize`),
/// for a window of `k` taps spaced `dilation` apart; `None` when a VALID window does not fit
/// or the window or stride exceeds [`MAX_WINDOW`].
pub(crate) fn window_1d(
    input: usize,
    k: usize,
    stride: usize,
    dilation: usize,
    padding: Padding,
) -> Option<(usize, usize)> {
    let ek = effective_window(k, dilation)?;
    if stride > MAX_WINDOW {
        return None;
    }
    let stride = stride.max(1);
    match padding {
        Padding::Valid => (input >= ek).then(|| ((input - ek) / stride + 1, 0)),
        Padding::Same => {
            let out = input.div_ceil(stride);
            // (out − 1)·stride < input, so this cannot overflow.
            let need = (out.saturating_sub(1) * stride + ek).saturating_sub(input);
            Some((out, need / 2))
        }
    }
}

/// Static output size of one spatial dimension; `Ok(None)` when a size is unknown.
pub(crate) fn window_dim(
    what: &str,
    input: Dim,
    k: Dim,
    stride: usize,
    dilation: usize,
    padding: Padding,
) -> std::result::Result<Dim, String> {
    if let Some(k) = k {
        if effective_window(k, dilation).is_none() {
            return Err(format!(
                "the effective window {what} (k − 1)·dilation + 1 with k = {k} and dilation {dilation} is larger than {MAX_WINDOW}"
            ));
        }
    }
    if stride > MAX_WINDOW {
        return Err(format!("the stride along the {what} ({stride}) is larger than {MAX_WINDOW}"));
    }
    match (input, k) {
        (Some(i), Some(k)) => match window_1d(i, k, stride, dilation, padding) {
            Some((o, _)) => Ok(Some(o)),
            None => Err(format!(
                "computed output {what} would be negative: input {what} {i} is smaller than the effective window {what} {} \
                 (VALID padding); use SAME padding or a smaller window",
                k.saturating_sub(1) * dilation + 1
            )),
        },
        _ => Ok(None),
    }
}

/// Checks an NHWC `strides`/`dilations`/`ksize` attribute: all ≥ 1, batch and depth entries 1.
pub(crate) fn check_attr4(name: &str, v: [usize; 4]) -> std::result::Result<(), String> {
    if v.contains(&0) {
        return Err(format!("{name} must be positive, got {v:?}"));
    }
    if v[0] != 1 || v[3] != 1 {
        return Err(format!(
            "{name} {v:?} is not supported: the batch and depth entries ({name}[0], {name}[3]) must be 1 (NHWC)"
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Geometry
// ---------------------------------------------------------------------------------------------

/// Attributes shared by `Conv2D` and its gradient kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConvAttrs {
    /// `[1, stride_h, stride_w, 1]`.
    pub strides: [usize; 4],
    /// SAME or VALID.
    pub padding: Padding,
    /// `[1, dilation_h, dilation_w, 1]`.
    pub dilations: [usize; 4],
}

impl ConvAttrs {
    fn describe(&self) -> String {
        format!("strides={:?} padding={} dilations={:?}", self.strides, self.padding, self.dilations)
    }

    /// The static output shape of `conv2d(x, filter)`, or a message naming both shapes.
    fn out_shape(&self, x: &Shape, f: &Shape) -> std::result::Result<Shape, String> {
        check_attr4("strides", self.strides)?;
        check_attr4("dilations", self.dilations)?;
        if x.rank().is_some_and(|r| r != 4) {
            return Err(format!("input must be 4-D [batch, height, width, channels] (NHWC), got shape {x}"));
        }
        if f.rank().is_some_and(|r| r != 4) {
            return Err(format!("filter must be 4-D [height, width, in_channels, out_channels] (HWIO), got shape {f}"));
        }
        if let (Some(c), Some(fc)) = (x.dim(3), f.dim(2)) {
            if c != fc {
                return Err(format!(
                    "input {x} has {c} channels but filter {f} expects {fc} input channels \
                     (filter layout is [height, width, in_channels, out_channels])"
                ));
            }
        }
        if f.dim(0) == Some(0) || f.dim(1) == Some(0) {
            return Err(format!("filter {f} has an empty spatial window"));
        }
        let oh = window_dim("height", x.dim(1), f.dim(0), self.strides[1], self.dilations[1], self.padding)?;
        let ow = window_dim("width", x.dim(2), f.dim(1), self.strides[2], self.dilations[2], self.padding)?;
        Ok(Shape::from_dims(vec![x.dim(0), oh, ow, f.dim(3)]))
    }

    /// The run-time geometry for concrete input and filter shapes.
    fn geom(&self, x: &[usize], f: &[usize]) -> std::result::Result<Geom, String> {
        let out = self.out_shape(&Shape::known(x), &Shape::known(f))?;
        let (Some(o), [n, h, w, c], [kh, kw, _, _]) = (out.as_known(), x, f) else {
            return Err(format!("input {x:?} and filter {f:?} must both be 4-D"));
        };
        let (oh, ow) = (o.get(1).copied().unwrap_or(0), o.get(2).copied().unwrap_or(0));
        let (_, pt) = window_1d(*h, *kh, self.strides[1], self.dilations[1], self.padding).unwrap_or((0, 0));
        let (_, pl) = window_1d(*w, *kw, self.strides[2], self.dilations[2], self.padding).unwrap_or((0, 0));
        Ok(Geom {
            n: *n,
            h: *h,
            w: *w,
            c: *c,
            kh: *kh,
            kw: *kw,
            o: f.get(3).copied().unwrap_or(0),
            sh: self.strides[1],
            sw: self.strides[2],
            dh: self.dilations[1],
            dw: self.dilations[2],
            oh,
            ow,
            pt,
            pl,
        })
    }
}

fn mat<T>(rows: usize, cols: usize, s: &[T]) -> Result<ArrayView2<'_, T>> {
    ArrayView2::from_shape((rows, cols), s)
        .map_err(|e| Error::invalid(format!("internal: {rows}x{cols} view of {} elements: {e}", s.len())))
}

fn mat_mut<T>(rows: usize, cols: usize, s: &mut [T]) -> Result<ArrayViewMut2<'_, T>> {
    let n = s.len();
    ArrayViewMut2::from_shape((rows, cols), s)
        .map_err(|e| Error::invalid(format!("internal: {rows}x{cols} view of {n} elements: {e}")))
}

/// Unfolds images `b0..b0+imgs` of `x` into `col` (`[imgs·oh·ow, kh·kw·c]`, row-major).
fn im2col<T: NnFloat>(x: &[T], g: &Geom, b0: usize, imgs: usize, col: &mut [T]) {
    let (k, c) = (g.k(), g.c);
    let run = g.kw * c;
    let mut rows = col.chunks_exact_mut(k);
    for b in b0..b0 + imgs {
        let img = &x[b * g.in_image()..(b + 1) * g.in_image()];
        for oy in 0..g.oh {
            for ox in 0..g.ow {
                let Some(row) = rows.next() else { return };
                let x0 = (ox * g.sw) as isize - g.pl as isize;
                let contiguous = g.dw == 1 && x0 >= 0 && x0 as usize + g.kw <= g.w;
                for (ki, dst) in row.chunks_exact_mut(run).enumerate() {
                    let iy = (oy * g.sh + ki * g.dh) as isize - g.pt as isize;
                    if iy < 0 || iy >= g.h as isize {
                        dst.fill(T::zero());
                        continue;
                    }
                    let line = &img[iy as usize * g.w * c..(iy as usize + 1) * g.w * c];
                    if contiguous {
                        let s = x0 as usize * c;
                        copy_short(dst, &line[s..s + run]);
                    } else {
                        for (kj, d) in dst.chunks_exact_mut(c).enumerate() {
                            let ix = x0 + (kj * g.dw) as isize;
                            if ix < 0 || ix >= g.w as isize {
                                d.fill(T::zero());
                            } else {
                                let s = ix as usize * c;
                                copy_short(d, &line[s..s + c]);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Folds `col` (`[imgs·oh·ow, kh·kw·c]`) back onto the images `dx` (`[imgs, h, w, c]`), adding.
fn col2im<T: NnFloat>(col: &[T], g: &Geom, dx: &mut [T]) {
    let (k, c) = (g.k(), g.c);
    let run = g.kw * c;
    let mut rows = col.chunks_exact(k);
    for img in dx.chunks_exact_mut(g.in_image()) {
        for oy in 0..g.oh {
            for ox in 0..g.ow {
                let Some(row) = rows.next() else { return };
                let x0 = (ox * g.sw) as isize - g.pl as isize;
                let contiguous = g.dw == 1 && x0 >= 0 && x0 as usize + g.kw <= g.w;
                for (ki, src) in row.chunks_exact(run).enumerate() {
                    let iy = (oy * g.sh + ki * g.dh) as isize - g.pt as isize;
                    if iy < 0 || iy >= g.h as isize {
                        continue;
                    }
                    let line = &mut img[iy as usize * g.w * c..(iy as usize + 1) * g.w * c];
                    if contiguous {
                        let s = x0 as usize * c;
                        for (d, &v) in line[s..s + run].iter_mut().zip(src) {
                            *d = *d + v;
                        }
                    } else {
                        for (kj, sv) in src.chunks_exact(c).enumerate() {
                            let ix = x0 + (kj * g.dw) as isize;
                            if ix >= 0 && ix < g.w as isize {
                                let s = ix as usize * c;
                                for (d, &v) in line[s..s + c].iter_mut().zip(sv) {
                                    *d = *d + v;
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Images per sequential chunk: enough rows for an efficient GEMM, small enough for the
/// unfolded chunk to stay in cache.
fn chunk_images(g: &Geom) -> usize {
    const TARGET: usize = 1 << 19; // elements of the unfolded chunk (2 MiB of f32)
    (TARGET / g.out_pixels().saturating_mul(g.k().max(g.o)).max(1)).clamp(1, g.n.max(1))
}

/// Fewest images per rayon task so that a task moves at least ~32K elements (small layers
/// are not worth waking the pool per image).
fn min_images_per_task(per_image: usize) -> usize {
    (32_768 / per_image.max(1)).max(1)
}

/// Unfolds images `b0..b0+imgs` into `col`, in parallel over images.
fn im2col_par<T: NnFloat>(x: &[T], g: &Geom, b0: usize, col: &mut [T]) {
    let per = g.out_pixels().saturating_mul(g.k()).max(1);
    if crate::kernels::par::worth_threads(col.len()) {
        col.par_chunks_mut(per)
            .with_min_len(min_images_per_task(per))
            .enumerate()
            .for_each(|(i, ci)| im2col(x, g, b0 + i, 1, ci));
    } else {
        col.chunks_mut(per).enumerate().for_each(|(i, ci)| im2col(x, g, b0 + i, 1, ci));
    }
}

/// `y = conv2d(x, f)`, NHWC × HWIO → NHWC: per chunk, unfold (parallel over images) and one
/// GEMM, into the zeroed `y` of `g.y_shape()`.
fn conv_forward<T: NnFloat>(x: &[T], f: &[T], g: &Geom, y: &mut [T]) -> Result<()> {
    if T::direct_forward(x, f, g, y) {
        return Ok(());
    }
    conv_forward_gemm(x, f, g, y)
}

/// The im2col + GEMM path of [`conv_forward`].
fn conv_forward_gemm<T: NnFloat>(x: &[T], f: &[T], g: &Geom, y: &mut [T]) -> Result<()> {
    let (k, o, pix) = (g.k(), g.o, g.out_pixels());
    if y.is_empty() || k == 0 {
        return Ok(());
    }
    let fm = mat(k, o, f)?;
    let ipc = chunk_images(g);
    for (ci, yc) in y.chunks_mut(ipc * pix * o).enumerate() {
        let b0 = ci * ipc;
        let imgs = yc.len() / (pix * o);
        let rows = imgs * pix;
        let mut ym = mat_mut(rows, o, yc)?;
        if g.is_pointwise() {
            let xm = mat(rows, k, &x[b0 * g.in_image()..(b0 + imgs) * g.in_image()])?;
            general_mat_mul(T::one(), &xm, &fm, T::zero(), &mut ym);
        } else {
            T::with_scratch(&[rows, k], |col| {
                im2col_par(x, g, b0, col);
                general_mat_mul(T::one(), &mat(rows, k, col)?, &fm, T::zero(), &mut ym);
                Ok(())
            })?;
        }
    }
    Ok(())
}

/// `dx` of `conv2d`: per chunk, `dy · fᵀ` (GEMM) folded back onto the images (parallel over
/// images), added into the zeroed `dx` of `g.x_shape()`.
fn conv_backprop_input<T: NnFloat>(f: &[T], dy: &[T], g: &Geom, dx: &mut [T]) -> Result<()> {
    if T::direct_backprop_input(f, dy, g, dx) {
        return Ok(());
    }
    conv_backprop_input_gemm(f, dy, g, dx)
}

/// The im2col + GEMM path of [`conv_backprop_input`].
fn conv_backprop_input_gemm<T: NnFloat>(f: &[T], dy: &[T], g: &Geom, dx: &mut [T]) -> Result<()> {
    let (k, o, pix) = (g.k(), g.o, g.out_pixels());
    if dx.is_empty() || pix == 0 || o == 0 {
        return Ok(());
    }
    let ft = mat(k, o, f)?.reversed_axes();
    let ipc = chunk_images(g);
    for (ci, dxc) in dx.chunks_mut(ipc * g.in_image()).enumerate() {
        let b0 = ci * ipc;
        let imgs = dxc.len() / g.in_image();
        let rows = imgs * pix;
        let dym = mat(rows, o, &dy[b0 * pix * o..(b0 + imgs) * pix * o])?;
        if g.is_pointwise() {
            general_mat_mul(T::one(), &dym, &ft, T::zero(), &mut mat_mut(rows, k, dxc)?);
        } else {
            T::with_scratch(&[rows, k], |col| {
                general_mat_mul(T::one(), &dym, &ft, T::zero(), &mut mat_mut(rows, k, col)?);
                if crate::kernels::par::worth_threads(col.len()) {
                    dxc.par_chunks_mut(g.in_image())
                        .zip(col.par_chunks((pix * k).max(1)))
                        .with_min_len(min_images_per_task(pix * k))
                        .for_each(|(dxi, ci)| col2im(ci, g, dxi));
                } else {
                    dxc.chunks_mut(g.in_image())
                        .zip(col.chunks((pix * k).max(1)))
                        .for_each(|(dxi, ci)| col2im(ci, g, dxi));
                }
                Ok(())
            })?;
        }
    }
    Ok(())
}

/// `df` of `conv2d`: `Σ_chunks colsᵀ · dy`, accumulated in place by the GEMM (β = 1), chunk
/// by chunk in a fixed order, so the result does not depend on the thread count; into the
/// zeroed `df` of `g.f_shape()`.
fn conv_backprop_filter<T: NnFloat>(x: &[T], dy: &[T], g: &Geom, df: &mut [T]) -> Result<()> {
    if T::direct_backprop_filter(x, dy, g, df) {
        return Ok(());
    }
    conv_backprop_filter_gemm(x, dy, g, df)
}

/// The im2col + GEMM path of [`conv_backprop_filter`].
fn conv_backprop_filter_gemm<T: NnFloat>(x: &[T], dy: &[T], g: &Geom, df: &mut [T]) -> Result<()> {
    let (k, o, pix) = (g.k(), g.o, g.out_pixels());
    if df.is_empty() || g.n == 0 || pix == 0 {
        return Ok(());
    }
    let ipc = chunk_images(g);
    let mut am = mat_mut(k, o, df)?;
    for b0 in (0..g.n).step_by(ipc) {
        let imgs = ipc.min(g.n - b0);
        let rows = imgs * pix;
        let dym = mat(rows, o, &dy[b0 * pix * o..(b0 + imgs) * pix * o])?;
        if g.is_pointwise() {
            let xm = mat(rows, k, &x[b0 * g.in_image()..(b0 + imgs) * g.in_image()])?;
            general_mat_mul(T::one(), &xm.t(), &dym, T::one(), &mut am);
        } else {
            T::with_scratch(&[rows, k], |col| {
                im2col_par(x, g, b0, col);
                general_mat_mul(T::one(), &mat(rows, k, col)?.t(), &dym, T::one(), &mut am);
                Ok(())
            })?;
        }
    }
    Ok(())
}

fn check_len(what: &str, got: &[usize], want: [usize; 4]) -> std::result::Result<(), String> {
    if got != want {
        return Err(format!("{what} has shape {got:?}, expected {want:?} for this convolution"));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Conv2D and its gradient kernels
// ---------------------------------------------------------------------------------------------

/// Computes a 2-D convolution of an NHWC input with an HWIO filter.
///
/// TF1: `tf.nn.conv2d(input, filter, strides, padding, dilations=dilations)` (NHWC).
///
/// `y[b, i, j, o] = Σ_{di, dj, c} x[b, i·sh + di·dh − pad_top, j·sw + dj·dw − pad_left, c] · f[di, dj, c, o]`,
/// with out-of-range input positions read as zero. SAME padding puts the extra row/column
/// (when the total is odd) at the bottom/right, as TF does.
///
/// # Shapes
/// `x: [n, h, w, c]`, `filter: [kh, kw, c, o]` → `[n, oh, ow, o]` with, per spatial dim,
/// `k_eff = (k − 1)·dilation + 1`; SAME: `oh = ceil(h / sh)`; VALID: `oh = ceil((h − k_eff + 1) / sh)`.
/// Unknown dims (`?`) stay unknown.
///
/// # Errors
/// At build time when shapes are known: a rank other than 4, input channels differing from the
/// filter's `in_channels` (both shapes named), a zero or non-NHWC stride/dilation
/// (`strides[0]`, `strides[3]` must be 1), a VALID window larger than the input, an effective
/// window `(k − 1)·dilation + 1` or stride above `isize::MAX / 2`, an output whose size
/// overflows, mixed or non-float dtypes. The same checks run on the concrete shapes at run
/// time, where an output or unfolded matrix that cannot be allocated is an
/// `Error::Allocation` naming the node and the byte count.
///
/// ```
/// use ferroflow_core::{shape, DType, Graph};
/// use ferroflow_ops::nn::{conv2d, Padding};
/// use ferroflow_ops::placeholder;
/// # fn main() -> ferroflow_core::Result<()> {
/// let g = Graph::new();
/// let s = g.root();
/// let x = placeholder(&s, DType::F32, shape![None, 28, 28, 1])?;
/// let f = placeholder(&s, DType::F32, shape![3, 3, 1, 32])?;
/// let y = conv2d(&s, x, f, [1, 2, 2, 1], Padding::Same, [1, 1, 1, 1])?;
/// assert_eq!(y.shape(&g).unwrap(), shape![None, 14, 14, 32]);
/// # Ok(()) }
/// ```
pub fn conv2d(
    s: &Scope,
    x: impl IntoInput,
    filter: impl IntoInput,
    strides: [usize; 4],
    padding: Padding,
    dilations: [usize; 4],
) -> Result<Tensor> {
    let (x, f) = crate::input::pair(s, x, filter)?;
    s.add_op1(Conv2D { attrs: ConvAttrs { strides, padding, dilations } }, &[x, f], "Conv2D")
}

fn conv_infer_common(cx: &InferCtx<'_>) -> Result<DType> {
    let n = cx.num_inputs();
    for i in 1..n {
        cx.expect_same_dtype(0, i)?;
    }
    let dt = cx.input(0)?.dtype;
    if !dt.is_float() {
        return Err(cx.error(format!("convolution needs float32 or float64 inputs, got {dt}")));
    }
    Ok(dt)
}

/// 2-D convolution, NHWC × HWIO (TF1 `Conv2D`).
#[derive(Debug, Serialize, Deserialize)]
pub struct Conv2D {
    /// Strides, padding, dilations.
    pub attrs: ConvAttrs,
}

#[typetag::serde]
impl Op for Conv2D {
    fn type_name(&self) -> &'static str {
        "Conv2D"
    }
    fn infer(&self, cx: &InferCtx<'_>) -> Result<Vec<TensorSpec>> {
        let dt = conv_infer_common(cx)?;
        let shape = self.attrs.out_shape(&cx.input(0)?.shape, &cx.input(1)?.shape).map_err(|m| cx.error(m))?;
        shape.checked_byte_size(dt).map_err(|e| cx.error(format!("the output cannot exist: {e}")))?;
        Ok(vec![TensorSpec::new(dt, shape)])
    }
    fn compute(&self, cx: &mut KernelCtx<'_>) -> Result<Vec<Value>> {
        let g = self.attrs.geom(cx.input(0)?.shape(), cx.input(1)?.shape()).map_err(|m| cx.error(m))?;
        let out = by_float!(cx.input(0)?.dtype(), cx, T => {
            let x = flat(cx.view::<T>(0)?);
            let f = flat(cx.view::<T>(1)?);
            let mut y = cx.alloc_filled_vec::<T>(&g.y_shape(), 0.0)?;
            conv_forward::<T>(&x, &f, &g, &mut y).map_err(|e| cx.name_error(e))?;
            Value::from_shape_vec(&g.y_shape(), y)
        });
        Ok(vec![out.map_err(|e| cx.wrap(e))?])
    }
    fn gradient(&self, s: &Scope, cx: &GradCtx<'_>) -> Result<Vec<Option<Tensor>>> {
        let Some(dy) = cx.grad(0) else { return Ok(vec![None, None]) };
        let (x, f) = (cx.input(0)?, cx.input(1)?);
        let dx = s.add_op1(Conv2DBackpropInput { attrs: self.attrs }, &[x, f, dy], "Conv2DBackpropInput")?;
        let df = s.add_op1(Conv2DBackpropFilter { attrs: self.attrs }, &[x, f, dy], "Conv2DBackpropFilter")?;
        Ok(vec![Some(dx), Some(df)])
    }
    fn describe(&self) -> String {
        self.attrs.describe()
    }
}

/// The input gradient of `Conv2D` (TF1 `Conv2DBackpropInput`): inputs `[x, filter, dy]`,
/// where `x` supplies only its shape; output shaped like `x`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Conv2DBackpropInput {
    /// The forward convolution's strides, padding, dilations.
    pub attrs: ConvAttrs,
}

#[typetag::serde]
impl Op for Conv2DBackpropInput {
    fn type_name(&self) -> &'static str {
        "Conv2DBackpropInput"
    }
    fn infer(&self, cx: &InferCtx<'_>) -> Result<Vec<TensorSpec>> {
        let dt = conv_infer_common(cx)?;
        let x = cx.input(0)?;
        self.attrs.out_shape(&x.shape, &cx.input(1)?.shape).map_err(|m| cx.error(m))?;
        Ok(vec![TensorSpec::new(dt, x.shape.clone())])
    }
    fn compute(&self, cx: &mut KernelCtx<'_>) -> Result<Vec<Value>> {
        let g = self.attrs.geom(cx.input(0)?.shape(), cx.input(1)?.shape()).map_err(|m| cx.error(m))?;
        check_len("dy", cx.input(2)?.shape(), g.y_shape()).map_err(|m| cx.error(m))?;
        let out = by_float!(cx.input(1)?.dtype(), cx, T => {
            let f = flat(cx.view::<T>(1)?);
            let dy = flat(cx.view::<T>(2)?);
            let mut dx = cx.alloc_filled_vec::<T>(&g.x_shape(), 0.0)?;
            conv_backprop_input::<T>(&f, &dy, &g, &mut dx).map_err(|e| cx.name_error(e))?;
            Value::from_shape_vec(&g.x_shape(), dx)
        });
        Ok(vec![out.map_err(|e| cx.wrap(e))?])
    }
    fn gradient(&self, s: &Scope, cx: &GradCtx<'_>) -> Result<Vec<Option<Tensor>>> {
        // dx = B_in(f, dy) is bilinear in (f, dy).
        let Some(gg) = cx.grad(0) else { return Ok(vec![None, None, None]) };
        let (f, dy) = (cx.input(1)?, cx.input(2)?);
        let gf = s.add_op1(Conv2DBackpropFilter { attrs: self.attrs }, &[gg, f, dy], "Conv2DBackpropFilter")?;
        let gdy = s.add_op1(Conv2D { attrs: self.attrs }, &[gg, f], "Conv2D")?;
        Ok(vec![None, Some(gf), Some(gdy)])
    }
    fn describe(&self) -> String {
        self.attrs.describe()
    }
}

/// The filter gradient of `Conv2D` (TF1 `Conv2DBackpropFilter`): inputs `[x, filter, dy]`,
/// where `filter` supplies only its shape; output shaped like the filter.
#[derive(Debug, Serialize, Deserialize)]
pub struct Conv2DBackpropFilter {
    /// The forward convolution's strides, padding, dilations.
    pub attrs: ConvAttrs,
}

#[typetag::serde]
impl Op for Conv2DBackpropFilter {
    fn type_name(&self) -> &'static str {
        "Conv2DBackpropFilter"
    }
    fn infer(&self, cx: &InferCtx<'_>) -> Result<Vec<TensorSpec>> {
        let dt = conv_infer_common(cx)?;
        let f = cx.input(1)?;
        self.attrs.out_shape(&cx.input(0)?.shape, &f.shape).map_err(|m| cx.error(m))?;
        Ok(vec![TensorSpec::new(dt, f.shape.clone())])
    }
    fn compute(&self, cx: &mut KernelCtx<'_>) -> Result<Vec<Value>> {
        let g = self.attrs.geom(cx.input(0)?.shape(), cx.input(1)?.shape()).map_err(|m| cx.error(m))?;
        check_len("dy", cx.input(2)?.shape(), g.y_shape()).map_err(|m| cx.error(m))?;
        let out = by_float!(cx.input(0)?.dtype(), cx, T => {
            let x = flat(cx.view::<T>(0)?);
            let dy = flat(cx.view::<T>(2)?);
            let mut df = cx.alloc_filled_vec::<T>(&g.f_shape(), 0.0)?;
            conv_backprop_filter::<T>(&x, &dy, &g, &mut df).map_err(|e| cx.name_error(e))?;
            Value::from_shape_vec(&g.f_shape(), df)
        });
        Ok(vec![out.map_err(|e| cx.wrap(e))?])
    }
    fn gradient(&self, s: &Scope, cx: &GradCtx<'_>) -> Result<Vec<Option<Tensor>>> {
        // df = B_f(x, dy) is bilinear in (x, dy).
        let Some(gg) = cx.grad(0) else { return Ok(vec![None, None, None]) };
        let (x, dy) = (cx.input(0)?, cx.input(2)?);
        let gx = s.add_op1(Conv2DBackpropInput { attrs: self.attrs }, &[x, gg, dy], "Conv2DBackpropInput")?;
        let gdy = s.add_op1(Conv2D { attrs: self.attrs }, &[x, gg], "Conv2D")?;
        Ok(vec![Some(gx), None, Some(gdy)])
    }
    fn describe(&self) -> String {
        self.attrs.describe()
    }
}

// ---------------------------------------------------------------------------------------------
// BiasAdd
// ---------------------------------------------------------------------------------------------

/// Adds a 1-D bias along the last axis.
///
/// TF1: `tf.nn.bias_add(value, bias)` (NHWC / channels-last).
///
/// `y[..., c] = x[..., c] + bias[c]`.
///
/// # Shapes
/// `x: [..., c]` (rank ≥ 2), `bias: [c]` → shape of `x`.
///
/// # Errors
/// `x` of rank < 2, `bias` not 1-D, `bias` length differing from `x`'s last dim (both shapes
/// named), different dtypes.
///
/// ```
/// use ferroflow_core::{shape, DType, Graph};
/// use ferroflow_ops::{nn, placeholder};
/// # fn main() -> ferroflow_core::Result<()> {
/// let g = Graph::new();
/// let s = g.root();
/// let x = placeholder(&s, DType::F32, shape![None, 4, 4, 8])?;
/// let b = placeholder(&s, DType::F32, shape![8])?;
/// assert_eq!(nn::bias_add(&s, x, b)?.shape(&g).unwrap(), shape![None, 4, 4, 8]);
/// assert!(nn::bias_add(&s, x, placeholder(&s, DType::F32, shape![3])?).is_err());
/// # Ok(()) }
/// ```
pub fn bias_add(s: &Scope, x: impl IntoInput, bias: impl IntoInput) -> Result<Tensor> {
    let (x, b) = crate::input::pair(s, x, bias)?;
    s.add_op1(BiasAdd, &[x, b], "BiasAdd")
}

/// `x + bias` along the last axis (TF1 `BiasAdd`).
#[derive(Debug, Serialize, Deserialize)]
pub struct BiasAdd;

#[typetag::serde]
impl Op for BiasAdd {
    fn type_name(&self) -> &'static str {
        "BiasAdd"
    }
    fn infer(&self, cx: &InferCtx<'_>) -> Result<Vec<TensorSpec>> {
        let dt = cx.expect_same_dtype(0, 1)?;
        let (x, b) = (cx.input(0)?, cx.input(1)?);
        if !dt.is_numeric() {
            return Err(cx.error(format!("bias_add needs numeric inputs, got {dt}")));
        }
        if x.shape.rank().is_some_and(|r| r < 2) {
            return Err(cx.error(format!("value must have rank at least 2, got shape {}", x.shape)));
        }
        if b.shape.rank().is_some_and(|r| r != 1) {
            return Err(cx.error(format!("bias must be 1-D, got shape {}", b.shape)));
        }
        if let (Some(r), Some(bc)) = (x.shape.rank(), b.shape.dim(0)) {
            if let Some(c) = x.shape.dim(r - 1) {
                if c != bc {
                    return Err(cx.error(format!(
                        "bias {} must match the last dimension of value {} ({c} channels)",
                        b.shape, x.shape
                    )));
                }
            }
        }
        Ok(vec![x.clone()])
    }
    fn compute(&self, cx: &mut KernelCtx<'_>) -> Result<Vec<Value>> {
        let xs = cx.input(0)?.shape().to_vec();
        let bs = cx.input(1)?.shape().to_vec();
        let c = xs.last().copied().unwrap_or(0);
        if xs.len() < 2 || bs.as_slice() != [c] {
            return Err(cx.error(format!("bias {bs:?} must be 1-D and match the last dimension of value {xs:?}")));
        }
        let x = cx.take_input(0)?;
        macro_rules! run {
            ($t:ty) => {{
                let b = flat(cx.view::<$t>(1)?).into_owned();
                let mut a = x.into_shared::<$t>().map_err(|e| cx.wrap(e))?;
                if !a.is_standard_layout() {
                    a = a.as_standard_layout().into_owned().into_shared();
                }
                match a.as_slice_mut() {
                    Some(s) if c > 0 => s.par_chunks_mut(c * 1024).for_each(|blk| {
                        for row in blk.chunks_exact_mut(c) {
                            for (v, &bb) in row.iter_mut().zip(&b) {
                                *v += bb;
                            }
                        }
                    }),
                    Some(_) => {}
                    None => return Err(cx.error("internal: value is not contiguous")),
                }
                Value::from(a)
            }};
        }
        let out = match x.dtype() {
            DType::F32 => run!(f32),
            DType::F64 => run!(f64),
            DType::I32 => run!(i32),
            DType::I64 => run!(i64),
            d => return Err(cx.error(format!("bias_add is not defined for {d}"))),
        };
        Ok(vec![out])
    }
    fn gradient(&self, s: &Scope, cx: &GradCtx<'_>) -> Result<Vec<Option<Tensor>>> {
        let Some(g) = cx.grad(0) else { return Ok(vec![None, None]) };
        let gb = s.add_op1(BiasAddGrad, &[g], "BiasAddGrad")?;
        Ok(vec![Some(g), Some(gb)])
    }
}

/// Sums a gradient over every axis but the last (TF1 `BiasAddGrad`).
#[derive(Debug, Serialize, Deserialize)]
pub struct BiasAddGrad;

#[typetag::serde]
impl Op for BiasAddGrad {
    fn type_name(&self) -> &'static str {
        "BiasAddGrad"
    }
    fn infer(&self, cx: &InferCtx<'_>) -> Result<Vec<TensorSpec>> {
        let g = cx.expect_float(0)?;
        if g.shape.rank().is_some_and(|r| r < 1) {
            return Err(cx.error(format!("gradient must have rank at least 1, got shape {}", g.shape)));
        }
        let c = g.shape.rank().and_then(|r| g.shape.dim(r - 1));
        Ok(vec![TensorSpec::new(g.dtype, Shape::from_dims(vec![c]))])
    }
    fn compute(&self, cx: &mut KernelCtx<'_>) -> Result<Vec<Value>> {
        let c = cx.input(0)?.shape().last().copied().ok_or_else(|| cx.error("gradient must have rank at least 1"))?;
        let out = by_float!(cx.input(0)?.dtype(), cx, T => {
            let g = flat(cx.view::<T>(0)?);
            Value::from(sum_rows::<T>(&g, c))
        });
        Ok(vec![out])
    }
    fn gradient(&self, s: &Scope, cx: &GradCtx<'_>) -> Result<Vec<Option<Tensor>>> {
        // The gradient of a sum over rows broadcasts back over them: BiasAdd(0·g, gg).
        let Some(gg) = cx.grad(0) else { return Ok(vec![None]) };
        let z = crate::array::zeros_like(s, cx.input(0)?)?;
        Ok(vec![Some(bias_add(s, z, gg)?)])
    }
}

/// Column sums of a row-major `[rows, c]` buffer.
pub(crate) fn sum_rows<T: NnFloat>(g: &[T], c: usize) -> Vec<T> {
    if c == 0 {
        return Vec::new();
    }
    const BLOCK: usize = 2048;
    g.par_chunks(c * BLOCK)
        .fold(
            || vec![T::zero(); c],
            |mut acc, blk| {
                for row in blk.chunks_exact(c) {
                    for (a, &v) in acc.iter_mut().zip(row) {
                        *a = *a + v;
                    }
                }
                acc
            },
        )
        .reduce(
            || vec![T::zero(); c],
            |mut a, b| {
                for (x, y) in a.iter_mut().zip(&b) {
                    *x = *x + *y;
                }
                a
            },
        )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn same_padding_is_asymmetric() {
        // 6 wide, k=3, stride 2: out 3, total pad 1 → 0 before, 1 after.
        assert_eq!(window_1d(6, 3, 2, 1, Padding::Same), Some((3, 0)));
        // 7 wide, k=3, stride 2: out 4, total pad 2 → 1 before.
        assert_eq!(window_1d(7, 3, 2, 1, Padding::Same), Some((4, 1)));
        // 5 wide, k=2, stride 1: out 5, total pad 1 → 0 before (extra at the end).
        assert_eq!(window_1d(5, 2, 1, 1, Padding::Same), Some((5, 0)));
        // dilation 2, k=3 → effective 5.
        assert_eq!(window_1d(7, 3, 1, 2, Padding::Valid), Some((3, 0)));
        assert_eq!(window_1d(7, 3, 1, 2, Padding::Same), Some((7, 2)));
        assert_eq!(window_1d(2, 3, 1, 1, Padding::Valid), None);
    }

    fn naive(x: &[f64], f: &[f64], g: &Geom) -> Vec<f64> {
        let mut y = vec![0.0; g.y_len()];
        for b in 0..g.n {
            for i in 0..g.oh {
                for j in 0..g.ow {
                    for o in 0..g.o {
                        let mut acc = 0.0;
                        for di in 0..g.kh {
                            for dj in 0..g.kw {
                                let iy = (i * g.sh + di * g.dh) as isize - g.pt as isize;
                                let ix = (j * g.sw + dj * g.dw) as isize - g.pl as isize;
                                if iy < 0 || ix < 0 || iy >= g.h as isize || ix >= g.w as isize {
                                    continue;
                                }
                                for c in 0..g.c {
                                    acc += x[((b * g.h + iy as usize) * g.w + ix as usize) * g.c + c]
                                        * f[((di * g.kw + dj) * g.c + c) * g.o + o];
                                }
                            }
                        }
                        y[((b * g.oh + i) * g.ow + j) * g.o + o] = acc;
                    }
                }
            }
        }
        y
    }

    #[test]
    fn gemm_kernel_matches_naive_loops() {
        let cases = [
            ([3, 9, 8, 3], [3, 3, 3, 4], [1, 2, 2, 1], Padding::Same, [1, 1, 1, 1]),
            ([2, 7, 7, 2], [3, 2, 2, 5], [1, 1, 3, 1], Padding::Valid, [1, 1, 1, 1]),
            ([2, 8, 9, 3], [3, 3, 3, 2], [1, 1, 1, 1], Padding::Same, [1, 2, 3, 1]),
            ([5, 4, 4, 6], [1, 1, 6, 3], [1, 1, 1, 1], Padding::Same, [1, 1, 1, 1]),
            ([2, 6, 6, 4], [1, 1, 4, 3], [1, 2, 2, 1], Padding::Valid, [1, 1, 1, 1]),
        ];
        for (xs, fs, strides, padding, dilations) in cases {
            let attrs = ConvAttrs { strides, padding, dilations };
            let g = attrs.geom(&xs, &fs).unwrap();
            let x: Vec<f64> = (0..g.x_len()).map(|i| ((i * 37 % 101) as f64 - 50.0) / 25.0).collect();
            let f: Vec<f64> = (0..g.f_len()).map(|i| ((i * 13 % 29) as f64 - 14.0) / 10.0).collect();
            let want = naive(&x, &f, &g);
            let mut got = vec![0.0; g.y_len()];
            conv_forward(&x, &f, &g, &mut got).unwrap();
            for (a, b) in got.iter().zip(&want) {
                assert!((a - b).abs() < 1e-9, "{xs:?} {fs:?}: {a} vs {b}");
            }
        }
    }

    /// `dx` and `df` of the naive convolution: the adjoints of `naive` for upstream `dy`.
    fn naive_grads(x: &[f64], f: &[f64], dy: &[f64], g: &Geom) -> (Vec<f64>, Vec<f64>) {
        let (mut dx, mut df) = (vec![0.0; g.x_len()], vec![0.0; g.f_len()]);
        for b in 0..g.n {
            for i in 0..g.oh {
                for j in 0..g.ow {
                    for di in 0..g.kh {
                        for dj in 0..g.kw {
                            let iy = (i * g.sh + di * g.dh) as isize - g.pt as isize;
                            let ix = (j * g.sw + dj * g.dw) as isize - g.pl as isize;
                            if iy < 0 || ix < 0 || iy >= g.h as isize || ix >= g.w as isize {
                                continue;
                            }
                            for c in 0..g.c {
                                let xi = ((b * g.h + iy as usize) * g.w + ix as usize) * g.c + c;
                                for o in 0..g.o {
                                    let fi = ((di * g.kw + dj) * g.c + c) * g.o + o;
                                    let d = dy[((b * g.oh + i) * g.ow + j) * g.o + o];
                                    dx[xi] += d * f[fi];
                                    df[fi] += d * x[xi];
                                }
                            }
                        }
                    }
                }
            }
        }
        (dx, df)
    }

    /// The f32 direct kernels (`kernels/direct_conv.rs`) and the GEMM path against the naive
    /// loops, on shapes that exercise every tile width, channel tails, borders, strides,
    /// dilations, windows larger than the image and more than one partial sum of `df`.
    #[test]
    fn direct_and_gemm_f32_kernels_match_naive_loops() {
        let cases = [
            ([2, 9, 8, 1], [3, 3, 1, 4], [1, 1, 1, 1], Padding::Same, [1, 1, 1, 1]),
            ([3, 11, 13, 5], [3, 3, 5, 12], [1, 1, 1, 1], Padding::Same, [1, 1, 1, 1]),
            ([2, 10, 9, 7], [3, 3, 7, 20], [1, 2, 2, 1], Padding::Same, [1, 1, 1, 1]),
            ([2, 12, 12, 4], [3, 3, 4, 17], [1, 1, 1, 1], Padding::Same, [1, 2, 2, 1]),
            ([17, 5, 6, 9], [3, 2, 9, 33], [1, 1, 1, 1], Padding::Valid, [1, 1, 1, 1]),
            ([2, 1, 1, 6], [3, 3, 6, 8], [1, 1, 1, 1], Padding::Same, [1, 1, 1, 1]),
            ([2, 2, 3, 3], [5, 5, 3, 3], [1, 1, 1, 1], Padding::Same, [1, 1, 1, 1]),
            ([1, 16, 16, 3], [5, 3, 3, 64], [1, 3, 1, 1], Padding::Same, [1, 1, 1, 1]),
            ([2, 7, 9, 2], [1, 3, 2, 5], [1, 1, 2, 1], Padding::Valid, [1, 1, 1, 1]),
            // Rows wide enough for whole register tiles inside the image.
            ([2, 5, 41, 3], [3, 3, 3, 20], [1, 2, 2, 1], Padding::Same, [1, 1, 1, 1]),
            ([1, 4, 50, 2], [3, 3, 2, 12], [1, 1, 1, 1], Padding::Same, [1, 2, 2, 1]),
            ([1, 3, 45, 4], [3, 3, 4, 7], [1, 1, 3, 1], Padding::Valid, [1, 1, 1, 1]),
        ];
        for (xs, fs, strides, padding, dilations) in cases {
            let attrs = ConvAttrs { strides, padding, dilations };
            let g = attrs.geom(&xs, &fs).unwrap();
            let x: Vec<f64> = (0..g.x_len()).map(|i| ((i * 37 % 101) as f64 - 50.0) / 25.0).collect();
            let f: Vec<f64> = (0..g.f_len()).map(|i| ((i * 13 % 29) as f64 - 14.0) / 10.0).collect();
            let dy: Vec<f64> = (0..g.y_len()).map(|i| ((i * 7 % 31) as f64 - 15.0) / 8.0).collect();
            let (want_y, (want_dx, want_df)) = (naive(&x, &f, &g), naive_grads(&x, &f, &dy, &g));
            let (x32, f32s, dy32): (Vec<f32>, Vec<f32>, Vec<f32>) = (
                x.iter().map(|&v| v as f32).collect(),
                f.iter().map(|&v| v as f32).collect(),
                dy.iter().map(|&v| v as f32).collect(),
            );
            let close = |what: &str, path: &str, got: &[f32], want: &[f64]| {
                assert_eq!(got.len(), want.len());
                for (i, (a, b)) in got.iter().zip(want).enumerate() {
                    assert!(
                        (*a as f64 - b).abs() < 1e-3 * (1.0 + b.abs()),
                        "{path} {what} {xs:?} {fs:?} {strides:?} at {i}: {a} vs {b}"
                    );
                }
            };
            // Direct kernels, called directly (whatever `use_direct` picks for this shape).
            let mut y = vec![f32::NAN; g.y_len()];
            direct_conv::forward(&x32, &f32s, &g, &mut y);
            close("y", "direct", &y, &want_y);
            let mut dx = vec![0.0f32; g.x_len()];
            if direct_conv::backprop_input(&f32s, &dy32, &g, &mut dx).is_some() {
                close("dx", "direct", &dx, &want_dx);
            }
            let mut df = vec![f32::NAN; g.f_len()];
            direct_conv::backprop_filter(&x32, &dy32, &g, &mut df);
            close("df", "direct", &df, &want_df);
            // The op's path (direct or GEMM, as chosen per layer).
            let mut y = vec![0.0f32; g.y_len()];
            conv_forward(&x32, &f32s, &g, &mut y).unwrap();
            close("y", "op", &y, &want_y);
            let mut dx = vec![0.0f32; g.x_len()];
            conv_backprop_input(&f32s, &dy32, &g, &mut dx).unwrap();
            close("dx", "op", &dx, &want_dx);
            let mut df = vec![0.0f32; g.f_len()];
            conv_backprop_filter(&x32, &dy32, &g, &mut df).unwrap();
            close("df", "op", &df, &want_df);
        }
    }

    /// Not a check: prints the direct and the GEMM kernels' times on the founding conv20
    /// net's first layers (batch 64), the measurement behind `direct_conv::use_direct`.
    /// `cargo test --release -p ferroflow-ops --lib direct_vs_gemm -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn direct_vs_gemm_timings() {
        let time = |f: &mut dyn FnMut()| {
            let t = std::time::Instant::now();
            for _ in 0..20 {
                f();
            }
            t.elapsed().as_secs_f64() / 20.0 * 1e3
        };
        for (h, c, o, s) in [
            (28, 1, 4, 1),
            (28, 4, 8, 1),
            (28, 8, 12, 2),
            (14, 12, 16, 1),
            (14, 16, 20, 1),
            (7, 24, 28, 1),
            (7, 28, 32, 1),
        ] {
            let attrs = ConvAttrs { strides: [1, s, s, 1], padding: Padding::Same, dilations: [1, 1, 1, 1] };
            let g = attrs.geom(&[64, h, h, c], &[3, 3, c, o]).unwrap();
            let (x, f) = (vec![0.5f32; g.x_len()], vec![0.25f32; g.f_len()]);
            let (mut y, mut df) = (vec![0.0f32; g.y_len()], vec![0.0f32; g.f_len()]);
            let dy = vec![0.125f32; g.y_len()];
            let df_ms = time(&mut || direct_conv::backprop_filter(&x, &dy, &g, &mut df));
            let fwd_ms = time(&mut || direct_conv::forward(&x, &f, &g, &mut y));
            let gemm_fwd = time(&mut || conv_forward_gemm(&x, &f, &g, &mut y).unwrap());
            let gemm_df = time(&mut || {
                df.fill(0.0);
                conv_backprop_filter_gemm(&x, &dy, &g, &mut df).unwrap()
            });
            eprintln!(
                "{h}x{h}x{c} -> {o} stride {s}: forward direct {fwd_ms:.3} ms, gemm {gemm_fwd:.3} ms; \
                 filter grad direct {df_ms:.3} ms, gemm {gemm_df:.3} ms; direct chosen: {}",
                direct_conv::use_direct(&g)
            );
        }
    }
}
