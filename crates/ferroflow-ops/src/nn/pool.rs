//! 2-D max and average pooling over NHWC tensors, with their gradient kernels
//! (`MaxPoolGrad`, `AvgPoolGrad`).
//!
//! Windows are clipped to the input: padded positions never win a max and are not counted
//! in an average (TF divides by the number of valid elements). Images are processed in
//! parallel; each window's channels are a contiguous run, so the inner loops vectorize.

use super::conv::{by_float, check_attr4, flat, window_1d, window_dim, NnFloat, Padding};
use crate::array::alloc::KernelAlloc;
use crate::input::IntoInput;
use ferroflow_core::typetag;
use ferroflow_core::{GradCtx, InferCtx, KernelCtx, Op, Result, Scope, Shape, Tensor, TensorSpec, Value};
use serde::{Deserialize, Serialize};

/// Which reduction a pool applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PoolKind {
    /// Maximum over the window.
    Max,
    /// Mean over the valid (non-padded) part of the window.
    Avg,
}

/// Window, strides and padding of a pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolAttrs {
    /// `[1, window_h, window_w, 1]`.
    pub ksize: [usize; 4],
    /// `[1, stride_h, stride_w, 1]`.
    pub strides: [usize; 4],
    /// SAME or VALID.
    pub padding: Padding,
}

impl PoolAttrs {
    fn describe(&self) -> String {
        format!("ksize={:?} strides={:?} padding={}", self.ksize, self.strides, self.padding)
    }

    fn out_shape(&self, x: &Shape) -> std::result::Result<Shape, String> {
        check_attr4("ksize", self.ksize)?;
        check_attr4("strides", self.strides)?;
        if x.rank().is_some_and(|r| r != 4) {
            return Err(format!("input must be 4-D [batch, height, width, channels] (NHWC), got shape {x}"));
        }
        let oh = window_dim("height", x.dim(1), Some(self.ksize[1]), self.strides[1], 1, self.padding)?;
        let ow = window_dim("width", x.dim(2), Some(self.ksize[2]), self.strides[2], 1, self.padding)?;
        Ok(Shape::from_dims(vec![x.dim(0), oh, ow, x.dim(3)]))
    }

    fn geom(&self, x: &[usize]) -> std::result::Result<PoolGeom, String> {
        self.out_shape(&Shape::known(x))?;
        let [n, h, w, c] = *x else {
            return Err(format!("input must be 4-D (NHWC), got shape {x:?}"));
        };
        let (kh, kw, sh, sw) = (self.ksize[1], self.ksize[2], self.strides[1], self.strides[2]);
        let (oh, pt) = window_1d(h, kh, sh, 1, self.padding).unwrap_or((0, 0));
        let (ow, pl) = window_1d(w, kw, sw, 1, self.padding).unwrap_or((0, 0));
        Ok(PoolGeom { n, h, w, c, kh, kw, sh, sw, oh, ow, pt, pl })
    }
}

#[derive(Clone, Copy, Debug)]
struct PoolGeom {
    n: usize,
    h: usize,
    w: usize,
    c: usize,
    kh: usize,
    kw: usize,
    sh: usize,
    sw: usize,
    oh: usize,
    ow: usize,
    pt: usize,
    pl: usize,
}

impl PoolGeom {
    fn in_image(&self) -> usize {
        self.h * self.w * self.c
    }
    fn out_image(&self) -> usize {
        self.oh * self.ow * self.c
    }
    fn x_shape(&self) -> [usize; 4] {
        [self.n, self.h, self.w, self.c]
    }
    fn y_shape(&self) -> [usize; 4] {
        [self.n, self.oh, self.ow, self.c]
    }
    /// The clipped input rows/columns `[start, end)` of output position `(oy, ox)`.
    ///
    /// The casts cannot wrap: `geom` accepts windows, strides and paddings up to
    /// `MAX_WINDOW` (`isize::MAX / 2`) only, and `oy·sh` stays below the input size.
    fn window(&self, oy: usize, ox: usize) -> (usize, usize, usize, usize) {
        let y0 = (oy * self.sh) as isize - self.pt as isize;
        let x0 = (ox * self.sw) as isize - self.pl as isize;
        let ys = y0.max(0) as usize;
        let ye = ((y0 + self.kh as isize).max(0) as usize).min(self.h);
        let xs = x0.max(0) as usize;
        let xe = ((x0 + self.kw as isize).max(0) as usize).min(self.w);
        (ys, ye, xs, xe)
    }
    /// Images per parallel task (one task per image is plenty of parallelism at batch 64).
    fn images_per_task(&self) -> usize {
        let per = self.in_image().max(1);
        (32_768 / per).clamp(1, self.n.max(1))
    }
}

/// The pool into the zeroed `y` of `g.y_shape()`.
fn pool_forward<T: NnFloat>(kind: PoolKind, x: &[T], g: &PoolGeom, y: &mut [T]) {
    if y.is_empty() || g.in_image() == 0 {
        return;
    }
    let ipt = g.images_per_task();
    let c = g.c;
    crate::kernels::par::zip_chunks_mut(y, ipt * g.out_image(), x, ipt * g.in_image(), |yc, xc| {
        for (yi, xi) in yc.chunks_exact_mut(g.out_image()).zip(xc.chunks_exact(g.in_image())) {
            let mut outs = yi.chunks_exact_mut(c);
            for oy in 0..g.oh {
                for ox in 0..g.ow {
                    let Some(o) = outs.next() else { return };
                    let (ys, ye, xs, xe) = g.window(oy, ox);
                    match kind {
                        PoolKind::Max => {
                            o.fill(T::neg_infinity());
                            for iy in ys..ye {
                                for ix in xs..xe {
                                    let p = (iy * g.w + ix) * c;
                                    for (m, &v) in o.iter_mut().zip(&xi[p..p + c]) {
                                        // A select, not a branch: compiles to a vector max.
                                        *m = if v > *m { v } else { *m };
                                    }
                                }
                            }
                        }
                        PoolKind::Avg => {
                            for iy in ys..ye {
                                for ix in xs..xe {
                                    let p = (iy * g.w + ix) * c;
                                    for (m, &v) in o.iter_mut().zip(&xi[p..p + c]) {
                                        *m = *m + v;
                                    }
                                }
                            }
                            let count = ((ye - ys) * (xe - xs)).max(1);
                            let inv = T::one() / T::from(count).unwrap_or_else(T::one);
                            o.iter_mut().for_each(|m| *m = *m * inv);
                        }
                    }
                }
            }
        }
    });
}

/// `dx` of a pool: max sends each `dy` to the first maximal element of its window (row-major
/// scan order, as TF); avg spreads `dy / count` over the window's valid elements. Adds into
/// the zeroed `dx` of `g.x_shape()`.
fn pool_backward<T: NnFloat>(kind: PoolKind, x: Option<&[T]>, dy: &[T], g: &PoolGeom, dx: &mut [T]) {
    if dx.is_empty() || g.out_image() == 0 {
        return;
    }
    let ipt = g.images_per_task();
    let c = g.c;
    crate::kernels::par::chunks_mut(dx, ipt * g.in_image(), |t, dxc| {
        let mut m = vec![T::zero(); c];
        let mut rem = vec![T::zero(); c];
        for (k, dxi) in dxc.chunks_exact_mut(g.in_image()).enumerate() {
            let b = t * ipt + k;
            let dyi = &dy[b * g.out_image()..(b + 1) * g.out_image()];
            let mut grads = dyi.chunks_exact(c);
            for oy in 0..g.oh {
                for ox in 0..g.ow {
                    let Some(go) = grads.next() else { return };
                    let (ys, ye, xs, xe) = g.window(oy, ox);
                    match (kind, x) {
                        (PoolKind::Max, Some(x)) => {
                            // The window's max (as the forward), then one pass in scan order that
                            // hands the gradient to the first element equal to it: `rem` holds
                            // what is left to hand out (all of it until the first match, then 0).
                            // Selects, not branches, so both passes vectorize.
                            let xi = &x[b * g.in_image()..(b + 1) * g.in_image()];
                            m.fill(T::neg_infinity());
                            for iy in ys..ye {
                                for ix in xs..xe {
                                    let p = (iy * g.w + ix) * c;
                                    for (mv, &v) in m.iter_mut().zip(&xi[p..p + c]) {
                                        *mv = if v > *mv { v } else { *mv };
                                    }
                                }
                            }
                            rem.copy_from_slice(go);
                            for iy in ys..ye {
                                for ix in xs..xe {
                                    let p = (iy * g.w + ix) * c;
                                    for (((d, &v), &mv), r) in
                                        dxi[p..p + c].iter_mut().zip(&xi[p..p + c]).zip(&m).zip(rem.iter_mut())
                                    {
                                        let hit = v == mv;
                                        *d = *d + if hit { *r } else { T::zero() };
                                        *r = if hit { T::zero() } else { *r };
                                    }
                                }
                            }
                        }
                        _ => {
                            let count = ((ye - ys) * (xe - xs)).max(1);
                            let inv = T::one() / T::from(count).unwrap_or_else(T::one);
                            for iy in ys..ye {
                                for ix in xs..xe {
                                    let p = (iy * g.w + ix) * c;
                                    for (d, &gv) in dxi[p..p + c].iter_mut().zip(go) {
                                        *d = *d + gv * inv;
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    });
}

fn pool(
    s: &Scope,
    kind: PoolKind,
    x: impl IntoInput,
    ksize: [usize; 4],
    strides: [usize; 4],
    padding: Padding,
    name: &str,
) -> Result<Tensor> {
    let x = x.into_tensor(s, None)?;
    s.add_op1(Pool { kind, attrs: PoolAttrs { ksize, strides, padding } }, &[x], name)
}

/// Max pooling over NHWC windows.
///
/// TF1: `tf.nn.max_pool(value, ksize, strides, padding)` (NHWC).
///
/// `y[b, i, j, c] = max over the window at (i·sh − pad_top, j·sw − pad_left) of x[b, ·, ·, c]`,
/// padded positions excluded. The gradient goes to the first maximal element of each window
/// (row-major order), as in TF.
///
/// # Shapes
/// `x: [n, h, w, c]` → `[n, oh, ow, c]`, `oh` as for [`conv2d`](super::conv::conv2d).
///
/// # Errors
/// A rank other than 4, zero or non-NHWC `ksize`/`strides` (entries 0 and 3 must be 1), a
/// VALID window larger than the input, a non-float input.
///
/// ```
/// use ferroflow_core::{shape, DType, Graph};
/// use ferroflow_ops::nn::{max_pool, Padding};
/// use ferroflow_ops::placeholder;
/// # fn main() -> ferroflow_core::Result<()> {
/// let g = Graph::new();
/// let s = g.root();
/// let x = placeholder(&s, DType::F32, shape![None, 5, 5, 8])?;
/// let y = max_pool(&s, x, [1, 2, 2, 1], [1, 2, 2, 1], Padding::Same)?;
/// assert_eq!(y.shape(&g).unwrap(), shape![None, 3, 3, 8]);
/// # Ok(()) }
/// ```
pub fn max_pool(
    s: &Scope,
    x: impl IntoInput,
    ksize: [usize; 4],
    strides: [usize; 4],
    padding: Padding,
) -> Result<Tensor> {
    pool(s, PoolKind::Max, x, ksize, strides, padding, "MaxPool")
}

/// Average pooling over NHWC windows.
///
/// TF1: `tf.nn.avg_pool(value, ksize, strides, padding)` (NHWC).
///
/// `y[b, i, j, c] = mean of x[b, ·, ·, c]` over the valid (non-padded) part of the window: a
/// SAME window hanging over the border divides by the number of input elements it covers, as TF.
///
/// # Shapes
/// `x: [n, h, w, c]` → `[n, oh, ow, c]`.
///
/// # Errors
/// As [`max_pool`].
pub fn avg_pool(
    s: &Scope,
    x: impl IntoInput,
    ksize: [usize; 4],
    strides: [usize; 4],
    padding: Padding,
) -> Result<Tensor> {
    pool(s, PoolKind::Avg, x, ksize, strides, padding, "AvgPool")
}

/// Max or average pooling (TF1 `MaxPool`, `AvgPool`).
#[derive(Debug, Serialize, Deserialize)]
pub struct Pool {
    /// Max or average.
    pub kind: PoolKind,
    /// Window, strides, padding.
    pub attrs: PoolAttrs,
}

fn infer_float(cx: &InferCtx<'_>) -> Result<()> {
    for i in 0..cx.num_inputs() {
        cx.expect_float(i)?;
        cx.expect_same_dtype(0, i)?;
    }
    Ok(())
}

#[typetag::serde]
impl Op for Pool {
    fn type_name(&self) -> &'static str {
        match self.kind {
            PoolKind::Max => "MaxPool",
            PoolKind::Avg => "AvgPool",
        }
    }
    fn infer(&self, cx: &InferCtx<'_>) -> Result<Vec<TensorSpec>> {
        infer_float(cx)?;
        let x = cx.input(0)?;
        let shape = self.attrs.out_shape(&x.shape).map_err(|m| cx.error(m))?;
        Ok(vec![TensorSpec::new(x.dtype, shape)])
    }
    fn compute(&self, cx: &mut KernelCtx<'_>) -> Result<Vec<Value>> {
        let g = self.attrs.geom(cx.input(0)?.shape()).map_err(|m| cx.error(m))?;
        let out = by_float!(cx.input(0)?.dtype(), cx, T => {
            let x = flat(cx.view::<T>(0)?);
            let mut y = cx.alloc_filled_vec::<T>(&g.y_shape(), 0.0)?;
            pool_forward::<T>(self.kind, &x, &g, &mut y);
            Value::from_shape_vec(&g.y_shape(), y)
        });
        Ok(vec![out.map_err(|e| cx.wrap(e))?])
    }
    fn gradient(&self, s: &Scope, cx: &GradCtx<'_>) -> Result<Vec<Option<Tensor>>> {
        let Some(dy) = cx.grad(0) else { return Ok(vec![None]) };
        let x = cx.input(0)?;
        let dx =
            s.add_op1(PoolGrad { kind: self.kind, attrs: self.attrs }, &[x, dy], &format!("{}Grad", self.type_name()))?;
        Ok(vec![Some(dx)])
    }
    fn describe(&self) -> String {
        self.attrs.describe()
    }
}

/// The input gradient of a pool (TF1 `MaxPoolGrad`, `AvgPoolGrad`): inputs `[x, dy]`; the
/// average pool reads only `x`'s shape.
#[derive(Debug, Serialize, Deserialize)]
pub struct PoolGrad {
    /// Max or average.
    pub kind: PoolKind,
    /// The forward pool's window, strides, padding.
    pub attrs: PoolAttrs,
}

#[typetag::serde]
impl Op for PoolGrad {
    fn type_name(&self) -> &'static str {
        match self.kind {
            PoolKind::Max => "MaxPoolGrad",
            PoolKind::Avg => "AvgPoolGrad",
        }
    }
    fn infer(&self, cx: &InferCtx<'_>) -> Result<Vec<TensorSpec>> {
        infer_float(cx)?;
        let x = cx.input(0)?;
        let y = self.attrs.out_shape(&x.shape).map_err(|m| cx.error(m))?;
        let dy = &cx.input(1)?.shape;
        if !y.is_compatible_with(dy) {
            return Err(cx.error(format!("gradient {dy} does not match the pool output {y} of input {}", x.shape)));
        }
        Ok(vec![x.clone()])
    }
    fn compute(&self, cx: &mut KernelCtx<'_>) -> Result<Vec<Value>> {
        let g = self.attrs.geom(cx.input(0)?.shape()).map_err(|m| cx.error(m))?;
        let dys = cx.input(1)?.shape();
        if dys != g.y_shape() {
            return Err(cx.error(format!("gradient {dys:?} does not match the pool output {:?}", g.y_shape())));
        }
        let out = by_float!(cx.input(1)?.dtype(), cx, T => {
            let dy = flat(cx.view::<T>(1)?);
            let mut dx = cx.alloc_filled_vec::<T>(&g.x_shape(), 0.0)?;
            match self.kind {
                PoolKind::Max => pool_backward::<T>(self.kind, Some(&flat(cx.view::<T>(0)?)), &dy, &g, &mut dx),
                PoolKind::Avg => pool_backward::<T>(self.kind, None, &dy, &g, &mut dx),
            }
            Value::from_shape_vec(&g.x_shape(), dx)
        });
        Ok(vec![out.map_err(|e| cx.wrap(e))?])
    }
    fn gradient(&self, s: &Scope, cx: &GradCtx<'_>) -> Result<Vec<Option<Tensor>>> {
        match self.kind {
            // AvgPoolGrad is linear in dy; its adjoint is the average pool itself.
            PoolKind::Avg => {
                let Some(gg) = cx.grad(0) else { return Ok(vec![None, None]) };
                let a = self.attrs;
                Ok(vec![None, Some(avg_pool(s, gg, a.ksize, a.strides, a.padding)?)])
            }
            PoolKind::Max => Err(cx.no_gradient()),
        }
    }
    fn describe(&self) -> String {
        self.attrs.describe()
    }
}
